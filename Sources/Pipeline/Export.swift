import Foundation
public import CVMCore

/// Writes any persisted table as CSV (RFC 4180 quoting), so intermediates stay inspectable.
/// - Throws: `CVMFailure` (exit 66) when the table was never persisted for `asOf`; (exit 74) on write errors.
public func exportTable(_ loaded: LoadedConfig, table: String, asOf: CivilDate, to path: String?, limit: Int?) throws {
    let store = ArtifactStore(root: loaded.artifactsPath)
    let plan = Plan(loaded, asOf: asOf)
    guard let producer = plan.stages.first(where: { $0.name != .load && $0.name != .report && $0.outputs.contains(table) }) else {
        let known = plan.stages.filter { $0.name != .load && $0.name != .report }.flatMap(\.outputs)
        throw CVMFailure(.usage, "error: unknown table \"\(table)\" (expected one of \(known.joined(separator: ", ")))")
    }
    let t = try store.read(stage: producer.name.rawValue, table: table, asOf: asOf)
    let csv = csvText(t, limit: limit)
    if let path {
        do { try csv.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw CVMFailure(.ioError, "\(path): error: cannot write: \(error.localizedDescription)")
        }
    } else {
        FileHandle.standardOutput.write(Data(csv.utf8))
    }
}

/// A table as CSV text with a header row.
public func csvText(_ t: Table, limit: Int? = nil) -> String {
    func quote(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }
    var out = t.columnNames.map(quote).joined(separator: ",") + "\n"
    for r in 0..<min(t.rowCount, limit ?? Int.max) {
        out += t.columns.map { quote($0.formatted(at: r)) }.joined(separator: ",") + "\n"
    }
    return out
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
    if let why = store.failedChecks(stage: producer.name.rawValue, asOf: asOf) {
        FileHandle.standardError.write(Data("note: \(table) is from a run whose \(producer.name.rawValue) stage failed its data-quality checks (\(why.split(separator: "\n").first ?? ""))\n".utf8))
    }
    // Streamed in 1 MiB pieces: a whole-table String is as large as the CSV (2.4 GB for M's events), and
    // Foundation's String.write (Swift 6.3.1) wrote the start of the text again after the first 2 GiB.
    if let path {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CVMFailure(.ioError, "\(path): error: cannot write: \(String(cString: strerror(errno)))") }
        do {
            try writeCSV(t, limit: limit, to: fd, path: path)
            guard close(fd) == 0, rename(tmp, path) == 0 else {
                throw CVMFailure(.ioError, "\(path): error: cannot write: \(String(cString: strerror(errno)))")
            }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
    } else {
        try writeCSV(t, limit: limit, to: STDOUT_FILENO, path: "standard output")
    }
}

/// Writes `t` as CSV (header row, RFC 4180 quoting) to `fd` in 1 MiB writes.
public func writeCSV(_ t: Table, limit: Int?, to fd: Int32, path: String) throws {
    var buffer: [UInt8] = []
    buffer.reserveCapacity(1 << 20 + 65_536)
    func flush() throws {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CVMFailure(.ioError, "\(path): error: cannot write: \(String(cString: strerror(errno))); check free space")
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
    func field(_ s: String) {
        if s.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }) {
            buffer.append(UInt8(ascii: "\""))
            for b in s.utf8 {
                if b == UInt8(ascii: "\"") { buffer.append(b) }
                buffer.append(b)
            }
            buffer.append(UInt8(ascii: "\""))
        } else {
            buffer.append(contentsOf: s.utf8)
        }
    }
    for (k, name) in t.columnNames.enumerated() {
        if k > 0 { buffer.append(UInt8(ascii: ",")) }
        field(name)
    }
    buffer.append(10)
    for r in 0..<min(t.rowCount, limit ?? Int.max) {
        for (k, c) in t.columns.enumerated() {
            if k > 0 { buffer.append(UInt8(ascii: ",")) }
            field(c.formatted(at: r))
        }
        buffer.append(10)
        if buffer.count >= 1 << 20 { try flush() }
    }
    try flush()
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

/// `cvm features`: the feature catalog of a snapshot as an aligned table, CSV or JSON lines.
/// - Throws: `CVMFailure` (exit 66) when the features stage has not run for `asOf`; (exit 64) for an unknown format.
public func featureCatalogText(_ loaded: LoadedConfig, asOf: CivilDate, format: String) throws -> String {
    let t = try ArtifactStore(root: loaded.artifactsPath).read(stage: StageName.features.rawValue, table: "feature_catalog", asOf: asOf)
    switch format {
    case "csv":
        return csvText(t)
    case "json":
        var out = ""
        for r in 0..<t.rowCount {
            var obj: [String: Any] = [:]
            for c in t.columns { obj[c.name] = c.isValid(r) ? (c.type == .int ? c.int64(at: r).map { $0 as Any } ?? NSNull() : c.formatted(at: r)) : NSNull() }
            out += String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self) + "\n"
        }
        return out
    case "table":
        let names = t.columnNames
        let rows = (0..<t.rowCount).map { r in t.columns.map { $0.formatted(at: r) } }
        let widths = names.indices.map { j in min(60, max(names[j].count, rows.map { $0[j].count }.max() ?? 0)) }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { j, cell in
                let c = cell.count > widths[j] ? String(cell.prefix(widths[j] - 1)) + "…" : cell
                return c.padding(toLength: widths[j], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        return line(names) + rows.map(line).joined() + "\(t.rowCount) features\n"
    default:
        throw CVMFailure(.usage, "error: --format \(format): expected table, csv or json")
    }
}

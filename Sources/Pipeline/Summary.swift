import Foundation
import CVMCore
import Report
import Warehouse

extension PipelineRunner {
    /// The run summary for summary.json, metrics.prom and the report.
    func makeSummary(status: String, exit: ExitStatus, message: String?) -> RunSummary {
        let stages = stageRecords.map {
            StageSummary(name: $0.stage, status: $0.status, durationSeconds: $0.durationSeconds,
                         rowsIn: $0.rowsIn, rowsOut: $0.rowsOut, rowsRejected: $0.rowsRejected)
        }
        var sources: [SourceSummary] = []
        // A failed run shows only what its own stages wrote: the artifacts of a stage it did not reach are an earlier
        // run's (its KPIs were shown as this failed run's). A run that succeeded shows what it reported on.
        func current(_ stage: StageName) -> Bool { status == "succeeded" || stageRecords.contains { $0.stage == stage.rawValue } }
        func input(_ ref: TableRef) -> Table? { current(ref.stage) ? optionalInput(ref) : nil }
        let files = input(TableRef(stage: .extract, table: "extract_files"))
        let quarantine = input(TableRef(stage: .clean, table: "quarantine")).map(QuarantineRecord.records(from:)) ?? []
        for name in loaded.config.sources.keys {
            var nFiles = 0, bytes: Int64 = 0
            if let files, let src = files["source"], let b = files["bytes"] {
                for i in 0..<files.rowCount where src.string(at: i) == name {
                    nFiles += 1
                    bytes += b.int64(at: i) ?? 0
                }
            }
            let rejects = quarantine.filter { $0.source == name }
            let accepted = tables["stg_\(name)"]?.rowCount ?? input(TableRef(stage: .clean, table: "stg_\(name)"))?.rowCount ?? 0
            let byRule = Dictionary(grouping: rejects, by: \.rule).map { RuleCount(rule: $0.key, count: $0.value.count) }
                .sorted { $0.rule < $1.rule }
            // Clean's accounting where it ran (a file rejected whole counts its rows, not one), else the tables'.
            let counted = SourceAccounting(stageStats[.clean]?.detail ?? [:], source: name)
                ?? SourceAccounting(read: accepted + rejects.count, kept: accepted, rejected: rejects.count)
            sources.append(SourceSummary(name: name, files: nFiles, bytes: bytes, rowsRead: counted.read,
                                         rowsAccepted: counted.kept, rowsRejected: counted.rejected, rejectsByRule: byRule))
        }
        let kpis = summaryKPIs(customerValue: input(TableRef(stage: .value, table: "customer_value")),
                               pareto: input(TableRef(stage: .value, table: "pareto_summary")), rejected: quarantine.count)
        let ended = Date()
        return RunSummary(
            pipeline: loaded.config.pipeline, runID: runID, asOf: asOf.description, status: status,
            exitCode: Int(exit.rawValue), startedAt: isoString(startedAt), endedAt: isoString(ended),
            durationSeconds: ended.timeIntervalSince(startedAt), configHash: loaded.configHash, threads: threads,
            stages: stages, sources: sources, kpis: kpis, warehouse: warehousePath, message: message)
    }
}

/// One source's row accounting as clean records it in its stage detail (`<source>.rows_read`, `.rows_kept`,
/// `.rows_rejected`; extract adds `<source>.files` and `.bytes`): the one writer and reader of those keys, for the
/// run's summary and for a report rebuilt from the ledger.
struct SourceAccounting {
    var read: Int, kept: Int, rejected: Int
    var files: Int?, bytes: Int64?

    init(read: Int, kept: Int, rejected: Int) { (self.read, self.kept, self.rejected) = (read, kept, rejected) }

    /// Nil when the detail holds no accounting for `source` (runs recorded before it).
    init?(_ detail: [String: String], source: String) {
        func n(_ key: String) -> Int? { detail["\(source).\(key)"].flatMap { Int($0) } }
        guard let read = n("rows_read"), let kept = n("rows_kept"), let rejected = n("rows_rejected") else { return nil }
        self.init(read: read, kept: kept, rejected: rejected)
        (files, bytes) = (n("files"), n("bytes").map(Int64.init))
    }

    /// The sources a detail holds accounting for, in name order.
    static func sources(in detail: [String: String]) -> [String] {
        detail.keys.filter { $0.hasSuffix(".rows_read") }.map { String($0.dropLast(".rows_read".count)) }.sorted()
    }

    static func record(source: String, read: Int, kept: Int, rejected: Int, into detail: inout [String: String]) {
        detail["\(source).rows_read"] = "\(read)"
        detail["\(source).rows_kept"] = "\(kept)"
        detail["\(source).rows_rejected"] = "\(rejected)"
    }
}

/// Key figures of a snapshot: customers, revenue, buyers, repeat rate, the Pareto figures, rejected rows.
func summaryKPIs(customerValue cv: Table?, pareto p: Table?, rejected: Int) -> [KPI] {
    var kpis: [KPI] = []
    if let cv {
        kpis.append(KPI(name: "customers", value: Double(cv.rowCount), unit: "customers"))
        if let m = cv["monetary"] {
            // Summed as decimals (each value by its shortest text, exact to the money's scale): a Double sum gave
            // 617885.2600000001 in summary.json.
            var total = Decimal(0)
            for i in 0..<cv.rowCount { if let v = m.double(at: i), let d = Decimal(string: "\(v)") { total += d } }
            // Through its text: Decimal's doubleValue is not the nearest Double (232738.11000000002).
            kpis.append(KPI(name: "revenue", value: Double(total.description) ?? NSDecimalNumber(decimal: total).doubleValue, unit: "currency"))
        }
        if let f = cv["frequency"] {
            let buyers = (0..<cv.rowCount).filter { (f.double(at: $0) ?? 0) >= 1 }.count
            let repeaters = (0..<cv.rowCount).filter { (f.double(at: $0) ?? 0) >= 2 }.count
            kpis.append(KPI(name: "buyers", value: Double(buyers), unit: "customers"))
            kpis.append(KPI(name: "repeat_rate", value: buyers == 0 ? 0 : Double(repeaters) / Double(buyers), unit: "share"))
        }
    }
    if let p, let label = p.columns.first(where: { $0.type.storageKind == .string }),
       let value = p.columns.first(where: { $0.type == .double }) {
        for i in 0..<p.rowCount {
            if let l = label.string(at: i), let v = value.double(at: i), !kpis.contains(where: { $0.name == l }) {
                kpis.append(KPI(name: l, value: v, unit: nil))
            }
        }
    }
    kpis.append(KPI(name: "rows_rejected", value: Double(rejected), unit: "rows"))
    return kpis
}

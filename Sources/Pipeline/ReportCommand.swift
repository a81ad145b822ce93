import Foundation
public import CVMCore
import Report
import Warehouse

/// `cvm report --warehouse PATH [--run ID] --out DIR`: rebuilds the report, summary.json,
/// metrics.prom and the campaign lists of any past run from the warehouse alone (the run's
/// ledger entry and its as-of snapshot), without the run's artifacts.
public enum ReportCommand {
    /// - Parameter config: optional pipeline config, for its campaign settings and source names.
    /// - Returns: the files written.
    /// - Throws: `CVMFailure` 66 when the warehouse or the run does not exist; 74 on write errors.
    public static func run(warehouse path: String, runID: String?, out: String, config: LoadedConfig?) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CVMFailure(.noInput, "\(path): error: no such warehouse; pass the file a pipeline's `warehouse:` names")
        }
        let w = try Warehouse(path: path)
        defer { try? w.close() }
        let runs = try w.runs(limit: 100_000)
        let run: RunRecord
        if let runID {
            guard let r = runs.first(where: { $0.runID == runID }) else {
                let recent = runs.prefix(5).map(\.runID).joined(separator: ", ")
                throw CVMFailure(.noInput, "\(path): error: no run \(runID) in this warehouse (recent: \(recent.isEmpty ? "none" : recent)); see `cvm runs`")
            }
            run = r
        } else {
            // The latest succeeded run whose snapshot the warehouse holds: a later run that stopped before its load
            // (`--until value`) or whose snapshot a rerun replaced has none (taking it made a nightly `cvm report`
            // fail after any partial run).
            guard runs.contains(where: { $0.status == "succeeded" }) else {
                throw CVMFailure(.noInput, "\(path): error: the warehouse holds no succeeded run; run a pipeline first")
            }
            // Of those, the latest snapshot (as the views read it), not the latest run: a backfill is not the news.
            var held: RunRecord?
            for r in runs where r.status == "succeeded" && (held.map { $0.asOf < r.asOf } ?? true) {
                if try w.snapshotRunID("customer_value", asOf: r.asOf) == r.runID { held = r }
            }
            guard let r = held else {
                throw CVMFailure(.noInput, "\(path): error: no succeeded run's snapshot is in the warehouse (no run loaded one, or later runs replaced them); run the pipeline through load")
            }
            run = r
        }
        let day = run.asOf
        // The warehouse keeps one snapshot per as-of day: a run whose snapshot another run replaced (or that loaded
        // none, failing before its load) cannot be reported from it; its data would be the other run's.
        let holder = try w.snapshotRunID("customer_value", asOf: day)
        guard holder == run.runID else {
            let now = holder.map { "the snapshot for \(day) is run \($0)'s; `cvm report --run \($0)` reports it" } ?? "the warehouse holds no snapshot for \(day)"
            throw CVMFailure(.noInput, "\(path): error: run \(run.runID) (\(run.status)) has no snapshot in this warehouse: \(now)")
        }
        func table(_ name: String) throws -> Table? {
            guard let t = try w.readWholeSnapshot(name, asOf: day), t.rowCount > 0 else { return nil }
            return t
        }
        let cv = try table("customer_value")
        let quarantine = try table("quarantine")
        let pareto = try table("pareto_summary")
        let stageRecords = try w.stages(runID: run.runID)
        let stages = stageRecords.map {
            StageSummary(name: $0.stage, status: $0.status, durationSeconds: $0.durationSeconds,
                         rowsIn: $0.rowsIn, rowsOut: $0.rowsOut, rowsRejected: $0.rowsRejected)
        }
        // Row accounting per source: the run's ledger detail (extract's files and bytes, clean's rows read, kept
        // and rejected per source); for runs recorded before it, the snapshot's tables and quarantine.
        let rejects = quarantine.map(QuarantineRecord.records(from:)) ?? []
        var detail: [String: String] = [:]
        for s in stageRecords {
            if let text = s.detail, let d = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] {
                detail.merge(d) { a, _ in a }
            }
        }
        var names = config?.config.sources.keys ?? []
        for name in SourceAccounting.sources(in: detail) where !names.contains(name) { names.append(name) }
        for r in rejects where !names.contains(r.source) { names.append(r.source) }
        let counts = try w.snapshotRowCounts(asOf: day)
        let sources = names.map { name -> SourceSummary in
            let own = rejects.filter { $0.source == name }
            let byRule = Dictionary(grouping: own, by: \.rule).map { RuleCount(rule: $0.key, count: $0.value.count) }.sorted { $0.rule < $1.rule }
            if let a = SourceAccounting(detail, source: name) {
                return SourceSummary(name: name, files: a.files ?? 0, bytes: a.bytes ?? 0, rowsRead: a.read,
                                     rowsAccepted: a.kept, rowsRejected: a.rejected, rejectsByRule: byRule)
            }
            let loadedName = config.map { Plan.warehouseName(TableRef(stage: .clean, table: "stg_\(name)"), $0) } ?? "stg_\(name)"
            let accepted = counts[loadedName] ?? 0
            return SourceSummary(name: name, files: 0, bytes: 0, rowsRead: accepted + own.count, rowsAccepted: accepted,
                                 rowsRejected: own.count, rejectsByRule: byRule)
        }
        let started = ISO8601DateFormatter().date(from: run.startedAt)
        let ended = run.endedAt.flatMap { ISO8601DateFormatter().date(from: $0) }
        let summary = RunSummary(
            pipeline: run.pipeline, runID: run.runID, asOf: day.description, status: run.status, exitCode: run.exitCode ?? 0,
            startedAt: run.startedAt, endedAt: run.endedAt ?? "", durationSeconds: started.flatMap { s in ended.map { $0.timeIntervalSince(s) } } ?? 0,
            configHash: run.configHash, threads: run.threads, stages: stages, sources: sources,
            kpis: summaryKPIs(customerValue: cv, pareto: pareto, rejected: rejects.count),
            warehouse: path, message: run.message)
        var inputs = ReportInputs(summary: summary, customerValue: cv, clusterProfiles: try table("cluster_profiles"),
                                  quarantine: quarantine, paretoSummary: pareto, dataQuality: try table("data_quality"))
        inputs.clusterSelection = try table("cluster_selection")
        inputs.clusterCentroids = try table("cluster_centroids")
        inputs.orders = try table("fact_order_line")
        if let before = try w.latestSnapshot(of: "customer_value", before: day) {
            inputs.previousCustomerValue = try w.readWholeSnapshot("customer_value", asOf: before)
        }
        let campaigns = config?.config.campaigns ?? CampaignConfiguration()
        inputs.campaigns = campaigns
        if campaigns.ids == .pseudonymized, let loaded = config {
            let key = try pseudonymKey(loaded, required: true)
            inputs.pseudonym = Warehouse.pseudonymizer(key: key)
        }
        return try ReportWriter.write(inputs, to: out)
    }
}

public import CVMCore
import Foundation
import Mustache

/// Writes the run report (`index.html`), `summary.json` and `metrics.prom`.
public enum ReportWriter {
    /// Writes the three files atomically (temp file + rename) and returns their paths.
    /// - Throws: `CVMFailure` (exit 74) naming the path when the folder cannot be written.
    public static func write(_ inputs: ReportInputs, to directory: String) throws -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var lists: [CampaignList] = []
            if let cfg = inputs.campaigns, let cv = inputs.customerValue, let day = CivilDate(iso: inputs.summary.asOf) {
                lists = Campaigns.build(customerValue: cv, orders: inputs.orders, asOf: day, configuration: cfg, pseudonym: inputs.pseudonym)
            }
            let html = try renderHTML(inputs, campaigns: lists)
            let json = try summaryJSON(inputs.summary)
            let previous = lastSuccess(in: "\(directory)/metrics.prom")
            let metrics = prometheusMetrics(inputs.summary, lastSuccessTimestamp: previous)
            var written: [String] = []
            for (name, text) in [("summary.json", json), ("metrics.prom", metrics)] + (inputs.customerValue != nil || inputs.summary.status == "succeeded" ? [("index.html", html)] : []) {
                let path = "\(directory)/\(name)"
                try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                written.append(path)
            }
            if inputs.campaigns != nil {
                // campaigns/<action>.csv, replacing the lists of an earlier run in this folder.
                let folder = "\(directory)/campaigns"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let keep = Set(lists.map { "\($0.name).csv" })
                for old in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where old.hasSuffix(".csv") && !keep.contains(old) {
                    try? FileManager.default.removeItem(atPath: "\(folder)/\(old)")
                }
                for list in lists {
                    let path = "\(folder)/\(list.name).csv"
                    try Data(Campaigns.csv(list).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                    written.append(path)
                }
            }
            return written
        } catch let e as CVMFailure {
            throw e
        } catch {
            throw CVMFailure(.ioError, "\(directory): error: cannot write the report: \(error.localizedDescription); check free space and permissions")
        }
    }

    /// `summary.json`: sorted keys, pretty printed, so it diffs well.
    public static func summaryJSON(_ s: RunSummary) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try e.encode(s), as: UTF8.self) + "\n"
    }

    /// Prometheus text format for node_exporter's textfile collector.
    public static func prometheusMetrics(_ s: RunSummary, lastSuccessTimestamp: Double?) -> String {
        func esc(_ v: String) -> String {
            v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
        }
        func num(_ d: Double) -> String { formatDouble(d) }
        let p = "pipeline=\"\(esc(s.pipeline))\""
        var out = ""
        out += "# HELP cvm_run_duration_seconds Wall-clock duration of the last cvm run.\n# TYPE cvm_run_duration_seconds gauge\n"
        out += "cvm_run_duration_seconds{\(p)} \(num(s.durationSeconds))\n"
        out += "# HELP cvm_run_status 1 when the last run succeeded, 0 when it failed.\n# TYPE cvm_run_status gauge\n"
        out += "cvm_run_status{\(p)} \(s.status == "succeeded" ? 1 : 0)\n"
        out += "# HELP cvm_run_exit_code Exit code of the last run (sysexits).\n# TYPE cvm_run_exit_code gauge\n"
        out += "cvm_run_exit_code{\(p)} \(s.exitCode)\n"
        out += "# HELP cvm_stage_duration_seconds Duration of each stage in the last run.\n# TYPE cvm_stage_duration_seconds gauge\n"
        for st in s.stages { out += "cvm_stage_duration_seconds{\(p),stage=\"\(esc(st.name))\"} \(num(st.durationSeconds))\n" }
        out += "# HELP cvm_rows_total Rows read per source in the last run, by outcome.\n# TYPE cvm_rows_total gauge\n"
        for src in s.sources {
            out += "cvm_rows_total{\(p),source=\"\(esc(src.name))\",outcome=\"accepted\"} \(src.rowsAccepted)\n"
            out += "cvm_rows_total{\(p),source=\"\(esc(src.name))\",outcome=\"rejected\"} \(src.rowsRejected)\n"
        }
        let success: Double? = s.status == "succeeded" ? isoSeconds(s.endedAt) : lastSuccessTimestamp
        if let success {
            out += "# HELP cvm_last_success_timestamp_seconds End time of the last successful run (Unix seconds).\n"
            out += "# TYPE cvm_last_success_timestamp_seconds gauge\n"
            out += "cvm_last_success_timestamp_seconds{\(p)} \(num(success))\n"
        }
        return out
    }

    static func isoSeconds(_ s: String) -> Double? {
        let f = ISO8601DateFormatter()
        return f.date(from: s)?.timeIntervalSince1970
    }

    /// Carries the last success time across a failed run.
    static func lastSuccess(in path: String) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("cvm_last_success_timestamp_seconds{") {
            if let v = line.split(separator: " ").last.flatMap({ Double($0) }) { return v }
        }
        return nil
    }

    // MARK: - HTML

    static func renderHTML(_ inputs: ReportInputs, campaigns: [CampaignList] = []) throws -> String {
        let s = inputs.summary
        var ctx: [String: Any] = [
            "pipeline": s.pipeline, "runID": s.runID, "asOf": s.asOf, "status": s.status,
            "duration": Format.seconds(s.durationSeconds), "threads": s.threads, "configHash": s.configHash,
            "warehouse": s.warehouse, "ok": s.status == "succeeded",
        ]
        ctx["stages"] = s.stages.map { st -> [String: Any] in
            ["name": st.name, "status": st.status, "duration": Format.seconds(st.durationSeconds),
             "rowsIn": Format.thousands(st.rowsIn), "rowsOut": Format.thousands(st.rowsOut), "rejected": Format.thousands(st.rowsRejected)]
        }
        ctx["sources"] = s.sources.map { src -> [String: Any] in
            ["name": src.name, "files": Format.thousands(src.files), "mb": Format.money(Double(src.bytes) / 1_048_576),
             "read": Format.thousands(src.rowsRead), "accepted": Format.thousands(src.rowsAccepted),
             "rejected": Format.thousands(src.rowsRejected),
             "rules": src.rejectsByRule.map { "\($0.rule) \(Format.thousands($0.count))" }.joined(separator: ", ")]
        }
        ctx["kpis"] = s.kpis.map { k -> [String: Any] in
            let v: String
            switch k.unit {
            case "currency": v = Format.money(k.value)
            case "share": v = Format.percent(k.value)
            default: v = k.name.contains("share") ? Format.percent(k.value) : (k.value == k.value.rounded() ? Format.thousands(Int(k.value)) : Format.money(k.value))
            }
            return ["name": k.name.replacingOccurrences(of: "_", with: " "), "value": v]
        }
        var charts: [[String: Any]] = []
        if let cv = inputs.customerValue {
            if let lorenz = Charts.lorenz(cv) { charts.append(["title": "Pareto: revenue concentration (Lorenz curve)", "svg": lorenz.svg, "note": lorenz.note]) }
            if let grid = Charts.rfmGrid(cv) { charts.append(["title": "RFM grid: customers by recency and frequency score, coloured by mean revenue", "svg": grid, "note": ""]) }
            if let seg = Charts.bars(cv, column: "rfm_segment", value: "monetary") { charts.append(["title": "Segments: customers and revenue", "svg": seg, "note": ""]) }
            if let life = Charts.bars(cv, column: "lifecycle_stage", value: "monetary") { charts.append(["title": "Lifecycle stages", "svg": life, "note": ""]) }
        }
        if let cv = inputs.customerValue {
            if let svg = Charts.quadrant(cv) {
                charts.append(["title": "Value × strategic match: strategic, profit, potential and ordinary customers", "svg": svg, "note": ""])
            }
            if let svg = Charts.bars(cv, column: "churn_band", value: "clv") { charts.append(["title": "Churn-risk bands: customers and CLV at stake", "svg": svg, "note": ""]) }
            if let clv = cv["clv"], let svg = Charts.histogram((0..<cv.rowCount).compactMap { clv.double(at: $0) }, label: "customer lifetime value") {
                charts.append(["title": "CLV distribution", "svg": svg, "note": ""])
            }
            if let previous = inputs.previousCustomerValue, let svg = Charts.migration(previous, cv, column: "lifecycle_stage") {
                charts.append(["title": "Lifecycle migration since the previous snapshot", "svg": svg, "note": ""])
            }
        }
        if let cp = inputs.clusterProfiles, let svg = Charts.clusters(cp) {
            charts.append(["title": "Clusters: sizes and generated names", "svg": svg, "note": ""])
        }
        if let cc = inputs.clusterCentroids {
            for (title, svg) in Charts.heatmaps(cc, inputs.clusterProfiles) { charts.append(["title": title, "svg": svg, "note": ""]) }
        }
        if let sel = inputs.clusterSelection {
            for (title, svg) in Charts.kSelection(sel) { charts.append(["title": title, "svg": svg, "note": ""]) }
        }
        ctx["charts"] = charts
        // Without a fitted CLV (fewer than 2 buyers: the column is null) the table has nothing to rank by, as with
        // `clv.enabled: false`; a null value reads "n/a" (it read 0.00 and P(alive) 0.0%: certainly churned).
        if let cv = inputs.customerValue, let clv = cv["clv"], let ids = cv["customer_id"], (0..<cv.rowCount).contains(where: { clv.isValid($0) }) {
            let top = (0..<cv.rowCount).sorted {
                let a = clv.double(at: $0) ?? 0, b = clv.double(at: $1) ?? 0
                return a != b ? a > b : (ids.string(at: $0) ?? "") < (ids.string(at: $1) ?? "")
            }.prefix(10)
            ctx["topCustomers"] = top.map { i -> [String: Any] in
                ["id": ids.formatted(at: i), "segment": cv["rfm_segment"]?.formatted(at: i) ?? "", "stage": cv["lifecycle_stage"]?.formatted(at: i) ?? "",
                 "clv": clv.double(at: i).map(Format.money) ?? "n/a", "alive": cv["p_alive"]?.double(at: i).map(Format.percent) ?? "n/a",
                 "revenue": Format.money(cv["monetary"]?.double(at: i) ?? 0)]
            }
        }
        ctx["campaigns"] = campaigns.map { l -> [String: Any] in
            ["name": l.name, "action": l.action, "customers": Format.thousands(l.rows.count), "file": "campaigns/\(l.name).csv"]
        }
        if let q = inputs.quarantine {
            let recs = QuarantineRecord.records(from: q)
            var byRule: [String: [QuarantineRecord]] = [:]
            for r in recs { byRule["\(r.source)\u{0}\(r.rule)", default: []].append(r) }
            ctx["rejects"] = byRule.keys.sorted().map { key -> [String: Any] in
                let rs = byRule[key]!
                return ["source": rs[0].source, "rule": rs[0].rule, "count": Format.thousands(rs.count),
                        "examples": rs.prefix(3).map { ["where": "\(URL(fileURLWithPath: $0.file).lastPathComponent):\($0.line)", "reason": $0.reason] }]
            }
        }
        if let dq = inputs.dataQuality {
            ctx["quality"] = (0..<dq.rowCount).map { i -> [String: Any] in
                ["source": dq["source"]?.formatted(at: i) ?? "", "column": dq["column"]?.formatted(at: i) ?? "",
                 "type": dq["type"]?.formatted(at: i) ?? "", "nulls": Format.percent(dq["null_share"]?.double(at: i) ?? 0),
                 "distinct": dq["distinct"]?.formatted(at: i) ?? "", "min": dq["min"]?.formatted(at: i) ?? "",
                 "median": dq["p50"]?.formatted(at: i) ?? "", "max": dq["max"]?.formatted(at: i) ?? ""]
            }
        }
        // A list's heading and table tags render once when it has rows: Mustache has no "first item" section
        // (`{{#list.0}}` rendered nothing, so the rows came out without their table).
        for (list, flag) in [("topCustomers", "hasTopCustomers"), ("campaigns", "hasCampaigns"), ("rejects", "hasRejects"),
                             ("quality", "hasQuality")] {
            ctx[flag] = !((ctx[list] as? [Any])?.isEmpty ?? true)
        }
        let template = try MustacheTemplate(string: Template.page)
        return template.render(ctx)
    }
}

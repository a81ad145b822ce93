import Foundation
public import CVMCore
public import Logging
import Warehouse
import Report

/// The key outputs `cvm check` compares: rows per table, quarantined rows per
/// source and rule, segment sizes, and KPIs within tolerances.
public struct Expectations: Decodable, Sendable, Equatable {
    public struct KPIExpectation: Decodable, Sendable, Equatable {
        public var value: Double
        /// Relative tolerance (0.01 = 1%).
        public var tolerance: Double
        enum CodingKeys: String, CodingKey, CaseIterable { case value, tolerance }
        public init(value: Double, tolerance: Double) { (self.value, self.tolerance) = (value, tolerance) }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            value = try c.decode(Double.self, forKey: .value)
            tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? 1e-9
        }
    }
    public var tables: [String: Int] = [:]
    public var quarantine: [String: [String: Int]] = [:]
    public var segments: [String: [String: Int]] = [:]
    public var kpis: [String: KPIExpectation] = [:]
    /// The as-of date the expectations hold for: the check runs for it unless `--as-of` says otherwise (a config
    /// without `as_of` ran for yesterday, and its freshness check failed the CI gate).
    public var asOf: String?

    enum CodingKeys: String, CodingKey, CaseIterable { case tables, quarantine, segments, kpis, asOf = "as_of" }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tables = try c.decodeIfPresent([String: Int].self, forKey: .tables) ?? [:]
        quarantine = try c.decodeIfPresent([String: [String: Int]].self, forKey: .quarantine) ?? [:]
        segments = try c.decodeIfPresent([String: [String: Int]].self, forKey: .segments) ?? [:]
        kpis = try c.decodeIfPresent([String: KPIExpectation].self, forKey: .kpis) ?? [:]
        asOf = try c.decodeIfPresent(String.self, forKey: .asOf)
        if let a = asOf, CivilDate(iso: a) == nil { throw ConfigValueError("as_of: \"\(a)\" is not a valid date; write YYYY-MM-DD") }
    }

    /// Deterministic YAML (sorted keys), for `--update`.
    public func yaml(header: String) -> String {
        func key(_ s: String) -> String {
            s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." } && !(s.first?.isNumber ?? true) ? s : "\"\(s.replacingOccurrences(of: "\"", with: "\\\""))\""
        }
        var out = header
        if let asOf { out += "as_of: \(asOf)\n" }
        out += "tables:\n"
        for (k, v) in tables.sorted(by: { $0.key < $1.key }) { out += "  \(key(k)): \(v)\n" }
        out += "quarantine:\n"
        for (s, rules) in quarantine.sorted(by: { $0.key < $1.key }) {
            out += "  \(key(s)):\n"
            for (r, n) in rules.sorted(by: { $0.key < $1.key }) { out += "    \(key(r)): \(n)\n" }
        }
        out += "segments:\n"
        for (s, groups) in segments.sorted(by: { $0.key < $1.key }) {
            out += "  \(key(s)):\n"
            for (g, n) in groups.sorted(by: { $0.key < $1.key }) { out += "    \(key(g)): \(n)\n" }
        }
        out += "kpis:\n"
        for (k, v) in kpis.sorted(by: { $0.key < $1.key }) {
            out += "  \(key(k)): {value: \(formatDouble(v.value)), tolerance: \(formatDouble(v.tolerance))}\n"
        }
        return out
    }
}

/// `cvm check`: runs a pipeline into a scratch folder and compares with committed expectations.
public enum ExpectationCheck {
    /// - Returns: a one-line success message.
    /// - Throws: `CVMFailure` (exit 65) with a readable diff when outputs differ; config errors (78) for a bad expectations file.
    public static func run(_ loaded: LoadedConfig, expectations path: String, update: Bool, asOf: CivilDate?,
                           threads: Int?, logger: Logger) throws -> String {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-check-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let existing = FileManager.default.fileExists(atPath: path) ? try load(path) : nil
        // --as-of, else the expectations' own date, else the config's (else yesterday).
        var options = RunOptions(asOf: asOf ?? existing?.asOf.flatMap { CivilDate(iso: $0) }, threads: threads)
        options.warehouseOverride = "\(scratch)/cvm.sqlite"
        options.artifactsOverride = "\(scratch)/artifacts"
        options.reportOverride = "\(scratch)/report"
        var quiet = logger
        quiet.logLevel = .warning
        let runner = PipelineRunner(loaded, options: options, logger: quiet)
        _ = try runner.run()
        var actual = try actuals(runner)
        actual.asOf = runner.asOf.description
        if update {
            var updated = actual
            if let existing {
                for (k, v) in existing.kpis where updated.kpis[k] != nil { updated.kpis[k]?.tolerance = v.tolerance }
            }
            let header = "# cvm check expectations for \(loaded.path) (as-of \(runner.asOf), the as_of below); rewrite with: cvm check \(loaded.path) --expect \(path) --update\n"
            do { try updated.yaml(header: header).write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw CVMFailure(.ioError, "\(path): error: cannot write expectations: \(error.localizedDescription)")
            }
            return "\(path): updated from run \(runner.runID)"
        }
        guard let expected = existing else {
            throw CVMFailure(.noInput, "\(path): error: no such expectations file; create it with --update")
        }
        let diff = compare(expected, actual)
        if !diff.isEmpty {
            throw CVMFailure(.dataQuality, "\(path): error: check failed, \(diff.count) difference\(diff.count == 1 ? "" : "s") (expected → actual):\n" + diff.map { "  " + $0 }.joined(separator: "\n") + "\nIf the change is intended, rerun with --update and review the diff.")
        }
        return "\(path): ok (\(expected.tables.count) tables, \(expected.quarantine.values.reduce(0) { $0 + $1.count }) quarantine rules, \(expected.segments.count) segmentations, \(expected.kpis.count) KPIs match)"
    }

    static func load(_ path: String) throws -> Expectations {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CVMFailure(.noInput, "\(path): error: cannot read the expectations file")
        }
        let decoder = ConfigDecoder(path: path)
        guard let e = decoder.decode(Expectations.self, fromYAML: text) else {
            throw DiagnosticsError(.config, decoder.diagnostics)
        }
        return e
    }

    static func actuals(_ runner: PipelineRunner) throws -> Expectations {
        var e = Expectations()
        let w = try Warehouse(path: runner.warehousePath)
        defer { try? w.close() }
        e.tables = try w.snapshotRowCounts(asOf: runner.asOf)
        if let q = runner.optionalInput(TableRef(stage: .clean, table: "quarantine")) {
            for r in QuarantineRecord.records(from: q) { e.quarantine[r.source, default: [:]][r.rule, default: 0] += 1 }
        }
        if let cv = runner.optionalInput(TableRef(stage: .value, table: "customer_value")) {
            for name in ["rfm_segment", "lifecycle_stage", "quadrant", "churn_band", "tier"] {
                guard let col = cv[name] else { continue }
                for i in 0..<cv.rowCount { e.segments[name, default: [:]][col.isValid(i) ? col.formatted(at: i) : "none", default: 0] += 1 }
            }
        }
        if let a = runner.optionalInput(TableRef(stage: .cluster, table: "cluster_assignments")),
           let clustering = a["clustering"], let cluster = a["cluster"] {
            for i in 0..<a.rowCount {
                e.segments["cluster.\(clustering.formatted(at: i))", default: [:]][cluster.formatted(at: i), default: 0] += 1
            }
        }
        for k in runner.makeSummary(status: "succeeded", exit: .ok, message: nil).kpis {
            e.kpis[k.name] = .init(value: k.value, tolerance: 1e-9)
        }
        return e
    }

    /// Differences as readable lines, in a stable order.
    static func compare(_ expected: Expectations, _ actual: Expectations) -> [String] {
        var out: [String] = []
        func counts(_ prefix: String, _ e: [String: Int], _ a: [String: Int]) {
            for k in Set(e.keys).union(a.keys).sorted() {
                let ev = e[k], av = a[k]
                if ev != av { out.append("\(prefix)\(k): \(ev.map(String.init) ?? "absent") → \(av.map(String.init) ?? "absent")") }
            }
        }
        counts("tables.", expected.tables, actual.tables)
        for s in Set(expected.quarantine.keys).union(actual.quarantine.keys).sorted() {
            counts("quarantine.\(s).", expected.quarantine[s] ?? [:], actual.quarantine[s] ?? [:])
        }
        for s in Set(expected.segments.keys).union(actual.segments.keys).sorted() {
            counts("segments.\(s).", expected.segments[s] ?? [:], actual.segments[s] ?? [:])
        }
        for (k, e) in expected.kpis.sorted(by: { $0.key < $1.key }) {
            guard let a = actual.kpis[k] else { out.append("kpis.\(k): \(formatDouble(e.value)) → absent"); continue }
            let tol = max(abs(e.value), abs(a.value)) * e.tolerance
            if abs(a.value - e.value) > tol {
                out.append("kpis.\(k): \(formatDouble(e.value)) → \(formatDouble(a.value)) (tolerance \(formatDouble(e.tolerance * 100))%)")
            }
        }
        return out
    }
}

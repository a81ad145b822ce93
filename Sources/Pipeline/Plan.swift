public import CVMCore

/// The pipeline's stages in their fixed order. Only Pipeline knows this order;
/// stage modules never call each other.
public enum StageName: String, CaseIterable, Sendable, Comparable, Codable {
    case extract, clean, features, cluster, value, load, report

    public static func < (a: StageName, b: StageName) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Which stages a run executes: all, one (`--only`), or a range (`--from`/`--until`).
public struct StageSelection: Sendable, Equatable {
    public var only: StageName?
    public var from: StageName?
    public var until: StageName?

    public init(only: StageName? = nil, from: StageName? = nil, until: StageName? = nil) {
        (self.only, self.from, self.until) = (only, from, until)
    }

    /// - Throws: `CVMFailure` (exit 64) when the options contradict each other.
    public func stages() throws -> [StageName] {
        if let only {
            guard from == nil, until == nil else {
                throw CVMFailure(.usage, "error: --only cannot be combined with --from or --until")
            }
            return [only]
        }
        let lo = from ?? .extract, hi = until ?? .report
        guard lo <= hi else {
            throw CVMFailure(.usage, "error: --from \(lo.rawValue) comes after --until \(hi.rawValue); stages run in the order \(StageName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return StageName.allCases.filter { $0 >= lo && $0 <= hi }
    }
}

/// A table one stage produces and others read.
public struct TableRef: Sendable, Hashable, CustomStringConvertible {
    public var stage: StageName
    public var table: String
    public var description: String { "\(stage.rawValue)/\(table)" }
}

/// One stage of the plan: what it reads and writes.
public struct PlannedStage: Sendable {
    public var name: StageName
    public var inputs: [TableRef]
    /// Input files (extract only): source name → files.
    public var files: [(source: String, paths: [String])]
    public var outputs: [String]
    /// Where the stage writes: artifact folder, warehouse, or report folder.
    public var writes: String
}

/// The stage graph for a config: each stage's declared inputs and outputs.
///
/// Stages talk only through these named tables, which is what lets a single
/// stage rerun from the persisted outputs of the stages before it.
public struct Plan: Sendable {
    public var stages: [PlannedStage]

    public init(_ loaded: LoadedConfig, asOf: CivilDate) {
        let c = loaded.config
        let sources = c.sources.keys
        let store = ArtifactStore(root: loaded.artifactsPath)
        func dir(_ s: StageName) -> String { store.stageDirectory(asOf: asOf, stage: s.rawValue) }
        let roles = FeatureRoles(c)

        var cleanOut = sources.map { "stg_\($0)" }
        if roles.sessions != nil { cleanOut.append("stg_sessions") }
        cleanOut += ["quarantine", "data_quality"]

        var featureIn = [TableRef(stage: .clean, table: "stg_\(roles.orders)")]
        if let e = roles.events { featureIn.append(TableRef(stage: .clean, table: "stg_\(e)")) }
        if roles.sessions != nil { featureIn.append(TableRef(stage: .clean, table: "stg_sessions")) }
        if let cu = roles.customers { featureIn.append(TableRef(stage: .clean, table: "stg_\(cu)")) }

        let extract = PlannedStage(
            name: .extract, inputs: [], files: sources.map { ($0, loaded.files[$0] ?? []) },
            outputs: sources.map { "raw_\($0)" } + ["extract_files", "extract_rejects"], writes: dir(.extract))
        let clean = PlannedStage(
            name: .clean,
            inputs: sources.map { TableRef(stage: .extract, table: "raw_\($0)") } + [TableRef(stage: .extract, table: "extract_rejects")],
            files: [], outputs: cleanOut, writes: dir(.clean))
        let features = PlannedStage(name: .features, inputs: featureIn, files: [],
                                    outputs: ["customer_features", "feature_catalog"], writes: dir(.features))
        let fin = [TableRef(stage: .features, table: "customer_features")]
        let cluster = PlannedStage(name: .cluster, inputs: fin, files: [],
                                   outputs: ["cluster_assignments", "cluster_centroids", "cluster_scaling", "cluster_profiles", "cluster_selection",
                                             "cluster_crossing"],
                                   writes: dir(.cluster))
        let value = PlannedStage(name: .value, inputs: fin, files: [], outputs: ["customer_value", "pareto_summary", "value_models", "pareto_lorenz"], writes: dir(.value))
        let loadInputs = Plan.warehouseTables(loaded).map { $0 }
        let load = PlannedStage(name: .load, inputs: loadInputs, files: [],
                                outputs: loadInputs.map { Plan.warehouseName($0, loaded) } + ["dim_date", "dim_product", "customer_history"],
                                writes: loaded.warehousePath)
        let report = PlannedStage(
            name: .report,
            inputs: [TableRef(stage: .value, table: "customer_value"), TableRef(stage: .value, table: "pareto_summary"),
                     TableRef(stage: .cluster, table: "cluster_profiles"), TableRef(stage: .clean, table: "quarantine"),
                     TableRef(stage: .clean, table: "data_quality"), TableRef(stage: .cluster, table: "cluster_selection"),
                     TableRef(stage: .cluster, table: "cluster_centroids"), TableRef(stage: .clean, table: "stg_\(roles.orders)")],
            files: [], outputs: ["index.html", "summary.json", "metrics.prom"], writes: loaded.reportPath)
        stages = [extract, clean, features, cluster, value, load, report]
    }

    public func stage(_ name: StageName) -> PlannedStage { stages.first { $0.name == name }! }

    /// The warehouse's name for a loaded table: the landing tables of the orders, sessions, customers
    /// and events roles are the star schema's facts and customer dimension; other tables keep their names.
    static func warehouseName(_ ref: TableRef, _ loaded: LoadedConfig) -> String {
        let roles = FeatureRoles(loaded.config)
        switch ref.table {
        case "stg_\(roles.orders)": return "fact_order_line"
        case "stg_sessions" where roles.sessions != nil: return "fact_session"
        case roles.customers.map({ "stg_\($0)" }): return "dim_customer"
        case roles.events.map({ "stg_\($0)" }): return "fact_event"
        default: return ref.table
        }
    }

    /// The tables the load stage copies into the warehouse, from the stages that persist them.
    static func warehouseTables(_ loaded: LoadedConfig) -> [TableRef] {
        let c = loaded.config
        let roles = FeatureRoles(c)
        var refs: [TableRef] = []
        for s in c.sources.keys where s != roles.events || c.stages.load.events {
            refs.append(TableRef(stage: .clean, table: "stg_\(s)"))
        }
        if roles.sessions != nil { refs.append(TableRef(stage: .clean, table: "stg_sessions")) }
        refs += [
            TableRef(stage: .clean, table: "quarantine"), TableRef(stage: .clean, table: "data_quality"),
            TableRef(stage: .features, table: "customer_features"), TableRef(stage: .features, table: "feature_catalog"),
            TableRef(stage: .cluster, table: "cluster_assignments"), TableRef(stage: .cluster, table: "cluster_centroids"),
            TableRef(stage: .cluster, table: "cluster_scaling"), TableRef(stage: .cluster, table: "cluster_profiles"),
            TableRef(stage: .cluster, table: "cluster_selection"), TableRef(stage: .cluster, table: "cluster_crossing"),
            TableRef(stage: .value, table: "customer_value"), TableRef(stage: .value, table: "pareto_summary"),
            TableRef(stage: .value, table: "value_models"), TableRef(stage: .value, table: "pareto_lorenz"),
        ]
        return refs
    }

    /// Human-readable plan for `cvm plan`.
    public func describe(selected: [StageName], loaded: LoadedConfig, asOf: CivilDate) -> String {
        var out = "pipeline \(loaded.config.pipeline) (config \(loaded.path), hash \(loaded.configHash))\n"
        out += "as-of \(asOf); warehouse \(loaded.warehousePath); artifacts \(loaded.artifactsPath)\n"
        for s in stages {
            let mark = selected.contains(s.name) ? "run " : "skip"
            out += "\n[\(mark)] \(s.name.rawValue)\n"
            for (source, paths) in s.files {
                out += "  reads  \(source): \(paths.count) file\(paths.count == 1 ? "" : "s")"
                if let first = paths.first { out += " (\(first)\(paths.count > 1 ? " ..." : ""))" }
                out += "\n"
            }
            for i in s.inputs {
                let persisted = !selected.contains(i.stage)
                out += "  reads  \(i.table) from \(i.stage.rawValue)\(persisted && selected.contains(s.name) ? " (persisted artifacts)" : "")\n"
            }
            out += "  writes \(s.outputs.joined(separator: ", "))\n"
            out += "      to \(s.writes)\n"
        }
        return out
    }
}

/// Which sources play which role for the features stage.
struct FeatureRoles {
    var orders: String
    var events: String?
    var customers: String?
    var sessions: String?

    init(_ c: PipelineConfig) {
        orders = featuresOrders(c.stages.features) ?? "orders"
        events = featuresEvents(c.stages.features)
        customers = featuresCustomers(c.stages.features)
        sessions = sessionsSource(c.stages.clean)
    }
}

public import CVMCore
#if canImport(Glibc)
import Glibc
#endif

/// Settings of the cluster stage (`stages.cluster`): several named clusterings.
public struct Configuration: Decodable, Sendable {
    public var clusterings: KeyedList<ClusteringConfiguration>
    /// Pairs of clusterings to cross (`crossings: [[value, behaviour]]`): customers per pair of clusters.
    public var crossings: [[String]]

    enum CodingKeys: String, CodingKey, CaseIterable { case clusterings, crossings }

    public init(clusterings: [(String, ClusteringConfiguration)] = [], crossings: [[String]] = []) {
        self.clusterings = KeyedList(clusterings.map { (key: $0.0, value: $0.1) })
        self.crossings = crossings
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        clusterings = try c.decodeIfPresent(KeyedList<ClusteringConfiguration>.self, forKey: .clusterings) ?? KeyedList()
        crossings = try (c.decodeIfPresent([StringList].self, forKey: .crossings) ?? []).map(\.values)
        // The names written, whether or not each clustering decoded (one with a wrong k is reported once, not again
        // as an unknown name in crossings).
        let written = (try? c.nestedContainer(keyedBy: AnyConfigKey.self, forKey: .clusterings).allKeys.map(\.stringValue)) ?? []
        let names = clusterings.map(\.key) + written.filter { w in !clusterings.contains { $0.key == w } }
        for pair in crossings {
            guard pair.count == 2, pair[0] != pair[1] else {
                throw ConfigValueError("crossings: each entry names two different clusterings, e.g. [value, behaviour]; found \(pair)")
            }
            for name in pair where !names.contains(name) {
                throw ConfigValueError("crossings: unknown clustering \"\(name)\" (declared: \(names.joined(separator: ", ")))")
            }
        }
    }
}

/// One clustering: which features, how they are transformed and scaled, and k.
public struct ClusteringConfiguration: Decodable, Sendable {
    public enum Scaling: String, ConfigEnum {
        case standard, minmax, none
        public static var noun: String { "scaling" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }
    public enum Transform: String, ConfigEnum {
        case none, log1p
        public static var noun: String { "transform" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }

    /// How k is chosen when a range is declared (`k: {min: 2, max: 8, criterion: silhouette}`).
    public enum Criterion: String, ConfigEnum {
        case silhouette, calinskiHarabasz = "calinski_harabasz", daviesBouldin = "davies_bouldin"
        public static var noun: String { "criterion" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }

    /// `k: 4`, or `k: {min: 2, max: 8, criterion: silhouette}`.
    public struct KChoice: Decodable, Sendable {
        public var min: Int
        public var max: Int
        public var criterion: Criterion
        enum CodingKeys: String, CodingKey, CaseIterable { case min, max, criterion }
        public init(min: Int, max: Int, criterion: Criterion = .silhouette) { (self.min, self.max, self.criterion) = (min, max, criterion) }
        public init(from decoder: any Decoder) throws {
            let isMapping = ConfigNodeKind.isMapping(decoder) ?? ((try? decoder.singleValueContainer().decode(Int.self)) == nil)
            if !isMapping {
                let fixed = try decoder.singleValueContainer().decode(Int.self)
                self.init(min: fixed, max: fixed)
            } else {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                self.init(min: try c.decode(Int.self, forKey: .min), max: try c.decode(Int.self, forKey: .max),
                          criterion: try c.decodeIfPresent(Criterion.self, forKey: .criterion) ?? .silhouette)
            }
            if min < 2 || max > 1000 || min > max {
                throw ConfigValueError(min == max ? "k must be between 2 and 1000, found \(min)" : "k must be between 2 and 1000 (min <= max), found \(min)...\(max)")
            }
        }
    }

    /// `init: {customers: [C1, C2, ...]}`: k-means starts from these customers' prepared rows (one per
    /// cluster, in this order) instead of k-means++, with one run. Lets another implementation (scikit-learn
    /// with `init=` those rows, as `make bench` does) start from the same centroids.
    public struct InitialCentroids: Decodable, Sendable, Equatable {
        public var customers: [String]
        enum CodingKeys: String, CodingKey, CaseIterable { case customers }
        public init(customers: [String]) { self.customers = customers }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(customers: try c.decode([String].self, forKey: .customers))
            if let problem = duplicateProblem { throw ConfigValueError(problem) }
        }
        /// The message for a customer listed twice, if any.
        var duplicateProblem: String? {
            var seen: Set<String> = []
            for id in customers where !seen.insert(id).inserted {
                return "customer \"\(id)\" is listed twice; each initial centroid needs its own customer"
            }
            return nil
        }
    }

    /// Feature names or glob patterns (`orders_*_90d`).
    public var features: [String]
    /// The number of clusters, or the range to choose it from.
    public var kChoice: KChoice
    public var k: Int { kChoice.min }
    public var nInit: Int
    public var maxIterations: Int
    public var tolerance: Double
    public var scaling: Scaling
    /// `log1p` compresses skewed money and count features (applied to non-negative values).
    public var transform: Transform
    /// Overrides the pipeline seed for this clustering.
    public var seed: UInt64?
    /// Clip each feature at these quantiles (fitted on this data, stored in `cluster_scaling`).
    public var winsorize: (low: Double, high: Double)?
    /// `fit` a new model, or `assign` customers to the stored model without refitting.
    public var mode: Mode
    /// In `assign` mode, the snapshot whose model to use (default: the latest before the run's as-of).
    public var modelAsOf: CivilDate?
    /// k-means algorithm (all exact; `auto` picks by size and dimension).
    public var algorithm: KMeans.Algorithm
    /// Given initial centroids (`init`), or nil for k-means++.
    public var initial: InitialCentroids?

    public enum Mode: String, ConfigEnum {
        case fit, assign
        public static var noun: String { "mode" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case features, k, nInit = "n_init", maxIterations = "max_iter", tolerance = "tol", scaling, transform, seed
        case winsorize, mode, modelAsOf = "model_as_of", algorithm, initial = "init"
    }

    public init(features: [String], k: Int, nInit: Int = 4, maxIterations: Int = 300, tolerance: Double = 1e-4,
                scaling: Scaling = .standard, transform: Transform = .none, seed: UInt64? = nil) {
        (self.features, self.kChoice, self.nInit, self.maxIterations, self.tolerance) = (features, KChoice(min: k, max: k), nInit, maxIterations, tolerance)
        (self.scaling, self.transform, self.seed) = (scaling, transform, seed)
        (self.winsorize, self.mode, self.modelAsOf, self.algorithm, self.initial) = (nil, .fit, nil, .auto, nil)
    }

    /// What is wrong with `init` apart from unknown customers (which only the data can tell), or nil:
    /// a listed customer twice, a count other than k, a k range, n_init above 1, or assign mode.
    /// The pipeline's config check reports it at `<key>.init`; the stage checks it again before fitting.
    public var initialProblem: String? {
        guard let initial else { return nil }
        if mode == .assign { return "init applies to mode: fit; assign mode takes the stored centroids" }
        if kChoice.min != kChoice.max {
            return "init needs a fixed k (one customer per cluster), found the range \(kChoice.min)...\(kChoice.max)"
        }
        if initial.customers.count != k {
            return "\(initial.customers.count) customer\(initial.customers.count == 1 ? "" : "s") for k = \(k); list exactly one customer per cluster"
        }
        if let problem = initial.duplicateProblem { return problem }
        if nInit != 1 { return "init fixes the initial centroids, so n_init must be 1 (found \(nInit)); remove n_init" }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let assign = try c.decodeIfPresent(Mode.self, forKey: .mode) == .assign
        // In assign mode the stored model fixes the features and k.
        let choice = assign ? try c.decodeIfPresent(KChoice.self, forKey: .k) ?? KChoice(min: 2, max: 2) : try c.decode(KChoice.self, forKey: .k)
        let features = assign ? try c.decodeIfPresent(StringList.self, forKey: .features)?.values ?? [] : try c.decode(StringList.self, forKey: .features).values
        if !assign && features.isEmpty { throw ConfigValueError("features: list at least one feature or glob (see the feature_catalog table)") }
        self.init(features: features, k: choice.min)
        kChoice = choice
        initial = try c.decodeIfPresent(InitialCentroids.self, forKey: .initial)
        // Given centroids make restarts pointless: one run unless n_init says otherwise (then initialProblem does).
        nInit = try c.decodeIfPresent(Int.self, forKey: .nInit) ?? (initial != nil ? 1 : nInit)
        if nInit < 1 { throw ConfigValueError("n_init must be at least 1") }
        maxIterations = try c.decodeIfPresent(Int.self, forKey: .maxIterations) ?? maxIterations
        if maxIterations < 1 { throw ConfigValueError("max_iter must be at least 1") }
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? tolerance
        if tolerance < 0 { throw ConfigValueError("tol must not be negative") }
        scaling = try c.decodeIfPresent(Scaling.self, forKey: .scaling) ?? scaling
        transform = try c.decodeIfPresent(Transform.self, forKey: .transform) ?? transform
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        if let w = try c.decodeIfPresent([Double].self, forKey: .winsorize) {
            guard w.count == 2, w[0] >= 0, w[0] < w[1], w[1] <= 1 else {
                throw ConfigValueError("winsorize takes two quantiles [low, high] with 0 <= low < high <= 1, e.g. [0.01, 0.99]; found \(w)")
            }
            winsorize = (w[0], w[1])
        }
        mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? .fit
        if let text = try c.decodeIfPresent(String.self, forKey: .modelAsOf) {
            guard let d = CivilDate(iso: text) else { throw ConfigValueError("model_as_of must be a date YYYY-MM-DD, found \"\(text)\"") }
            modelAsOf = d
        }
        if let a = try c.decodeIfPresent(String.self, forKey: .algorithm) {
            guard let v = KMeans.Algorithm(rawValue: a) else {
                throw ConfigValueError("unknown algorithm \"\(a)\" (expected \(KMeans.Algorithm.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            algorithm = v
        }
    }
}

/// A fitted clustering as stored in the warehouse (`cluster_scaling`, `cluster_centroids`,
/// `cluster_profiles` of one snapshot): everything `assign` mode needs to place customers in
/// the same clusters without refitting.
public struct ClusterModel: Sendable {
    public var asOf: String
    public var features: [String]
    public var transforms: [ClusteringConfiguration.Transform]
    public var winsorLow: [Double?]
    public var winsorHigh: [Double?]
    public var center: [Double]
    public var scale: [Double]
    public var imputed: [Double]
    /// k × features, row c = cluster id c.
    public var centroids: Matrix
    public var names: [String]

    /// Reads the model of `clustering` from the three stored tables (rows of other clusterings are ignored).
    /// - Throws: `CVMFailure` (66) when the tables do not hold a complete model.
    public init(clustering: String, asOf: String, scaling: Table, centroids: Table, profiles: Table) throws {
        func rows(_ t: Table) -> [Int] {
            guard let c = t["clustering"] else { return [] }
            return (0..<t.rowCount).filter { c.string(at: $0) == clustering }
        }
        let problem = "the stored model of clustering \(clustering) (snapshot \(asOf))"
        let sRows = rows(scaling)
        guard !sRows.isEmpty, let f = scaling["feature"], let tr = scaling["transform"], let ce = scaling["center"],
              let sc = scaling["scale"], let im = scaling["imputed_value"] else {
            throw CVMFailure(.noInput, "error: \(problem) has no scaling rows; run once with mode: fit")
        }
        self.asOf = asOf
        features = sRows.map { f.string(at: $0) ?? "" }
        transforms = sRows.map { ClusteringConfiguration.Transform(rawValue: tr.string(at: $0) ?? "none") ?? .none }
        center = sRows.map { ce.double(at: $0) ?? 0 }
        scale = sRows.map { sc.double(at: $0) ?? 1 }
        imputed = sRows.map { im.double(at: $0) ?? 0 }
        winsorLow = sRows.map { scaling["winsor_low"]?.double(at: $0) }
        winsorHigh = sRows.map { scaling["winsor_high"]?.double(at: $0) }
        let cRows = rows(centroids)
        guard let cc = centroids["cluster"], let cf = centroids["feature"], let cv = centroids["value"], !cRows.isEmpty else {
            throw CVMFailure(.noInput, "error: \(problem) has no centroids; run once with mode: fit")
        }
        let k = Int((cRows.compactMap { cc.int64(at: $0) }.max() ?? -1) + 1)
        let d = features.count
        var m = Matrix(rows: k, cols: d)
        var seen = 0
        for r in cRows {
            guard let c = cc.int64(at: r), let j = features.firstIndex(of: cf.string(at: r) ?? ""), let v = cv.double(at: r) else { continue }
            m[Int(c), j] = v
            seen += 1
        }
        guard seen == k * d else {
            throw CVMFailure(.noInput, "error: \(problem) is incomplete: \(seen) centroid values for \(k) clusters × \(d) features")
        }
        self.centroids = m
        var names = (0..<k).map { "cluster \($0)" }
        if let pc = profiles["cluster"], let pn = profiles["name"] {
            for r in rows(profiles) { if let c = pc.int64(at: r), c >= 0, Int(c) < k, let n = pn.string(at: r) { names[Int(c)] = n } }
        }
        self.names = names
    }
}

/// The cluster stage's output tables.
public struct ClusterOutput: Sendable {
    /// `cluster_assignments`: clustering, customer_id, cluster, distance.
    public var assignments: Table
    /// `cluster_centroids`: clustering, cluster, feature, value (scaled), value_original (mean of members).
    public var centroids: Table
    /// `cluster_scaling`: clustering, feature, transform, center, scale, imputed_value, winsor_low, winsor_high.
    public var scaling: Table
    /// `cluster_selection`: per clustering with a k range, each k's inertia, silhouette (seeded sample of at
    /// most 10,000 rows), Calinski-Harabasz, Davies-Bouldin, stability (ARI between two seeds) and the choice.
    public var selection: Table
    /// `cluster_profiles`: clustering, cluster, name, size, share, inertia, iterations, top_features, mode, model_as_of, algorithm.
    public var profiles: Table
    /// `cluster_crossing`: for each declared pair of clusterings, customers per pair of clusters.
    public var crossing: Table
    /// What the stage changed on its own, for the log: a k lowered to the customer count.
    public var warnings: [String] = []
}

/// Fits every declared clustering on `customer_features` (or assigns to a stored model).
public enum ClusterStage {
    /// Applies one feature's fitted preparation: impute → winsorize → transform → scale.
    @inline(__always)
    static func prepare(_ v: Double?, imputed: Double, low: Double?, high: Double?, transform: ClusteringConfiguration.Transform,
                        center: Double, scale: Double) -> Double {
        var t = v ?? imputed
        if let low, t < low { t = low }
        if let high, t > high { t = high }
        if transform == .log1p { t = t >= 0 ? log1p(t) : -log1p(-t) }
        return (t - center) / scale
    }

    /// - Parameter models: stored models for the clusterings in `assign` mode, by name.
    /// - Parameter asOf: the run's as-of day (recorded as `model_as_of` of fitted models).
    /// - Throws: `CVMFailure` (exit 78) for features that match nothing;
    ///   (66) for an `assign` clustering without a stored model or whose features are gone.
    public static func run(features: Table, configuration: Configuration, seed: UInt64, threads: Int,
                           models: [String: ClusterModel] = [:], asOf: String = "") throws -> ClusterOutput {
        var aClustering = StringColumnBuilder(), aCustomer = StringColumnBuilder()
        var aCluster: [Int64] = [], aDistance: [Double] = []
        var cClustering = StringColumnBuilder(), cFeature = StringColumnBuilder()
        var cCluster: [Int64] = [], cValue: [Double] = [], cOriginal: [Double] = []
        var sClustering = StringColumnBuilder(), sFeature = StringColumnBuilder(), sTransform = StringColumnBuilder()
        var sCenter: [Double] = [], sScale: [Double] = [], sImputed: [Double] = []
        var sLow: [Double] = [], sHigh: [Double] = [], sWinsorized: [Bool] = []
        var pClustering = StringColumnBuilder(), pName = StringColumnBuilder(), pTop = StringColumnBuilder()
        var pMode = StringColumnBuilder(), pModelAsOf = StringColumnBuilder(), pAlgorithm = StringColumnBuilder()
        var pCluster: [Int64] = [], pSize: [Int64] = [], pShare: [Double] = [], pInertia: [Double] = [], pIterations: [Int64] = []
        var kClustering = StringColumnBuilder()
        var kK: [Int64] = [], kInertia: [Double] = [], kSilhouette: [Double] = [], kCH: [Double] = [], kDB: [Double] = []
        var kARI: [Double] = [], kChosen: [Int64] = []
        /// Per clustering: each customer's cluster id and the clusters' names, for crossings.
        var warnings: [String] = []
        var labelsByClustering: [String: (labels: [Int], names: [String])] = [:]
        guard let ids = features["customer_id"] else {
            throw CVMFailure(.config, "error: customer_features has no customer_id column")
        }
        let numeric = features.columns.filter { $0.name != "customer_id" && $0.type.storageKind != .string }.map(\.name)
        let n = features.rowCount
        for (name, cfg) in configuration.clusterings {
            let key = "stages.cluster.clusterings.\(name)"
            var kChoice = cfg.kChoice
            let model: ClusterModel?
            var selected: [String] = []
            if cfg.mode == .assign {
                guard let m = models[name] else {
                    throw CVMFailure(.noInput, "error: \(key).mode: assign needs a stored model of clustering \(name), and the warehouse has none; run once with mode: fit")
                }
                for f in m.features where features[f] == nil || !numeric.contains(f) {
                    throw CVMFailure(.noInput, "error: \(key).mode: assign: the stored model (snapshot \(m.asOf)) uses feature \(f), which customer_features no longer has; refit with mode: fit")
                }
                model = m
                selected = m.features
            } else {
                model = nil
                for pattern in cfg.features {
                    let matches = numeric.filter { fnmatch(pattern, $0, 0) == 0 }
                    if matches.isEmpty {
                        throw CVMFailure(.config, "error: \(key).features: no feature matches \"\(pattern)\" (features include \(numeric.prefix(8).joined(separator: ", ")), ...; see the feature_catalog table)")
                    }
                    for m in matches where !selected.contains(m) { selected.append(m) }
                }
                // A feature null for every customer (sessions_* without sessions, days_since_signup without signup
                // dates) is imputed to one value: it adds nothing, and the clustering is on the others.
                let empty = selected.filter { f in features[f].map { c in !(0..<n).contains(where: c.isValid) } ?? false }
                if !empty.isEmpty, n > 0 {
                    warnings.append("\(key).features: \(empty.joined(separator: ", ")) \(empty.count == 1 ? "is" : "are") null for every customer (no data behind \(empty.count == 1 ? "it" : "them") in this shop), so the clustering uses the other features only; leave \(empty.count == 1 ? "it" : "them") out")
                }
                guard n > 0 else {
                    // Not a config problem: no customer has rows up to the as-of date (a date before the data?).
                    throw CVMFailure(.dataQuality, "error: \(key): customer_features has no customers for this snapshot: no customer has rows on or before the as-of date; check --as-of / as_of against the dates in your files")
                }
                if let problem = cfg.initialProblem { throw CVMFailure(.config, "error: \(key).init: \(problem)") }
                // A shop with fewer customers than k (a new shop, a short as-of window) still gets its clustering:
                // k is lowered to the customer count and the stage warns, instead of failing the nightly run.
                // Given centroids name k distinct customers of this snapshot, so they never need it.
                if kChoice.max > n {
                    let lowered = ClusteringConfiguration.KChoice(min: Swift.min(kChoice.min, n), max: n, criterion: kChoice.criterion)
                    warnings.append("\(key).k: \(kChoice.min == kChoice.max ? "\(kChoice.max)" : "\(kChoice.min)...\(kChoice.max)") clusters for \(n) customer\(n == 1 ? "" : "s"); clustered with k = \(lowered.min == lowered.max ? "\(lowered.max)" : "\(lowered.min)...\(lowered.max)") (lower k in the config to silence this)")
                    kChoice = lowered
                }
            }
            // The rows of the customers named in `init`, in their order (checked before any work).
            var initialRows: [Int] = []
            if model == nil, let initial = cfg.initial {
                var row: [String: Int] = [:]
                row.reserveCapacity(n)
                for i in 0..<n { if let id = ids.string(at: i) { row[id] = row[id] ?? i } }
                for id in initial.customers {
                    guard let r = row[id] else {
                        throw CVMFailure(.config, "error: \(key).init: customer \"\(id)\" is not in customer_features (\(n) customers); list customers of this snapshot")
                    }
                    initialRows.append(r)
                }
            }
            let d = selected.count
            // Raw values, nulls imputed with the column median (documented in cluster_scaling.imputed_value).
            var raw = [Double](repeating: 0, count: n * d)
            var x = [Double](repeating: 0, count: n * d)
            for (j, f) in selected.enumerated() {
                let col = features[f]!
                var imputed = 0.0, low: Double?, high: Double?, center = 0.0, scale = 1.0
                let transform = model?.transforms[j] ?? cfg.transform
                if let model {
                    (imputed, low, high) = (model.imputed[j], model.winsorLow[j], model.winsorHigh[j])
                    (center, scale) = (model.center[j], model.scale[j])
                } else {
                    var present = (0..<n).compactMap { col.double(at: $0) }
                    present.sort()
                    imputed = present.isEmpty ? 0 : (present.count % 2 == 1 ? present[present.count / 2]
                        : (present[present.count / 2 - 1] + present[present.count / 2]) / 2)
                    if let w = cfg.winsorize {
                        // Quantiles over all customers after imputation, as the model will see them.
                        var all = (0..<n).map { col.double(at: $0) ?? imputed }
                        all.sort()
                        (low, high) = (Quantiles.linear(all, w.low), Quantiles.linear(all, w.high))
                    }
                    let t = (0..<n).map { prepare(col.double(at: $0), imputed: imputed, low: low, high: high, transform: transform, center: 0, scale: 1) }
                    switch cfg.scaling {
                    case .standard:
                        center = t.reduce(0, +) / Double(n)
                        let sd = (t.reduce(0) { $0 + ($1 - center) * ($1 - center) } / Double(n)).squareRoot()
                        scale = sd > 0 ? sd : 1
                    case .minmax:
                        let lo = t.min() ?? 0, hi = t.max() ?? 0
                        center = lo
                        scale = hi > lo ? hi - lo : 1
                    case .none: break
                    }
                }
                for i in 0..<n {
                    let v = col.double(at: i)
                    raw[i * d + j] = v ?? imputed
                    x[i * d + j] = prepare(v, imputed: imputed, low: low, high: high, transform: transform, center: center, scale: scale)
                }
                sClustering.append(name); sFeature.append(f); sTransform.append(transform.rawValue)
                sCenter.append(center); sScale.append(scale); sImputed.append(imputed)
                sLow.append(low ?? 0); sHigh.append(high ?? 0); sWinsorized.append(low != nil)
            }
            let matrix = Matrix(rows: n, cols: d, values: x)
            // Given centroids: the named customers' prepared rows, exactly as the matrix holds them.
            let initialization: KMeans.Initialization = initialRows.isEmpty ? .kMeansPlusPlus
                : .given(Matrix(rows: initialRows.count, cols: d, values: initialRows.flatMap { Array(x[($0 * d)..<(($0 + 1) * d)]) }))
            func fitK(_ k: Int, _ s: UInt64) -> KMeansResult {
                KMeans(k: k, seed: s, nInit: cfg.nInit, maxIterations: cfg.maxIterations, tolerance: cfg.tolerance,
                       initialization: initialization, threads: threads, algorithm: cfg.algorithm).fit(matrix)
            }
            let baseSeed = cfg.seed ?? seed
            var fit: KMeansResult
            var k = kChoice.min
            var newID: [Int]
            var names: [String]? = nil
            if let model {
                // Assign mode: nearest stored centroid; ids and names stay the model's.
                k = model.centroids.rows
                let near = KMeans(k: k, threads: threads).nearest(matrix, centroids: model.centroids)
                fit = KMeansResult(centroids: model.centroids, labels: near.labels, inertia: near.inertia, iterations: 0,
                                   converged: true, algorithm: .lloyd)
                newID = Array(0..<k)
                names = model.names
            } else {
                if kChoice.min == kChoice.max {
                    fit = fitK(k, baseSeed)
                } else {
                    // Model selection: every k in the range, scored on a seeded sample of at most 10,000 rows.
                    var rng = SeededRNG(seed: baseSeed, stream: 77)
                    var sample = Array(0..<n)
                    if n > 10_000 {
                        for i in 0..<10_000 { sample.swapAt(i, i + Int(rng.next() % UInt64(n - i))) }
                        sample = Array(sample[0..<10_000]).sorted()
                    }
                    let sub = Matrix(rows: sample.count, cols: d, values: sample.flatMap { Array(x[($0 * d)..<(($0 + 1) * d)]) })
                    var best: (score: Double, k: Int, fit: KMeansResult)?
                    for candidate in kChoice.min...kChoice.max {
                        let f = fitK(candidate, baseSeed)
                        let again = fitK(candidate, baseSeed &+ 1)
                        let subLabels = sample.map { f.labels[$0] }
                        let sil = ClusterQuality.silhouette(sub, labels: subLabels, k: candidate, threads: threads)
                        let ch = ClusterQuality.calinskiHarabasz(matrix, labels: f.labels, k: candidate)
                        let db = ClusterQuality.daviesBouldin(matrix, labels: f.labels, k: candidate)
                        let ari = ClusterQuality.adjustedRandIndex(f.labels, again.labels)
                        let score: Double
                        switch kChoice.criterion {
                        case .silhouette: score = sil
                        case .calinskiHarabasz: score = ch
                        case .daviesBouldin: score = -db
                        }
                        kClustering.append(name); kK.append(Int64(candidate)); kInertia.append(f.inertia)
                        kSilhouette.append(sil); kCH.append(ch); kDB.append(db); kARI.append(ari)
                        if best == nil || score > best!.score { best = (score, candidate, f) }
                    }
                    k = best!.k
                    fit = best!.fit
                    for i in kChosen.count..<kK.count { kChosen.append(kK[i] == Int64(k) ? 1 : 0) }
                }
                // Renumber clusters by size (largest first), ties by fitted index: stable names and ids.
                var sizes = [Int](repeating: 0, count: k)
                for l in fit.labels { sizes[Int(l)] += 1 }
                let order = (0..<k).sorted { (sizes[$0], -$0) > (sizes[$1], -$1) }
                newID = [Int](repeating: 0, count: k)
                for (r, c) in order.enumerated() { newID[c] = r }
            }
            var sizes = [Int](repeating: 0, count: k)
            for l in fit.labels { sizes[Int(l)] += 1 }
            // Fewer distinct customers (as the features see them) than clusters: the rest stay empty, said so.
            let emptyClusters = sizes.filter { $0 == 0 }.count
            if emptyClusters > 0 {
                warnings.append("\(key).k: \(emptyClusters) of \(k) clusters are empty: the customers have fewer distinct feature values than k (customers alike, e.g. none has ordered yet); lower k or add features that tell them apart")
            }
            var within = [Double](repeating: 0, count: k)
            var means = [Double](repeating: 0, count: k * d)
            var crossLabels = [Int](repeating: 0, count: n)
            for i in 0..<n {
                let c = Int(fit.labels[i])
                var dist = 0.0
                for j in 0..<d {
                    let t = x[i * d + j] - fit.centroids.values[c * d + j]
                    dist += t * t
                    means[c * d + j] += raw[i * d + j]
                }
                within[c] += dist
                aClustering.append(name)
                aCustomer.append(ids.string(at: i))
                aCluster.append(Int64(newID[c]))
                aDistance.append(dist.squareRoot())
                crossLabels[i] = newID[c]
            }
            var idNames = [String](repeating: "", count: k)
            for c in (0..<k).sorted(by: { newID[$0] < newID[$1] }) {
                let id = newID[c]
                var z: [(String, Double)] = []
                for j in 0..<d {
                    let centroid = fit.centroids.values[c * d + j]
                    cClustering.append(name); cFeature.append(selected[j]); cCluster.append(Int64(id))
                    cValue.append(centroid)
                    cOriginal.append(sizes[c] > 0 ? means[c * d + j] / Double(sizes[c]) : 0)
                    z.append((selected[j], centroid))
                }
                let top = z.sorted { (abs($0.1), $1.0) > (abs($1.1), $0.0) }.prefix(3)
                let clusterName = names?[c] ?? profileName(Array(top))
                idNames[id] = clusterName
                pClustering.append(name)
                pCluster.append(Int64(id))
                pName.append(clusterName)
                pSize.append(Int64(sizes[c]))
                pShare.append(n > 0 ? Double(sizes[c]) / Double(n) : 0)
                pInertia.append(within[c])
                pIterations.append(Int64(fit.iterations))
                pTop.append(top.map { "\($0.0) \($0.1 >= 0 ? "+" : "")\(formatDouble(($0.1 * 100).rounded() / 100))" }.joined(separator: "; "))
                pMode.append(cfg.mode.rawValue)
                pModelAsOf.append(model?.asOf ?? asOf)
                pAlgorithm.append(model == nil ? fit.algorithm.rawValue : "assign")
            }
            labelsByClustering[name] = (crossLabels, idNames)
        }
        let crossing = crossTable(configuration.crossings, labelsByClustering, customers: n)
        var scalingColumns = [
            sClustering.finish(name: "clustering"), sFeature.finish(name: "feature"), sTransform.finish(name: "transform"),
            Column("center", double: sCenter), Column("scale", double: sScale), Column("imputed_value", double: sImputed),
        ]
        scalingColumns.append(Column("winsor_low", double: sLow, validity: sWinsorized))
        scalingColumns.append(Column("winsor_high", double: sHigh, validity: sWinsorized))
        return ClusterOutput(
            assignments: Table(name: "cluster_assignments", columns: [
                aClustering.finish(name: "clustering"), aCustomer.finish(name: "customer_id"),
                Column("cluster", .int, int64: aCluster), Column("distance", double: aDistance),
            ], rowCount: aCluster.count),
            centroids: Table(name: "cluster_centroids", columns: [
                cClustering.finish(name: "clustering"), Column("cluster", .int, int64: cCluster), cFeature.finish(name: "feature"),
                Column("value", double: cValue), Column("value_original", double: cOriginal),
            ], rowCount: cCluster.count),
            scaling: Table(name: "cluster_scaling", columns: scalingColumns, rowCount: sCenter.count),
            selection: Table(name: "cluster_selection", columns: [
                kClustering.finish(name: "clustering"), Column("k", .int, int64: kK), Column("inertia", double: kInertia),
                Column("silhouette", double: kSilhouette), Column("calinski_harabasz", double: kCH),
                Column("davies_bouldin", double: kDB), Column("stability_ari", double: kARI), Column("chosen", .bool, int64: kChosen),
            ], rowCount: kK.count),
            profiles: Table(name: "cluster_profiles", columns: [
                pClustering.finish(name: "clustering"), Column("cluster", .int, int64: pCluster), pName.finish(name: "name"),
                Column("size", .int, int64: pSize), Column("share", double: pShare), Column("inertia", double: pInertia),
                Column("iterations", .int, int64: pIterations), pTop.finish(name: "top_features"),
                pMode.finish(name: "mode"), pModelAsOf.finish(name: "model_as_of"), pAlgorithm.finish(name: "algorithm"),
            ], rowCount: pCluster.count),
            crossing: crossing,
            warnings: warnings)
    }

    /// `cluster_crossing`: per declared pair (a, b), every pair of clusters with its customer count, its share of
    /// all customers and of cluster a, and the lift (observed share over the share expected if independent).
    static func crossTable(_ pairs: [[String]], _ labels: [String: (labels: [Int], names: [String])], customers n: Int) -> Table {
        var ca = StringColumnBuilder(), na = StringColumnBuilder(), cb = StringColumnBuilder(), nb = StringColumnBuilder()
        var ia: [Int64] = [], ib: [Int64] = [], count: [Int64] = [], share: [Double] = [], shareOfA: [Double] = [], lift: [Double] = []
        for pair in pairs {
            guard let a = labels[pair[0]], let b = labels[pair[1]] else { continue }
            let ka = a.names.count, kb = b.names.count
            var m = [Int](repeating: 0, count: ka * kb)
            var sa = [Int](repeating: 0, count: ka), sb = [Int](repeating: 0, count: kb)
            for i in 0..<n {
                m[a.labels[i] * kb + b.labels[i]] += 1
                sa[a.labels[i]] += 1
                sb[b.labels[i]] += 1
            }
            for x in 0..<ka {
                for y in 0..<kb {
                    ca.append(pair[0]); ia.append(Int64(x)); na.append(a.names[x])
                    cb.append(pair[1]); ib.append(Int64(y)); nb.append(b.names[y])
                    let c = m[x * kb + y]
                    count.append(Int64(c))
                    share.append(n > 0 ? Double(c) / Double(n) : 0)
                    shareOfA.append(sa[x] > 0 ? Double(c) / Double(sa[x]) : 0)
                    let expected = n > 0 ? Double(sa[x]) * Double(sb[y]) / Double(n) : 0
                    lift.append(expected > 0 ? Double(c) / expected : 0)
                }
            }
        }
        return Table(name: "cluster_crossing", columns: [
            ca.finish(name: "clustering_a"), Column("cluster_a", .int, int64: ia), na.finish(name: "name_a"),
            cb.finish(name: "clustering_b"), Column("cluster_b", .int, int64: ib), nb.finish(name: "name_b"),
            Column("customers", .int, int64: count), Column("share", double: share), Column("share_of_a", double: shareOfA),
            Column("lift", double: lift),
        ], rowCount: count.count)
    }

    /// A readable name from the most distinguishing features (z-scores of the centroid),
    /// e.g. "frequent, high spenders, recent".
    static func profileName(_ top: [(String, Double)]) -> String {
        var words: [String] = []
        for (f, z) in top where abs(z) >= 0.25 {
            let high = z > 0
            let word: String
            if f.contains("recency") { word = high ? "lapsed" : "recent" }
            else if f.hasPrefix("frequency") || f.hasPrefix("orders_count") { word = high ? "frequent" : "infrequent" }
            else if f.hasPrefix("monetary") || f.hasPrefix("revenue_sum") { word = high ? "high spenders" : "low spenders" }
            else if f.hasPrefix("aov") || f.hasPrefix("revenue_mean") { word = high ? "big baskets" : "small baskets" }
            else if f.hasPrefix("tenure") { word = high ? "long-standing" : "new" }
            else if f.hasPrefix("sessions") || f.hasPrefix("page_views") { word = high ? "active browsers" : "rare visitors" }
            else if f.contains("discount") { word = high ? "discount seekers" : "full-price buyers" }
            else if f.contains("return") { word = high ? "frequent returners" : "rare returners" }
            else { word = "\(high ? "high" : "low") \(String(f.map { $0 == "_" ? " " : $0 }))" }
            if !words.contains(word) { words.append(word) }
        }
        return words.isEmpty ? "average customers" : words.joined(separator: ", ")
    }
}

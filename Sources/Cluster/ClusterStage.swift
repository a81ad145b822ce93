public import CVMCore
#if canImport(Glibc)
import Glibc
#endif

/// Settings of the cluster stage (`stages.cluster`): several named clusterings.
public struct Configuration: Decodable, Sendable {
    public var clusterings: KeyedList<ClusteringConfiguration>

    enum CodingKeys: String, CodingKey, CaseIterable { case clusterings }

    public init(clusterings: [(String, ClusteringConfiguration)] = []) {
        self.clusterings = KeyedList(clusterings.map { (key: $0.0, value: $0.1) })
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        clusterings = try c.decodeIfPresent(KeyedList<ClusteringConfiguration>.self, forKey: .clusterings) ?? KeyedList()
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
            if min < 2 || max > 1000 || min > max { throw ConfigValueError("k must be between 2 and 1000 (min <= max), found \(min)...\(max)") }
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case features, k, nInit = "n_init", maxIterations = "max_iter", tolerance = "tol", scaling, transform, seed
    }

    public init(features: [String], k: Int, nInit: Int = 4, maxIterations: Int = 300, tolerance: Double = 1e-4,
                scaling: Scaling = .standard, transform: Transform = .none, seed: UInt64? = nil) {
        (self.features, self.kChoice, self.nInit, self.maxIterations, self.tolerance) = (features, KChoice(min: k, max: k), nInit, maxIterations, tolerance)
        (self.scaling, self.transform, self.seed) = (scaling, transform, seed)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let choice = try c.decode(KChoice.self, forKey: .k)
        self.init(features: try c.decode(StringList.self, forKey: .features).values, k: choice.min)
        kChoice = choice
        nInit = try c.decodeIfPresent(Int.self, forKey: .nInit) ?? nInit
        if nInit < 1 { throw ConfigValueError("n_init must be at least 1") }
        maxIterations = try c.decodeIfPresent(Int.self, forKey: .maxIterations) ?? maxIterations
        if maxIterations < 1 { throw ConfigValueError("max_iter must be at least 1") }
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? tolerance
        if tolerance < 0 { throw ConfigValueError("tol must not be negative") }
        scaling = try c.decodeIfPresent(Scaling.self, forKey: .scaling) ?? scaling
        transform = try c.decodeIfPresent(Transform.self, forKey: .transform) ?? transform
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
    }
}

/// The cluster stage's output tables.
public struct ClusterOutput: Sendable {
    /// `cluster_assignments`: clustering, customer_id, cluster, distance.
    public var assignments: Table
    /// `cluster_centroids`: clustering, cluster, feature, value (scaled), value_original (mean of members).
    public var centroids: Table
    /// `cluster_scaling`: clustering, feature, center, scale, imputed_value, transform.
    public var scaling: Table
    /// `cluster_selection`: per clustering with a k range, each k's inertia, silhouette (seeded sample of at
    /// most 10,000 rows), Calinski-Harabasz, Davies-Bouldin, stability (ARI between two seeds) and the choice.
    public var selection: Table
    /// `cluster_profiles`: clustering, cluster, name, size, share, inertia, iterations, top_features.
    public var profiles: Table
}

/// Fits every declared clustering on `customer_features`.
public enum ClusterStage {
    /// - Throws: `CVMFailure` (exit 78) for features that match nothing or k larger than the customer count.
    public static func run(features: Table, configuration: Configuration, seed: UInt64, threads: Int) throws -> ClusterOutput {
        var aClustering = StringColumnBuilder(), aCustomer = StringColumnBuilder()
        var aCluster: [Int64] = [], aDistance: [Double] = []
        var cClustering = StringColumnBuilder(), cFeature = StringColumnBuilder()
        var cCluster: [Int64] = [], cValue: [Double] = [], cOriginal: [Double] = []
        var sClustering = StringColumnBuilder(), sFeature = StringColumnBuilder(), sTransform = StringColumnBuilder()
        var sCenter: [Double] = [], sScale: [Double] = [], sImputed: [Double] = []
        var pClustering = StringColumnBuilder(), pName = StringColumnBuilder(), pTop = StringColumnBuilder()
        var pCluster: [Int64] = [], pSize: [Int64] = [], pShare: [Double] = [], pInertia: [Double] = [], pIterations: [Int64] = []
        var kClustering = StringColumnBuilder()
        var kK: [Int64] = [], kInertia: [Double] = [], kSilhouette: [Double] = [], kCH: [Double] = [], kDB: [Double] = []
        var kARI: [Double] = [], kChosen: [Int64] = []
        guard let ids = features["customer_id"] else {
            throw CVMFailure(.config, "error: customer_features has no customer_id column")
        }
        let numeric = features.columns.filter { $0.name != "customer_id" && $0.type.storageKind != .string }.map(\.name)
        for (name, cfg) in configuration.clusterings {
            let key = "stages.cluster.clusterings.\(name)"
            var selected: [String] = []
            for pattern in cfg.features {
                let matches = numeric.filter { fnmatch(pattern, $0, 0) == 0 }
                if matches.isEmpty {
                    throw CVMFailure(.config, "error: \(key).features: no feature matches \"\(pattern)\" (features include \(numeric.prefix(8).joined(separator: ", ")), ...; see the feature_catalog table)")
                }
                for m in matches where !selected.contains(m) { selected.append(m) }
            }
            let n = features.rowCount
            guard cfg.kChoice.max <= n else {
                throw CVMFailure(.config, "error: \(key).k: \(cfg.kChoice.max) clusters for \(n) customers; lower k")
            }
            let d = selected.count
            // Raw values, nulls imputed with the column median (documented in cluster_scaling.imputed_value).
            var raw = [Double](repeating: 0, count: n * d)
            var x = [Double](repeating: 0, count: n * d)
            for (j, f) in selected.enumerated() {
                let col = features[f]!
                var present = (0..<n).compactMap { col.double(at: $0) }
                present.sort()
                let median = present.isEmpty ? 0 : (present.count % 2 == 1 ? present[present.count / 2]
                    : (present[present.count / 2 - 1] + present[present.count / 2]) / 2)
                var t = [Double](repeating: 0, count: n)
                for i in 0..<n {
                    let v = col.double(at: i) ?? median
                    raw[i * d + j] = v
                    t[i] = cfg.transform == .log1p ? (v >= 0 ? log1p(v) : -log1p(-v)) : v
                }
                var center = 0.0, scale = 1.0
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
                for i in 0..<n { x[i * d + j] = (t[i] - center) / scale }
                sClustering.append(name); sFeature.append(f); sTransform.append(cfg.transform.rawValue)
                sCenter.append(center); sScale.append(scale); sImputed.append(median)
            }
            let matrix = Matrix(rows: n, cols: d, values: x)
            func fitK(_ k: Int, _ s: UInt64) -> KMeansResult {
                KMeans(k: k, seed: s, nInit: cfg.nInit, maxIterations: cfg.maxIterations, tolerance: cfg.tolerance, threads: threads).fit(matrix)
            }
            let baseSeed = cfg.seed ?? seed
            var fit: KMeansResult
            var k = cfg.kChoice.min
            if cfg.kChoice.min == cfg.kChoice.max {
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
                for candidate in cfg.kChoice.min...cfg.kChoice.max {
                    let f = fitK(candidate, baseSeed)
                    let again = fitK(candidate, baseSeed &+ 1)
                    let subLabels = sample.map { f.labels[$0] }
                    let sil = ClusterQuality.silhouette(sub, labels: subLabels, k: candidate, threads: threads)
                    let ch = ClusterQuality.calinskiHarabasz(matrix, labels: f.labels, k: candidate)
                    let db = ClusterQuality.daviesBouldin(matrix, labels: f.labels, k: candidate)
                    let ari = ClusterQuality.adjustedRandIndex(f.labels, again.labels)
                    let score: Double
                    switch cfg.kChoice.criterion {
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
            var newID = [Int](repeating: 0, count: k)
            for (r, c) in order.enumerated() { newID[c] = r }
            var within = [Double](repeating: 0, count: k)
            var means = [Double](repeating: 0, count: k * d)
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
            }
            for c in order {
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
                pClustering.append(name)
                pCluster.append(Int64(id))
                pName.append(profileName(Array(top)))
                pSize.append(Int64(sizes[c]))
                pShare.append(Double(sizes[c]) / Double(n))
                pInertia.append(within[c])
                pIterations.append(Int64(fit.iterations))
                pTop.append(top.map { "\($0.0) \($0.1 >= 0 ? "+" : "")\(formatDouble(($0.1 * 100).rounded() / 100))" }.joined(separator: "; "))
            }
        }
        return ClusterOutput(
            assignments: Table(name: "cluster_assignments", columns: [
                aClustering.finish(name: "clustering"), aCustomer.finish(name: "customer_id"),
                Column("cluster", .int, int64: aCluster), Column("distance", double: aDistance),
            ], rowCount: aCluster.count),
            centroids: Table(name: "cluster_centroids", columns: [
                cClustering.finish(name: "clustering"), Column("cluster", .int, int64: cCluster), cFeature.finish(name: "feature"),
                Column("value", double: cValue), Column("value_original", double: cOriginal),
            ], rowCount: cCluster.count),
            scaling: Table(name: "cluster_scaling", columns: [
                sClustering.finish(name: "clustering"), sFeature.finish(name: "feature"), sTransform.finish(name: "transform"),
                Column("center", double: sCenter), Column("scale", double: sScale), Column("imputed_value", double: sImputed),
            ], rowCount: sCenter.count),
            selection: Table(name: "cluster_selection", columns: [
                kClustering.finish(name: "clustering"), Column("k", .int, int64: kK), Column("inertia", double: kInertia),
                Column("silhouette", double: kSilhouette), Column("calinski_harabasz", double: kCH),
                Column("davies_bouldin", double: kDB), Column("stability_ari", double: kARI), Column("chosen", .bool, int64: kChosen),
            ], rowCount: kK.count),
            profiles: Table(name: "cluster_profiles", columns: [
                pClustering.finish(name: "clustering"), Column("cluster", .int, int64: pCluster), pName.finish(name: "name"),
                Column("size", .int, int64: pSize), Column("share", double: pShare), Column("inertia", double: pInertia),
                Column("iterations", .int, int64: pIterations), pTop.finish(name: "top_features"),
            ], rowCount: pCluster.count))
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

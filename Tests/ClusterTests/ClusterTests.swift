import Foundation
import Cluster
import CVMCore
import TestSupport
import Testing

/// Seeded blobs around `centers` (row-major), `perCenter` points each.
func blobs(_ centers: [[Double]], perCenter: Int, spread: Double, seed: UInt64) -> Matrix {
    var rng = SeededRNG(seed: seed)
    var values: [Double] = []
    for c in centers {
        for _ in 0..<perCenter {
            for x in c { values.append(x + (rng.nextDouble() - 0.5) * 2 * spread) }
        }
    }
    return Matrix(rows: centers.count * perCenter, cols: centers[0].count, values: values)
}

/// Plain serial Lloyd from given centroids: the obvious oracle.
func oracleLloyd(_ x: Matrix, _ initial: Matrix, iterations: Int) -> (labels: [Int32], inertia: Double) {
    var c = initial.values
    let k = initial.rows, d = x.cols
    var labels = [Int32](repeating: 0, count: x.rows)
    func assign() -> Double {
        var total = 0.0
        for i in 0..<x.rows {
            var best = 0, bestD = Double.infinity
            for j in 0..<k {
                var s = 0.0
                for f in 0..<d { let t = x[i, f] - c[j * d + f]; s += t * t }
                if s < bestD { (best, bestD) = (j, s) }
            }
            labels[i] = Int32(best)
            total += bestD
        }
        return total
    }
    for _ in 0..<iterations {
        _ = assign()
        var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
        for i in 0..<x.rows {
            counts[Int(labels[i])] += 1
            for f in 0..<d { sums[Int(labels[i]) * d + f] += x[i, f] }
        }
        for j in 0..<k where counts[j] > 0 { for f in 0..<d { c[j * d + f] = sums[j * d + f] / Double(counts[j]) } }
    }
    return (labels, assign())
}

struct KMeansTests {
    @Test func matchesSerialLloydFromTheSameInitialCentroids() {
        let x = blobs([[0, 0], [5, 5], [0, 6], [7, 0]], perCenter: 3000, spread: 2.5, seed: 7)
        let initial = Matrix(rows: 4, cols: 2, values: [1, 1, 2, 2, 3, 3, 4, 4])
        let fit = KMeans(k: 4, maxIterations: 25, tolerance: 0, initialization: .given(initial), threads: 2).fit(x)
        let oracle = oracleLloyd(x, initial, iterations: fit.iterations)
        #expect(fit.labels == oracle.labels)
        #expect(approxEqual(fit.inertia, oracle.inertia, rel: 1e-12))
    }

    @Test func resultsAreBitIdenticalForOneAndTwoThreads() {
        let x = blobs([[0, 0, 0], [4, 4, 4], [8, 0, 4]], perCenter: 5000, spread: 3, seed: 11)
        let a = KMeans(k: 3, seed: 42, nInit: 3, threads: 1).fit(x)
        let b = KMeans(k: 3, seed: 42, nInit: 3, threads: 2).fit(x)
        #expect(a.labels == b.labels)
        #expect(a.inertia.bitPattern == b.inertia.bitPattern)
        #expect(a.centroids.values.map(\.bitPattern) == b.centroids.values.map(\.bitPattern))
    }

    @Test func recoversWellSeparatedClusters() {
        let centers: [[Double]] = [[0, 0], [100, 0], [0, 100], [100, 100]]
        let x = blobs(centers, perCenter: 200, spread: 1, seed: 3)
        let fit = KMeans(k: 4, seed: 1, threads: 2).fit(x)
        // Every blob is one cluster, and the four clusters are distinct.
        var seen = Set<Int32>()
        for b in 0..<4 {
            let labels = Set(fit.labels[(b * 200)..<((b + 1) * 200)])
            #expect(labels.count == 1)
            seen.formUnion(labels)
        }
        #expect(seen.count == 4)
        #expect(fit.converged)
    }

    @Test func theSameSeedGivesTheSameFitAndAnotherSeedMayNot() {
        let x = blobs([[0, 0], [3, 3], [6, 0]], perCenter: 400, spread: 2, seed: 5)
        #expect(KMeans(k: 3, seed: 9, nInit: 1).fit(x) == KMeans(k: 3, seed: 9, nInit: 1).fit(x))
    }

    @Test func emptyClustersAreReseededFromTheFarthestPoints() {
        // Two initial centroids far from all data: one cluster would be empty without re-seeding.
        let x = Matrix(rows: 6, cols: 1, values: [0, 0.1, 0.2, 10, 10.1, 10.2])
        let initial = Matrix(rows: 2, cols: 1, values: [-100, -99])
        let fit = KMeans(k: 2, maxIterations: 20, initialization: .given(initial)).fit(x)
        #expect(Set(fit.labels).count == 2)
        #expect(Array(fit.labels[0..<3]) == [fit.labels[0], fit.labels[0], fit.labels[0]])
        #expect(fit.labels[0] != fit.labels[3])
        #expect(approxEqual(fit.inertia, 0.04, rel: 1e-9))  // 2 clusters × (0.01 + 0 + 0.01)
    }

    /// Inertia of numpy-verifiable toy data: points {0,1} and {9,10} → centroids 0.5 and 9.5, inertia 4 × 0.25.
    @Test func inertiaIsTheSumOfSquaredDistances() {
        let x = Matrix(rows: 4, cols: 1, values: [0, 1, 9, 10])
        let fit = KMeans(k: 2, seed: 0).fit(x)
        #expect(fit.inertia == 1.0)
        #expect(Set(fit.centroids.values) == [0.5, 9.5])
    }
}

struct ClusterStageTests {
    func features(_ n: Int) -> Table {
        var rng = SeededRNG(seed: 1)
        let spend = (0..<n).map { i in Double(i % 2 == 0 ? 1000 : 10) + rng.nextDouble() }
        let orders = (0..<n).map { i in Double(i % 2 == 0 ? 20 : 1) + rng.nextDouble() }
        return Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("revenue_sum_all", double: spend),
            Column("orders_count_all", double: orders),
            Column("recency_days", double: (0..<n).map { Double($0 % 7) }, validity: (0..<n).map { $0 % 10 != 0 }),
        ])
    }

    @Test func fitsNamedClusteringsWithGlobsAndWritesProfiles() throws {
        let config = Configuration(clusterings: [("value", ClusteringConfiguration(features: ["*_all", "recency_days"], k: 2))])
        let out = try ClusterStage.run(features: features(200), configuration: config, seed: 42, threads: 2)
        #expect(out.assignments.rowCount == 200)
        #expect(out.scaling["feature"].map { c in (0..<c.count).map { c.string(at: $0)! } } == ["revenue_sum_all", "orders_count_all", "recency_days"])
        #expect(out.profiles.rowCount == 2)
        #expect(out.centroids.rowCount == 6)
        // Big spenders and small spenders separate perfectly.
        let labels = out.assignments["cluster"]!.int64Values
        #expect(Set(stride(from: 0, to: 200, by: 2).map { labels[$0] }).count == 1)
        #expect(labels[0] != labels[1])
        let names = (0..<2).map { out.profiles["name"]!.string(at: $0)! }
        #expect(names.contains { $0.contains("high spenders") })
        // Nulls were imputed with the median, recorded in the scaling table.
        #expect(out.scaling["imputed_value"]!.doubleValues[2] == 3)
    }

    /// Customers alike (none has ordered yet) and a feature with no data at all: both said, not silent (sizes 4, 0,
    /// 0, every cluster named the same; a clustering effectively on one feature).
    @Test func emptyClustersAndAllNullFeaturesAreWarnedAbout() throws {
        let t = Table(name: "customer_features", columns: [
            Column("customer_id", strings: ["A", "B", "C", "D"]),
            Column("recency_days", double: [5, 5, 5, 5]),
            Column("sessions_trend_30v30", double: [0, 0, 0, 0], validity: [false, false, false, false]),
        ])
        let config = Configuration(clusterings: [("value", ClusteringConfiguration(features: ["recency_days", "sessions_trend_30v30"], k: 3))])
        let out = try ClusterStage.run(features: t, configuration: config, seed: 1, threads: 1)
        #expect(out.warnings.contains("stages.cluster.clusterings.value.features: sessions_trend_30v30 is null for every customer (no data behind it in this shop), so the clustering uses the other features only; leave it out"), "\(out.warnings)")
        #expect(out.warnings.contains { $0.hasPrefix("stages.cluster.clusterings.value.k: 2 of 3 clusters are empty") }, "\(out.warnings)")
    }

    @Test func unknownFeaturesAreConfigErrors() {
        let bad = Configuration(clusterings: [("value", ClusteringConfiguration(features: ["revnue_*"], k: 2))])
        #expect(throws: CVMFailure.self) { try ClusterStage.run(features: features(10), configuration: bad, seed: 1, threads: 1) }
    }

    /// A small shop with fewer customers than k still gets its clusterings: k is lowered to the customer
    /// count (a range too) and the stage warns, naming the key; every customer is assigned.
    @Test func aKAboveTheCustomerCountIsLoweredWithAWarning() throws {
        var range = ClusteringConfiguration(features: ["*_all"], k: 2)
        range.kChoice = .init(min: 4, max: 12)
        let config = Configuration(clusterings: [("value", ClusteringConfiguration(features: ["*_all"], k: 50)), ("range", range),
                                                 ("fits", ClusteringConfiguration(features: ["*_all"], k: 3))])
        let out = try ClusterStage.run(features: features(10), configuration: config, seed: 1, threads: 1)
        #expect(out.assignments.rowCount == 30)
        let clustering = out.profiles["clustering"]!
        let perClustering = Dictionary(grouping: (0..<out.profiles.rowCount).map { clustering.string(at: $0)! }, by: { $0 }).mapValues(\.count)
        #expect(perClustering["value"] == 10 && perClustering["fits"] == 3)
        // The range is scored over 4...10 only, and its choice is one of them.
        #expect(out.selection["k"]!.int64Values == Array(4...10))
        #expect((4...10).contains(perClustering["range"] ?? 0))
        #expect(out.warnings == [
            "stages.cluster.clusterings.value.k: 50 clusters for 10 customers; clustered with k = 10 (lower k in the config to silence this)",
            "stages.cluster.clusterings.range.k: 4...12 clusters for 10 customers; clustered with k = 4...10 (lower k in the config to silence this)",
        ])
        // One customer, and three customers with identical rows: one cluster holds them all.
        let one = try ClusterStage.run(features: features(1), configuration: config, seed: 1, threads: 1)
        #expect(one.assignments["cluster"]!.int64Values == [0, 0, 0])
        #expect(one.warnings.count == 3)
        let same = Table(name: "customer_features", columns: [
            Column("customer_id", strings: ["A", "B", "C"]),
            Column("revenue_sum_all", double: [5, 5, 5]), Column("orders_count_all", double: [1, 1, 1]),
        ])
        let tied = try ClusterStage.run(features: same, configuration: config, seed: 1, threads: 1)
        #expect(tied.assignments.rowCount == 9)
        #expect(tied.assignments["distance"]!.doubleValues.allSatisfy { $0 == 0 })
    }
}

/// The committed scikit-learn reference (bench/make_kmeans_fixture.py).
struct SklearnReferenceTests {
    func matrix(_ name: String) throws -> Matrix {
        let lines = try String(contentsOfFile: Repo.path("fixtures/kmeans/\(name)"), encoding: .utf8).split(separator: "\n").dropFirst()
        let rows = lines.map { $0.split(separator: ",").map { Double($0)! } }
        return Matrix(rows: rows.count, cols: rows[0].count, values: rows.flatMap { $0 })
    }

    func reference() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repo.path("fixtures/kmeans/sklearn.json")))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func sameInitialCentroidsGiveScikitLearnsFit() throws {
        let x = try matrix("points.csv"), initial = try matrix("init.csv")
        let ref = try reference()
        for threads in [1, 2] {
            for algorithm in [KMeans.Algorithm.lloyd, .hamerly, .elkan] {
            let fit = KMeans(k: 5, maxIterations: 300, tolerance: 1e-4, initialization: .given(initial), threads: threads,
                             algorithm: algorithm).fit(x)
            #expect(fit.algorithm == algorithm)
            #expect(approxEqual(fit.inertia, ref["inertia"] as! Double, rel: 1e-6))
            #expect(fit.iterations == ref["iterations"] as! Int)
            #expect(fit.labels.map(Int.init) == ref["labels"] as! [Int])
            }
        }
    }

    @Test func qualityMeasuresMatchScikitLearn() throws {
        let x = try matrix("points.csv")
        let ref = try reference()
        let labels = (ref["labels"] as! [Int]).map(Int32.init)
        #expect(approxEqual(ClusterQuality.silhouette(x, labels: labels, k: 5, threads: 2), ref["silhouette"] as! Double, rel: 1e-9))
        #expect(approxEqual(ClusterQuality.calinskiHarabasz(x, labels: labels, k: 5), ref["calinski_harabasz"] as! Double, rel: 1e-9))
        #expect(approxEqual(ClusterQuality.daviesBouldin(x, labels: labels, k: 5), ref["davies_bouldin"] as! Double, rel: 1e-9))
    }

    @Test func adjustedRandIndexIsOneForRenamedLabelsAndNearZeroForNoise() {
        #expect(ClusterQuality.adjustedRandIndex([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1]) == 1)
        // scikit-learn: adjusted_rand_score([0,0,1,1],[0,1,0,1]) = -0.5
        #expect(approxEqual(ClusterQuality.adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1]), -0.5))
        var rng = SeededRNG(seed: 1)
        let a = (0..<5000).map { _ in Int32(rng.next() % 4) }, b = (0..<5000).map { _ in Int32(rng.next() % 4) }
        #expect(abs(ClusterQuality.adjustedRandIndex(a, b)) < 0.01)
    }
}

struct ModelSelectionTests {
    @Test(arguments: [ClusteringConfiguration.Criterion.silhouette, .calinskiHarabasz, .daviesBouldin])
    func aKRangeChoosesThePlantedNumberOfClusters(criterion: ClusteringConfiguration.Criterion) throws {
        let x = blobs([[0, 0], [20, 0], [0, 20], [20, 20]], perCenter: 150, spread: 2, seed: 8)
        let n = x.rows
        let features = Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("a", double: (0..<n).map { x[$0, 0] }), Column("b", double: (0..<n).map { x[$0, 1] }),
        ])
        var c = ClusteringConfiguration(features: ["a", "b"], k: 2)
        c.kChoice = .init(min: 2, max: 6, criterion: criterion)
        let out = try ClusterStage.run(features: features, configuration: Configuration(clusterings: [("blobs", c)]), seed: 3, threads: 2)
        let sel = out.selection
        #expect(sel.rowCount == 5)
        let chosen = (0..<sel.rowCount).filter { sel["chosen"]!.int64(at: $0) == 1 }.map { sel["k"]!.int64(at: $0)! }
        #expect(chosen == [4])
        #expect(out.profiles.rowCount == 4)
        // The chosen k is stable across seeds.
        let ari = sel["stability_ari"]!.doubleValues[2]
        #expect(ari > 0.99)
    }
}

/// Winsorizing, assigning to a stored model, and crossing two clusterings.
struct ClusterModelTests {
    func features(_ n: Int, seed: UInt64 = 3) -> Table {
        var rng = SeededRNG(seed: seed)
        var spend: [Double] = [], visits: [Double] = []
        for i in 0..<n {
            spend.append((i % 3 == 0 ? 900 : 40) + rng.nextDouble() * 20)
            visits.append((i % 2 == 0 ? 30 : 2) + rng.nextDouble())
        }
        spend[0] = 1_000_000  // one extreme value
        return Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("revenue_sum_all", double: spend),
            Column("sessions_90d", double: visits),
        ])
    }

    @Test func winsorizeClipsAtFittedQuantilesAndStoresThem() throws {
        var cfg = ClusteringConfiguration(features: ["revenue_sum_all"], k: 2)
        cfg.winsorize = (0.0, 0.9)
        let out = try ClusterStage.run(features: features(300), configuration: Configuration(clusterings: [("v", cfg)]), seed: 1, threads: 1)
        let high = try #require(out.scaling["winsor_high"]?.double(at: 0))
        #expect(high < 1000 && high > 900)  // the 90th percentile, not the outlier
        #expect(out.scaling["winsor_low"]?.double(at: 0) != nil)
        // Without winsorizing the outlier is a cluster of its own; with it, the two planted groups separate.
        let sizes = (0..<2).map { out.profiles["size"]!.int64(at: $0)! }
        #expect(sizes == [200, 100])
        let plain = try ClusterStage.run(features: features(300), configuration: Configuration(clusterings: [
            ("v", ClusteringConfiguration(features: ["revenue_sum_all"], k: 2))]), seed: 1, threads: 1)
        #expect((0..<2).map { plain.profiles["size"]!.int64(at: $0)! } == [299, 1])
        #expect(plain.scaling["winsor_high"]?.double(at: 0) == nil)
    }

    @Test func assignModeReusesTheStoredModelWithoutRefitting() throws {
        var cfg = ClusteringConfiguration(features: ["revenue_sum_all", "sessions_90d"], k: 4, transform: .log1p)
        cfg.winsorize = (0.01, 0.99)
        let fitted = try ClusterStage.run(features: features(400), configuration: Configuration(clusterings: [("v", cfg)]),
                                          seed: 1, threads: 2, asOf: "2026-01-31")
        let model = try ClusterModel(clustering: "v", asOf: "2026-01-31", scaling: fitted.scaling, centroids: fitted.centroids,
                                     profiles: fitted.profiles)
        #expect(model.centroids.rows == 4 && model.features == ["revenue_sum_all", "sessions_90d"])
        var assign = ClusteringConfiguration(features: [], k: 2)
        assign.mode = .assign
        // Same customers: the same clusters and names as the fit.
        let same = try ClusterStage.run(features: features(400), configuration: Configuration(clusterings: [("v", assign)]),
                                        seed: 99, threads: 1, models: ["v": model], asOf: "2026-02-28")
        #expect(same.assignments["cluster"]!.int64Values == fitted.assignments["cluster"]!.int64Values)
        #expect((0..<4).map { same.profiles["name"]!.string(at: $0) } == (0..<4).map { fitted.profiles["name"]!.string(at: $0) })
        #expect(same.profiles["mode"]!.string(at: 0) == "assign" && same.profiles["model_as_of"]!.string(at: 0) == "2026-01-31")
        #expect(same.scaling["center"]!.doubleValues == fitted.scaling["center"]!.doubleValues)
        // New customers are placed with the old scaling, not rescaled on their own distribution.
        let other = try ClusterStage.run(features: features(50, seed: 8), configuration: Configuration(clusterings: [("v", assign)]),
                                         seed: 1, threads: 1, models: ["v": model])
        #expect(other.scaling["center"]!.doubleValues == fitted.scaling["center"]!.doubleValues)
        #expect(other.assignments.rowCount == 50)
        // No model: a clear input error.
        #expect(throws: CVMFailure.self) {
            try ClusterStage.run(features: features(10), configuration: Configuration(clusterings: [("v", assign)]), seed: 1, threads: 1)
        }
    }

    @Test func aCrossingCountsCustomersPerPairOfClusters() throws {
        let config = Configuration(clusterings: [
            ("value", ClusteringConfiguration(features: ["revenue_sum_all"], k: 2, transform: .log1p)),
            ("behaviour", ClusteringConfiguration(features: ["sessions_90d"], k: 2)),
        ], crossings: [["value", "behaviour"]])
        let out = try ClusterStage.run(features: features(600), configuration: config, seed: 1, threads: 2)
        let c = out.crossing
        #expect(c.rowCount == 4)
        let counts = c["customers"]!.int64Values
        #expect(counts.reduce(0, +) == 600)
        // Spend groups (i % 3) and visit groups (i % 2) are independent by construction: each cell holds
        // its expected share, so every lift is 1.
        for i in 0..<4 { #expect(approxEqual(c["lift"]!.double(at: i)!, 1, rel: 1e-12)) }
        #expect(Set(counts) == [200, 100])
    }
}

/// `init: {customers: [...]}`: k-means starts from named customers' prepared rows.
struct InitialCentroidsTests {
    /// Three overlapping groups with a skewed money column and some missing values, so the start matters.
    func features(_ n: Int) -> Table {
        var rng = SeededRNG(seed: 11)
        var spend: [Double] = [], orders: [Double] = [], recency: [Double] = [], valid: [Bool] = []
        for i in 0..<n {
            let g = Double(i % 3)
            spend.append(exp(3 + g + rng.nextDouble() * 2.5))
            orders.append(1 + g * 2 + rng.nextDouble() * 6)
            recency.append(rng.nextDouble() * 300 / (g + 1))
            valid.append(i % 13 != 0)
        }
        return Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("revenue_sum_all", double: spend),
            Column("orders_count_all", double: orders),
            Column("recency_days", double: recency, validity: valid),
        ])
    }

    /// The obvious preparation, written out: median imputation, log1p, standard scaling with the population
    /// standard deviation (what `cvm kmeans` would be fed).
    func prepared(_ t: Table, _ names: [String]) -> Matrix {
        let n = t.rowCount, d = names.count
        var x = [Double](repeating: 0, count: n * d)
        for (j, name) in names.enumerated() {
            let col = t[name]!
            let present = (0..<n).compactMap { col.double(at: $0) }.sorted()
            let m = present.count
            let median = m % 2 == 1 ? present[m / 2] : (present[m / 2 - 1] + present[m / 2]) / 2
            let v = (0..<n).map { log1p(col.double(at: $0) ?? median) }
            let mean = v.reduce(0, +) / Double(n)
            let sd = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)).squareRoot()
            for i in 0..<n { x[i * d + j] = (v[i] - mean) / sd }
        }
        return Matrix(rows: n, cols: d, values: x)
    }

    func configuration(_ ids: [String], k: Int = 3, nInit: Int = 1) -> Configuration {
        var cfg = ClusteringConfiguration(features: ["revenue_sum_all", "orders_count_all", "recency_days"], k: k, nInit: nInit,
                                          transform: .log1p)
        cfg.initial = .init(customers: ids)
        return Configuration(clusterings: [("value", cfg)])
    }

    @Test func givenCustomersGiveKMeansFromTheirPreparedRows() throws {
        let table = features(600)
        let ids = ["C7", "C100", "C42"]
        let out = try ClusterStage.run(features: table, configuration: configuration(ids), seed: 5, threads: 2)
        let x = prepared(table, ["revenue_sum_all", "orders_count_all", "recency_days"])
        let rows = ids.map { Int($0.dropFirst())! }
        let initial = Matrix(rows: 3, cols: 3, values: rows.flatMap { x.row($0) })
        let direct = KMeans(k: 3, maxIterations: 300, tolerance: 1e-4, initialization: .given(initial), threads: 1).fit(x)
        let inertia = (0..<3).map { out.profiles["inertia"]!.double(at: $0)! }.reduce(0, +)
        #expect(approxEqual(inertia, direct.inertia, rel: 1e-12))
        #expect(out.profiles["iterations"]!.int64(at: 0)! == Int64(direct.iterations))
        // Same partition (the stage renumbers clusters by size).
        let labels = out.assignments["cluster"]!.int64Values
        var map: [Int32: Int64] = [:]
        for i in 0..<600 {
            if let m = map[direct.labels[i]] { #expect(m == labels[i]) } else { map[direct.labels[i]] = labels[i] }
        }
        #expect(Set(map.values).count == 3)
        // The start matters on this data: k-means++ from the seed ends elsewhere, so the test sees the option.
        let plusPlus = try ClusterStage.run(features: table, configuration: Configuration(clusterings: [("value",
            ClusteringConfiguration(features: ["revenue_sum_all", "orders_count_all", "recency_days"], k: 3, nInit: 1, transform: .log1p))]),
            seed: 5, threads: 2)
        #expect(plusPlus.profiles["iterations"]!.int64(at: 0)! != Int64(direct.iterations)
                || plusPlus.profiles["inertia"]!.double(at: 0)! != out.profiles["inertia"]!.double(at: 0)!)
    }

    @Test("a bad init is a config error naming the key", arguments: [
        (["C1", "C2"], "2 customers for k = 3"),
        (["C1", "C2", "C1"], "customer \"C1\" is listed twice"),
        (["C1", "C2", "nobody"], "customer \"nobody\" is not in customer_features"),
    ])
    func rejectsABadInit(ids: [String], problem: String) {
        do {
            _ = try ClusterStage.run(features: features(60), configuration: configuration(ids), seed: 1, threads: 1)
            Issue.record("init \(ids) was accepted")
        } catch let e as CVMFailure {
            #expect(e.exitStatus == .config)
            #expect(e.description.contains("stages.cluster.clusterings.value.init: \(problem)"), "\(e.description)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func initWithRestartsOrAKRangeIsRejected() {
        #expect(throws: CVMFailure.self) {
            try ClusterStage.run(features: features(60), configuration: configuration(["C1", "C2", "C3"], nInit: 4), seed: 1, threads: 1)
        }
        var ranged = ClusteringConfiguration(features: ["revenue_sum_all"], k: 2)
        ranged.kChoice = .init(min: 2, max: 3)
        ranged.initial = .init(customers: ["C1", "C2"])
        #expect(ranged.initialProblem?.contains("fixed k") == true)
    }
}

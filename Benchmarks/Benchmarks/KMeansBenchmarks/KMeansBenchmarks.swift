// k-means kernels on one core: one Lloyd assignment pass, and a fit with one iteration from given centroids.
import Benchmark
import CVMCore
import Cluster

/// 100,000 standardised-looking points in 32 dimensions around 8 centres, and 8 initial centroids (fixed seed).
struct Points: Sendable {
    static let rows = 100_000, cols = 32, k = 8
    var x: Matrix
    var initial: Matrix

    static func make() -> Points {
        var rng = SeededRNG(seed: 42)
        let centres = (0..<(k * cols)).map { _ in rng.nextDouble() * 4 - 2 }
        var values = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            let c = Int(rng.next() % UInt64(k))
            for j in 0..<cols { values[i * cols + j] = centres[c * cols + j] + (rng.nextDouble() - 0.5) * 2 }
        }
        // Initial centroids: k rows of the data, as k-means++ would pick (but fixed).
        let picks = (0..<k).map { $0 * (rows / k) + 17 }
        let initial = picks.flatMap { values[($0 * cols)..<(($0 + 1) * cols)] }
        return Points(x: Matrix(rows: rows, cols: cols, values: values), initial: Matrix(rows: k, cols: cols, values: initial))
    }
}

let points = Points.make()

extension BenchmarkMetric {
    static var rowsPerSecond: BenchmarkMetric { .custom("rows/s", polarity: .prefersLarger, useScalingFactor: false) }
}

@inline(__always) func rate(_ amount: Int, _ body: () -> Void) -> Double {
    let t0 = ContinuousClock.now
    body()
    let d = (ContinuousClock.now - t0).components
    return Double(amount) / (Double(d.seconds) + Double(d.attoseconds) * 1e-18)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .rowsPerSecond], units: [.rowsPerSecond: .kilo],
        warmupIterations: 2, maxDuration: .seconds(3), maxIterations: 100,
        setup: { blackHole(points.x.rows) })

    // The distance kernel of every Lloyd iteration (cvm_km_nearest over all rows and centroids).
    Benchmark("k-means assignment pass (100,000 x 32, k = 8, Lloyd)") { benchmark in
        let km = KMeans(k: Points.k, threads: 1, algorithm: .lloyd)
        var r: (labels: [Int32], distances: [Double], inertia: Double)?
        let rows = rate(Points.rows) { r = km.nearest(points.x, centroids: points.initial) }
        benchmark.measurement(.rowsPerSecond, Int(rows))
        blackHole(r)
    }

    // One full iteration as `fit` runs it: the tolerance's variance pass, assignment + per-block centroid sums,
    // the centroid update, then the final assignment that labels the result.
    Benchmark("k-means fit, maxIterations 1 (100,000 x 32, k = 8, Lloyd, given centroids)") { benchmark in
        let km = KMeans(k: Points.k, maxIterations: 1, initialization: .given(points.initial), threads: 1, algorithm: .lloyd)
        var r: KMeansResult?
        let rows = rate(Points.rows) { r = km.fit(points.x) }
        benchmark.measurement(.rowsPerSecond, Int(rows))
        precondition(r?.iterations == 1)
        blackHole(r)
    }
}

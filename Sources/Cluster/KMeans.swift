public import CVMCore

/// The outcome of a k-means fit.
public struct KMeansResult: Sendable, Equatable {
    public var centroids: Matrix
    public var labels: [Int32]
    /// Sum of squared distances of points to their centroid.
    public var inertia: Double
    public var iterations: Int
    public var converged: Bool
}

/// k-means (Lloyd) with k-means++ initialisation, parallel and deterministic.
///
/// - Initialisation as scikit-learn does it: greedy k-means++ with 2 + ⌊ln k⌋
///   candidate centres per step (the one lowering the potential most wins),
///   random points, or given centroids.
/// - Convergence as scikit-learn defines it: the total squared centroid shift is at
///   most `tolerance` × the mean feature variance, or labels stop changing.
/// - Empty clusters take the points farthest from their centroids (deterministic).
/// - Parallel over row blocks of a **constant** size with `parallelMap`; per-block
///   partial sums merge in block order, so labels and inertia are bit-identical for
///   any thread count. Distance ties go to the lowest centroid index.
public struct KMeans: Sendable {
    public enum Initialization: Sendable, Equatable {
        case kMeansPlusPlus
        case random
        case given(Matrix)
    }

    public var k: Int
    public var seed: UInt64
    public var nInit: Int
    public var maxIterations: Int
    public var tolerance: Double
    public var initialization: Initialization
    public var threads: Int
    /// Rows per parallel block; fixed so results do not depend on `threads`.
    public static let blockSize = 4096

    public init(k: Int, seed: UInt64 = 0, nInit: Int = 4, maxIterations: Int = 300, tolerance: Double = 1e-4,
                initialization: Initialization = .kMeansPlusPlus, threads: Int = 1) {
        (self.k, self.seed, self.nInit, self.maxIterations, self.tolerance) = (k, seed, nInit, maxIterations, tolerance)
        (self.initialization, self.threads) = (initialization, threads)
    }

    /// Fits `x` (rows = points). Requires `1 <= k <= x.rows`.
    /// - Complexity: O(iterations × rows × k × dims / threads).
    public func fit(_ x: Matrix) -> KMeansResult {
        precondition(k >= 1 && k <= x.rows, "k-means: k=\(k) for \(x.rows) points")
        let variance = KMeans.meanVariance(x)
        let tol = tolerance * variance
        var best: KMeansResult?
        let runs = { if case .given = initialization { return 1 } else { return max(1, nInit) } }()
        for run in 0..<runs {
            var rng = SeededRNG(seed: seed, stream: UInt64(run))
            let initial: Matrix
            switch initialization {
            case .given(let m): initial = m
            case .random: initial = KMeans.randomInit(x, k: k, &rng)
            case .kMeansPlusPlus: initial = KMeans.plusPlusInit(x, k: k, &rng, threads: threads)
            }
            let r = lloyd(x, initial, tol: tol)
            if best == nil || r.inertia < best!.inertia { best = r }
        }
        return best!
    }

    /// Mean over features of the per-feature variance (scikit-learn's tolerance scale).
    static func meanVariance(_ x: Matrix) -> Double {
        guard x.rows > 0, x.cols > 0 else { return 0 }
        var total = 0.0
        for j in 0..<x.cols {
            var mean = 0.0
            for i in 0..<x.rows { mean += x.values[i * x.cols + j] }
            mean /= Double(x.rows)
            var v = 0.0
            for i in 0..<x.rows { let d = x.values[i * x.cols + j] - mean; v += d * d }
            total += v / Double(x.rows)
        }
        return total / Double(x.cols)
    }

    static func randomInit(_ x: Matrix, k: Int, _ rng: inout SeededRNG) -> Matrix {
        // k distinct rows by a partial Fisher-Yates shuffle.
        var idx = Array(0..<x.rows)
        var out: [Double] = []
        for i in 0..<k {
            let j = i + Int(rng.next() % UInt64(x.rows - i))
            idx.swapAt(i, j)
            out += x.row(idx[i])
        }
        return Matrix(rows: k, cols: x.cols, values: out)
    }

    @inline(__always) static func distance2(_ a: UnsafeBufferPointer<Double>, _ ai: Int, _ b: UnsafeBufferPointer<Double>, _ bi: Int, _ d: Int) -> Double {
        var s = 0.0
        for j in 0..<d {
            let t = a[ai + j] - b[bi + j]
            s += t * t
        }
        return s
    }

    /// Greedy k-means++ (Arthur & Vassilvitskii; scikit-learn's variant with local trials).
    static func plusPlusInit(_ x: Matrix, k: Int, _ rng: inout SeededRNG, threads: Int) -> Matrix {
        let n = x.rows, d = x.cols
        let trials = 2 + Int(log(Double(k)))
        var centers: [Double] = []
        let first = Int(rng.next() % UInt64(n))
        centers += x.row(first)
        var closest = x.values.withUnsafeBufferPointer { xv in
            centers.withUnsafeBufferPointer { cv in (0..<n).map { distance2(xv, $0 * d, cv, 0, d) } }
        }
        var potential = closest.reduce(0, +)
        for _ in 1..<k {
            // Candidates sampled with probability proportional to D².
            var candidates: [Int] = []
            for _ in 0..<trials {
                let r = rng.nextDouble() * potential
                var acc = 0.0, pick = n - 1
                for i in 0..<n {
                    acc += closest[i]
                    if acc > r { pick = i; break }
                }
                candidates.append(pick)
            }
            var bestPotential = Double.infinity, bestCandidate = candidates[0]
            var bestClosest: [Double] = []
            for cand in candidates {
                let blocks = (n + blockSize - 1) / blockSize
                let current = closest
                let parts = parallelMap(chunks: blocks, threads: threads) { b -> [Double] in
                    x.values.withUnsafeBufferPointer { xv in
                        ((b * blockSize)..<min(n, (b + 1) * blockSize)).map { i in
                            min(current[i], distance2(xv, i * d, xv, cand * d, d))
                        }
                    }
                }
                let newClosest = parts.flatMap { $0 }
                let p = newClosest.reduce(0, +)
                if p < bestPotential { (bestPotential, bestCandidate, bestClosest) = (p, cand, newClosest) }
            }
            centers += x.row(bestCandidate)
            closest = bestClosest
            potential = bestPotential
        }
        return Matrix(rows: k, cols: d, values: centers)
    }

    struct BlockResult: Sendable {
        var labels: [Int32]
        var sums: [Double]
        var counts: [Int]
        var inertia: Double
        var changed: Int
    }

    /// One assignment step over all rows in constant-size blocks.
    func assign(_ x: Matrix, _ centroids: [Double], previous: [Int32]) -> [BlockResult] {
        let n = x.rows, d = x.cols, k = self.k
        let blocks = (n + KMeans.blockSize - 1) / KMeans.blockSize
        return parallelMap(chunks: blocks, threads: threads) { b in
            var sums = [Double](repeating: 0, count: k * d)
            var counts = [Int](repeating: 0, count: k)
            var labels: [Int32] = []
            var inertia = 0.0, changed = 0
            let lo = b * KMeans.blockSize, hi = min(n, (b + 1) * KMeans.blockSize)
            labels.reserveCapacity(hi - lo)
            x.values.withUnsafeBufferPointer { xv in
                centroids.withUnsafeBufferPointer { cv in
                    for i in lo..<hi {
                        var best = 0, bestD = Double.infinity
                        for c in 0..<k {
                            let dist = KMeans.distance2(xv, i * d, cv, c * d, d)
                            if dist < bestD { (best, bestD) = (c, dist) }
                        }
                        labels.append(Int32(best))
                        if previous.isEmpty || previous[i] != Int32(best) { changed += 1 }
                        counts[best] += 1
                        inertia += bestD
                        for j in 0..<d { sums[best * d + j] += xv[i * d + j] }
                    }
                }
            }
            return BlockResult(labels: labels, sums: sums, counts: counts, inertia: inertia, changed: changed)
        }
    }

    func lloyd(_ x: Matrix, _ initial: Matrix, tol: Double) -> KMeansResult {
        let n = x.rows, d = x.cols
        var centroids = initial.values
        var labels: [Int32] = []
        var iterations = 0, converged = false
        while iterations < maxIterations {
            iterations += 1
            let parts = assign(x, centroids, previous: labels)
            var sums = [Double](repeating: 0, count: k * d)
            var counts = [Int](repeating: 0, count: k)
            var changed = 0
            var newLabels: [Int32] = []
            newLabels.reserveCapacity(n)
            for p in parts {  // fixed block order
                for t in 0..<(k * d) { sums[t] += p.sums[t] }
                for c in 0..<k { counts[c] += p.counts[c] }
                changed += p.changed
                newLabels += p.labels
            }
            labels = newLabels
            if changed == 0 && iterations > 1 { converged = true; break }
            var next = [Double](repeating: 0, count: k * d)
            // Empty clusters take the points farthest from their centroids.
            let empty = (0..<k).filter { counts[$0] == 0 }
            if !empty.isEmpty {
                var far = (0..<n).map { i -> (Double, Int) in
                    let c = Int(labels[i])
                    var s = 0.0
                    for j in 0..<d { let t = x.values[i * d + j] - centroids[c * d + j]; s += t * t }
                    return (s, i)
                }
                far.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
                for (e, c) in empty.enumerated() {
                    let i = far[e].1
                    let old = Int(labels[i])
                    for j in 0..<d {
                        sums[old * d + j] -= x.values[i * d + j]
                        sums[c * d + j] = x.values[i * d + j]
                    }
                    counts[old] -= 1
                    counts[c] = 1
                    labels[i] = Int32(c)
                }
            }
            for c in 0..<k where counts[c] > 0 {
                for j in 0..<d { next[c * d + j] = sums[c * d + j] / Double(counts[c]) }
            }
            var shift = 0.0
            for t in 0..<(k * d) { let s = next[t] - centroids[t]; shift += s * s }
            centroids = next
            if shift <= tol { converged = true; break }
        }
        // Final assignment so labels and inertia match the returned centroids.
        let parts = assign(x, centroids, previous: [])
        var inertia = 0.0
        labels = []
        for p in parts { inertia += p.inertia; labels += p.labels }
        return KMeansResult(centroids: Matrix(rows: k, cols: d, values: centroids), labels: labels, inertia: inertia,
                            iterations: iterations, converged: converged)
    }
}

#if canImport(Glibc)
import Glibc
#endif

public import CVMCore
import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of a k-means fit.
public struct KMeansResult: Sendable, Equatable {
    public var centroids: Matrix
    public var labels: [Int32]
    /// Sum of squared distances of points to their centroid.
    public var inertia: Double
    public var iterations: Int
    public var converged: Bool
    /// The algorithm that ran (never `.auto`).
    public var algorithm: KMeans.Algorithm = .lloyd
}

/// k-means with k-means++ initialisation, parallel and deterministic, exact Lloyd or
/// an exact accelerated variant.
///
/// - Initialisation as scikit-learn does it: greedy k-means++ with 2 + ⌊ln k⌋
///   candidate centres per step (the one lowering the potential most wins),
///   random points, or given centroids.
/// - Convergence as scikit-learn defines it: the total squared centroid shift is at
///   most `tolerance` × the mean feature variance, or labels stop changing.
/// - Algorithms: `lloyd` computes every point-to-centroid distance each iteration;
///   `hamerly` (one lower bound per point) and `elkan` (one per point and centroid) skip
///   the distances the triangle inequality proves useless. The bounds skip a point only
///   with a relative margin, and whenever they do not, the same kernel computes the same
///   distances as Lloyd, so all three give the **same labels, centroids, inertia and
///   iteration count** (ties go to the lowest centroid index in all of them).
/// - Empty clusters take the points farthest from their centroids (deterministic).
/// - Parallel over row blocks of a **constant** size with `parallelMap`; per-block
///   partial sums merge in block order, so results are bit-identical for any thread count.
public struct KMeans: Sendable {
    public enum Initialization: Sendable, Equatable {
        case kMeansPlusPlus
        case random
        case given(Matrix)
    }

    public enum Algorithm: String, Sendable, CaseIterable, Equatable {
        case auto, lloyd, hamerly, elkan
    }

    public var k: Int
    public var seed: UInt64
    public var nInit: Int
    public var maxIterations: Int
    public var tolerance: Double
    public var initialization: Initialization
    public var threads: Int
    public var algorithm: Algorithm
    /// Rows per parallel block; fixed so results do not depend on `threads`.
    public static let blockSize = 4096

    public init(k: Int, seed: UInt64 = 0, nInit: Int = 4, maxIterations: Int = 300, tolerance: Double = 1e-4,
                initialization: Initialization = .kMeansPlusPlus, threads: Int = 1, algorithm: Algorithm = .auto) {
        (self.k, self.seed, self.nInit, self.maxIterations, self.tolerance) = (k, seed, nInit, maxIterations, tolerance)
        (self.initialization, self.threads, self.algorithm) = (initialization, threads, algorithm)
    }

    /// The algorithm `.auto` picks: Lloyd when there is little to prune (k ≤ 2 or a few
    /// thousand rows), Hamerly otherwise. Measured with bench/run.py (k = 8 and 50, 50 and 200
    /// dimensions, 100,000 to 1,000,000 rows): Hamerly was fastest or within 25% of Lloyd
    /// everywhere, Elkan never won, so it runs only when asked for.
    public static func resolve(_ a: Algorithm, rows: Int, cols: Int, k: Int) -> Algorithm {
        guard a == .auto else { return a }
        if k <= 2 || rows * k < 20_000 { return .lloyd }
        return .hamerly
    }

    /// Fits `x` (rows = points). Requires `1 <= k <= x.rows`.
    /// - Complexity: O(iterations × rows × k × dims / threads) for Lloyd; the bounded
    ///   variants compute a small fraction of those distances once clusters settle.
    public func fit(_ x: Matrix) -> KMeansResult {
        precondition(k >= 1 && k <= x.rows, "k-means: k=\(k) for \(x.rows) points")
        let variance = KMeans.meanVariance(x, threads: threads)
        let tol = tolerance * variance
        let chosen = KMeans.resolve(algorithm, rows: x.rows, cols: x.cols, k: k)
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
            let r = solve(x, initial, tol: tol, algorithm: chosen)
            if best == nil || r.inertia < best!.inertia { best = r }
        }
        return best!
    }

    /// Mean over features of the per-feature variance (scikit-learn's tolerance scale).
    /// Row-major passes over fixed blocks (cache-friendly, parallel, the same for any thread count).
    static func meanVariance(_ x: Matrix, threads: Int = 1) -> Double {
        guard x.rows > 0, x.cols > 0 else { return 0 }
        let n = x.rows, d = x.cols
        let blocks = (n + blockSize - 1) / blockSize
        func columnSums(_ center: [Double]?) -> [Double] {
            let parts = parallelMap(chunks: blocks, threads: threads) { b -> [Double] in
                var acc = [Double](repeating: 0, count: d)
                x.values.withUnsafeBufferPointer { xv in
                    acc.withUnsafeMutableBufferPointer { av in
                        for i in (b * blockSize)..<min(n, (b + 1) * blockSize) {
                            let row = xv.baseAddress! + i * d
                            if let center {
                                for j in 0..<d { let t = row[j] - center[j]; av[j] += t * t }
                            } else {
                                for j in 0..<d { av[j] += row[j] }
                            }
                        }
                    }
                }
                return acc
            }
            var total = [Double](repeating: 0, count: d)
            for p in parts { for j in 0..<d { total[j] += p[j] } }
            return total
        }
        let mean = columnSums(nil).map { $0 / Double(n) }
        let variance = columnSums(mean).map { $0 / Double(n) }
        return variance.reduce(0, +) / Double(d)
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
        cvm_km_distance(a.baseAddress! + ai, b.baseAddress! + bi, Int64(d))
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

    /// Labels and squared distances to the nearest centroid for every row (one full Lloyd
    /// assignment), with the inertia summed in block order.
    public func nearest(_ x: Matrix, centroids: Matrix) -> (labels: [Int32], distances: [Double], inertia: Double) {
        let n = x.rows, d = x.cols, k = centroids.rows
        let ct = Transposed(centroids.values, k: k, d: d)
        var labels = [Int32](repeating: 0, count: n)
        var dist = [Double](repeating: 0, count: n)
        let blocks = (n + KMeans.blockSize - 1) / KMeans.blockSize
        let partial: [Double] = x.values.withUnsafeBufferPointer { xv in
            labels.withUnsafeMutableBufferPointer { lv in
                dist.withUnsafeMutableBufferPointer { dv in
                    let p = Pointers(x: xv.baseAddress!, labels: lv.baseAddress!, dist: dv.baseAddress!)
                    return parallelMap(chunks: blocks, threads: threads) { b in
                        let lo = b * KMeans.blockSize, hi = min(n, lo + KMeans.blockSize)
                        ct.values.withUnsafeBufferPointer { cv in
                            cvm_km_nearest(p.x + lo * d, Int64(hi - lo), Int64(d), cv.baseAddress!, Int64(k), Int64(ct.kp),
                                           p.labels + lo, p.dist + lo)
                        }
                        var s = 0.0
                        for i in lo..<hi { s += p.dist[i] }
                        return s
                    }
                }
            }
        }
        return (labels, dist, partial.reduce(0, +))
    }

    func solve(_ x: Matrix, _ initial: Matrix, tol: Double, algorithm: Algorithm) -> KMeansResult {
        let n = x.rows, d = x.cols, k = self.k
        let state = BoundState(n: n, k: k, algorithm: algorithm)
        defer { state.deallocate() }
        var centroids = initial.values
        var movement = [Double](repeating: 0, count: k)
        var valid = false  // bounds hold for `centroids`
        var iterations = 0, converged = false
        let blocks = (n + KMeans.blockSize - 1) / KMeans.blockSize
        while iterations < maxIterations {
            iterations += 1
            let ct = Transposed(centroids, k: k, d: d)
            let geometry = algorithm == .lloyd ? nil : CentroidGeometry(centroids, k: k, d: d, movement: movement)
            let firstPass = !valid
            let parts: [BlockSums] = x.values.withUnsafeBufferPointer { xv in
                centroids.withUnsafeBufferPointer { cr in
                    ct.values.withUnsafeBufferPointer { cv in
                        let ctx = Context(x: xv.baseAddress!, c: cr.baseAddress!, ct: cv.baseAddress!, n: n, d: d, k: k, kp: ct.kp)
                        return parallelMap(chunks: blocks, threads: threads) { b in
                            let lo = b * KMeans.blockSize, hi = min(n, lo + KMeans.blockSize)
                            var changed = 0
                            switch algorithm {
                            case .lloyd, .auto: changed = state.lloyd(ctx, lo, hi)
                            case .hamerly: changed = state.hamerly(ctx, geometry!, lo, hi, fresh: firstPass)
                            case .elkan: changed = state.elkan(ctx, geometry!, lo, hi, fresh: firstPass)
                            }
                            return state.sums(ctx, lo, hi, changed: changed)
                        }
                    }
                }
            }
            valid = true
            var sums = [Double](repeating: 0, count: k * d)
            var counts = [Int](repeating: 0, count: k)
            var changed = 0
            for p in parts {  // fixed block order
                for t in 0..<(k * d) { sums[t] += p.sums[t] }
                for c in 0..<k { counts[c] += p.counts[c] }
                changed += p.changed
            }
            if changed == 0 && iterations > 1 { converged = true; break }
            // Empty clusters take the points farthest from their centroids.
            let empty = (0..<k).filter { counts[$0] == 0 }
            if !empty.isEmpty {
                var far = (0..<n).map { i -> (Double, Int) in
                    let c = Int(state.labels[i])
                    var s = 0.0
                    for j in 0..<d { let t = x.values[i * d + j] - centroids[c * d + j]; s += t * t }
                    return (s, i)
                }
                far.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
                for (e, c) in empty.enumerated() {
                    let i = far[e].1
                    let old = Int(state.labels[i])
                    for j in 0..<d {
                        sums[old * d + j] -= x.values[i * d + j]
                        sums[c * d + j] = x.values[i * d + j]
                    }
                    counts[old] -= 1
                    counts[c] = 1
                    state.labels[i] = Int32(c)
                }
                valid = false  // the moved points' bounds no longer hold
            }
            var next = [Double](repeating: 0, count: k * d)
            for c in 0..<k where counts[c] > 0 {
                for j in 0..<d { next[c * d + j] = sums[c * d + j] / Double(counts[c]) }
            }
            var shift = 0.0
            for t in 0..<(k * d) { let s = next[t] - centroids[t]; shift += s * s }
            if algorithm != .lloyd {
                next.withUnsafeBufferPointer { nv in
                    centroids.withUnsafeBufferPointer { ov in
                        for c in 0..<k { movement[c] = cvm_km_distance(nv.baseAddress! + c * d, ov.baseAddress! + c * d, Int64(d)).squareRoot() }
                    }
                }
            }
            centroids = next
            if shift <= tol { converged = true; break }
        }
        // Final assignment so labels and inertia match the returned centroids.
        let final = nearest(x, centroids: Matrix(rows: k, cols: d, values: centroids))
        return KMeansResult(centroids: Matrix(rows: k, cols: d, values: centroids), labels: final.labels, inertia: final.inertia,
                            iterations: iterations, converged: converged, algorithm: algorithm)
    }
}

// MARK: - Solver internals

/// Raw pointers shared by the blocks of one pass; each block writes only its own rows.
struct Pointers: @unchecked Sendable {
    let x: UnsafePointer<Double>
    let labels: UnsafeMutablePointer<Int32>
    let dist: UnsafeMutablePointer<Double>
}

struct Context: @unchecked Sendable {
    let x: UnsafePointer<Double>
    /// Centroids row-major (k × d).
    let c: UnsafePointer<Double>
    /// Centroids transposed and padded for the kernels (d × kp).
    let ct: UnsafePointer<Double>
    let n: Int, d: Int, k: Int, kp: Int
}

/// Centroids laid out for `cvm_km_nearest`: ct[j * kp + c], kp a multiple of 8.
struct Transposed: Sendable {
    var values: [Double]
    var kp: Int
    init(_ c: [Double], k: Int, d: Int) {
        kp = (k + 7) / 8 * 8
        values = [Double](repeating: 0, count: max(1, d) * kp)
        for ci in 0..<k { for j in 0..<d { values[j * kp + ci] = c[ci * d + j] } }
    }
}

/// Distances between centroids and how far each moved in the last update (not squared).
struct CentroidGeometry: Sendable {
    /// cc[a * k + b] / 2.
    var halfDistance: [Double]
    /// Half the distance from each centroid to its nearest other centroid.
    var s: [Double]
    var movement: [Double]
    var maxMove: Double, secondMove: Double, maxIndex: Int

    init(_ c: [Double], k: Int, d: Int, movement: [Double]) {
        var halfDistance = [Double](repeating: 0, count: k * k)
        var s = [Double](repeating: .infinity, count: k)
        c.withUnsafeBufferPointer { cv in
            for a in 0..<k {
                for b in (a + 1)..<max(a + 1, k) {
                    let h = cvm_km_distance(cv.baseAddress! + a * d, cv.baseAddress! + b * d, Int64(d)).squareRoot() / 2
                    halfDistance[a * k + b] = h
                    halfDistance[b * k + a] = h
                    s[a] = Swift.min(s[a], h)
                    s[b] = Swift.min(s[b], h)
                }
            }
        }
        (self.halfDistance, self.s) = (halfDistance, s)
        self.movement = movement
        (maxMove, secondMove, maxIndex) = (0, 0, -1)
        for (c, m) in movement.enumerated() {
            if m > maxMove { (secondMove, maxMove, maxIndex) = (maxMove, m, c) } else if m > secondMove { secondMove = m }
        }
    }
}

/// Relative margin for every pruning test: a bound prunes only when it wins by more than
/// rounding could explain, so pruned points are ones Lloyd would not move either.
@usableFromInline let pruneMargin = 1e-9

struct BlockSums: Sendable {
    var sums: [Double]
    var counts: [Int]
    var changed: Int
}

/// Per-point state of a fit: labels and (for Hamerly and Elkan) distance bounds.
final class BoundState: @unchecked Sendable {  // blocks touch disjoint rows only
    let n: Int, k: Int
    let labels: UnsafeMutablePointer<Int32>
    /// Upper bound on the distance to the assigned centroid (Hamerly, Elkan).
    let upper: UnsafeMutablePointer<Double>
    /// Hamerly: one lower bound per point (second-nearest). Elkan: k per point.
    let lower: UnsafeMutablePointer<Double>
    let lowerCount: Int

    init(n: Int, k: Int, algorithm: KMeans.Algorithm) {
        self.n = n
        self.k = k
        labels = .allocate(capacity: n)
        labels.initialize(repeating: -1, count: n)
        let bounded = algorithm == .hamerly || algorithm == .elkan
        upper = .allocate(capacity: bounded ? n : 1)
        upper.initialize(repeating: 0, count: bounded ? n : 1)
        lowerCount = algorithm == .elkan ? n * k : (bounded ? n : 1)
        lower = .allocate(capacity: lowerCount)
        lower.initialize(repeating: 0, count: lowerCount)
    }

    func deallocate() {
        labels.deallocate()
        upper.deallocate()
        lower.deallocate()
    }

    /// Plain Lloyd: every distance, through the vectorised kernel.
    func lloyd(_ ctx: Context, _ lo: Int, _ hi: Int) -> Int {
        let m = hi - lo
        var newLabels = [Int32](repeating: 0, count: m)
        var dist = [Double](repeating: 0, count: m)
        newLabels.withUnsafeMutableBufferPointer { lv in
            dist.withUnsafeMutableBufferPointer { dv in
                cvm_km_nearest(ctx.x + lo * ctx.d, Int64(m), Int64(ctx.d), ctx.ct, Int64(ctx.k), Int64(ctx.kp), lv.baseAddress!, dv.baseAddress!)
            }
        }
        var changed = 0
        for i in 0..<m where labels[lo + i] != newLabels[i] {
            changed += 1
            labels[lo + i] = newLabels[i]
        }
        return changed
    }

    /// All k squared distances of row i, its nearest (lowest index on ties) and second nearest.
    @inline(__always)
    func full(_ ctx: Context, _ i: Int, _ buffer: UnsafeMutablePointer<Double>) -> (Int, Double, Double) {
        cvm_km_distances(ctx.x + i * ctx.d, Int64(ctx.d), ctx.ct, Int64(ctx.kp), buffer)
        var best = 0, bestD = buffer[0], second = Double.infinity
        for c in 1..<ctx.k {
            let v = buffer[c]
            if v < bestD { second = bestD; (best, bestD) = (c, v) } else if v < second { second = v }
        }
        return (best, bestD, second)
    }

    /// Hamerly (2010): skip a point while its upper bound stays below both half the distance
    /// to the nearest other centroid and its lower bound on the second-nearest.
    func hamerly(_ ctx: Context, _ g: CentroidGeometry, _ lo: Int, _ hi: Int, fresh: Bool) -> Int {
        if fresh { return freshPass(ctx, lo, hi, elkan: false) }
        let buffer = UnsafeMutablePointer<Double>.allocate(capacity: ctx.kp)
        defer { buffer.deallocate() }
        var changed = 0
        for i in lo..<hi {
            let old = Int(labels[i])
            if !fresh {
                var u = upper[i] + g.movement[old]
                var l = lower[i] - (old == g.maxIndex ? g.secondMove : g.maxMove)
                let bound = Swift.max(g.s[old], l)
                if u * (1 + pruneMargin) < bound { upper[i] = u; lower[i] = l; continue }
                u = cvm_km_distance(ctx.x + i * ctx.d, ctx.c + old * ctx.d, Int64(ctx.d)).squareRoot()
                if u * (1 + pruneMargin) < bound { upper[i] = u; lower[i] = l; continue }
                l = 0
            }
            let (best, bestD, second) = full(ctx, i, buffer)
            upper[i] = bestD.squareRoot()
            lower[i] = second.squareRoot()
            if best != old { changed += 1; labels[i] = Int32(best) }
        }
        return changed
    }

    /// Elkan (2003): a lower bound per point and centroid, and half the centroid-centroid
    /// distances, prune each candidate centroid separately.
    func elkan(_ ctx: Context, _ g: CentroidGeometry, _ lo: Int, _ hi: Int, fresh: Bool) -> Int {
        if fresh { return freshPass(ctx, lo, hi, elkan: true) }
        let k = ctx.k, d = Int64(ctx.d)
        var changed = 0
        for i in lo..<hi {
            let old = Int(labels[i])
            let lb = lower + i * k
            let xi = ctx.x + i * ctx.d
            for c in 0..<k { lb[c] = Swift.max(0, lb[c] - g.movement[c]) }
            var a = old
            var u = upper[i] + g.movement[a]
            if u * (1 + pruneMargin) < g.s[a] { upper[i] = u; continue }
            var u2 = 0.0, tight = false
            for c in 0..<k where c != a {
                let bound = Swift.max(lb[c], g.halfDistance[a * k + c])
                if u * (1 + pruneMargin) < bound { continue }
                if !tight {
                    u2 = cvm_km_distance(xi, ctx.c + a * ctx.d, d)
                    u = u2.squareRoot()
                    lb[a] = u
                    tight = true
                    if u * (1 + pruneMargin) < bound { continue }
                }
                let dc2 = cvm_km_distance(xi, ctx.c + c * ctx.d, d)
                let dc = dc2.squareRoot()
                lb[c] = dc
                if dc2 < u2 || (dc2 == u2 && c < a) { (a, u2, u) = (c, dc2, dc) }
            }
            upper[i] = u
            if a != old { changed += 1; labels[i] = Int32(a) }
        }
        return changed
    }

    /// First pass (or after a re-seed): every distance through the 4-row block kernel, then
    /// the bounds: Hamerly keeps the second-nearest, Elkan all k.
    func freshPass(_ ctx: Context, _ lo: Int, _ hi: Int, elkan: Bool) -> Int {
        let m = hi - lo, k = ctx.k, kp = ctx.kp
        let all = UnsafeMutablePointer<Double>.allocate(capacity: m * kp)
        defer { all.deallocate() }
        cvm_km_all_distances(ctx.x + lo * ctx.d, Int64(m), Int64(ctx.d), ctx.ct, Int64(kp), all)
        var changed = 0
        for r in 0..<m {
            let i = lo + r, row = all + r * kp
            var best = 0, bestD = row[0], second = Double.infinity
            for c in 1..<max(1, k) {
                let v = row[c]
                if v < bestD { second = bestD; (best, bestD) = (c, v) } else if v < second { second = v }
            }
            upper[i] = bestD.squareRoot()
            if elkan {
                let lb = lower + i * k
                for c in 0..<k { lb[c] = row[c].squareRoot() }
            } else {
                lower[i] = second.squareRoot()
            }
            if labels[i] != Int32(best) { changed += 1; labels[i] = Int32(best) }
        }
        return changed
    }

    /// Per-block sums and counts of the assigned points, in row order.
    func sums(_ ctx: Context, _ lo: Int, _ hi: Int, changed: Int) -> BlockSums {
        let k = ctx.k, d = ctx.d
        var sums = [Double](repeating: 0, count: k * d)
        var counts = [Int](repeating: 0, count: k)
        sums.withUnsafeMutableBufferPointer { sv in
            let s = sv.baseAddress!
            for i in lo..<hi {
                let c = Int(labels[i])
                counts[c] += 1
                let row = ctx.x + i * d, acc = s + c * d
                for j in 0..<d { acc[j] += row[j] }
            }
        }
        return BlockSums(sums: sums, counts: counts, changed: changed)
    }
}

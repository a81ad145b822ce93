import Cluster
import CVMCore
import TestSupport
import Testing

/// Hamerly and Elkan are exact: from the same start they must give Lloyd's answer bit for bit.
struct AcceleratedKMeansTests {
    /// Gaussian-ish blobs in `d` dimensions: `k` centres, `n` points, seeded.
    static func data(n: Int, d: Int, k: Int, spread: Double, seed: UInt64) -> Matrix {
        var rng = SeededRNG(seed: seed)
        let centres = (0..<(k * d)).map { _ in (rng.nextDouble() - 0.5) * 10 }
        var v = [Double](repeating: 0, count: n * d)
        for i in 0..<n {
            let c = Int(rng.next() % UInt64(k))
            for j in 0..<d {
                let noise = (rng.nextDouble() + rng.nextDouble() + rng.nextDouble() - 1.5) * spread
                v[i * d + j] = centres[c * d + j] + noise
            }
        }
        return Matrix(rows: n, cols: d, values: v)
    }

    static let cases: [(n: Int, d: Int, k: Int, spread: Double)] = [
        (9_000, 2, 6, 6.0),     // low dimension, overlapping: many boundary points
        (6_000, 20, 8, 8.0),    // the common case
        (3_000, 130, 5, 12.0),  // high dimension (Elkan's territory)
        (5_000, 7, 13, 6.0),    // k not a multiple of 8: padded kernel tiles
    ]

    @Test(arguments: 0..<cases.count)
    func boundedVariantsReturnLloydsFitExactly(_ index: Int) {
        let c = Self.cases[index]
        let x = Self.data(n: c.n, d: c.d, k: c.k, spread: c.spread, seed: UInt64(100 + index))
        let base = KMeans(k: c.k, seed: 5, nInit: 2, maxIterations: 200, tolerance: 0, initialization: .random, threads: 2, algorithm: .lloyd).fit(x)
        #expect(base.iterations > 3, "the case must take several iterations to exercise the bounds")
        for algorithm in [KMeans.Algorithm.hamerly, .elkan] {
            for threads in [1, 2] {
                let fit = KMeans(k: c.k, seed: 5, nInit: 2, maxIterations: 200, tolerance: 0, initialization: .random, threads: threads,
                                 algorithm: algorithm).fit(x)
                #expect(fit.labels == base.labels, "\(algorithm) threads=\(threads)")
                #expect(fit.centroids == base.centroids)
                #expect(fit.inertia == base.inertia)
                #expect(fit.iterations == base.iterations)
                #expect(fit.converged == base.converged)
            }
        }
    }

    /// Points on an integer grid with centroids placed between them make exact distance ties;
    /// every algorithm must break them the same way (lowest centroid index).
    @Test func tiesGoToTheLowestCentroidIndexInEveryAlgorithm() {
        var v: [Double] = []
        for a in 0..<40 { for b in 0..<40 { v += [Double(a % 8), Double(b % 8)] } }
        let x = Matrix(rows: 1600, cols: 2, values: v)
        let initial = Matrix(rows: 4, cols: 2, values: [1, 1, 5, 1, 1, 5, 5, 5])
        let fits = [KMeans.Algorithm.lloyd, .hamerly, .elkan].map {
            KMeans(k: 4, maxIterations: 50, tolerance: 0, initialization: .given(initial), threads: 2, algorithm: $0).fit(x)
        }
        #expect(fits[1].labels == fits[0].labels && fits[2].labels == fits[0].labels)
        #expect(fits[1].inertia == fits[0].inertia && fits[2].inertia == fits[0].inertia)
        // The point (3, 3) is equally far from all four starting centroids: the first wins.
        let tie = KMeans(k: 4, maxIterations: 1, tolerance: 0, initialization: .given(initial), algorithm: .lloyd)
            .nearest(Matrix(rows: 1, cols: 2, values: [3, 3]), centroids: initial)
        #expect(tie.labels == [0])
    }

    @Test func autoPicksByShape() {
        #expect(KMeans.resolve(.auto, rows: 500, cols: 5, k: 4) == .lloyd)
        #expect(KMeans.resolve(.auto, rows: 100_000, cols: 2, k: 2) == .lloyd)
        #expect(KMeans.resolve(.auto, rows: 100_000, cols: 50, k: 8) == .hamerly)
        #expect(KMeans.resolve(.auto, rows: 100_000, cols: 200, k: 8) == .hamerly)
        #expect(KMeans.resolve(.elkan, rows: 10, cols: 2, k: 2) == .elkan)
        let x = Self.data(n: 3_000, d: 4, k: 3, spread: 1, seed: 1)
        #expect(KMeans(k: 3, seed: 1, nInit: 1).fit(x).algorithm == .lloyd)
    }

    /// The kernel's distances equal the plain sum over dimensions in index order.
    @Test func nearestMatchesTheScalarDefinition() {
        let x = Self.data(n: 1_001, d: 11, k: 9, spread: 2, seed: 3)
        let c = Matrix(rows: 9, cols: 11, values: Array(x.values[0..<99]))
        let r = KMeans(k: 9, threads: 2).nearest(x, centroids: c)
        var total = 0.0
        for i in 0..<x.rows {
            var best = -1, bestD = Double.infinity
            for a in 0..<9 {
                var s = 0.0
                for j in 0..<11 { let t = x[i, j] - c[a, j]; s += t * t }
                if s < bestD { (best, bestD) = (a, s) }
            }
            #expect(Int(r.labels[i]) == best)
            #expect(r.distances[i] == bestD)
            total += bestD
        }
        #expect(approxEqual(r.inertia, total, rel: 1e-12))
    }
}

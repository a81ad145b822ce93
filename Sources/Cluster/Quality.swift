public import CVMCore

/// Cluster quality measures for choosing k (definitions as in scikit-learn's `metrics`).
public enum ClusterQuality {
    /// Mean silhouette over `rows` (all rows when nil): (b − a) / max(a, b), with a the mean distance to
    /// the point's own cluster and b the smallest mean distance to another cluster; 0 for singletons.
    /// - Complexity: O(|rows| × n × d); callers pass a seeded sample of at most 10,000 rows on large data.
    public static func silhouette(_ x: Matrix, labels: [Int32], k: Int, rows: [Int]? = nil, threads: Int = 1) -> Double {
        let n = x.rows, d = x.cols
        var counted = [Int](repeating: 0, count: k)
        for l in labels { counted[Int(l)] += 1 }
        let sizes = counted
        let sample = rows ?? Array(0..<n)
        let chunk = 256
        let chunks = (sample.count + chunk - 1) / chunk
        let parts = parallelMap(chunks: chunks, threads: threads) { c -> Double in
            var total = 0.0
            var sums = [Double](repeating: 0, count: k)
            for s in (c * chunk)..<min(sample.count, (c + 1) * chunk) {
                let i = sample[s]
                for j in 0..<k { sums[j] = 0 }
                for p in 0..<n where p != i {
                    var dist = 0.0
                    for f in 0..<d { let t = x.values[i * d + f] - x.values[p * d + f]; dist += t * t }
                    sums[Int(labels[p])] += dist.squareRoot()
                }
                let own = Int(labels[i])
                guard sizes[own] > 1 else { continue }
                let a = sums[own] / Double(sizes[own] - 1)
                var b = Double.infinity
                for j in 0..<k where j != own && sizes[j] > 0 { b = min(b, sums[j] / Double(sizes[j])) }
                total += b.isFinite ? (b - a) / max(a, b) : 0
            }
            return total
        }
        return parts.reduce(0, +) / Double(max(1, sample.count))
    }

    /// Per-cluster means (row-major k × d) and sizes.
    static func means(_ x: Matrix, labels: [Int32], k: Int) -> ([Double], [Int]) {
        let d = x.cols
        var m = [Double](repeating: 0, count: k * d), sizes = [Int](repeating: 0, count: k)
        for i in 0..<x.rows {
            let c = Int(labels[i])
            sizes[c] += 1
            for f in 0..<d { m[c * d + f] += x.values[i * d + f] }
        }
        for c in 0..<k where sizes[c] > 0 { for f in 0..<d { m[c * d + f] /= Double(sizes[c]) } }
        return (m, sizes)
    }

    /// Calinski-Harabasz: between-cluster dispersion over within-cluster dispersion, scaled by (n − k)/(k − 1).
    public static func calinskiHarabasz(_ x: Matrix, labels: [Int32], k: Int) -> Double {
        let n = x.rows, d = x.cols
        let (m, sizes) = means(x, labels: labels, k: k)
        var overall = [Double](repeating: 0, count: d)
        for i in 0..<n { for f in 0..<d { overall[f] += x.values[i * d + f] } }
        for f in 0..<d { overall[f] /= Double(n) }
        var between = 0.0, within = 0.0
        for c in 0..<k {
            for f in 0..<d { let t = m[c * d + f] - overall[f]; between += Double(sizes[c]) * t * t }
        }
        for i in 0..<n {
            let c = Int(labels[i])
            for f in 0..<d { let t = x.values[i * d + f] - m[c * d + f]; within += t * t }
        }
        return within == 0 ? 1 : between * Double(n - k) / (within * Double(k - 1))
    }

    /// Davies-Bouldin: mean over clusters of the worst (s_i + s_j) / distance(centroid_i, centroid_j); lower is better.
    public static func daviesBouldin(_ x: Matrix, labels: [Int32], k: Int) -> Double {
        let d = x.cols
        let (m, sizes) = means(x, labels: labels, k: k)
        var scatter = [Double](repeating: 0, count: k)
        for i in 0..<x.rows {
            let c = Int(labels[i])
            var s = 0.0
            for f in 0..<d { let t = x.values[i * d + f] - m[c * d + f]; s += t * t }
            scatter[c] += s.squareRoot()
        }
        for c in 0..<k where sizes[c] > 0 { scatter[c] /= Double(sizes[c]) }
        var total = 0.0
        for i in 0..<k {
            var worst = 0.0
            for j in 0..<k where j != i {
                var dist = 0.0
                for f in 0..<d { let t = m[i * d + f] - m[j * d + f]; dist += t * t }
                dist = dist.squareRoot()
                if dist > 0 { worst = max(worst, (scatter[i] + scatter[j]) / dist) }
            }
            total += worst
        }
        return total / Double(k)
    }

    /// Adjusted Rand index between two labelings (1 = identical up to renaming, about 0 = chance).
    public static func adjustedRandIndex(_ a: [Int32], _ b: [Int32]) -> Double {
        precondition(a.count == b.count)
        var table: [Int64: Double] = [:], rows: [Int32: Double] = [:], cols: [Int32: Double] = [:]
        for i in a.indices {
            table[Int64(a[i]) << 32 | Int64(UInt32(bitPattern: b[i])), default: 0] += 1
            rows[a[i], default: 0] += 1
            cols[b[i], default: 0] += 1
        }
        func pairs(_ v: Double) -> Double { v * (v - 1) / 2 }
        let index = table.values.reduce(0) { $0 + pairs($1) }
        let sa = rows.values.reduce(0) { $0 + pairs($1) }, sb = cols.values.reduce(0) { $0 + pairs($1) }
        let expected = sa * sb / pairs(Double(a.count))
        let maximum = (sa + sb) / 2
        return maximum == expected ? 1 : (index - expected) / (maximum - expected)
    }
}

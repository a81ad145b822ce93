/// Exact quantiles of a column without copying or sorting it: a radix selection over order-preserving keys.
///
/// Written by hand because the profile of every clean run takes them on every number, date and timestamp
/// column (M: 15.8 M event timestamps), where a sorted copy would cost its memory (126 MB for that column,
/// at clean's memory peak) and n log n time. Here each pass reads the column once into a 65,536-bucket
/// histogram of the keys' range; the buckets that hold a wanted rank are refined by the next pass, or read
/// out and sorted once they hold few values. O(n) time, O(1) memory in n; M's timestamps take three passes.
public enum Quantiles {
    /// The nearest-rank quantile's 0-based rank among `count` sorted values: the smallest value with at
    /// least a share `p` of the values at or below it (Hyndman and Fan's type 1, an actual value of the column).
    public static func nearestRank(_ p: Double, count: Int) -> Int {
        precondition(count > 0 && p >= 0 && p <= 1)
        let r = Int((p * Double(count)).rounded(.up))
        return min(max(r, 1), count) - 1
    }

    /// The quantile `q` of sorted values with linear interpolation between order statistics (numpy's default);
    /// 0 for no values.
    public static func linear(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (pos - Double(lo)) * (sorted[hi] - sorted[lo])
    }

    /// An order-preserving key of an `Int64` (the sign bit flipped: unsigned order is then signed order).
    @inline(__always) public static func key(_ v: Int64) -> UInt64 { UInt64(bitPattern: v) ^ (1 << 63) }
    @inline(__always) public static func value(ofKey k: UInt64) -> Int64 { Int64(bitPattern: k ^ (1 << 63)) }

    /// An order-preserving key of a `Double` (IEEE total order: -0 before +0, NaNs at the ends).
    @inline(__always) public static func key(_ v: Double) -> UInt64 {
        let b = v.bitPattern
        return b & (1 << 63) != 0 ? ~b : b | (1 << 63)
    }

    @inline(__always) public static func double(ofKey k: UInt64) -> Double {
        Double(bitPattern: k & (1 << 63) != 0 ? k & ~(1 << 63) : ~k)
    }

    /// The keys at `ranks` (0-based, each below the number of keys) in the sorted order of the keys that
    /// `forEachChunk` yields, a buffer at a time (a call per key cost more than the pass itself); it is called
    /// once per pass and must yield the same keys each time.
    /// - Parameter known: the smallest and largest key and the number of keys, when the caller has them (one pass
    ///   fewer).
    public static func select(ranks: [Int], known: (lo: UInt64, hi: UInt64, count: Int)? = nil,
                              forEachChunk: ((UnsafeBufferPointer<UInt64>) -> Void) -> Void) -> [UInt64] {
        guard !ranks.isEmpty else { return [] }
        var (lo, hi, count) = known ?? (UInt64.max, UInt64.min, 0)
        if known == nil {
            forEachChunk { keys in
                for k in keys {
                    if k < lo { lo = k }
                    if k > hi { hi = k }
                }
                count += keys.count
            }
        }
        precondition(ranks.allSatisfy { $0 >= 0 && $0 < count }, "a rank past the values")
        var answers = [UInt64](repeating: 0, count: ranks.count)
        // Each pending range: its lowest key, the bits below its buckets, and the wanted ranks (rank within the
        // range, index into `answers`).
        struct Pending { var base: UInt64; var width: Int; var ranks: [(within: Int, answer: Int)] }
        let spanBits = hi == lo ? 0 : 64 - (hi - lo).leadingZeroBitCount
        var pending = [Pending(base: lo, width: spanBits, ranks: ranks.enumerated().map { ($0.element, $0.offset) })]
        let smallEnough = 1 << 18
        while !pending.isEmpty {
            // Ranges whose keys are all equal (or a single value wide) answer at once.
            var open: [Pending] = []
            for p in pending {
                if p.width == 0 { for r in p.ranks { answers[r.answer] = p.base } } else { open.append(p) }
            }
            if open.isEmpty { break }
            // A histogram per open range, over its top 16 bits (fewer when it is narrower): a pass each (there is one
            // range but for ranks in buckets too full to read out).
            let shifts = open.map { max(0, $0.width - 16) }
            var histograms = open.map { p in [Int](repeating: 0, count: 1 << min(16, p.width)) }
            for i in open.indices {
                let (base, width, shift) = (open[i].base, open[i].width, UInt64(shifts[i]))
                // Keys past the range wrap around to offsets of `width` bits or more.
                let limit: UInt64 = width >= 64 ? .max : (1 << UInt64(width)) - 1
                histograms[i].withUnsafeMutableBufferPointer { h in
                    forEachChunk { keys in
                        for k in keys {
                            let offset = k &- base
                            if offset <= limit { h[Int(offset >> shift)] += 1 }
                        }
                    }
                }
            }
            // The bucket of each wanted rank; buckets with few values are read out and sorted in one more pass.
            var next: [Pending] = []
            var readOut: [(base: UInt64, end: UInt64, ranks: [(within: Int, answer: Int)])] = []
            for (i, p) in open.enumerated() {
                var byBucket: [Int: [(within: Int, answer: Int)]] = [:]
                var below = 0, bucket = 0
                for r in p.ranks.sorted(by: { $0.within < $1.within }) {
                    while below + histograms[i][bucket] <= r.within {
                        below += histograms[i][bucket]
                        bucket += 1
                    }
                    byBucket[bucket, default: []].append((r.within - below, r.answer))
                }
                for (b, rs) in byBucket.sorted(by: { $0.key < $1.key }) {
                    let base = p.base + (UInt64(b) << UInt64(shifts[i]))
                    if shifts[i] == 0 {
                        for r in rs { answers[r.answer] = base }  // a bucket of one value
                    } else if histograms[i][b] <= smallEnough {
                        // The last bucket of a range may reach past the largest key.
                        let (end, over) = base.addingReportingOverflow((1 << UInt64(shifts[i])) - 1)
                        readOut.append((base, over ? .max : end, rs))
                    } else {
                        next.append(Pending(base: base, width: shifts[i], ranks: rs))
                    }
                }
            }
            if !readOut.isEmpty {
                var values = [[UInt64]](repeating: [], count: readOut.count)
                forEachChunk { keys in
                    for k in keys {
                        for j in readOut.indices where k >= readOut[j].base && k <= readOut[j].end {
                            values[j].append(k)
                            break
                        }
                    }
                }
                for j in readOut.indices {
                    values[j].sort()
                    for r in readOut[j].ranks { answers[r.answer] = values[j][r.within] }
                }
            }
            pending = next
        }
        return answers
    }

    /// `select` over the present values of an `Int64` column (`valid[i]` false: row i is null).
    /// - Parameter known: the smallest and largest present value and their number, when the caller has them.
    public static func select(ranks: [Int], of values: [Int64], valid: [Bool]?, known: (min: Int64, max: Int64, count: Int)? = nil) -> [Int64] {
        select(ranks: ranks, known: known.map { (key($0.min), key($0.max), $0.count) }) { body in chunked(values, valid, key, body) }
            .map(value(ofKey:))
    }

    /// `select` over the present values of a `Double` column.
    public static func select(ranks: [Int], of values: [Double], valid: [Bool]?) -> [Double] {
        select(ranks: ranks) { body in chunked(values, valid, key, body) }.map(double(ofKey:))
    }

    /// The keys of the present values, 4,096 at a time.
    private static func chunked<T>(_ values: [T], _ valid: [Bool]?, _ key: (T) -> UInt64, _ body: (UnsafeBufferPointer<UInt64>) -> Void) {
        var keys = [UInt64](repeating: 0, count: 4096)
        values.withUnsafeBufferPointer { v in
            keys.withUnsafeMutableBufferPointer { k in
                var i = 0
                while i < v.count {
                    let end = min(i + k.count, v.count)
                    var m = 0
                    if let valid {
                        for j in i..<end where valid[j] { k[m] = key(v[j]); m += 1 }
                    } else {
                        for j in i..<end { k[m] = key(v[j]); m += 1 }
                    }
                    body(UnsafeBufferPointer(rebasing: k[0..<m]))
                    i = end
                }
            }
        }
    }
}

@testable import CVMCore
import Testing

/// The radix selection against sorting: the nearest-rank quantiles of many shapes of data.
struct QuantilesTests {
    static let ps = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0]

    func bySorting(_ values: [Int64]) -> [Int64] {
        let s = values.sorted()
        return Self.ps.map { s[Quantiles.nearestRank($0, count: s.count)] }
    }

    func bySelecting(_ values: [Int64]) -> [Int64] {
        let ranks = Self.ps.map { Quantiles.nearestRank($0, count: values.count) }
        return Quantiles.select(ranks: ranks, of: values, valid: nil)
    }

    @Test func nearestRankIsTypeOne() {
        // Of 1...4: p 0.25 -> 1, 0.5 -> 2, 0.51 -> 3, 1 -> 4; p 0 is the minimum.
        #expect([0.0, 0.25, 0.5, 0.51, 1.0].map { Quantiles.nearestRank($0, count: 4) } == [0, 0, 1, 2, 3])
    }

    @Test("selection equals sorting", arguments: 0..<8)
    func selectionEqualsSorting(shape: Int) {
        var rng = SeededRNG(seed: UInt64(shape))
        let n = [1, 2, 7, 1000, 70_000, 300_000, 600_000, 50_000][shape]
        let values: [Int64] = (0..<n).map { i in
            let r = rng.next()
            switch shape {
            case 0, 1, 2: return Int64(bitPattern: r)  // any 64-bit values, negatives included
            case 3: return Int64(r % 5)  // few distinct values
            case 4: return 1_780_000_000_000_000 + Int64(r % (90 * 86_400_000_000))  // timestamps over 90 days
            case 5: return Int64(r % 1000) - 500
            case 6:
                // Skewed: most values in a narrow band, a few far out, so the band's bucket is refined again.
                if i % 10_000 == 0 { return i % 20_000 == 0 ? Int64.min + Int64(i) : Int64.max - Int64(i) }
                return Int64(r % 1_000_000)
            default: return 42  // all equal
            }
        }
        #expect(bySelecting(values) == bySorting(values))
        // Nulls are left out.
        let valid = values.indices.map { $0 % 3 != 0 }
        let present = values.indices.filter { valid[$0] }.map { values[$0] }
        if !present.isEmpty {
            let ranks = Self.ps.map { Quantiles.nearestRank($0, count: present.count) }
            #expect(Quantiles.select(ranks: ranks, of: values, valid: valid) == bySorting(present))
            let known = (present.min()!, present.max()!, present.count)
            #expect(Quantiles.select(ranks: ranks, of: values, valid: valid, known: known) == bySorting(present))
        }
    }

    @Test func doublesKeepTheirOrder() {
        var rng = SeededRNG(seed: 99)
        let values = (0..<20_000).map { _ in Double(Int64(bitPattern: rng.next() % 2_000_001) - 1_000_000) / 7.0 } + [-0.0, 0.0, -1e300, 1e300]
        let sorted = values.sorted()
        let ranks = Self.ps.map { Quantiles.nearestRank($0, count: values.count) }
        let got = Quantiles.select(ranks: ranks, of: values, valid: nil)
        #expect(got == ranks.map { sorted[$0] })
        for v in [-2.5, -0.0, 0.0, 1e-300, 3.25] { #expect(Quantiles.double(ofKey: Quantiles.key(v)).bitPattern == v.bitPattern) }
    }
}

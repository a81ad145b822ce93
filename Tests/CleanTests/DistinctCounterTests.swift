import CVMCore
@testable import Clean
import Testing

/// The profile's distinct count: exact up to `DistinctCounter.exactLimit` values (whatever they are, 0 and
/// negative numbers included, each seen many times), then an estimate within a few per cent.
struct DistinctCounterTests {
    @Test func exactUpToTheLimitThenEstimated() {
        var rng = SeededRNG(seed: 9)
        for distinct in [0, 1, 2, 700, 5_000, DistinctCounter.exactLimit] {
            let values: [UInt64] = [0, UInt64(bitPattern: -1), 1 << 63] + (3..<max(3, distinct)).map { _ in rng.next() }
            let wanted = Array(values.prefix(distinct))
            let counter = DistinctCounter()
            // Every value three times, in an order that mixes repeats with new ones.
            for round in 0..<3 {
                for (k, v) in wanted.enumerated() where (k + round) % 2 == 0 { counter.insert(v) }
                for (k, v) in wanted.enumerated() where (k + round) % 2 == 1 { counter.insert(v) }
            }
            #expect(counter.count == Set(wanted).count, "\(distinct) values")
        }
        for distinct in [DistinctCounter.exactLimit + 1, 400_000] {
            let counter = DistinctCounter()
            for k in 0..<distinct { counter.insert(UInt64(k) &* 0x9E37_79B9_7F4A_7C15) }
            for k in 0..<distinct / 2 { counter.insert(UInt64(k) &* 0x9E37_79B9_7F4A_7C15) }
            let error = abs(Double(counter.count - distinct)) / Double(distinct)
            #expect(error < 0.02, "\(distinct) values estimated as \(counter.count)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Distinct count for the data-quality profile: exact while a column holds at most
/// `exactLimit` distinct values, then a HyperLogLog estimate (2^16 registers, standard
/// error about 0.4%, 64 KiB whatever the row count).
///
/// Written by hand because the exact `Set` it replaces cost 270 MB and a SipHash per row
/// on a 15.8M-row click table; no listed package offers a sketch. Deterministic: the hash
/// is a fixed mixer, not Swift's seeded `Hasher`.
struct DistinctCounter {
    static let exactLimit = 65_536
    private static let p = 16
    private var exact: Set<UInt64>? = []
    private var registers = [UInt8](repeating: 0, count: 1 << DistinctCounter.p)

    @inline(__always) mutating func insert(_ bits: UInt64) {
        // splitmix64 finaliser
        var h = bits &+ 0x9E37_79B9_7F4A_7C15
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
        let index = Int(h >> UInt64(64 - Self.p))
        let rank = UInt8(min((h << UInt64(Self.p)).leadingZeroBitCount, 64 - Self.p) + 1)
        if registers[index] < rank { registers[index] = rank }
        if exact != nil {
            exact!.insert(bits)
            if exact!.count > Self.exactLimit { exact = nil }
        }
    }

    /// The exact count, or the HyperLogLog estimate once more than `exactLimit` values were seen.
    var count: Int {
        if let exact { return exact.count }
        let m = Double(registers.count)
        var sum = 0.0, zeros = 0
        for r in registers {
            sum += 1 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        let alpha = 0.7213 / (1 + 1.079 / m)
        let estimate = alpha * m * m / sum
        // Linear counting is the better estimate in the small range (Flajolet et al. 2007).
        if estimate <= 2.5 * m, zeros > 0 { return Int((m * log(m / Double(zeros))).rounded()) }
        return Int(estimate.rounded())
    }
}

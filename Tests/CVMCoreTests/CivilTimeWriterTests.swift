import CVMCore
import Testing

/// The warehouse renders dates and timestamps with the byte writers; they must print exactly what
/// the String formatters print.
struct CivilTimeWriterTests {
    @Test func writersMatchTheStringFormatters() {
        var rng = SeededRNG(seed: 11)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
        defer { buffer.deallocate() }
        var samples: [Int64] = [0, -1, 1, 999_999, -86_400_000_000, 253_402_300_799_999_999, -62_135_596_800_000_000]
        for _ in 0..<20_000 {
            let us = Int64(bitPattern: rng.next() % 8_000_000_000_000_000) - 4_000_000_000_000_000
            samples.append(rng.next() % 2 == 0 ? us : us / 1_000_000 * 1_000_000)
        }
        for us in samples {
            let n = writeTimestampMicros(us, buffer)
            #expect(String(decoding: UnsafeBufferPointer(start: buffer, count: n), as: UTF8.self) == formatTimestampMicros(us), "\(us)")
            let days = floorDiv(us, microsPerDay) / 1000
            let m = writeDate(days, buffer)
            #expect(String(decoding: UnsafeBufferPointer(start: buffer, count: m), as: UTF8.self) == CivilDate(daysSinceEpoch: days).description)
        }
    }
}

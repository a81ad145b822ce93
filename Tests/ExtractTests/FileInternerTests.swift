import CKernels
@testable import CVMCore
@testable import Extract
import Testing

/// The C interner of extract's files against the Swift one the merge uses: the merge probes a source's table with
/// the hashes a file's interner recorded, so the two hashes must agree on every input; and its UTF-8 rule against the
/// standard library's decoder.
struct FileInternerTests {
    static func randomBytes(_ rng: inout SeededRNG, maxLength: Int) -> [UInt8] {
        let n = Int(rng.next() % UInt64(maxLength + 1))
        // Mostly ASCII with runs of UTF-8 lead and continuation bytes, so both validators branch everywhere.
        return (0..<n).map { _ in
            let r = rng.next()
            switch r % 8 {
            case 0: return UInt8(0x80 + (r >> 8) % 0x40)
            case 1: return UInt8(0xC0 + (r >> 8) % 0x40)
            default: return UInt8(0x20 + (r >> 8) % 0x5F)
            }
        }
    }

    @Test func hashEqualsByteInternerHashForEveryLength() {
        var rng = SeededRNG(seed: 7)
        for _ in 0..<20_000 {
            let b = Self.randomBytes(&rng, maxLength: 40)
            b.withUnsafeBufferPointer { p in
                #expect(cvm_hash_bytes(p.baseAddress ?? UnsafePointer(bitPattern: 1)!, Int64(p.count)) == ByteInterner.hash(p), "\(b)")
            }
        }
    }

    @Test func utf8RuleEqualsTheStandardLibrarys() {
        var rng = SeededRNG(seed: 11)
        var valid = 0
        for _ in 0..<50_000 {
            let b = Self.randomBytes(&rng, maxLength: 12)
            b.withUnsafeBufferPointer { p in
                let c = cvm_valid_utf8(p.baseAddress ?? UnsafePointer(bitPattern: 1)!, Int64(p.count)) == 1
                #expect(c == (String(validating: p, as: UTF8.self) != nil), "\(b)")
                if c { valid += 1 }
            }
        }
        // Both outcomes were exercised.
        #expect(valid > 1_000 && valid < 49_000)
        for s in ["€uro", "日本語テキスト", "emoji 🎉 ok", "plain ascii longer than eight bytes"] {
            #expect(Array(s.utf8).withUnsafeBufferPointer { cvm_valid_utf8($0.baseAddress!, Int64($0.count)) } == 1)
        }
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0xFF]] {
            #expect(bad.withUnsafeBufferPointer { cvm_valid_utf8($0.baseAddress!, Int64($0.count)) } == 0)
        }
    }

    @Test func codesInFirstSeenOrderAndMergeable() {
        var rng = SeededRNG(seed: 3)
        let f = FileInterner()
        var swift = ByteInterner()
        // Enough distinct values to grow the table several times, each seen several times.
        let values = (0..<5_000).map { "v\($0)-\(rng.next() % 1000)" }
        for round in 0..<3 {
            for v in values {
                let code = Array(v.utf8).withUnsafeBufferPointer { f.intern($0) }
                #expect(code == swift.intern(v), "round \(round) \(v)")
            }
        }
        let before = f.count
        #expect([UInt8]([0x61, 0xFF]).withUnsafeBufferPointer { f.intern($0) } == FileInterner.invalidUTF8, "invalid UTF-8 is refused")
        #expect([UInt8]([0x61, 0, 0x62]).withUnsafeBufferPointer { f.intern($0) } == FileInterner.nulByte, "a NUL byte is refused")
        #expect(f.count == before, "nothing refused is added")
        #expect([UInt8]().withUnsafeBufferPointer { f.intern($0) } >= 0, "the empty value is a value")
        let (dictionary, hashes) = f.finish()
        #expect(dictionary.count == f.count)
        #expect(Array(dictionary.prefix(values.count)) == swift.strings())
        // The merge takes the hashes as they are.
        var merged = ByteInterner(recordingHashes: false)
        let remap = merged.intern(contentsOf: dictionary, hashes: hashes)
        #expect(remap == (0..<Int32(dictionary.count)).map { $0 })
        #expect(merged.code(of: values[42]) == swift.code(of: values[42]))
    }
}

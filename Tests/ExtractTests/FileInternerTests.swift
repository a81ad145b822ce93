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

    /// A `distinct` interner (a key column's) gives every value the next code, even one seen before, and takes back
    /// the last one on request; merging its dictionary gives equal values one code, in first-seen order, so the
    /// source's table is the one a hashing interner makes.
    @Test func aDistinctInternerAppendsAndTheMergeGivesEqualValuesOneCode() {
        let f = FileInterner(distinct: true)
        let hashing = FileInterner()
        var rng = SeededRNG(seed: 5)
        // Mostly new values (ids), some repeated, within and across the two files merged below.
        let values = (0..<3_000).map { i in i % 7 == 3 ? "id\(rng.next() % 200)" : "id\(i + 1_000)-\(rng.next() % 97)" }
        for (i, v) in values.enumerated() {
            let code = Array(v.utf8).withUnsafeBufferPointer { f.intern($0) }
            #expect(code == Int32(i), "appended: \(v)")
            _ = Array(v.utf8).withUnsafeBufferPointer { hashing.intern($0) }
        }
        #expect(f.count == values.count && hashing.count < values.count)
        _ = Array("taken back".utf8).withUnsafeBufferPointer { f.intern($0) }
        cvm_interner_drop_last(f.cTable)
        #expect(f.count == values.count)
        cvm_interner_drop_last(hashing.cTable)
        #expect(hashing.count == Set(values).count, "a hashing interner keeps its values")
        #expect([UInt8]([0x61, 0xFF]).withUnsafeBufferPointer { f.intern($0) } == FileInterner.invalidUTF8)
        let (appended, appendedHashes) = f.finish()
        #expect(Array(appended) == values)
        let (distinct, distinctHashes) = hashing.finish()
        // A source merging the file after one value of it was seen in an earlier file, either way.
        var viaAppended = ByteInterner(recordingHashes: false), viaHashing = ByteInterner(recordingHashes: false)
        _ = viaAppended.intern(values[3])
        _ = viaHashing.intern(values[3])
        let remapA = viaAppended.intern(contentsOf: appended, hashes: appendedHashes)
        let remapH = viaHashing.intern(contentsOf: distinct, hashes: distinctHashes)
        #expect(viaAppended.strings() == viaHashing.strings())
        #expect(viaAppended.count == Set(values).count)
        for (i, v) in values.enumerated() {
            #expect(remapA[i] == viaHashing.code(of: v), "\(v)")
        }
        #expect(remapH.count == distinct.count)
    }
}

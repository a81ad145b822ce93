#if canImport(Glibc)
import Glibc
#endif
import CKernels

/// Interns byte strings into dictionary codes without creating a `String` per field.
///
/// Written by hand because it is the hot path of string columns: an open-addressing
/// table over an arena of bytes (the `StringDictionary` it hands over); no `String` is made.
public struct ByteInterner: Sendable {
    /// The distinct values in code order (what `dictionary()` hands over).
    private var values = StringDictionary()
    /// Each value's hash, when recorded (`finish()` hands them to a merge). An interner that is not asked for
    /// them (a source's merged dictionary: M's 16 M event ids would hold 128 MB of hashes) hashes its values
    /// again from the arena when it grows, which reserving room makes rare.
    private var hashes: [UInt64] = []
    private let recordsHashes: Bool
    /// 0 for an empty slot, else (code + 1) << 32 | the hash's high 32 bits: a probe rejects
    /// another value's slot without touching `hashes` or the arena (one cache miss a lookup
    /// instead of three on a table of millions of ids).
    private var slots: [UInt64]
    private var mask: Int

    /// - Parameter recordingHashes: keep each value's hash for `finish()` (false: `finish()` hashes them then).
    public init(recordingHashes: Bool = true) {
        slots = [UInt64](repeating: 0, count: 1024)
        mask = 1023
        recordsHashes = recordingHashes
    }

    /// The table grows past this share of its slots filled. Linear probing over 8-byte slots with tags stays
    /// within a cache line or two up to here; a lower bound (it was 1/2) doubled the table of an id column
    /// (M's event ids: 512 MB of slots instead of 256, each zeroed page touched once).
    @inline(__always) private static func full(_ count: Int, _ slots: Int) -> Bool { count * 10 > slots * 7 }

    /// The smallest table (a power of two, at least the current one) for `n` values at most 5/8 full.
    private func size(for n: Int) -> Int {
        var size = slots.count
        while n * 8 > size * 5 { size <<= 1 }
        return size
    }

    /// Room for `n` distinct values without rehashing.
    public mutating func reserveCapacity(_ n: Int) {
        if recordsHashes { hashes.reserveCapacity(n) }
        values.reserveCapacity(count: n, bytes: 0)
        let size = size(for: n)
        if size > slots.count { rehash(size) }
    }

    public var count: Int { values.count }

    /// A 64-bit hash of `b`: 8 bytes at a time (the tail as one overlapping word), then murmur3's finaliser,
    /// so the low bits (the slot) and the high 32 bits (the slot's tag) both depend on every byte.
    ///
    /// Replaces a byte-at-a-time FNV-1a: every field of every string column is hashed once in its file and
    /// every distinct value again in the merge, and FNV's chain of one multiply per byte was most of the
    /// cost of interning an id column (M: 16 M event ids, 11 bytes each).
    @inline(__always) static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let n = b.count
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(truncatingIfNeeded: n) &* 0xC2B2_AE3D_27D4_EB4F)
        if let base = b.baseAddress {
            let raw = UnsafeRawPointer(base)
            if n >= 8 {
                var i = 0
                while i + 8 <= n {
                    h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                    h ^= h >> 32
                    i += 8
                }
                if i < n {
                    h = (h ^ raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                    h ^= h >> 32
                }
            } else if n > 0 {
                var w: UInt64 = 0
                for k in 0..<n { w |= UInt64(base[k]) << (8 * UInt64(k)) }
                h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
            }
        }
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 33)
    }

    /// The code of `b`, or nil when it is new and `isNew` rejects it; new values are added.
    public mutating func intern(_ b: UnsafeBufferPointer<UInt8>, accept: (UnsafeBufferPointer<UInt8>) -> Bool) -> Int32? {
        let h = ByteInterner.hash(b)
        let (found, s) = slots.withUnsafeBufferPointer { probe(b, hash: h, in: $0) }
        if let found { return found }
        guard accept(b) else { return nil }
        let code = add(b, hash: h)
        slots[s] = ByteInterner.slot(code, hash: h)
        if ByteInterner.full(values.count, slots.count) { rehash(slots.count * 2) }
        return code
    }

    /// Where `b` (hash `h`) is in the table `t`: its code, or nil and the empty slot it would take.
    /// The one probe loop of `intern`, `code(of:)` and `intern(contentsOf:)`.
    @inline(__always) private func probe(_ b: UnsafeBufferPointer<UInt8>, hash h: UInt64,
                                         in t: UnsafeBufferPointer<UInt64>) -> (code: Int32?, slot: Int) {
        let tag = h >> 32, m = t.count - 1
        var s = Int(truncatingIfNeeded: h) & m
        while true {
            let slot = t[s]
            if slot == 0 { return (nil, s) }
            if slot & 0xFFFF_FFFF == tag {
                let code = Int(slot >> 32) - 1
                if values.byteCount(code) == b.count, values.withBytes(code, { v in ByteInterner.equal(v, b) }) {
                    return (Int32(code), s)
                }
            }
            s = (s + 1) & m
        }
    }

    /// Are `a` and `b` (of equal length) the same bytes? Up to 16 bytes (ids, codes, categories: most values)
    /// in two overlapping 8-byte or 4-byte loads each, inline; longer ones through `memcmp`. Every field of a
    /// string column that repeats a value ends here: the call to `memcmp` was 3.8% of M's extract in perf, and
    /// interning as a whole went from 16.8% to 15.8% of it.
    @inline(__always) static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = b.count
        guard n > 0 else { return true }
        let x = UnsafeRawPointer(a.baseAddress!), y = UnsafeRawPointer(b.baseAddress!)
        if n >= 8 {
            if n > 16 { return memcmp(x, y, n) == 0 }
            return x.loadUnaligned(as: UInt64.self) == y.loadUnaligned(as: UInt64.self)
                && x.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == y.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
        }
        if n >= 4 {
            return x.loadUnaligned(as: UInt32.self) == y.loadUnaligned(as: UInt32.self)
                && x.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self) == y.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
        }
        for k in 0..<n where a[k] != b[k] { return false }
        return true
    }

    /// Appends a new value; its code. The caller fills its slot (`slot(code, hash:)`).
    @inline(__always) private mutating func add(_ b: UnsafeBufferPointer<UInt8>, hash h: UInt64) -> Int32 {
        let code = Int32(values.count)
        values.append(b)
        if recordsHashes { hashes.append(h) }
        return code
    }

    /// A table slot: code + 1 in the high half, the hash's high 32 bits in the low half.
    @inline(__always) private static func slot(_ code: Int32, hash h: UInt64) -> UInt64 {
        UInt64(code + 1) << 32 | h >> 32
    }

    private mutating func rehash(_ size: Int) {
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
        let m = mask
        slots.withUnsafeMutableBufferPointer { t in
            func place(_ code: Int, _ h: UInt64) {
                var s = Int(truncatingIfNeeded: h) & m
                while t[s] != 0 { s = (s + 1) & m }
                t[s] = ByteInterner.slot(Int32(code), hash: h)
            }
            if recordsHashes {
                for (code, h) in hashes.enumerated() { place(code, h) }
            } else {
                for (code, h) in ByteInterner.hashes(of: values).enumerated() { place(code, h) }
            }
        }
    }

    /// The code of `b` if it was interned (nothing is added).
    public func code(of b: UnsafeBufferPointer<UInt8>) -> Int32? {
        slots.withUnsafeBufferPointer { probe(b, hash: ByteInterner.hash(b), in: $0) }.code
    }

    /// Every code, ordered by its bytes (unsigned, shorter prefix first): the byte order of the values.
    public func codesInByteOrder() -> [Int32] { values.indicesInByteOrder() }

    /// The values in code order, as `String`s (tests and small dictionaries).
    public func strings() -> [String] { Array(values) }

    /// The values in code order, without the hash table (a third of the memory for ids).
    public consuming func dictionary() -> StringDictionary { values }

    /// The values in code order and each one's hash (what `intern(contentsOf:hashes:)` takes, so a merge does
    /// not hash them again), without the hash table.
    public consuming func finish() -> (values: StringDictionary, hashes: [UInt64]) {
        if recordsHashes { return (values, hashes) }
        return (values, ByteInterner.hashes(of: values))
    }

    /// Each value's hash, in code order (for an interner that keeps none, and a merge given none).
    private static func hashes(of d: StringDictionary) -> [UInt64] {
        d.indices.map { code in d.withBytes(code) { hash($0) } }
    }

    /// Interns every value of `d` in its code order; returns each one's code here (`remap[codeInD]`). `d` may hold
    /// a value more than once (a key column's file dictionary, `FileInterner(distinct:)`): equal values get one code.
    ///
    /// The merge of per-file dictionaries into a source's one: bytes to bytes, no `String` per value.
    /// - Parameter hashes: each value's hash when known (`finish()`); computed here when nil.
    public mutating func intern(contentsOf d: StringDictionary, hashes known: [UInt64]? = nil) -> [Int32] {
        let n = d.count
        guard n > 0 else { return [] }
        let size = size(for: values.count + n)
        if size > slots.count { rehash(size) }
        let m = mask
        if let known { precondition(known.count == n, "one hash per value") }
        let hs = known ?? ByteInterner.hashes(of: d)
        let base = values.count
        var fresh = [Int32](repeating: 0, count: n)
        var added = 0
        let remap = [Int32](unsafeUninitializedCapacity: n) { out, count in
            added = slots.withUnsafeMutableBufferPointer { t in
                values.arena.withUnsafeBufferPointer { arena in
                    values.offsets.withUnsafeBufferPointer { offsets in
                        d.arena.withUnsafeBufferPointer { src in
                            d.offsets.withUnsafeBufferPointer { srcOffsets in
                                hs.withUnsafeBufferPointer { h in
                                    fresh.withUnsafeMutableBufferPointer { f in
                                        // An empty arena may have no address; nothing is read from it then.
                                        Int(cvm_merge_probe(t.baseAddress!, UInt64(m), arena.baseAddress ?? UnsafePointer(bitPattern: 1)!,
                                                            offsets.baseAddress!, Int64(base),
                                                            src.baseAddress ?? UnsafePointer(bitPattern: 1)!, srcOffsets.baseAddress!,
                                                            h.baseAddress!, Int64(n), out.baseAddress!, f.baseAddress!))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            count = n
        }
        values.append(contentsOf: d, at: fresh.prefix(added))
        if recordsHashes { for i in fresh.prefix(added) { hashes.append(hs[Int(i)]) } }
        return remap
    }
}

extension ByteInterner {
    /// The code of `s` (added when new), hashing its UTF-8 bytes.
    public mutating func intern(_ s: String) -> Int32 {
        var s = s
        return s.withUTF8 { intern($0, accept: { _ in true })! }
    }

    /// The code of `s` if it was interned (nothing is added).
    public func code(of s: String) -> Int32? {
        var s = s
        return s.withUTF8 { code(of: $0) }
    }
}

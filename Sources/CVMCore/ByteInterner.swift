#if canImport(Glibc)
import Glibc
#endif
import CKernels

/// Interns byte strings into dictionary codes without creating a `String` per field.
///
/// Written by hand because it is the hot path of string columns: an open-addressing
/// table over an arena of bytes; a `String` is made once per distinct value.
public struct ByteInterner: Sendable {
    private var arena: [UInt8] = []
    private var offsets: [Int] = [0]
    private var hashes: [UInt64] = []
    /// 0 for an empty slot, else (code + 1) << 32 | the hash's high 32 bits: a probe rejects
    /// another value's slot without touching `hashes` or the arena (one cache miss a lookup
    /// instead of three on a table of millions of ids).
    private var slots: [UInt64]
    private var mask: Int

    public init() {
        slots = [UInt64](repeating: 0, count: 1024)
        mask = 1023
    }

    /// Room for `n` distinct values without rehashing.
    public mutating func reserveCapacity(_ n: Int) {
        hashes.reserveCapacity(n)
        offsets.reserveCapacity(n + 1)
        var size = slots.count
        while size < 2 * n { size <<= 1 }
        if size > slots.count { rehash(size) }
    }

    public var count: Int { hashes.count }

    @inline(__always) static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for c in b { h = (h ^ UInt64(c)) &* 0x100_0000_01b3 }
        return h ^ (h >> 29)
    }

    /// The code of `b`, or nil when it is new and `isNew` rejects it; new values are added.
    public mutating func intern(_ b: UnsafeBufferPointer<UInt8>, accept: (UnsafeBufferPointer<UInt8>) -> Bool) -> Int32? {
        let h = ByteInterner.hash(b)
        let (found, s) = slots.withUnsafeBufferPointer { probe(b, hash: h, in: $0) }
        if let found { return found }
        guard accept(b) else { return nil }
        let code = add(b, hash: h)
        slots[s] = ByteInterner.slot(code, hash: h)
        if hashes.count * 2 > slots.count { rehash(slots.count * 2) }
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
                let start = offsets[code], end = offsets[code + 1]
                if end - start == b.count, arena.withUnsafeBufferPointer({ a in
                    b.count == 0 || memcmp(a.baseAddress! + start, b.baseAddress!, b.count) == 0
                }) { return (Int32(code), s) }
            }
            s = (s + 1) & m
        }
    }

    /// Appends a new value; its code. The caller fills its slot (`slot(code, hash:)`).
    @inline(__always) private mutating func add(_ b: UnsafeBufferPointer<UInt8>, hash h: UInt64) -> Int32 {
        let code = Int32(hashes.count)
        arena.append(contentsOf: b)
        offsets.append(arena.count)
        hashes.append(h)
        return code
    }

    /// A table slot: code + 1 in the high half, the hash's high 32 bits in the low half.
    @inline(__always) private static func slot(_ code: Int32, hash h: UInt64) -> UInt64 {
        UInt64(code + 1) << 32 | h >> 32
    }

    private mutating func rehash(_ size: Int) {
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
        for (code, h) in hashes.enumerated() {
            var s = Int(truncatingIfNeeded: h) & mask
            while slots[s] != 0 { s = (s + 1) & mask }
            slots[s] = ByteInterner.slot(Int32(code), hash: h)
        }
    }

    /// The code of `b` if it was interned (nothing is added).
    public func code(of b: UnsafeBufferPointer<UInt8>) -> Int32? {
        slots.withUnsafeBufferPointer { probe(b, hash: ByteInterner.hash(b), in: $0) }.code
    }

    /// Every code, ordered by its bytes (unsigned, shorter prefix first): the byte order of the values.
    public func codesInByteOrder() -> [Int32] {
        arena.withUnsafeBufferPointer { a in
            offsets.withUnsafeBufferPointer { o in
                (0..<Int32(hashes.count)).sorted { x, y in
                    let (xs, xe, ys, ye) = (o[Int(x)], o[Int(x) + 1], o[Int(y)], o[Int(y) + 1])
                    let n = min(xe - xs, ye - ys)
                    let c = n == 0 ? 0 : memcmp(a.baseAddress! + xs, a.baseAddress! + ys, n)
                    return c != 0 ? c < 0 : xe - xs < ye - ys
                }
            }
        }
    }

    public func strings() -> [String] {
        (0..<hashes.count).map { String(decoding: arena[offsets[$0]..<offsets[$0 + 1]], as: UTF8.self) }
    }

    /// The values in code order, without the hash table (a third of the memory for ids).
    public consuming func dictionary() -> ByteDictionary {
        ByteDictionary(arena: arena, offsets: offsets)
    }

    /// Interns every value of `d` in its code order; returns each one's code here (`remap[codeInD]`).
    ///
    /// The merge of per-file dictionaries into a source's one: bytes to bytes, no `String` per value.
    public mutating func intern(contentsOf d: ByteDictionary) -> [Int32] {
        let n = d.count
        guard n > 0 else { return [] }
        if 2 * (hashes.count + n) > slots.count {
            var size = slots.count
            while size < 2 * (hashes.count + n) { size <<= 1 }
            rehash(size)
        }
        let m = mask
        let hs = d.arena.withUnsafeBufferPointer { src in
            (0..<n).map { ByteInterner.hash(UnsafeBufferPointer(rebasing: src[d.offsets[$0]..<d.offsets[$0 + 1]])) }
        }
        // The table is moved out while it is probed through a pointer, so the arena can grow beside it.
        var table = slots
        slots = []
        defer { slots = table }
        return table.withUnsafeMutableBufferPointer { t in
            d.arena.withUnsafeBufferPointer { src in
                [Int32](unsafeUninitializedCapacity: n) { out, count in
                    // A table of millions of slots misses cache on every probe: each value's slot is
                    // fetched `ahead` values early, so the misses overlap instead of queueing.
                    let ahead = 16
                    for i in 0..<min(ahead, n) { cvm_prefetch(t.baseAddress! + (Int(truncatingIfNeeded: hs[i]) & m)) }
                    for i in 0..<n {
                        if i + ahead < n { cvm_prefetch(t.baseAddress! + (Int(truncatingIfNeeded: hs[i + ahead]) & m)) }
                        let b = UnsafeBufferPointer(rebasing: src[d.offsets[i]..<d.offsets[i + 1]])
                        let (code, s) = probe(b, hash: hs[i], in: UnsafeBufferPointer(t))
                        if let code {
                            out[i] = code
                        } else {
                            out[i] = add(b, hash: hs[i])
                            t[s] = ByteInterner.slot(out[i], hash: hs[i])
                        }
                    }
                    count = n
                }
            }
        }
    }
}

/// Distinct byte strings in code order: one arena and end offsets (what a finished `ByteInterner` keeps).
public struct ByteDictionary: Sendable {
    public let arena: [UInt8]
    /// `offsets[i] ..< offsets[i + 1]` are value i's bytes; `offsets[0] == 0`.
    public let offsets: [Int]

    public var count: Int { offsets.count - 1 }

    public func strings() -> [String] {
        arena.withUnsafeBufferPointer { a in
            (0..<count).map { String(decoding: UnsafeBufferPointer(rebasing: a[offsets[$0]..<offsets[$0 + 1]]), as: UTF8.self) }
        }
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

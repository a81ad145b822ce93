#if canImport(Glibc)
import Glibc
#endif

/// The distinct values of a dictionary-encoded string column, in code order: their UTF-8 bytes back to back
/// in one arena, and where each one starts.
///
/// Written by hand instead of `[String]`: a `String` is 16 bytes plus, past 15 bytes of UTF-8, a heap object
/// of its own. An id column of millions of values (M's 16 M event ids; a UUID column would be a heap object
/// per id) cost a `String` per value when extract finished, again when each artifact was encoded to bytes
/// and again when it was read back. Here those are one arena: extract's interner hands its arena over, the
/// artifact file is the arena, and a `String` is made only when a value is read as one (`self[i]`).
/// Hot paths read the bytes (`withBytes`).
///
/// - Invariant: `offsets[0] == 0`, `offsets` never decreases, `offsets.last == arena.count`; value i is
///   `arena[offsets[i] ..< offsets[i + 1]]`. Offsets are 32-bit (as in the artifact file): a column's distinct
///   values hold at most 4 GiB of text.
public struct StringDictionary: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral,
                                CustomStringConvertible {
    public private(set) var arena: [UInt8]
    public private(set) var offsets: [UInt32]

    public init() {
        arena = []
        offsets = [0]
    }

    /// A dictionary over `arena` cut at `offsets`. - Precondition: the invariant above.
    public init(arena: [UInt8], offsets: [UInt32]) {
        precondition(offsets.first == 0 && Int(offsets.last!) == arena.count, "dictionary offsets do not span the arena")
        self.arena = arena
        self.offsets = offsets
    }

    public init<S: Sequence>(_ strings: S) where S.Element == String {
        self.init()
        for s in strings { append(s) }
    }

    public init(arrayLiteral elements: String...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { offsets.count - 1 }
    public typealias Indices = Range<Int>

    /// Whether `other` is this very dictionary (the same arrays, as a gathered column keeps its source's), not an
    /// equal copy: then one can stand for the other without comparing their bytes.
    public func sharesStorage(with other: StringDictionary) -> Bool {
        func same<T>(_ a: [T], _ b: [T]) -> Bool {
            a.count == b.count && a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.baseAddress == y.baseAddress } }
        }
        return same(arena, other.arena) && same(offsets, other.offsets)
    }

    /// Value `i` as a `String` (made on each call; invalid UTF-8 is repaired, as `String(decoding:)` does).
    public subscript(i: Int) -> String {
        withBytes(i) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with value `i`'s UTF-8 bytes (valid only inside `body`).
    @inlinable public func withBytes<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let start = Int(offsets[i]), end = Int(offsets[i + 1])
        return try arena.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
    }

    /// Value `i`'s length in UTF-8 bytes.
    @inlinable public func byteCount(_ i: Int) -> Int { Int(offsets[i + 1] &- offsets[i]) }

    /// Appends the values of `d` at `indices` (ascending), in that order: a run of consecutive ones as one copy of
    /// their bytes (a merge's new values: for an id column, every value of the file).
    public mutating func append(contentsOf d: StringDictionary, at indices: ArraySlice<Int32>) {
        guard !indices.isEmpty else { return }
        var k = indices.startIndex
        d.arena.withUnsafeBufferPointer { src in
            while k < indices.endIndex {
                let first = Int(indices[k])
                var last = first
                k += 1
                while k < indices.endIndex, Int(indices[k]) == last + 1 { last += 1; k += 1 }
                let from = Int(d.offsets[first]), to = Int(d.offsets[last + 1])
                precondition(arena.count + (to - from) <= Int(UInt32.max),
                             "a string column's distinct values hold more than 4 GiB of text; split the source into several")
                let shift = UInt32(arena.count) &- d.offsets[first]
                arena.append(contentsOf: UnsafeBufferPointer(rebasing: src[from..<to]))
                for j in (first + 1)...(last + 1) { offsets.append(d.offsets[j] &+ shift) }
            }
        }
    }

    /// Appends a value (no check for an equal one: that is `ByteInterner`'s work); its index.
    @discardableResult
    public mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        precondition(arena.count + bytes.count <= Int(UInt32.max),
                     "a string column's distinct values hold more than 4 GiB of text; split the source into several")
        arena.append(contentsOf: bytes)
        offsets.append(UInt32(truncatingIfNeeded: arena.count))
        return offsets.count - 2
    }

    @discardableResult
    public mutating func append(_ s: String) -> Int {
        var s = s
        return s.withUTF8 { append($0) }
    }

    /// Room for `count` more values holding `bytes` more bytes.
    public mutating func reserveCapacity(count: Int, bytes: Int) {
        offsets.reserveCapacity(offsets.count + count)
        arena.reserveCapacity(arena.count + bytes)
    }

    public var description: String { Array(self).description }

    /// Does value `i` come before value `j` in byte order (unsigned, shorter prefix first)?
    public func precedesInByteOrder(_ i: Int, _ j: Int) -> Bool {
        arena.withUnsafeBufferPointer { a in offsets.withUnsafeBufferPointer { StringDictionary.precedes(i, j, a, $0) } }
    }

    /// Every index, ordered by its value's bytes (unsigned, shorter prefix first): the byte order of the values,
    /// which for valid UTF-8 is the order of their code points.
    public func indicesInByteOrder() -> [Int32] {
        arena.withUnsafeBufferPointer { a in
            offsets.withUnsafeBufferPointer { o in
                (0..<Int32(count)).sorted { StringDictionary.precedes(Int($0), Int($1), a, o) }
            }
        }
    }

    /// The byte-order comparison of `precedesInByteOrder` and `indicesInByteOrder`, on the arrays' memory.
    @inline(__always) private static func precedes(_ i: Int, _ j: Int, _ a: UnsafeBufferPointer<UInt8>,
                                                   _ o: UnsafeBufferPointer<UInt32>) -> Bool {
        let (xs, xe, ys, ye) = (Int(o[i]), Int(o[i + 1]), Int(o[j]), Int(o[j + 1]))
        let n = Swift.min(xe - xs, ye - ys)
        if n >= 8 {
            // Eight bytes at a time as big-endian words (their order is the bytes' order), the last word overlapping
            // bytes already found equal: ids of one length and a shared prefix, millions of them in the profile's
            // smallest and largest, were a library call each.
            let base = UnsafeRawPointer(a.baseAddress!)
            var k = 0
            while true {
                let at = Swift.min(k, n - 8)
                let x = base.loadUnaligned(fromByteOffset: xs + at, as: UInt64.self).bigEndian
                let y = base.loadUnaligned(fromByteOffset: ys + at, as: UInt64.self).bigEndian
                if x != y { return x < y }
                if at == n - 8 { break }
                k += 8
            }
            return xe - xs < ye - ys
        }
        let c = n == 0 ? 0 : memcmp(a.baseAddress! + xs, a.baseAddress! + ys, n)
        return c != 0 ? c < 0 : xe - xs < ye - ys
    }

    // MARK: - The artifact file's form

    /// The artifact file's bytes: the count (UInt32), each value's end offset (UInt32), then the arena; all
    /// little-endian (the machine's order: x86-64, arm64).
    public func fileBytes() -> [UInt8] {
        withFileBytes { pieces in
            var out: [UInt8] = []
            out.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
            for p in pieces { out.append(contentsOf: p) }
            return out
        }
    }

    /// Calls `body` with the pieces whose concatenation is `fileBytes()`, borrowed from this dictionary's own
    /// arrays (no copy: an id column's dictionary is hundreds of MB).
    public func withFileBytes<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        var head = UInt32(count).littleEndian
        return try withUnsafeBytes(of: &head) { h in
            try offsets.withUnsafeBytes { o in
                try arena.withUnsafeBytes { a in
                    // offsets[1...] are the end offsets.
                    try body([UnsafeRawBufferPointer(h), UnsafeRawBufferPointer(rebasing: o[4...]), a])
                }
            }
        }
    }

    /// Reads `fileBytes()`'s form back; nil when the bytes are not that form (truncated, offsets out of order
    /// or past the end, bytes left over).
    public init?(fileBytes raw: UnsafeRawBufferPointer) {
        guard raw.count >= 4 else {
            // An empty file is an empty dictionary (what earlier versions wrote for no values).
            if raw.isEmpty { self.init(); return }
            return nil
        }
        let n = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let head = 4 + 4 * n
        guard raw.count >= head else { return nil }
        var offsets = [UInt32](repeating: 0, count: n + 1)
        var previous: UInt32 = 0
        var ok = true
        offsets.withUnsafeMutableBufferPointer { o in
            for i in 0..<n {
                let end = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 + 4 * i, as: UInt32.self))
                if end < previous { ok = false; return }
                o[i + 1] = end
                previous = end
            }
        }
        guard ok, head + Int(previous) == raw.count else { return nil }
        self.init(arena: [UInt8](UnsafeRawBufferPointer(rebasing: raw[head...])), offsets: offsets)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The dictionary codes of a string column, one per row, each stored in the fewest of 1, 2 or 4 bytes that
/// hold every code of the column's dictionary (`Width(dictionaryCount:)`). Reads as a collection of `Int32`.
///
/// Written by hand instead of `[Int32]`: most string columns of a click or order table have a few hundred
/// values at most (event type, device, category, referrer, the file a row came from), yet each held 4 bytes
/// a row. On M's 16 M clean events, six such columns (event type, sku, category, device, referrer, source
/// file) were 380 MB of the 1.03 GiB table; at 1 or 2 bytes they are 110 MB. With the same saving in the raw
/// table, extract + clean peaked at 1.46 GB instead of 1.77 (#9's target: 1.5 GiB). The artifact file keeps the
/// same width (manifest `codeWidth`), so those columns are also written and read in a quarter of the bytes.
///
/// The codes are immutable once made (columns are values; a changed column is a new one), so the storage is
/// one allocation shared by every copy, freed with the last.
public struct StringCodes: RandomAccessCollection, Sendable, Equatable, ExpressibleByArrayLiteral,
                           CustomStringConvertible {
    /// Bytes per code.
    public enum Width: Int, Sendable, Hashable, Codable {
        case one = 1, two = 2, four = 4

        /// The narrowest width that holds codes `0 ..< dictionaryCount`.
        @inlinable public init(dictionaryCount: Int) {
            self = dictionaryCount <= 1 << 8 ? .one : dictionaryCount <= 1 << 16 ? .two : .four
        }
    }

    @usableFromInline final class Storage: @unchecked Sendable {
        @usableFromInline let base: UnsafeMutableRawPointer
        @usableFromInline let count: Int
        @usableFromInline let width: Width

        @usableFromInline init(count: Int, width: Width) {
            self.count = count
            self.width = width
            base = .allocate(byteCount: Swift.max(count * width.rawValue, 1), alignment: 8)
        }

        /// Takes over `base` (allocated with `allocate(byteCount:alignment: 8)`), holding `count` codes.
        init(adopting base: UnsafeMutableRawPointer, count: Int, width: Width) {
            (self.base, self.count, self.width) = (base, count, width)
        }

        deinit { base.deallocate() }
    }

    @usableFromInline let storage: Storage

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.count }
    public typealias Indices = Range<Int>
    public var width: Width { storage.width }

    @inlinable public subscript(i: Int) -> Int32 {
        precondition(i >= 0 && i < storage.count, "code index out of range")
        switch storage.width {
        case .one: return Int32(storage.base.load(fromByteOffset: i, as: UInt8.self))
        case .two: return Int32(storage.base.load(fromByteOffset: 2 &* i, as: UInt16.self))
        case .four: return storage.base.load(fromByteOffset: 4 &* i, as: Int32.self)
        }
    }

    /// Appends codes into storage made for `capacity` of them (see `init(count:width:_:)`).
    public struct Writer {
        @usableFromInline let base: UnsafeMutableRawPointer
        @usableFromInline let width: Width
        @usableFromInline let capacity: Int
        @usableFromInline var appended = 0

        /// Codes appended so far.
        public var count: Int { appended }

        @usableFromInline init(base: UnsafeMutableRawPointer, width: Width, capacity: Int) {
            (self.base, self.width, self.capacity) = (base, width, capacity)
        }

        /// Appends `code`. - Precondition: `0 <= code` and it fits the width; `count < capacity`.
        @inlinable public mutating func append(_ code: Int32) {
            precondition(appended < capacity, "more codes than the column's rows")
            switch width {
            case .one:
                precondition(UInt32(bitPattern: code) <= UInt32(UInt8.max), "code \(code) does not fit one byte")
                base.storeBytes(of: UInt8(truncatingIfNeeded: code), toByteOffset: appended, as: UInt8.self)
            case .two:
                precondition(UInt32(bitPattern: code) <= UInt32(UInt16.max), "code \(code) does not fit two bytes")
                base.storeBytes(of: UInt16(truncatingIfNeeded: code), toByteOffset: 2 &* appended, as: UInt16.self)
            case .four:
                precondition(code >= 0, "negative code \(code)")
                base.storeBytes(of: code, toByteOffset: 4 &* appended, as: Int32.self)
            }
            appended &+= 1
        }

        /// Appends `code` `n` times.
        @inlinable public mutating func append(_ code: Int32, count n: Int) {
            for _ in 0..<n { append(code) }
        }
    }

    /// Codes appended a part at a time when the dictionary's final size is not yet known (extract's merge of
    /// its files): held at the width of the dictionary so far, and widened (re-encoded once) when it outgrows it,
    /// so a source never holds 4-byte codes for a column that ends with a few hundred values. A class, so a
    /// builder's codes are never copied (one owner: not for use from two threads).
    public final class Builder {
        private var base: UnsafeMutableRawPointer
        private var capacity: Int
        public private(set) var count = 0
        public private(set) var width: Width = .one
        /// The most rows `reserveCapacity` asked room for (kept when the codes are widened).
        private var reserved = 0

        public init() {
            base = .allocate(byteCount: 8, alignment: 8)
            capacity = 8
        }

        deinit { base.deallocate() }

        /// Room for `n` codes in all at the current width (and, when widened, at the new one).
        public func reserveCapacity(_ n: Int) {
            reserved = Swift.max(reserved, n)
            if n > capacity { reallocate(rows: n, width: width) }
        }

        private func reallocate(rows: Int, width new: Width) {
            let grown = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(rows * new.rawValue, 8), alignment: 8)
            func widen<From: FixedWidthInteger, To: FixedWidthInteger>(_: From.Type, _: To.Type) {
                for i in 0..<count {
                    grown.storeBytes(of: To(base.load(fromByteOffset: i &* MemoryLayout<From>.size, as: From.self)),
                                     toByteOffset: i &* MemoryLayout<To>.size, as: To.self)
                }
            }
            switch (width, new) {
            case (.one, .one): widen(UInt8.self, UInt8.self)
            case (.one, .two): widen(UInt8.self, UInt16.self)
            case (.one, .four): widen(UInt8.self, Int32.self)
            case (.two, .two): widen(UInt16.self, UInt16.self)
            case (.two, .four): widen(UInt16.self, Int32.self)
            case (.four, .four): widen(Int32.self, Int32.self)
            default: preconditionFailure("codes are never narrowed")
            }
            base.deallocate()
            (base, capacity, width) = (grown, rows, new)
        }

        /// Makes room for `n` more codes of a dictionary that now holds `dictionaryCount` values.
        private func prepare(more n: Int, dictionaryCount: Int) {
            let need = Width(dictionaryCount: dictionaryCount)
            let rows = count + n
            if need.rawValue > width.rawValue {
                reallocate(rows: Swift.max(rows, reserved, capacity), width: need)
            } else if rows > capacity {
                reallocate(rows: Swift.max(rows, 2 * capacity), width: width)
            }
        }

        /// Appends `codes[i]` looked up in `remap` (a part's codes in the merged dictionary), for a dictionary
        /// that now holds `dictionaryCount` values. Rows that `validity` says are null get code 0, whatever the
        /// part held there: the codes are then the same however the rows were split into parts.
        public func append(_ codes: [Int32], through remap: [Int32], validity: [Bool]? = nil, dictionaryCount: Int) {
            prepare(more: codes.count, dictionaryCount: dictionaryCount)
            func put<T: FixedWidthInteger>(_: T.Type) {
                let out = base + count &* MemoryLayout<T>.size
                codes.withUnsafeBufferPointer { codes in
                    remap.withUnsafeBufferPointer { remap in
                        if let validity {
                            for (k, c) in codes.enumerated() {
                                let code = validity[k] ? remap[Int(c)] : 0
                                out.storeBytes(of: T(truncatingIfNeeded: code), toByteOffset: k &* MemoryLayout<T>.size, as: T.self)
                            }
                            return
                        }
                        for (k, c) in codes.enumerated() {
                            out.storeBytes(of: T(truncatingIfNeeded: remap[Int(c)]), toByteOffset: k &* MemoryLayout<T>.size, as: T.self)
                        }
                    }
                }
            }
            switch width {
            case .one: put(UInt8.self)
            case .two: put(UInt16.self)
            case .four: put(Int32.self)
            }
            count += codes.count
        }

        /// Appends `code` `n` times, for a dictionary that now holds `dictionaryCount` values.
        public func append(_ code: Int32, count n: Int, dictionaryCount: Int) {
            prepare(more: n, dictionaryCount: Swift.max(dictionaryCount, Int(code) + 1))
            var w = Writer(base: base + count &* width.rawValue, width: width, capacity: n)
            w.append(code, count: n)
            count += n
        }

        /// The codes, at the width of a dictionary of `dictionaryCount` values (the memory is handed over, not
        /// copied; room reserved and never used was never touched).
        /// The builder is empty afterwards.
        public func finish(dictionaryCount: Int) -> StringCodes {
            prepare(more: 0, dictionaryCount: dictionaryCount)
            let storage = Storage(adopting: base, count: count, width: width)
            // `base` now belongs to `storage`; the builder starts again empty.
            (base, capacity, count, width, reserved) = (.allocate(byteCount: 8, alignment: 8), 8, 0, .one, 0)
            return StringCodes(storage: storage)
        }
    }

    /// `count` codes of `width`, appended by `fill`. - Precondition: `fill` appends exactly `count` codes.
    @inlinable public init(count: Int, width: Width, _ fill: (inout Writer) throws -> Void) rethrows {
        let storage = Storage(count: count, width: width)
        var writer = Writer(base: storage.base, width: width, capacity: count)
        try fill(&writer)
        precondition(writer.count == count, "\(writer.count) codes appended, \(count) promised")
        self.init(storage: storage)
    }

    /// `codes` stored at the width of a dictionary of `dictionaryCount` values. Inlinable for arrays: the generic
    /// form below is not specialised in other modules, where it cost about 200 ns a code (3.4 s on 15.8 M).
    @inlinable public init(_ codes: [Int32], dictionaryCount: Int) {
        self.init(count: codes.count, width: Width(dictionaryCount: dictionaryCount)) { w in
            codes.withUnsafeBufferPointer { for c in $0 { w.append(c) } }
        }
    }

    /// `codes` stored at the width of a dictionary of `dictionaryCount` values.
    public init(_ codes: some Collection<Int32>, dictionaryCount: Int) {
        self.init(count: codes.count, width: Width(dictionaryCount: dictionaryCount)) { w in
            for c in codes { w.append(c) }
        }
    }

    /// `codes` at the width of their largest code plus one (tests and small tables).
    public init(_ codes: [Int32]) {
        self.init(codes, dictionaryCount: Int(codes.max() ?? 0) + 1)
    }

    public init(arrayLiteral elements: Int32...) { self.init(elements) }

    public init() { self.init([]) }

    /// Codes of a file written at `width` (`withUnsafeBytes`): `byteCount` bytes, filled by `read` in place.
    /// - Returns: nil when `byteCount` is not a whole number of codes.
    public init?(width: Width, byteCount: Int, read: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        guard byteCount % width.rawValue == 0 else { return nil }
        let storage = Storage(count: byteCount / width.rawValue, width: width)
        try read(UnsafeMutableRawBufferPointer(start: storage.base, count: byteCount))
        self.storage = storage
    }

    /// The codes' bytes as stored: little-endian, `width` bytes each (the artifact file's form).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: storage.count * storage.width.rawValue))
    }

    /// The rows selected by `indices`, in that order, at this width.
    public func gathering(_ indices: [Int]) -> StringCodes {
        let out = Storage(count: indices.count, width: width)
        func copy<T: FixedWidthInteger>(_: T.Type) {
            let n = storage.count
            for (k, i) in indices.enumerated() {
                precondition(i >= 0 && i < n, "code index out of range")
                out.base.storeBytes(of: storage.base.load(fromByteOffset: i &* T.bitWidth / 8, as: T.self),
                                    toByteOffset: k &* T.bitWidth / 8, as: T.self)
            }
        }
        switch width {
        case .one: copy(UInt8.self)
        case .two: copy(UInt16.self)
        case .four: copy(Int32.self)
        }
        return StringCodes(storage: out)
    }

    /// The rows of `runs`, in order, at this width: one copy per run.
    public func gathering(_ runs: RowRuns) -> StringCodes {
        precondition(runs.end <= storage.count, "row runs past the end")
        let out = Storage(count: runs.total, width: width)
        let w = width.rawValue
        var at = 0
        for k in runs.starts.indices {
            (out.base + at * w).copyMemory(from: storage.base + runs.starts[k] * w, byteCount: runs.counts[k] * w)
            at += runs.counts[k]
        }
        return StringCodes(storage: out)
    }

    @usableFromInline init(storage: Storage) { self.storage = storage }

    /// The codes widened to `Int32` (a copy; for code that needs an array).
    public var int32Array: [Int32] { Array(self) }

    public static func == (a: StringCodes, b: StringCodes) -> Bool {
        guard a.count == b.count else { return false }
        if a.storage === b.storage { return true }
        if a.width == b.width {
            return a.storage.count == 0 || memcmp(a.storage.base, b.storage.base, a.storage.count * a.width.rawValue) == 0
        }
        return a.elementsEqual(b)
    }

    public var description: String { "\(Array(self))" }
}

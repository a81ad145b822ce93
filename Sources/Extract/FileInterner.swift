import CKernels
import CVMCore

/// One file's dictionary of a string column while the file is read: `cvm_interner` (C, see its header for why),
/// handed over as a `StringDictionary` and each value's hash for the source's merge (`ByteInterner`, same hash).
///
/// Confined to the thread reading the file; a class so the C table is freed once.
final class FileInterner {
    private let table: UnsafeMutablePointer<cvm_interner>

    /// - Parameter distinct: the column's values are expected distinct (the source's one-column key): each is
    ///   appended without a table (`cvm_interner_create`); the source's merge gives equal ones one code.
    init(distinct: Bool = false) {
        guard let t = cvm_interner_create(distinct ? 1 : 0) else { fatalError("out of memory creating a string dictionary") }
        table = t
    }

    deinit { cvm_interner_destroy(table) }

    var count: Int { Int(table.pointee.count) }

    /// The C table, for `cvm_fast_rows` (which interns into it on the same thread).
    var cTable: UnsafeMutablePointer<cvm_interner> { table }

    /// `intern`'s answer for a new value that is not valid UTF-8 (nothing is added).
    static let invalidUTF8: Int32 = -1
    /// `intern`'s answer for a new value holding a NUL byte (nothing is added).
    static let nulByte: Int32 = -4

    /// The code of `b` (>= 0; added when new), or `invalidUTF8` or `nulByte` for a new value that may not be added.
    @inline(__always) func intern(_ b: UnsafeBufferPointer<UInt8>) -> Int32 {
        // An empty buffer may have no base address; any valid pointer reads zero bytes.
        let code = cvm_interner_intern(table, b.baseAddress ?? UnsafePointer(bitPattern: 1)!, Int64(b.count))
        if code >= 0 || code == FileInterner.invalidUTF8 || code == FileInterner.nulByte { return code }
        precondition(code != -2, "a string column's distinct values in one file hold more than 4 GiB of text; split the file")
        fatalError("out of memory interning a string column")
    }

    /// The values in code order and each one's hash (copied out of the C table).
    func finish() -> (values: StringDictionary, hashes: [UInt64]) {
        let t = table.pointee
        let n = Int(t.count)
        let arena = [UInt8](UnsafeBufferPointer(start: t.arena, count: Int(t.arena_len)))
        let offsets = [UInt32](UnsafeBufferPointer(start: t.offsets, count: n + 1))
        let hashes = [UInt64](UnsafeBufferPointer(start: t.hashes, count: n))
        return (StringDictionary(arena: arena, offsets: offsets), hashes)
    }
}

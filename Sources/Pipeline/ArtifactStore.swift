import Foundation
public import CVMCore
#if canImport(Glibc)
import Glibc
#endif

/// Columnar artifact files: every stage's output tables, persisted so one stage
/// can be rerun alone from its persisted inputs (DESIGN.md, "Data flow").
///
/// Layout: `<root>/<as-of>/<stage>/<table>/` holding `manifest.json` and per
/// column `cN.bin` (raw little-endian Int64/Double/Int32 codes), `cN.valid`
/// (one byte per row, only when the column has nulls) and `cN.dict` (string
/// dictionary: UInt32 count, UInt32 end offsets, UTF-8 bytes).
///
/// A stage's folder is written beside the old one and swapped in by rename, so
/// the folder always holds the outputs of the latest *successful* run of that
/// stage for that as-of date. Reading is a memory map plus one copy per column.
public struct ArtifactStore: Sendable {
    public var root: String

    public init(root: String) { self.root = root }

    public struct Manifest: Codable, Sendable, Equatable {
        public struct ColumnEntry: Codable, Sendable, Equatable {
            public var name: String
            public var type: String
            public var scale: Int
            public var file: String
            public var validity: String?
            public var dictionary: String?
            public var checksum: String
        }
        public var table: String
        public var rows: Int
        public var stage: String
        public var asOf: String
        public var runID: String
        public var configHash: String
        public var columns: [ColumnEntry]
    }

    public func stageDirectory(asOf: CivilDate, stage: String) -> String {
        "\(root)/\(asOf)/\(stage)"
    }

    /// Writes all of a stage's tables and swaps them in atomically.
    /// - Throws: `CVMFailure` (exit 74) naming the path when the disk refuses.
    /// Columns are encoded and written by `threads` workers (each file is written once, straight from the
    /// column's buffer); the result does not depend on `threads`.
    public func write(_ tables: [Table], stage: String, asOf: CivilDate, runID: String, configHash: String, threads: Int = 1) throws {
        let fm = FileManager.default
        let final = stageDirectory(asOf: asOf, stage: stage)
        let tmp = final + ".tmp-" + runID
        let old = final + ".old-" + runID
        do {
            try? fm.removeItem(atPath: tmp)
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            try writeTables(tables, to: tmp, stage: stage, asOf: asOf, runID: runID, configHash: configHash, threads: threads)
            if fm.fileExists(atPath: final) { try fm.moveItem(atPath: final, toPath: old) }
            try fm.moveItem(atPath: tmp, toPath: final)
            try? fm.removeItem(atPath: old)
        } catch {
            try? fm.removeItem(atPath: tmp)
            if !fm.fileExists(atPath: final), fm.fileExists(atPath: old) { try? fm.moveItem(atPath: old, toPath: final) }
            throw CVMFailure(.ioError, "\(final): error: cannot write artifacts: \(error.localizedDescription); check free space and permissions")
        }
    }

    /// Names of the tables a stage persisted for `asOf`, or nil when it never completed.
    public func tableNames(stage: String, asOf: CivilDate) -> [String]? {
        let dir = stageDirectory(asOf: asOf, stage: stage)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        return names.filter { FileManager.default.fileExists(atPath: "\(dir)/\($0)/manifest.json") }.sorted()
    }

    /// The latest as-of date before `asOf` whose `stage` persisted `table`, if any.
    public func previousAsOf(before asOf: CivilDate, stage: String, table: String) -> CivilDate? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return nil }
        return names.compactMap { CivilDate(iso: $0) }.filter { $0 < asOf }.sorted(by: >)
            .first { FileManager.default.fileExists(atPath: "\(stageDirectory(asOf: $0, stage: stage))/\(table)/manifest.json") }
    }

    public func manifest(stage: String, table: String, asOf: CivilDate) throws -> Manifest {
        let path = "\(stageDirectory(asOf: asOf, stage: stage))/\(table)/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CVMFailure(.noInput, "\(path): error: no persisted table \(table) from stage \(stage) for as-of \(asOf); run that stage first (cvm run CONFIG --until \(stage))")
        }
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw CVMFailure(.noInput, "\(path): error: unreadable manifest (\(error)); rerun stage \(stage)")
        }
    }

    /// Reads a persisted table, verifying checksums.
    /// - Throws: `CVMFailure` (exit 66) when missing or corrupt, naming the file and what to do.
    /// Reads a persisted table; with `columns`, only those of its columns (the others are neither read nor checked).
    public func read(stage: String, table: String, asOf: CivilDate, columns only: Set<String>? = nil) throws -> Table {
        let m = try manifest(stage: stage, table: table, asOf: asOf)
        let dir = "\(stageDirectory(asOf: asOf, stage: stage))/\(table)"
        var columns: [Column] = []
        for entry in m.columns where only?.contains(entry.name) ?? true {
            guard let type = ColumnType(rawValue: entry.type) else {
                throw CVMFailure(.noInput, "\(dir)/manifest.json: error: unknown column type \(entry.type); rerun stage \(stage)")
            }
            let spec = ColumnSpec(entry.name, type, scale: entry.scale)
            let bytes = try mapped("\(dir)/\(entry.file)", stage: stage)
            let validity = try entry.validity.map { try mapped("\(dir)/\($0)", stage: stage) }
            let dict = try entry.dictionary.map { try mapped("\(dir)/\($0)", stage: stage) }
            var sum = checksum(bytes)
            if let validity { sum = sum &* 31 &+ checksum(validity) }
            if let dict { sum = sum &* 31 &+ checksum(dict) }
            guard hex(sum) == entry.checksum else {
                throw CVMFailure(.noInput, "\(dir)/\(entry.file): error: checksum mismatch (artifact corrupt or changed); rerun stage \(stage)")
            }
            let storage: ColumnStorage
            switch type.storageKind {
            case .int64: storage = .int64(array(bytes, of: Int64.self))
            case .double: storage = .double(array(bytes, of: Double.self))
            case .string: storage = .string(codes: array(bytes, of: Int32.self), dictionary: try decodeDictionary(dict ?? Data(), path: "\(dir)/\(entry.dictionary ?? "")"))
            }
            guard storage.count == m.rows else {
                throw CVMFailure(.noInput, "\(dir)/\(entry.file): error: \(storage.count) rows, manifest says \(m.rows); rerun stage \(stage)")
            }
            columns.append(Column(spec, storage, validity: validity.map(flags)))
        }
        return Table(name: m.table, columns: columns, rowCount: m.rows)
    }

    // MARK: - Encoding

    private func writeTables(_ tables: [Table], to root: String, stage: String, asOf: CivilDate, runID: String,
                             configHash: String, threads: Int) throws {
        for table in tables { try FileManager.default.createDirectory(atPath: "\(root)/\(table.name)", withIntermediateDirectories: true) }
        // One job per column, largest first so the long ones do not end up last on one worker.
        var jobs = tables.indices.flatMap { t in tables[t].columns.indices.map { (t, $0) } }
        jobs.sort { a, b in
            let (x, y) = (tables[a.0].rowCount, tables[b.0].rowCount)
            return x != y ? x > y : (a.0, a.1) < (b.0, b.1)
        }
        let jobList = jobs
        let entries = parallelMap(chunks: jobList.count, threads: threads) { k -> Result<Manifest.ColumnEntry, any Error> in
            let (t, i) = jobList[k]
            return Result { try writeColumn(tables[t].columns[i], index: i, dir: "\(root)/\(tables[t].name)") }
        }
        var byTable = [[Manifest.ColumnEntry?]](repeating: [], count: tables.count)
        for t in tables.indices { byTable[t] = [Manifest.ColumnEntry?](repeating: nil, count: tables[t].columns.count) }
        for (k, (t, i)) in jobList.enumerated() { byTable[t][i] = try entries[k].get() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        for (t, table) in tables.enumerated() {
            let manifest = Manifest(table: table.name, rows: table.rowCount, stage: stage, asOf: asOf.description,
                                    runID: runID, configHash: configHash, columns: byTable[t].map { $0! })
            try encoder.encode(manifest).write(to: URL(fileURLWithPath: "\(root)/\(table.name)/manifest.json"))
        }
    }

    private func writeColumn(_ column: Column, index i: Int, dir: String) throws -> Manifest.ColumnEntry {
        var sum: UInt64
        switch column.storage {
        case .int64(let v): sum = try v.withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }
        case .double(let v): sum = try v.withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }
        case .string(let codes, _): sum = try codes.withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }
        }
        if let validity = column.validity {
            // A Swift Bool is one byte holding 0 or 1: the file format's validity byte.
            sum = sum &* 31 &+ (try validity.withUnsafeBytes { try writeFile("\(dir)/c\(i).valid", $0) })
        }
        var dictionary = false
        if case .string(_, let strings) = column.storage {
            let bytes = encodeDictionary(strings)
            sum = sum &* 31 &+ (try bytes.withUnsafeBytes { try writeFile("\(dir)/c\(i).dict", $0) })
            dictionary = true
        }
        return .init(name: column.name, type: column.type.rawValue, scale: column.spec.scale, file: "c\(i).bin",
                     validity: column.validity == nil ? nil : "c\(i).valid", dictionary: dictionary ? "c\(i).dict" : nil,
                     checksum: hex(sum))
    }

    /// Writes `bytes` to a new file with write(2) (no intermediate `Data` copy); returns their checksum.
    private func writeFile(_ path: String, _ bytes: UnsafeRawBufferPointer) throws -> UInt64 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ArtifactIOError(path: path, errno: errno) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, min(bytes.count - done, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw ArtifactIOError(path: path, errno: errno)
            }
            done += n
        }
        return checksum(bytes)
    }

    private func mapped(_ path: String, stage: String) throws -> Data {
        do {
            // Empty files are not read: FoundationEssentials (Swift 6.3.1) leaks the 4 KiB buffer it allocates
            // to read a zero-length file (found by LeakSanitizer, make sanitize; empty tables have empty columns).
            guard FileManager.default.fileExists(atPath: path) else {
                return try Data(contentsOf: URL(fileURLWithPath: path))  // throws the missing-file error below
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
            if size == 0 { return Data() }
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw CVMFailure(.noInput, "\(path): error: cannot read artifact (\(error.localizedDescription)); rerun stage \(stage)")
        }
    }

    /// Validity bytes (0 or 1) as `[Bool]`, in one tight loop (`Data.map` costs a closure call per row).
    private func flags(_ data: Data) -> [Bool] {
        data.withUnsafeBytes { raw in
            let src = raw.bindMemory(to: UInt8.self)
            return [Bool](unsafeUninitializedCapacity: src.count) { buf, count in
                for i in 0..<src.count { buf[i] = src[i] != 0 }
                count = src.count
            }
        }
    }

    private func array<T>(_ data: Data, of: T.Type) -> [T] {
        data.withUnsafeBytes { raw in
            let n = raw.count / MemoryLayout<T>.stride
            return [T](unsafeUninitializedCapacity: n) { buf, count in
                if n > 0 { memcpy(buf.baseAddress!, raw.baseAddress!, n * MemoryLayout<T>.stride) }
                count = n
            }
        }
    }

    private func encodeDictionary(_ strings: [String]) -> [UInt8] {
        var total = 0
        for s in strings { total += s.utf8.count }
        var out: [UInt8] = []
        out.reserveCapacity(4 + 4 * strings.count + total)
        func put(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(UInt32(strings.count))
        var end: UInt32 = 0
        for s in strings {
            end += UInt32(s.utf8.count)
            put(end)
        }
        for s in strings { out.append(contentsOf: s.utf8) }
        return out
    }

    private func decodeDictionary(_ data: Data, path: String) throws -> [String] {
        try data.withUnsafeBytes { raw -> [String] in
            guard raw.count >= 4 else { return [] }
            let count = Int(raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            let base = 4 + 4 * count
            guard raw.count >= base else { throw CVMFailure(.noInput, "\(path): error: truncated dictionary; rerun the stage") }
            var out: [String] = []
            out.reserveCapacity(count)
            var start = 0
            for i in 0..<count {
                let end = Int(raw.loadUnaligned(fromByteOffset: 4 + 4 * i, as: UInt32.self))
                guard end >= start, base + end <= raw.count else { throw CVMFailure(.noInput, "\(path): error: corrupt dictionary; rerun the stage") }
                out.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[(base + start)..<(base + end)]), as: UTF8.self))
                start = end
            }
            return out
        }
    }

    /// A fast 64-bit checksum over 8-byte words (multiply-xorshift); detects corruption, not tampering.
    private func checksum(_ data: Data) -> UInt64 {
        data.withUnsafeBytes { checksum($0) }
    }

    private func checksum(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count)
        let words = raw.count / 8
        for i in 0..<words {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
        }
        for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3 }
        return h
    }

    private func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// A write(2) or open(2) failure on an artifact file.
struct ArtifactIOError: LocalizedError, CustomStringConvertible {
    var path: String
    var errno: Int32
    var description: String { "\(path): \(String(cString: strerror(errno)))" }
    var errorDescription: String? { description }
}

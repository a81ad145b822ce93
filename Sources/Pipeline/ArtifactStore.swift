import Foundation
public import CVMCore
import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// Columnar artifact files: every stage's output tables, persisted so one stage
/// can be rerun alone from its persisted inputs (DESIGN.md, "Data flow").
///
/// Layout: `<root>/<as-of>/<stage>/<table>/` holding `manifest.json` and per
/// column `cN.bin` (raw little-endian: integers of 1, 2, 4 or 8 bytes, `valueWidth`; Doubles; codes of 1, 2
/// or 4 bytes, `codeWidth`), `cN.valid` (one bit per row, `validityBits`; one byte in older artifacts; only
/// when the column has nulls) and `cN.dict` (string
/// dictionary: UInt32 count, UInt32 end offsets, UTF-8 bytes).
///
/// A stage's folder is written beside the old one and swapped in by rename, so
/// the folder always holds the outputs of the latest *successful* run of that
/// stage for that as-of date; the replaced folder is deleted in the background. Reading is one read(2) pass per file, straight into the column's array.
public struct ArtifactStore: Sendable {
    public var root: String
    /// Column files of at least this many bytes are written past the page cache (see `writeFile`).
    public var uncachedWriteMinBytes: Int

    /// Big dictionary files this store wrote, for the later stages' columns that keep the same dictionary.
    private let dictionaryFiles = DictionaryFiles()

    public init(root: String, uncachedWriteMinBytes: Int = 1 << 20) {
        self.root = root
        self.uncachedWriteMinBytes = uncachedWriteMinBytes
    }

    public struct Manifest: Codable, Sendable, Equatable {
        public struct ColumnEntry: Codable, Sendable, Equatable {
            public var name: String
            public var type: String
            public var scale: Int
            public var file: String
            public var validity: String?
            public var dictionary: String?
            /// Bytes per code of a string column's `file` (1, 2 or 4; `StringCodes.Width`). Absent means 4, the
            /// only width before narrow codes, so older artifacts read as before.
            public var codeWidth: Int?
            /// Bytes per value of an integer-stored column's `file` (1, 2 or 4: the fewest, signed, that hold all its
            /// values; read back as Int64). Absent means 8.
            public var valueWidth: Int?
            /// `validity` holds one bit a row (least significant first) rather than one byte. Absent means bytes.
            public var validityBits: Bool?
            public var checksum: String
        }
        public var table: String
        public var rows: Int
        public var stage: String
        public var asOf: String
        public var runID: String
        public var configHash: String
        public var columns: [ColumnEntry]
        /// The checksum algorithm of `columns` (`ArtifactChecksum`); absent in manifests written before version 2.
        public var checksumVersion: Int?
    }

    public func stageDirectory(asOf: CivilDate, stage: String) -> String {
        "\(root)/\(asOf)/\(stage)"
    }

    /// Writes all of a stage's tables and swaps them in atomically.
    /// - Throws: `CVMFailure` (exit 74) naming the path when the disk refuses.
    /// Columns are encoded and written by `threads` workers (each file is written once, straight from the
    /// column's buffer); the result does not depend on `threads`.
    public func write(_ tables: [Table], stage: String, asOf: CivilDate, runID: String, configHash: String, threads: Int = 1) throws {
        try write(ArtifactTables(tables), stage: stage, asOf: asOf, runID: runID, configHash: configHash, threads: threads)
    }

    /// `write`, taking each column out of `tables` when its job starts, so a column nobody else holds is freed as
    /// soon as it is written (the background writer holds a stage's tables while the next stage runs).
    public func write(_ tables: ArtifactTables, stage: String, asOf: CivilDate, runID: String, configHash: String, threads: Int = 1) throws {
        let staged = beginWrite(stage: stage, asOf: asOf, runID: runID, configHash: configHash)
        try write(tables, into: staged, threads: threads)
        try commit(staged)
    }

    /// A stage's folder to be written in parts (`write(_:into:threads:)`) and swapped in whole (`commit`).
    public func beginWrite(stage: String, asOf: CivilDate, runID: String, configHash: String) -> StageWrite {
        let final = stageDirectory(asOf: asOf, stage: stage)
        return StageWrite(stage: stage, asOf: asOf, runID: runID, configHash: configHash, final: final, tmp: final + ".tmp-" + runID)
    }

    /// Writes `tables` into the stage's folder being built; nothing is visible until `commit`.
    /// - Throws: `CVMFailure` (exit 74) naming the stage's folder when the disk refuses; the commit then fails too.
    public func write(_ tables: ArtifactTables, into staged: StageWrite, threads: Int = 1) throws {
        let fm = FileManager.default
        do {
            if let failure = staged.failure { throw failure }
            if !staged.started {
                try? fm.removeItem(atPath: staged.tmp)
                try fm.createDirectory(atPath: staged.tmp, withIntermediateDirectories: true)
                staged.started = true
            }
            staged.dictionaries += try writeTables(tables, to: staged.tmp, final: staged.final, stage: staged.stage, asOf: staged.asOf,
                                                   runID: staged.runID, configHash: staged.configHash, threads: threads)
        } catch {
            try? fm.removeItem(atPath: staged.tmp)
            let failure = error as? CVMFailure
                ?? CVMFailure(.ioError, "\(staged.final): error: cannot write artifacts: \(error.localizedDescription); check free space and permissions")
            staged.failure = failure
            throw failure
        }
    }

    /// Swaps the stage's folder in atomically: the tables of every part at once, replacing the stage's older folder.
    /// - Throws: `CVMFailure` (exit 74) when a part failed or the disk refuses; the older folder then stays.
    public func commit(_ staged: StageWrite) throws {
        let fm = FileManager.default
        let (final, tmp) = (staged.final, staged.tmp)
        if let failure = staged.failure { throw failure }
        // Unique, so a second write of the stage in one run never meets a folder still queued for removal.
        let old = final + ".old-" + staged.runID + "-" + UUID().uuidString.prefix(8)
        do {
            if !staged.started { try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true) }
            if let inputs = staged.inputs {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys]
                try e.encode(inputs).write(to: URL(fileURLWithPath: "\(tmp)/\(ArtifactStore.inputsFile)"))
            }
            if let settings = staged.settings {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .prettyPrinted]
                try e.encode(settings).write(to: URL(fileURLWithPath: "\(tmp)/\(ArtifactStore.settingsFile)"))
            }
            if let reason = staged.failedChecks {
                try Data("run \(staged.runID): \(reason)\n".utf8).write(to: URL(fileURLWithPath: "\(tmp)/\(ArtifactStore.failedChecksFile)"))
            }
            if fm.fileExists(atPath: final) { try fm.moveItem(atPath: final, toPath: old) }
            try fm.moveItem(atPath: tmp, toPath: final)
            dictionaryFiles.record(staged.dictionaries, replacing: final)
            // The replaced folder (hundreds of files on a wide table: 0.13 s on M's features, 0.3 s on clean's) and any
            // left by a run that died before removing its own are deleted off the critical path: the stage's outputs
            // are already in place. The run waits for the deletions before it ends (`waitForRemovals`).
            let parent = (final as NSString).deletingLastPathComponent, base = (final as NSString).lastPathComponent
            let stale = ((try? fm.contentsOfDirectory(atPath: parent)) ?? [])
                .filter { $0.hasPrefix(base + ".old-") || ($0.hasPrefix(base + ".tmp-") && $0 != (tmp as NSString).lastPathComponent) }
            for name in stale.sorted() { ArtifactRemovals.remove("\(parent)/\(name)") }
        } catch {
            try? fm.removeItem(atPath: tmp)
            if !fm.fileExists(atPath: final), fm.fileExists(atPath: old) { try? fm.moveItem(atPath: old, toPath: final) }
            let failure = CVMFailure(.ioError, "\(final): error: cannot write artifacts: \(error.localizedDescription); check free space and permissions")
            staged.failure = failure
            throw failure
        }
    }

    /// Tidies what runs that died left in the artifacts (called by a run holding the run lock, so no other run is
    /// writing): a stage folder being built (`<stage>.tmp-<run>`) is removed, and a replaced one (`<stage>.old-...`)
    /// too, unless the process died between the two renames of `commit`, when the stage has no folder: the newest
    /// replaced one is then put back (the stage as it was before that run). Such folders stayed for ever for dates
    /// never rerun (tens of MB each). Returns the folders removed and restored.
    public func recoverInterrupted() -> (removed: [String], restored: [String]) {
        let fm = FileManager.default
        var removed: [String] = [], restored: [String] = []
        for day in ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted() where CivilDate(iso: day) != nil {
            let dir = "\(root)/\(day)"
            let names = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted()
            for name in names where name.contains(".tmp-") {
                if (try? fm.removeItem(atPath: "\(dir)/\(name)")) != nil { removed.append("\(dir)/\(name)") }
            }
            var olds: [String: [String]] = [:]
            for name in names where name.contains(".old-") {
                olds[String(name[..<name.range(of: ".old-")!.lowerBound]), default: []].append(name)
            }
            for (stage, list) in olds.sorted(by: { $0.key < $1.key }) {
                var rest = list.sorted()
                if !fm.fileExists(atPath: "\(dir)/\(stage)"), let newest = rest.popLast(),
                   (try? fm.moveItem(atPath: "\(dir)/\(newest)", toPath: "\(dir)/\(stage)")) != nil {
                    restored.append("\(dir)/\(stage)")
                }
                for name in rest where (try? fm.removeItem(atPath: "\(dir)/\(name)")) != nil { removed.append("\(dir)/\(name)") }
            }
        }
        return (removed, restored)
    }

    /// Drops a stage's folder being built (its stage failed before the commit); the stage's older folder stays.
    public func discard(_ staged: StageWrite) {
        if staged.started { try? FileManager.default.removeItem(atPath: staged.tmp) }
        staged.failure = staged.failure ?? CVMFailure(.ioError, "\(staged.final): error: write discarded")
    }

    /// Waits until the replaced stage folders queued by `write` are deleted (a run calls it before it ends).
    public static func waitForRemovals() { ArtifactRemovals.group.wait() }

    /// The file marking a stage folder whose run failed its data-quality checks (its text: the run and why).
    public static let failedChecksFile = "FAILED_CHECKS"

    /// Why the run that wrote the stage's folder for `asOf` failed its data-quality checks, or nil when it passed
    /// them (or there is no such folder).
    public func failedChecks(stage: String, asOf: CivilDate) -> String? {
        let path = "\(stageDirectory(asOf: asOf, stage: stage))/\(ArtifactStore.failedChecksFile)"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The file of a stage folder naming the stages its tables were built from and the runs whose outputs those were
    /// (JSON, stage: run id): a later stage run alone checks that the outputs it combines still agree.
    public static let inputsFile = "INPUTS"

    /// The stages the stage's folder for `asOf` was built from, with their runs; nil when not recorded (older folders).
    public func inputs(stage: String, asOf: CivilDate) -> [String: String]? {
        let path = "\(stageDirectory(asOf: asOf, stage: stage))/\(ArtifactStore.inputsFile)"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode([String: String].self, from: data)
    }

    /// The file of a stage folder holding the config settings its tables were built with (JSON, key path: value;
    /// `StageSettings`): a later stage run alone checks that the config still says the same.
    public static let settingsFile = "SETTINGS"

    /// The settings the stage's folder for `asOf` was built with; nil when not recorded (older folders).
    public func settings(stage: String, asOf: CivilDate) -> [String: String]? {
        let path = "\(stageDirectory(asOf: asOf, stage: stage))/\(ArtifactStore.settingsFile)"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode([String: String].self, from: data)
    }

    /// The run that wrote the stage's folder for `asOf` (its tables' manifests), nil when there is none.
    public func writerRunID(stage: String, asOf: CivilDate) -> String? {
        guard let table = tableNames(stage: stage, asOf: asOf)?.first else { return nil }
        return try? manifest(stage: stage, table: table, asOf: asOf).runID
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
            throw CVMFailure(.noInput, "\(path): error: no persisted table \(table) from stage \(stage) for as-of \(asOf); run that stage first (cvm run with --until \(stage) or --from \(stage))")
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
    /// Each column file is read with read(2) straight into the column's array and checksummed chunk by chunk
    /// while the chunk is in cache; columns are spread over `threads` workers (the result does not depend on it).
    public func read(stage: String, table: String, asOf: CivilDate, columns only: Set<String>? = nil, threads: Int = 1) throws -> Table {
        let m = try manifest(stage: stage, table: table, asOf: asOf)
        let dir = "\(stageDirectory(asOf: asOf, stage: stage))/\(table)"
        let entries = m.columns.filter { only?.contains($0.name) ?? true }
        let version = m.checksumVersion ?? 1
        guard version == 1 || version == 2 else {
            throw CVMFailure(.noInput, "\(dir)/manifest.json: error: checksum version \(version) is newer than this cvm knows; rerun stage \(stage) or upgrade cvm")
        }
        // 8-byte columns first, so a big column does not end up last on one worker.
        let width = entries.map { ColumnType(rawValue: $0.type)?.storageKind == .string ? 4 : 8 }
        let order = entries.indices.sorted { (-width[$0], $0) < (-width[$1], $1) }
        let results = parallelMap(startingWith: order, threads: threads) { k -> Result<Column, any Error> in
            Result { try readColumn(entries[k], dir: dir, rows: m.rows, stage: stage, version: version) }
        }
        return Table(name: m.table, columns: try results.map { try $0.get() }, rowCount: m.rows)
    }

    private func readColumn(_ entry: Manifest.ColumnEntry, dir: String, rows: Int, stage: String, version: Int) throws -> Column {
        guard let type = ColumnType(rawValue: entry.type) else {
            throw CVMFailure(.noInput, "\(dir)/manifest.json: error: unknown column type \(entry.type); rerun stage \(stage)")
        }
        let spec = ColumnSpec(entry.name, type, scale: entry.scale)
        let path = "\(dir)/\(entry.file)"
        // The manifest's checksum chains the values, then the validity, then the dictionary.
        var sum: UInt64
        var int64s: [Int64] = [], doubles: [Double] = [], codes = StringCodes()
        switch type.storageKind {
        case .int64:
            switch entry.valueWidth ?? 8 {
            case 8: (int64s, sum) = try readArray(path, of: Int64.self, stage: stage, version: version)
            case 4: (int64s, sum) = try readWidened(path, from: Int32.self, stage: stage, version: version)
            case 2: (int64s, sum) = try readWidened(path, from: Int16.self, stage: stage, version: version)
            case 1: (int64s, sum) = try readWidened(path, from: Int8.self, stage: stage, version: version)
            case let w:
                throw CVMFailure(.noInput, "\(dir)/manifest.json: error: column \(entry.name) has value width \(w), not 1, 2, 4 or 8; rerun stage \(stage)")
            }
        case .double: (doubles, sum) = try readArray(path, of: Double.self, stage: stage, version: version)
        case .string:
            guard let width = StringCodes.Width(rawValue: entry.codeWidth ?? 4) else {
                throw CVMFailure(.noInput, "\(dir)/manifest.json: error: column \(entry.name) has code width \(entry.codeWidth!), not 1, 2 or 4; rerun stage \(stage)")
            }
            (codes, sum) = try readCodes(path, width: width, stage: stage, version: version)
        }
        var validity: [Bool]?
        if let name = entry.validity {
            let (bytes, s) = try readArray("\(dir)/\(name)", of: UInt8.self, stage: stage, version: version)
            sum = sum &* 31 &+ s
            if entry.validityBits == true {
                guard bytes.count == (rows + 7) / 8 else {
                    throw CVMFailure(.noInput, "\(dir)/\(name): error: \(bytes.count) bytes of validity bits, \(rows) rows need \((rows + 7) / 8); rerun stage \(stage)")
                }
                validity = ValidityBits.unpack(bytes, count: rows)
            } else {
                validity = flags(bytes)
            }
        }
        var dictionary = StringDictionary()
        if let name = entry.dictionary {
            let (bytes, s) = try readArray("\(dir)/\(name)", of: UInt8.self, stage: stage, version: version)
            sum = sum &* 31 &+ s
            guard let d = bytes.withUnsafeBytes({ StringDictionary(fileBytes: $0) }) else {
                throw CVMFailure(.noInput, "\(dir)/\(name): error: corrupt dictionary; rerun stage \(stage)")
            }
            dictionary = d
        }
        guard hex(sum) == entry.checksum else {
            throw CVMFailure(.noInput, "\(path): error: checksum mismatch (artifact corrupt or changed); rerun stage \(stage)")
        }
        let storage: ColumnStorage
        switch type.storageKind {
        case .int64: storage = .int64(int64s)
        case .double: storage = .double(doubles)
        case .string:
            guard StringCodes.Width(dictionaryCount: dictionary.count).rawValue <= codes.width.rawValue else {
                throw CVMFailure(.noInput, "\(path): error: \(dictionary.count) dictionary values do not fit codes of \(codes.width.rawValue) bytes; rerun stage \(stage)")
            }
            storage = .string(codes: codes, dictionary: dictionary)
        }
        guard storage.count == rows else {
            throw CVMFailure(.noInput, "\(path): error: \(storage.count) rows, manifest says \(rows); rerun stage \(stage)")
        }
        if let validity, validity.count != rows {
            throw CVMFailure(.noInput, "\(dir)/\(entry.validity!): error: \(validity.count) rows, manifest says \(rows); rerun stage \(stage)")
        }
        return Column(spec, storage, validity: validity)
    }

    /// A whole file as an array of `T`, and its checksum (`readFile`).
    private func readArray<T>(_ path: String, of: T.Type, stage: String, version: Int) throws(CVMFailure) -> ([T], UInt64) {
        let stride = MemoryLayout<T>.stride
        var values: [T] = []
        let sum = try readFile(path, stride: stride, stage: stage, version: version) { size, read in
            // Not through `unsafeUninitializedCapacity` when empty: that writes the count into the shared empty-array
            // singleton, a race ThreadSanitizer reports when two workers read empty columns.
            guard size > 0 else { return }
            values = [T](unsafeUninitializedCapacity: size / stride) { buf, count in
                count = read(UnsafeMutableRawBufferPointer(buf)) ? size / stride : 0
            }
        }
        return (values, sum)
    }

    /// An integer column's file of `T`s widened to Int64, and its checksum (`readFile`). The file is read whole
    /// into a scratch buffer (its own size: a half to an eighth of the column's), then widened.
    private func readWidened<T: FixedWidthInteger & SignedInteger>(_ path: String, from: T.Type, stage: String, version: Int) throws(CVMFailure) -> ([Int64], UInt64) {
        let (narrow, sum) = try readArray(path, of: T.self, stage: stage, version: version)
        guard !narrow.isEmpty else { return ([], sum) }  // see readArray: no empty `unsafeUninitializedCapacity`
        let wide = narrow.withUnsafeBufferPointer { src in
            [Int64](unsafeUninitializedCapacity: src.count) { buf, count in
                for i in 0..<src.count { buf[i] = Int64(src[i]) }
                count = src.count
            }
        }
        return (wide, sum)
    }

    /// A string column's codes file, `width` bytes a code, and its checksum (`readFile`).
    private func readCodes(_ path: String, width: StringCodes.Width, stage: String, version: Int) throws(CVMFailure) -> (StringCodes, UInt64) {
        var codes = StringCodes()
        let sum = try readFile(path, stride: width.rawValue, stage: stage, version: version) { size, read in
            codes = StringCodes(width: width, byteCount: size) { raw in _ = read(raw) } ?? StringCodes()
        }
        return (codes, sum)
    }

    /// Reads a whole file with read(2) in 1 MiB steps straight into the memory `place` gives `read`, and returns
    /// its checksum, computed on each step while it is in cache (the same value as `checksum` over the whole file).
    /// `place(size, read)` is called once, with the file's size (a whole number of `stride`s), and must call
    /// `read` once with a buffer of that size unless the size is 0.
    private func readFile(_ path: String, stride: Int, stage: String, version: Int,
                          place: (Int, (UnsafeMutableRawBufferPointer) -> Bool) -> Void) throws(CVMFailure) -> UInt64 {
        func failure(_ what: String) -> CVMFailure {
            CVMFailure(.noInput, "\(path): error: cannot read artifact (\(what)); rerun stage \(stage)")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw failure(String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size % stride == 0 else { throw failure("\(size) bytes is not a whole number of \(stride)-byte values") }
        var hash = ArtifactChecksum(version: version, count: size)
        guard size > 0 else {
            place(0) { _ in true }
            return hash.finish(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        var problem: String?
        var sum: UInt64 = 0
        place(size) { raw in
            precondition(raw.count == size)
            var filled = 0, hashed = 0
            while filled < size {
                let got = Glibc.read(fd, raw.baseAddress! + filled, min(1 << 20, size - filled))
                if got < 0 {
                    if errno == EINTR { continue }
                    problem = String(cString: strerror(errno))
                    return false
                }
                if got == 0 { problem = "file ended after \(filled) of \(size) bytes"; return false }
                filled += got
                if filled == size {
                    sum = hash.finish(UnsafeRawBufferPointer(rebasing: raw[hashed..<size]))
                } else {
                    let upto = filled & ~(ArtifactChecksum.block - 1)
                    hash.add(UnsafeRawBufferPointer(rebasing: raw[hashed..<upto]))
                    hashed = upto
                }
            }
            return true
        }
        if let problem { throw failure(problem) }
        return sum
    }

    // MARK: - Encoding

    /// - Returns: the big dictionaries written (not linked), at their paths under `final`.
    private func writeTables(_ tables: ArtifactTables, to root: String, final: String, stage: String, asOf: CivilDate, runID: String,
                             configHash: String, threads: Int) throws -> [DictionaryFiles.Entry] {
        let (names, rows, widths) = (tables.names, tables.rowCounts, tables.columnCounts)
        for name in names { try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true) }
        // One job per column, largest first so the long ones do not end up last on one worker.
        var jobs = names.indices.flatMap { t in (0..<widths[t]).map { (t, $0) } }
        jobs.sort { a, b in
            let (x, y) = (rows[a.0], rows[b.0])
            return x != y ? x > y : (a.0, a.1) < (b.0, b.1)
        }
        let jobList = jobs
        let entries = parallelMap(chunks: jobList.count, threads: threads) { k -> Result<(Manifest.ColumnEntry, DictionaryFiles.Entry?), any Error> in
            let (t, i) = jobList[k]
            return Result { try writeColumn(tables.take(table: t, column: i), index: i, dir: "\(root)/\(names[t])", final: "\(final)/\(names[t])") }
        }
        var byTable = [[Manifest.ColumnEntry?]](repeating: [], count: names.count)
        for t in names.indices { byTable[t] = [Manifest.ColumnEntry?](repeating: nil, count: widths[t]) }
        var dictionaries: [DictionaryFiles.Entry] = []
        for (k, (t, i)) in jobList.enumerated() {
            let (entry, dictionary) = try entries[k].get()
            byTable[t][i] = entry
            if let dictionary { dictionaries.append(dictionary) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        for (t, name) in names.enumerated() {
            let manifest = Manifest(table: name, rows: rows[t], stage: stage, asOf: asOf.description,
                                    runID: runID, configHash: configHash, columns: byTable[t].map { $0! },
                                    checksumVersion: ArtifactChecksum.current)
            try encoder.encode(manifest).write(to: URL(fileURLWithPath: "\(root)/\(name)/manifest.json"))
        }
        return dictionaries
    }

    /// - Returns: the column's manifest entry, and its dictionary file when it is big and was written (not linked),
    ///   at its path under `final` (the table's folder once the stage's folder is swapped in).
    private func writeColumn(_ column: Column, index i: Int, dir: String, final: String) throws -> (Manifest.ColumnEntry, DictionaryFiles.Entry?) {
        var sum: UInt64
        // Integers are written at the fewest bytes that hold them all (`valueWidth`): line numbers, quantities,
        // dates and amounts in cents take 1, 2 or 4 bytes instead of 8. The disk is this machine's limit for
        // artifact writes (about 200-400 MB/s), and the narrowing pass costs far less than the bytes it saves.
        var valueWidth: Int?
        switch column.storage {
        case .int64(let v):
            switch IntegerWidth.narrowest(v) {
            case 1: sum = try IntegerWidth.narrowed(v, to: Int8.self).withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }; valueWidth = 1
            case 2: sum = try IntegerWidth.narrowed(v, to: Int16.self).withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }; valueWidth = 2
            case 4: sum = try IntegerWidth.narrowed(v, to: Int32.self).withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }; valueWidth = 4
            default: sum = try v.withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }
            }
        case .double(let v): sum = try v.withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }
        case .string(let codes, _): sum = try codes.withUnsafeBytes { try writeFile("\(dir)/c\(i).bin", $0) }
        }
        // Narrow codes are written as they are held; 4-byte codes leave the field out (the format before widths).
        var codeWidth: Int?
        if case .string(let codes, _) = column.storage, codes.width != .four { codeWidth = codes.width.rawValue }
        if let validity = column.validity {
            // One bit a row (an eighth of the bytes of a `[Bool]`).
            sum = sum &* 31 &+ (try ValidityBits.pack(validity).withUnsafeBytes { try writeFile("\(dir)/c\(i).valid", $0) })
        }
        var dictionary = false
        var written: DictionaryFiles.Entry?
        if case .string(_, let values) = column.storage {
            let path = "\(dir)/c\(i).dict"
            let dictionarySum: UInt64
            if let earlier = dictionaryFiles.file(of: values), link(earlier.path, path) == 0 {
                // The very dictionary an earlier stage of this run wrote (clean keeps extract's, M's event ids:
                // 237 MB): a hard link to that file, so its bytes are written once. Where linking fails (another
                // file system, the file gone), it is written again below.
                dictionarySum = earlier.checksum
            } else {
                // Written from the dictionary's own arrays (no copy of an id column's hundreds of MB).
                dictionarySum = try values.withFileBytes { try writeFile(path, pieces: $0) }
                if values.arena.count >= DictionaryFiles.minimumBytes {
                    written = .init(dictionary: values, path: "\(final)/c\(i).dict", checksum: dictionarySum)
                }
            }
            sum = sum &* 31 &+ dictionarySum
            dictionary = true
        }
        return (.init(name: column.name, type: column.type.rawValue, scale: column.spec.scale, file: "c\(i).bin",
                     validity: column.validity == nil ? nil : "c\(i).valid", dictionary: dictionary ? "c\(i).dict" : nil,
                     codeWidth: codeWidth, valueWidth: valueWidth, validityBits: column.validity == nil ? nil : true,
                     checksum: hex(sum)), written)
    }

    /// Writes `bytes` to a new file with write(2) (no intermediate `Data` copy); returns their checksum.
    ///
    /// A file of `uncachedWriteMinBytes` or more is written past the page cache (O_DIRECT), through an aligned
    /// 4 MiB buffer, checksummed while in cache. Artifacts are written every run and read again only when a stage
    /// is rerun alone; copying them into the page cache cost this machine 1.4 s of kernel time per GB (M: about
    /// 5 s a run for 2.6 GB of extract and clean artifacts), direct writes 0.4 s. Where the file system refuses
    /// (tmpfs), the file is written through the cache.
    private func writeFile(_ path: String, _ bytes: UnsafeRawBufferPointer) throws -> UInt64 {
        try writeFile(path, pieces: [bytes])
    }

    /// `writeFile` of the concatenation of `pieces`, without making it.
    private func writeFile(_ path: String, pieces: [UnsafeRawBufferPointer]) throws -> UInt64 {
        let total = pieces.reduce(0) { $0 + $1.count }
        if total >= uncachedWriteMinBytes, let sum = try writeUncached(path, pieces: pieces, total: total) { return sum }
        guard pieces.count == 1 else {
            // Through the cache (small files; tmpfs): one contiguous copy.
            var joined: [UInt8] = []
            joined.reserveCapacity(total)
            for p in pieces { joined.append(contentsOf: p) }
            return try joined.withUnsafeBytes { try writeFile(path, pieces: [$0]) }
        }
        let bytes = pieces[0]
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

    /// `writeFile` past the page cache; nil when the file system does not support it (nothing was written).
    private func writeUncached(_ path: String, pieces: [UnsafeRawBufferPointer], total: Int) throws -> UInt64? {
        let align = 4096, chunk = 4 << 20
        let fd = cvm_open_uncached(path, 0o644)
        if fd < 0 {
            if errno == EINVAL || errno == EOPNOTSUPP { return nil }
            throw ArtifactIOError(path: path, errno: errno)
        }
        var closed = false
        defer { if !closed { close(fd) } }
        guard let buffer = UnsafeMutableRawPointer(aligned: align, count: chunk) else { return nil }
        defer { free(buffer) }
        var hash = ArtifactChecksum(version: ArtifactChecksum.current, count: total)
        var sum: UInt64 = 0
        var done = 0
        // Where the next bytes come from: a piece and an offset in it.
        var at = (piece: 0, offset: 0)
        repeat {
            let n = min(chunk, total - done)
            var filled = 0
            while filled < n {
                let p = pieces[at.piece]
                let take = min(n - filled, p.count - at.offset)
                if take > 0 { (buffer + filled).copyMemory(from: p.baseAddress! + at.offset, byteCount: take) }
                filled += take
                at.offset += take
                if at.offset == p.count { at = (at.piece + 1, 0) }
            }
            let piece = UnsafeRawBufferPointer(start: buffer, count: n)
            if done + n == total { sum = hash.finish(piece) } else { hash.add(piece) }  // chunk is a multiple of the block
            // The last block is padded with zeros and the file cut back to its length.
            let padded = (n + align - 1) / align * align
            if padded > n { memset(buffer + n, 0, padded - n) }
            var written = 0
            while written < padded {
                let w = Glibc.write(fd, buffer + written, padded - written)
                if w < 0 {
                    if errno == EINTR { continue }
                    if errno == EINVAL && done == 0 && written == 0 { close(fd); closed = true; unlink(path); return nil }
                    throw ArtifactIOError(path: path, errno: errno)
                }
                // A short direct write leaves an unaligned offset the next write cannot use.
                if w % align != 0 && written + w < padded { throw ArtifactIOError(path: path, errno: EIO) }
                written += w
            }
            done += n
        } while done < total
        if ftruncate(fd, off_t(total)) != 0 { throw ArtifactIOError(path: path, errno: errno) }
        return sum
    }

    /// Validity bytes (0 or 1) as `[Bool]`, in one tight loop.
    private func flags(_ bytes: [UInt8]) -> [Bool] {
        guard !bytes.isEmpty else { return [] }  // see readArray: no empty `unsafeUninitializedCapacity`
        return bytes.withUnsafeBufferPointer { src in
            [Bool](unsafeUninitializedCapacity: src.count) { buf, count in
                for i in 0..<src.count { buf[i] = src[i] != 0 }
                count = src.count
            }
        }
    }

    /// The current checksum of a whole buffer (what `write` records).
    private func checksum(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        var c = ArtifactChecksum(version: ArtifactChecksum.current, count: raw.count)
        return c.finish(raw)
    }

    private func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// A stage's artifact folder while it is written in parts: clean writes its cleaned tables while it computes its
/// profiles and sessions, then the rest, then swaps the folder in (`ArtifactStore.beginWrite`, `write(_:into:)`,
/// `commit`). Its parts are written one after the other (the background writer's serial queue), never at once.
public final class StageWrite: @unchecked Sendable {
    let stage: String, asOf: CivilDate, runID: String, configHash: String
    let final: String, tmp: String
    /// The big dictionaries written so far, recorded for later stages' links at the commit.
    var dictionaries: [DictionaryFiles.Entry] = []
    var started = false
    /// The first part's failure: the stage's folder is not swapped in.
    var failure: CVMFailure?
    /// Set when the stage's data-quality checks failed (clean's budget, freshness): the folder is still swapped in,
    /// so its quarantine can be exported, but marked (`failedChecksFile`), and later stages refuse its tables.
    public var failedChecks: String?
    /// The stages whose outputs this stage was built from, with the run that wrote them (`inputsFile`).
    public var inputs: [String: String]?
    /// The config settings the stage's outputs were built with (`settingsFile`).
    public var settings: [String: String]?

    init(stage: String, asOf: CivilDate, runID: String, configHash: String, final: String, tmp: String) {
        (self.stage, self.asOf, self.runID, self.configHash, self.final, self.tmp) = (stage, asOf, runID, configHash, final, tmp)
    }
}

/// A stage's tables on their way to `ArtifactStore.write`, which takes each column out as its job starts: once
/// written, a column is freed unless a stage still holds it.
///
/// Extract's raw tables are written while clean runs, and clean frees each raw table as it gathers the kept rows;
/// with the tables held whole until the write ended, a raw table and its cleaned copy were in memory together
/// (why extract used to wait for its own write: about 2 s on M). Columns are written largest table first, so the
/// raw events are the first to go.
public final class ArtifactTables: @unchecked Sendable {
    public let names: [String]
    public let rowCounts: [Int]
    public let columnCounts: [Int]
    private let lock = NSLock()
    /// Guarded by `lock`; a column is nil once taken.
    private var columns: [[Column?]]

    public init(_ tables: [Table]) {
        names = tables.map(\.name)
        rowCounts = tables.map(\.rowCount)
        columnCounts = tables.map(\.columns.count)
        columns = tables.map { $0.columns.map { Optional($0) } }
    }

    /// Column `column` of table `table`, no longer held here; each is taken once.
    func take(table t: Int, column i: Int) -> Column {
        lock.withLock {
            guard let c = columns[t][i] else { preconditionFailure("artifact column \(names[t]).\(i) taken twice") }
            columns[t][i] = nil
            return c
        }
    }
}

/// A write(2) or open(2) failure on an artifact file.
struct ArtifactIOError: LocalizedError, CustomStringConvertible {
    var path: String
    var errno: Int32
    var description: String { "\(path): \(String(cString: strerror(errno)))" }
    var errorDescription: String? { description }
}

/// A fast 64-bit checksum of an artifact file; detects corruption, not tampering. Fed in pieces (whole
/// `block`s except the last), it gives the value of one call over the whole file.
///
/// - Version 1: one multiply-xorshift chain over 8-byte words, so every word waits for the previous multiply
///   (about 4 GB/s: on M it was 5% of the features stage's CPU time, reading its 680 MB of inputs).
/// - Version 2 (written since): four independent chains over the words of each 32-byte block, folded at the end;
///   the multiplies overlap, so it runs at memory speed. Artifacts of version 1 still read (the manifest says
///   which).
struct ArtifactChecksum {
    static let current = 2
    /// Non-final pieces are whole multiples of this.
    static let block = 32

    let version: Int
    private var lanes: (UInt64, UInt64, UInt64, UInt64)

    init(version: Int, count: Int) {
        self.version = version
        let seed = 0x9E37_79B9_7F4A_7C15 ^ UInt64(count)
        lanes = (seed, seed &+ 0x632B_E59B_D9B4_E019, seed &+ 0x8CB9_2BA7_2F3D_8DD7, seed &+ 0xD6E8_FEB8_6659_FD93)
    }

    @inline(__always) private static func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
        var h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 32
        return h
    }

    /// Adds whole blocks (`raw.count` a multiple of `block`).
    mutating func add(_ raw: UnsafeRawBufferPointer) {
        let blocks = raw.count / Self.block
        if version == 1 {
            var h = lanes.0
            for i in 0..<(blocks * 4) { h = Self.mix(h, raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
            lanes.0 = h
            return
        }
        var (a, b, c, d) = lanes
        for i in 0..<blocks {
            let o = i * 32
            a = Self.mix(a, raw.loadUnaligned(fromByteOffset: o, as: UInt64.self))
            b = Self.mix(b, raw.loadUnaligned(fromByteOffset: o + 8, as: UInt64.self))
            c = Self.mix(c, raw.loadUnaligned(fromByteOffset: o + 16, as: UInt64.self))
            d = Self.mix(d, raw.loadUnaligned(fromByteOffset: o + 24, as: UInt64.self))
        }
        lanes = (a, b, c, d)
    }

    /// Adds the last piece (any length) and returns the checksum.
    mutating func finish(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        let whole = raw.count / Self.block * Self.block
        add(UnsafeRawBufferPointer(rebasing: raw[0..<whole]))
        var h: UInt64
        var at = whole
        if version == 1 {
            h = lanes.0
        } else {
            h = Self.mix(Self.mix(Self.mix(lanes.0, lanes.1), lanes.2), lanes.3)
        }
        // Remaining whole words (version 1: the same chain), then bytes.
        while at + 8 <= raw.count {
            h = Self.mix(h, raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
            at += 8
        }
        while at < raw.count { h = (h ^ UInt64(raw[at])) &* 0x100_0000_01b3; at += 1 }
        return h
    }
}

extension UnsafeMutableRawPointer {
    /// `count` bytes aligned to `aligned` from posix_memalign (release with free), or nil.
    init?(aligned: Int, count: Int) {
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, aligned, count) == 0, let p else { return nil }
        self = p
    }
}

/// Replaced stage folders, deleted one at a time in the background (see `ArtifactStore.write`).
enum ArtifactRemovals {
    static let group = DispatchGroup()
    static let queue = DispatchQueue(label: "cvm.artifact-removals", qos: .utility)

    static func remove(_ path: String) {
        queue.async(group: group) { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// The fewest bytes that hold every value of an integer column, and the column at that width.
enum IntegerWidth {
    /// 1, 2, 4 or 8: the narrowest signed width holding every value of `values` (1 when empty).
    static func narrowest(_ values: [Int64]) -> Int {
        var lo: Int64 = 0, hi: Int64 = 0
        values.withUnsafeBufferPointer { v in
            for x in v { lo = min(lo, x); hi = max(hi, x) }
        }
        if lo >= Int64(Int8.min) && hi <= Int64(Int8.max) { return 1 }
        if lo >= Int64(Int16.min) && hi <= Int64(Int16.max) { return 2 }
        if lo >= Int64(Int32.min) && hi <= Int64(Int32.max) { return 4 }
        return 8
    }

    /// `values` as `T`s. - Precondition: every value fits `T` (`narrowest`).
    static func narrowed<T: FixedWidthInteger & SignedInteger>(_ values: [Int64], to: T.Type) -> [T] {
        guard !values.isEmpty else { return [] }  // no empty `unsafeUninitializedCapacity` (see readArray)
        return values.withUnsafeBufferPointer { src in
            [T](unsafeUninitializedCapacity: src.count) { buf, count in
                for i in 0..<src.count { buf[i] = T(truncatingIfNeeded: src[i]) }
                count = src.count
            }
        }
    }
}

/// A validity mask as a file of bits: row i is bit `i % 8` of byte `i / 8`, 1 when the row has a value.
/// Eight rows at a time: a `Bool` is one byte holding 0 or 1, so eight of them are one little-endian word.
enum ValidityBits {
    static func pack(_ valid: [Bool]) -> [UInt8] {
        let n = valid.count
        var bytes = [UInt8](repeating: 0, count: (n + 7) / 8)
        valid.withUnsafeBytes { v in
            bytes.withUnsafeMutableBufferPointer { out in
                for k in 0..<(n / 8) {
                    // Byte j of the word (0 or 1) lands on bit 56 + j of the product; no two terms meet.
                    let word = v.loadUnaligned(fromByteOffset: 8 &* k, as: UInt64.self)
                    out[k] = UInt8(truncatingIfNeeded: (word &* 0x0102_0408_1020_4080) >> 56)
                }
                for i in (n / 8 * 8)..<n where v[i] != 0 { out[i >> 3] |= 1 << UInt8(i & 7) }
            }
        }
        return bytes
    }

    /// Eight validity bytes per bit pattern.
    private static let spread: [UInt64] = (0..<256).map { b in
        (0..<8).reduce(UInt64(0)) { w, j in w | (UInt64((b >> j) & 1) << (8 * j)) }
    }

    /// The first `count` rows of `bytes`. - Precondition: `bytes.count == (count + 7) / 8`.
    static func unpack(_ bytes: [UInt8], count: Int) -> [Bool] {
        guard count > 0 else { return [] }  // no empty `unsafeUninitializedCapacity` (see readArray)
        return bytes.withUnsafeBufferPointer { b in
            spread.withUnsafeBufferPointer { spread in
                [Bool](unsafeUninitializedCapacity: count) { buf, n in
                    let raw = UnsafeMutableRawBufferPointer(buf)
                    for k in 0..<(count / 8) { raw.storeBytes(of: spread[Int(b[k])], toByteOffset: 8 &* k, as: UInt64.self) }
                    for i in (count / 8 * 8)..<count { buf[i] = b[i >> 3] & (1 << UInt8(i & 7)) != 0 }
                    n = count
                }
            }
        }
    }
}

/// The big dictionary files an `ArtifactStore` wrote in this process, by the dictionary they hold, so a later
/// stage's column that keeps the very same dictionary (`StringDictionary.sharesStorage`) links to the file
/// instead of writing its bytes again. Holds those dictionaries (which the tables sharing them hold anyway).
final class DictionaryFiles: @unchecked Sendable {
    struct Entry {
        let dictionary: StringDictionary
        let path: String
        let checksum: UInt64
    }

    /// Smaller dictionaries are written again: not worth a link, nor keeping.
    static let minimumBytes = 1 << 20

    private let lock = NSLock()
    /// Guarded by `lock`.
    private var entries: [Entry] = []

    func file(of dictionary: StringDictionary) -> Entry? {
        guard dictionary.arena.count >= Self.minimumBytes else { return nil }
        return lock.withLock { entries.last { $0.dictionary.sharesStorage(with: dictionary) } }
    }

    /// Records the dictionaries a stage's write put under `folder`, forgetting those of the folder it replaced.
    func record(_ written: [Entry], replacing folder: String) {
        lock.withLock {
            entries.removeAll { $0.path.hasPrefix(folder + "/") }
            entries += written
        }
    }
}

import CVMCore
import Foundation
import Pipeline
import TestSupport
import Testing

struct ArtifactStoreTests {
    func sample() -> Table {
        Table(name: "t", columns: [
            Column("id", strings: ["a", "b", nil, "a"]),
            Column("n", .int, int64: [1, -2, 3, Int64.max]),
            Column("price", .decimal, int64: [100, 250, 0, 1], scale: 2),
            Column("x", double: [0.5, .nan, -1e300, 2], validity: [true, true, false, true]),
            Column("d", .date, int64: [0, 20_000, -1, 5]),
        ])
    }

    @Test func tablesRoundTripBitForBit() throws {
        let store = ArtifactStore(root: try makeTemporaryDirectory("artifacts"))
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        try store.write([sample()], stage: "clean", asOf: asOf, runID: "r1", configHash: "h")
        let back = try store.read(stage: "clean", table: "t", asOf: asOf)
        #expect(back.columnNames == sample().columnNames)
        #expect(back["id"] == sample()["id"])
        #expect(back["n"] == sample()["n"])
        #expect(back["price"]?.spec.scale == 2)
        #expect(back["x"]?.doubleValues.map(\.bitPattern) == sample()["x"]?.doubleValues.map(\.bitPattern))
        #expect(back["x"]?.validity == [true, true, false, true])
        #expect(try store.manifest(stage: "clean", table: "t", asOf: asOf).runID == "r1")
        #expect(store.tableNames(stage: "clean", asOf: asOf) == ["t"])
    }

    /// The background writer lets each column go once it is written (`ArtifactTables`), so a stage that frees a
    /// table it handed over (clean, the raw tables) frees its memory then, not when the whole write ends.
    @Test func aHandedOverColumnIsLetGoOnceWritten() throws {
        let store = ArtifactStore(root: try makeTemporaryDirectory("artifacts"))
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        var values = (0..<10_000).map { Int64($0) }
        var column: Column? = Column("v", .int, int64: values)
        let handed = ArtifactTables([sample(), Table(name: "big", columns: [column!], rowCount: values.count)])
        column = nil
        #expect(handed.names == ["t", "big"] && handed.rowCounts == [4, 10_000] && handed.columnCounts == [5, 1])
        try store.write(handed, stage: "extract", asOf: asOf, runID: "r1", configHash: "h")
        // `handed` is still alive: were it holding the column, this write would copy the array.
        let before = values.withUnsafeBufferPointer { $0.baseAddress }
        values[0] = -1
        #expect(values.withUnsafeBufferPointer { $0.baseAddress } == before)
        values[0] = 0
        #expect(try store.read(stage: "extract", table: "big", asOf: asOf)["v"]?.int64Values == values)
        #expect(try store.read(stage: "extract", table: "t", asOf: asOf)["n"] == sample()["n"])
    }

    /// Clean writes its cleaned tables while it cuts the sessions: a stage written in parts replaces the stage's
    /// older folder only at its commit, with every part's tables; a discarded one leaves the older folder and
    /// nothing else behind.
    @Test func aStageWrittenInPartsAppearsWholeAtItsCommit() throws {
        let root = try makeTemporaryDirectory("artifacts")
        let store = ArtifactStore(root: root)
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        try store.write([sample()], stage: "s", asOf: asOf, runID: "r0", configHash: "h")
        let staged = store.beginWrite(stage: "s", asOf: asOf, runID: "r1", configHash: "h")
        try store.write(ArtifactTables([Table(name: "a", columns: [Column("v", .int, int64: [1, 2])])]), into: staged)
        #expect(store.tableNames(stage: "s", asOf: asOf) == ["t"])
        try store.write(ArtifactTables([Table(name: "b", columns: [Column("w", strings: ["x"])])]), into: staged, threads: 2)
        #expect(store.tableNames(stage: "s", asOf: asOf) == ["t"])
        try store.commit(staged)
        #expect(store.tableNames(stage: "s", asOf: asOf) == ["a", "b"])
        #expect(try store.read(stage: "s", table: "a", asOf: asOf)["v"]?.int64Values == [1, 2])
        #expect(try store.read(stage: "s", table: "b", asOf: asOf)["w"]?.string(at: 0) == "x")
        #expect(try store.manifest(stage: "s", table: "a", asOf: asOf).runID == "r1")

        let dropped = store.beginWrite(stage: "s", asOf: asOf, runID: "r2", configHash: "h")
        try store.write(ArtifactTables([Table(name: "c", columns: [Column("v", .int, int64: [3])])]), into: dropped)
        store.discard(dropped)
        #expect(throws: CVMFailure.self) { try store.commit(dropped) }
        #expect(store.tableNames(stage: "s", asOf: asOf) == ["a", "b"])
        ArtifactStore.waitForRemovals()
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(asOf)") == ["s"])
    }

    @Test func rewritingAStageReplacesItsTablesWhole() throws {
        let store = ArtifactStore(root: try makeTemporaryDirectory("artifacts"))
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        try store.write([sample(), Table(name: "old", columns: [Column("v", .int, int64: [1])])], stage: "s", asOf: asOf, runID: "r1", configHash: "h")
        try store.write([sample()], stage: "s", asOf: asOf, runID: "r2", configHash: "h")
        #expect(store.tableNames(stage: "s", asOf: asOf) == ["t"])
        #expect(try store.manifest(stage: "s", table: "t", asOf: asOf).runID == "r2")
    }

    /// The replaced folder, and folders a dead run left behind, are deleted in the background; nothing is left
    /// once `waitForRemovals` returns, and the new outputs were in place before.
    @Test func replacedFoldersAreRemovedInTheBackground() throws {
        let root = try makeTemporaryDirectory("artifacts")
        let store = ArtifactStore(root: root)
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        let day = "\(root)/2026-06-30"
        try FileManager.default.createDirectory(atPath: "\(day)/s.old-dead/t", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(day)/s.tmp-dead/t", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(day)/other.old-keep", withIntermediateDirectories: true)
        for run in ["r1", "r1", "r2"] {
            try store.write([sample()], stage: "s", asOf: asOf, runID: run, configHash: "h")
            let back = try store.read(stage: "s", table: "t", asOf: asOf)
            #expect(back["id"] == sample()["id"] && back["n"] == sample()["n"])
            #expect(try store.manifest(stage: "s", table: "t", asOf: asOf).runID == run)
        }
        ArtifactStore.waitForRemovals()
        #expect(try FileManager.default.contentsOfDirectory(atPath: day).sorted() == ["other.old-keep", "s"])
    }

    @Test func detectsCorruptionAndMissingTablesWithExit66() throws {
        let root = try makeTemporaryDirectory("artifacts")
        let store = ArtifactStore(root: root)
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        try store.write([sample()], stage: "clean", asOf: asOf, runID: "r1", configHash: "h")
        let file = "\(root)/2026-06-30/clean/t/c1.bin"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[0] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: file))
        #expect(throws: CVMFailure.self) { try store.read(stage: "clean", table: "t", asOf: asOf) }
        do {
            _ = try store.read(stage: "features", table: "customer_features", asOf: asOf)
        } catch let e as CVMFailure {
            #expect(e.exitStatus == .noInput)
            #expect(e.message.contains("run that stage first (cvm run with --until features or --from features)"))
        }
    }

    /// The version-1 checksum as artifacts written before checksum version 2 carry it: one multiply-xorshift
    /// chain over 8-byte words, then the trailing bytes (an oracle written from its definition).
    func versionOneChecksum(_ bytes: [UInt8]) -> UInt64 {
        var h = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var i = 0
        while i + 8 <= bytes.count {
            var w: UInt64 = 0
            for k in 0..<8 { w |= UInt64(bytes[i + k]) << (8 * k) }
            h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        while i < bytes.count { h = (h ^ UInt64(bytes[i])) &* 0x100_0000_01b3; i += 1 }
        return h
    }

    /// Artifacts from before checksum version 2 (no `checksumVersion` in the manifest) still read and verify;
    /// a version this cvm does not know is refused with exit 66.
    @Test func versionOneArtifactsStillRead() throws {
        let root = try makeTemporaryDirectory("artifacts-v1")
        let store = ArtifactStore(root: root)
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        let n = 300_000  // columns larger than one 1 MiB read step
        let t = Table(name: "v1", columns: [
            Column("k", .int, int64: (0..<n).map { Int64($0) &* 0x9E37_79B9 }),
            Column("s", strings: (0..<n).map { $0 % 13 == 0 ? nil : "v\($0 % 5000)" }),
            Column("tiny", .int, int64: (0..<n).map { Int64($0 % 3) }),
        ])
        try store.write([t], stage: "clean", asOf: asOf, runID: "r1", configHash: "h")
        let dir = "\(root)/2026-06-30/clean/v1"
        var m = try store.manifest(stage: "clean", table: "v1", asOf: asOf)
        #expect(m.checksumVersion == 2)
        try resum(&m, dir: dir)
        try JSONEncoder().encode(m).write(to: URL(fileURLWithPath: "\(dir)/manifest.json"))
        #expect(try store.read(stage: "clean", table: "v1", asOf: asOf, threads: 2) == t)
        m.checksumVersion = 3
        try JSONEncoder().encode(m).write(to: URL(fileURLWithPath: "\(dir)/manifest.json"))
        do {
            _ = try store.read(stage: "clean", table: "v1", asOf: asOf)
            Issue.record("an unknown checksum version was accepted")
        } catch let e as CVMFailure {
            #expect(e.exitStatus == .noInput)
            #expect(e.message.contains("newer than this cvm knows"))
        }
    }

    /// String codes are written at their column's width (manifest `codeWidth`, absent for 4 bytes) and read back
    /// equal; artifacts of 4-byte codes without `codeWidth` (written before narrow codes) still read; a width that
    /// is not 1, 2 or 4, or too narrow for the dictionary, is refused with exit 66.
    @Test func codesAreWrittenAtTheirWidth() throws {
        let root = try makeTemporaryDirectory("artifacts-width")
        let store = ArtifactStore(root: root)
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        let n = 300_000
        let t = Table(name: "w", columns: [
            Column("few", strings: (0..<n).map { $0 % 9 == 0 ? nil : "f\($0 % 200)" }),
            Column("some", strings: (0..<n).map { "s\($0 % 3_000)" }),
            Column("many", strings: (0..<n).map { "m\($0 % 100_000)" }),
        ])
        try store.write([t], stage: "clean", asOf: asOf, runID: "r1", configHash: "h", threads: 2)
        let dir = "\(root)/2026-06-30/clean/w"
        var m = try store.manifest(stage: "clean", table: "w", asOf: asOf)
        #expect(m.columns.map(\.codeWidth) == [1, 2, nil])
        let size = { (f: String) in (try FileManager.default.attributesOfItem(atPath: "\(dir)/\(f)")[.size] as? Int) ?? -1 }
        #expect(try m.columns.map { try size($0.file) } == [n, 2 * n, 4 * n])
        let back = try store.read(stage: "clean", table: "w", asOf: asOf, threads: 2)
        #expect(back == t)
        #expect(back["few"]?.stringCodes.width == .one && back["some"]?.stringCodes.width == .two)

        // The same table as written before narrow codes: 4-byte files and no `codeWidth`.
        for (k, entry) in m.columns.enumerated() where entry.codeWidth != nil {
            try Array(t.columns[k].stringCodes).withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: "\(dir)/\(entry.file)"))
            m.columns[k].codeWidth = nil
        }
        try resum(&m, dir: dir)
        try JSONEncoder().encode(m).write(to: URL(fileURLWithPath: "\(dir)/manifest.json"))
        let legacy = try store.read(stage: "clean", table: "w", asOf: asOf)
        #expect(legacy == t)
        #expect(legacy["few"]?.stringCodes.width == .four)

        for (width, message) in [(3, "not 1, 2 or 4"), (1, "do not fit codes of 1 bytes")] {
            try store.write([t], stage: "clean", asOf: asOf, runID: "r1", configHash: "h")
            var bad = try store.manifest(stage: "clean", table: "w", asOf: asOf)
            bad.columns[1].codeWidth = width
            if width == 1 {
                // A file of one byte a code for the 3,000-value column.
                try Data(Array(t.columns[1].stringCodes).map { UInt8(truncatingIfNeeded: $0) })
                    .write(to: URL(fileURLWithPath: "\(dir)/\(bad.columns[1].file)"))
            }
            try resum(&bad, dir: dir)
            try expectRefused(store, bad, dir: dir, asOf: asOf, saying: message)
        }
    }

    /// Integers are written at the fewest bytes that hold them (manifest `valueWidth`, absent for 8) and validity
    /// masks as bits (`validityBits`), at each width's edges; both read back equal, and artifacts written before
    /// (8-byte integers, a byte of validity a row, neither field) still read.
    @Test func integersAndValidityAreWrittenNarrow() throws {
        let root = try makeTemporaryDirectory("artifacts-ints")
        let store = ArtifactStore(root: root)
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        let n = 100_003  // not a multiple of 8: the last validity byte is partial
        func spread(_ lo: Int64, _ hi: Int64) -> [Int64] { (0..<n).map { i in i == 0 ? lo : i == 1 ? hi : lo + Int64(i) % (hi - lo) } }
        let valid = (0..<n).map { $0 % 7 != 3 && $0 != n - 1 }
        let t = Table(name: "i", columns: [
            Column("i8", .int, int64: spread(-128, 127), validity: valid),
            Column("i16", .int, int64: spread(-32_768, 32_767)),
            Column("i32", .date, int64: spread(Int64(Int32.min), Int64(Int32.max))),
            Column("i64", .timestamp, int64: spread(-1, Int64(Int32.max) + 1)),
            Column("cents", .decimal, int64: spread(0, 128), scale: 2),
        ])
        try store.write([t], stage: "clean", asOf: asOf, runID: "r1", configHash: "h", threads: 2)
        let dir = "\(root)/2026-06-30/clean/i"
        var m = try store.manifest(stage: "clean", table: "i", asOf: asOf)
        #expect(m.columns.map(\.valueWidth) == [1, 2, 4, nil, 2])
        #expect(m.columns.map(\.validityBits) == [true, nil, nil, nil, nil])
        let size = { (f: String) in (try FileManager.default.attributesOfItem(atPath: "\(dir)/\(f)")[.size] as? Int) ?? -1 }
        #expect(try m.columns.map { try size($0.file) } == [n, 2 * n, 4 * n, 8 * n, 2 * n])
        #expect(try size(m.columns[0].validity!) == (n + 7) / 8)
        // Row i is bit i % 8 of byte i / 8.
        let bits = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(m.columns[0].validity!)")))
        #expect(bits == (0..<(n + 7) / 8).map { k in
            (0..<8).reduce(UInt8(0)) { b, j in 8 * k + j < n && valid[8 * k + j] ? b | UInt8(1) << UInt8(j) : b }
        })
        #expect(try store.read(stage: "clean", table: "i", asOf: asOf, threads: 2) == t)

        // As written before: 8-byte integers, one validity byte a row, no `valueWidth` or `validityBits`.
        for (k, entry) in m.columns.enumerated() {
            try t.columns[k].int64Values.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: "\(dir)/\(entry.file)"))
            if let v = entry.validity {
                try Data(t.columns[k].validity!.map { $0 ? 1 : 0 }).write(to: URL(fileURLWithPath: "\(dir)/\(v)"))
            }
            m.columns[k].valueWidth = nil
            m.columns[k].validityBits = nil
        }
        try resum(&m, dir: dir)
        try JSONEncoder().encode(m).write(to: URL(fileURLWithPath: "\(dir)/manifest.json"))
        #expect(try store.read(stage: "clean", table: "i", asOf: asOf) == t)

        // A width the format does not have, or bits that do not cover the rows, are refused with exit 66.
        for (edit, message) in [({ (m: inout ArtifactStore.Manifest) in m.columns[1].valueWidth = 3 }, "value width 3"),
                                ({ (m: inout ArtifactStore.Manifest) in m.columns[0].validityBits = true }, "bytes of validity bits")] {
            var bad = m
            edit(&bad)
            try expectRefused(store, bad, dir: dir, asOf: asOf, saying: message)
        }
    }

    /// A later stage's column that keeps an earlier stage's very dictionary (clean keeps extract's) gets a hard link
    /// to that dictionary's file, not a second copy; it reads back equal, and still does once the earlier stage's
    /// folder is replaced. An equal dictionary that is not the same one, and a small one, are written again.
    @Test func aKeptDictionaryIsLinkedNotWrittenAgain() throws {
        let root = try makeTemporaryDirectory("artifacts-link")
        let store = ArtifactStore(root: root)
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        let n = 120_000  // about 1.8 MB of ids: past DictionaryFiles.minimumBytes
        let raw = Table(name: "raw", columns: [
            Column("id", strings: (0..<n).map { "event-\($0)" }),
            Column("kind", strings: (0..<n).map { ["a", "b"][$0 % 2] }),
        ])
        try store.write([raw], stage: "extract", asOf: asOf, runID: "r1", configHash: "h")
        let kept = Table(name: "kept", columns: raw.gathering(Array(stride(from: 0, to: n, by: 3))).columns)
        let copied = Table(name: "copied", columns: [Column("id", strings: (0..<n).map { "event-\($0)" })])
        try store.write([kept, copied], stage: "clean", asOf: asOf, runID: "r1", configHash: "h")
        func inode(_ path: String) -> (ino: UInt, links: UInt) {
            var st = stat()
            return stat(path, &st) == 0 ? (UInt(st.st_ino), UInt(st.st_nlink)) : (0, 0)
        }
        let day = "\(root)/2026-06-30"
        let first = inode("\(day)/extract/raw/c0.dict"), linked = inode("\(day)/clean/kept/c0.dict")
        #expect(first.ino != 0 && linked.ino == first.ino && linked.links == 2)
        #expect(inode("\(day)/clean/copied/c0.dict").ino != first.ino)
        #expect(inode("\(day)/clean/kept/c1.dict").ino != inode("\(day)/extract/raw/c1.dict").ino)
        #expect(try store.read(stage: "clean", table: "kept", asOf: asOf) == kept)
        #expect(try store.read(stage: "clean", table: "copied", asOf: asOf) == copied)
        // Extract rewritten: its old folder goes, clean's link stays whole.
        try store.write([Table(name: "raw", columns: [Column("v", .int, int64: [1])])], stage: "extract", asOf: asOf, runID: "r2", configHash: "h")
        ArtifactStore.waitForRemovals()
        #expect(inode("\(day)/clean/kept/c0.dict").links == 1)
        #expect(try store.read(stage: "clean", table: "kept", asOf: asOf) == kept)
        // A stage rewritten with another dictionary at the same path: the replaced file's dictionary is forgotten,
        // so a later column keeping it gets its own file, not a link to the new one (its checksum would not match).
        let other = Table(name: "raw", columns: [Column("id", strings: (0..<n).map { "other-\($0)" })])
        try store.write([raw], stage: "extract", asOf: asOf, runID: "r3", configHash: "h")
        try store.write([other], stage: "extract", asOf: asOf, runID: "r4", configHash: "h")
        try store.write([kept], stage: "clean", asOf: asOf, runID: "r4", configHash: "h")
        #expect(inode("\(day)/clean/kept/c0.dict").ino != inode("\(day)/extract/raw/c0.dict").ino)
        #expect(try store.read(stage: "clean", table: "kept", asOf: asOf) == kept)
    }

    /// Writes `manifest` into `dir` and expects reading its table from stage clean to fail with exit 66 and `message`.
    func expectRefused(_ store: ArtifactStore, _ manifest: ArtifactStore.Manifest, dir: String, asOf: CivilDate,
                       saying message: String) throws {
        try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: "\(dir)/manifest.json"))
        do {
            _ = try store.read(stage: "clean", table: manifest.table, asOf: asOf)
            Issue.record("\(message): accepted")
        } catch let e as CVMFailure {
            #expect(e.exitStatus == .noInput)
            #expect(e.message.contains(message), "\(e.message)")
        }
    }

    /// A manifest's checksums recomputed from the files in `dir` as they are now (version 1, the oracle above), so
    /// a test can edit an artifact's files and manifest.
    func resum(_ m: inout ArtifactStore.Manifest, dir: String) throws {
        func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)"))) }
        for (k, entry) in m.columns.enumerated() {
            var sum = versionOneChecksum(try bytes(entry.file))
            if let v = entry.validity { sum = sum &* 31 &+ versionOneChecksum(try bytes(v)) }
            if let d = entry.dictionary { sum = sum &* 31 &+ versionOneChecksum(try bytes(d)) }
            let hex = String(sum, radix: 16)
            m.columns[k].checksum = String(repeating: "0", count: 16 - hex.count) + hex
        }
        m.checksumVersion = nil
    }

    /// Several 1 MiB writes (the export streams) give exactly the text of `csvText`.
    @Test func streamedExportEqualsTheWholeText() throws {
        let n = 60_000
        let t = Table(name: "q", columns: [
            Column("a", strings: (0..<n).map { $0 % 7 == 0 ? nil : $0 % 5 == 0 ? "x,\($0)" : $0 % 3 == 0 ? "say \"\($0)\"" : "plain\($0)" }),
            Column("n", .int, int64: (0..<n).map { Int64($0) * 1_000_003 }),
            Column("p", .decimal, int64: (0..<n).map { Int64($0 % 1000) - 500 }, scale: 2),
        ])
        let dir = try makeTemporaryDirectory("export")
        let path = "\(dir)/q.csv"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try writeCSV(t, limit: nil, to: fd, path: path)
        close(fd)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        #expect(written.utf8.count > 1 << 20)
        #expect(written == csvText(t))
    }

    /// Columns larger than one 1 MiB read step come back intact and pass their checksums.
    @Test func largeColumnsRoundTripThroughChunkedReads() throws {
        let n = 400_000
        let t = Table(name: "big", columns: [
            Column("k", .int, int64: (0..<n).map { Int64($0) &* 0x9E37_79B9 }),
            Column("d", double: (0..<n).map { Double($0) / 7 }, validity: (0..<n).map { $0 % 11 != 0 }),
            Column("s", strings: (0..<n).map { $0 % 13 == 0 ? nil : "v\($0 % 5000)" }),
        ])
        let store = ArtifactStore(root: try makeTemporaryDirectory("big-artifacts"))
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        try store.write([t], stage: "clean", asOf: asOf, runID: "r1", configHash: "h", threads: 2)
        for threads in [1, 2] {
            let back = try store.read(stage: "clean", table: "big", asOf: asOf, threads: threads)
            #expect(back == t)
            let some = try store.read(stage: "clean", table: "big", asOf: asOf, columns: ["s"], threads: threads)
            #expect(some.columnNames == ["s"])
            #expect(some["s"] == t["s"])
        }
    }

    /// Files written past the page cache (whole 4 KiB blocks, the last padded then cut back) hold exactly the bytes
    /// and checksums of files written through it, for lengths around the block and 4 MiB chunk edges.
    @Test func uncachedWritesEqualCachedOnes() throws {
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        for n in [0, 1, 511, 512, 513, 524_288, 524_289, 1_000_003] {
            let t = Table(name: "t\(n)", columns: [
                Column("k", .int, int64: (0..<n).map { Int64($0) &* 0x9E37_79B9 }),
                Column("s", strings: (0..<n).map { $0 % 7 == 0 ? nil : "value-\($0 % 40_000)" }),
            ])
            let direct = ArtifactStore(root: try makeTemporaryDirectory("direct"), uncachedWriteMinBytes: 0)
            let cached = ArtifactStore(root: try makeTemporaryDirectory("cached"), uncachedWriteMinBytes: .max)
            for store in [direct, cached] { try store.write([t], stage: "clean", asOf: asOf, runID: "r", configHash: "h", threads: 2) }
            let a = try direct.manifest(stage: "clean", table: t.name, asOf: asOf)
            let b = try cached.manifest(stage: "clean", table: t.name, asOf: asOf)
            #expect(a.columns == b.columns)
            for file in ["c0.bin", "c1.bin", "c1.dict"] + (n > 0 ? ["c1.valid"] : []) {
                let path = { (store: ArtifactStore) in "\(store.stageDirectory(asOf: asOf, stage: "clean"))/\(t.name)/\(file)" }
                let size = { (p: String) in (try FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? -1 }
                #expect(try size(path(direct)) == size(path(cached)), "\(file) of \(n) rows")
                // Not through Data(contentsOf:) when empty: FoundationEssentials leaks its buffer for an empty file
                // (LeakSanitizer, `make sanitize`).
                guard try size(path(direct)) > 0 else { continue }
                let x = try Data(contentsOf: URL(fileURLWithPath: path(direct)))
                #expect(x == (try Data(contentsOf: URL(fileURLWithPath: path(cached)))), "\(file) of \(n) rows")
            }
            #expect(try direct.read(stage: "clean", table: t.name, asOf: asOf) == t)
        }
    }

    @Test func exportsCSVWithQuoting() {
        let t = Table(name: "q", columns: [Column("a", strings: ["x,y", "say \"hi\"", nil]), Column("n", .int, int64: [1, 2, 3])])
        #expect(csvText(t) == "a,n\n\"x,y\",1\n\"say \"\"hi\"\"\",2\n,3\n")
    }
}

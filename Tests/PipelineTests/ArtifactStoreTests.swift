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

    @Test func rewritingAStageReplacesItsTablesWhole() throws {
        let store = ArtifactStore(root: try makeTemporaryDirectory("artifacts"))
        let asOf = CivilDate(year: 2026, month: 6, day: 30)
        try store.write([sample(), Table(name: "old", columns: [Column("v", .int, int64: [1])])], stage: "s", asOf: asOf, runID: "r1", configHash: "h")
        try store.write([sample()], stage: "s", asOf: asOf, runID: "r2", configHash: "h")
        #expect(store.tableNames(stage: "s", asOf: asOf) == ["t"])
        #expect(try store.manifest(stage: "s", table: "t", asOf: asOf).runID == "r2")
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
            #expect(e.message.contains("cvm run CONFIG --until features"))
        }
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

    @Test func exportsCSVWithQuoting() {
        let t = Table(name: "q", columns: [Column("a", strings: ["x,y", "say \"hi\"", nil]), Column("n", .int, int64: [1, 2, 3])])
        #expect(csvText(t) == "a,n\n\"x,y\",1\n\"say \"\"hi\"\"\",2\n,3\n")
    }
}

import CVMCore
import Foundation
import TestSupport
import Testing
import Warehouse
import Synchronization

func snapshotTable(_ name: String = "customer_value", rows: Int, offset: Int64 = 0) -> Table {
    Table(name: name, columns: [
        Column("customer_id", strings: (0..<rows).map { "C\($0)" }),
        Column("score", .int, int64: (0..<rows).map { Int64($0) + offset }),
        Column("price", .decimal, int64: (0..<rows).map { Int64($0) * 101 }, scale: 2),
        Column("ratio", double: (0..<rows).map { Double($0) / 3 }, validity: (0..<rows).map { $0 % 4 != 0 }),
        Column("day", .date, int64: (0..<rows).map { 20_000 + Int64($0) }),
        Column("at", .timestamp, int64: (0..<rows).map { Int64($0) * 1_000_000 }),
        Column("email", strings: (0..<rows).map { "user\($0)@example.com" }),
    ])
}

func dump(_ path: String, _ sql: String) throws -> [String] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sqlite3", path, sql]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
}

struct WarehouseTests {
    let d1 = CivilDate(year: 2026, month: 6, day: 29), d2 = CivilDate(year: 2026, month: 6, day: 30)

    @Test func createsTheLedgerAndRoundTripsRuns() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        let run = RunRecord(runID: "r1", pipeline: "demo", configHash: "abc", asOf: d2, startedAt: "2026-07-01T02:00:00Z",
                            endedAt: nil, status: "running", exitCode: nil, threads: 2, message: nil)
        try w.recordRunStart(run)
        try w.recordStage(StageRecord(runID: "r1", stage: "extract", status: "succeeded", startedAt: "2026-07-01T02:00:00Z",
                                      durationSeconds: 1.5, rowsIn: 10, rowsOut: 9, rowsRejected: 1, message: nil))
        try w.recordRunEnd(runID: "r1", endedAt: "2026-07-01T02:01:00Z", status: "succeeded", exitCode: 0, message: nil)
        let runs = try w.runs(limit: 10)
        #expect(runs.count == 1)
        #expect(runs[0].status == "succeeded")
        #expect(runs[0].asOf == d2)
        #expect(try w.stages(runID: "r1").map(\.rowsRejected) == [1])
        try w.close()
    }

    /// The customer index exists, is consistent and answers look-ups after loads of rows in and out of customer
    /// order, into a new table and beside other snapshots (kept, or dropped and rebuilt when the new rows outnumber
    /// the others).
    @Test func theCustomerIndexHoldsForRowsInAndOutOfOrder() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        // In byte order with a null first and repeated ids; "C10" < "C2" in bytes, so the second table is not.
        let ordered = Table(name: "fact_session", columns: [
            Column("customer_id", strings: [nil, "C1", "C1", "C10", "C2", "C2", "Cz"]),
            Column("n", .int, int64: [0, 1, 2, 3, 4, 5, 6]),
        ])
        let unordered = Table(name: "fact_session", columns: [
            Column("customer_id", strings: ["C2", "C10", nil, "C1"]),
            Column("n", .int, int64: [7, 8, 9, 10]),
        ])
        for (day, table) in [(d1, ordered), (d2, unordered), (d2, ordered), (d1, unordered)] {
            _ = try w.loadSnapshot(asOf: day, runID: "r", tables: [table], options: LoadOptions())
            #expect(try dump(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'fact_session'") == ["ix_fact_session_customer"])
            #expect(try dump(path, "PRAGMA integrity_check") == ["ok"])
        }
        #expect(try dump(path, "SELECT n FROM fact_session INDEXED BY ix_fact_session_customer WHERE as_of = '2026-06-30' AND customer_id = 'C2' ORDER BY n") == ["4", "5"])
        #expect(try dump(path, "SELECT COUNT(*) FROM fact_session WHERE as_of = '2026-06-29'") == ["4"])
        try w.close()
    }

    @Test func rowsAreStoredInCustomerOrderKeepingTheirOrderWithinACustomer() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        // Byte order, not number order: "C10" < "C2"; a null id first; n is the original row.
        let ids: [String?] = ["C2", "C10", nil, "C1", "C2", "C10", "C1", nil, "C2"]
        let orders = Table(name: "fact_order_line", columns: [
            Column("customer_id", strings: ids), Column("n", .int, int64: (0..<9).map(Int64.init)),
        ])
        // An integer id sorts by value; a pseudonymised id by the stored pseudonym.
        let points = Table(name: "points", columns: [
            Column("customer_id", .int, int64: [30, 2, 30, 0, 2, 100], validity: [true, true, true, false, true, true]),
            Column("n", .int, int64: (0..<6).map(Int64.init)),
        ])
        let people = Table(name: "people", columns: [
            Column("customer_id", strings: ["b", "a", "c", "a"]), Column("n", .int, int64: [0, 1, 2, 3]),
        ])
        var options = LoadOptions()
        options.pseudonymize = ["customer_id"]
        options.key = "k"
        options.threads = 2
        _ = try w.loadSnapshot(asOf: d2, runID: "r", tables: [orders, points], options: LoadOptions())
        _ = try w.loadSnapshot(asOf: d2, runID: "r", tables: [people], options: options)
        try w.close()
        #expect(try dump(path, "SELECT n FROM fact_order_line ORDER BY rowid") == ["2", "7", "3", "6", "1", "5", "0", "4", "8"])
        #expect(try dump(path, "SELECT n FROM points ORDER BY rowid") == ["3", "1", "4", "0", "2", "5"])
        let byPseudonym = [("b", 0), ("a", 1), ("c", 2), ("a", 3)]
            .sorted { (Warehouse.pseudonymValue($0.0, key: "k"), $0.1) < (Warehouse.pseudonymValue($1.0, key: "k"), $1.1) }
        #expect(try dump(path, "SELECT n FROM people ORDER BY rowid") == byPseudonym.map { "\($0.1)" })
        // Rows already in order are stored as they come.
        let sortedAlready = Table(name: "fact_session", columns: [
            Column("customer_id", strings: [nil, "A", "A", "B"]), Column("n", .int, int64: [0, 1, 2, 3]),
        ])
        let w2 = try Warehouse(path: path)
        _ = try w2.loadSnapshot(asOf: d2, runID: "r", tables: [sortedAlready], options: LoadOptions())
        try w2.close()
        #expect(try dump(path, "SELECT n FROM fact_session ORDER BY rowid") == ["0", "1", "2", "3"])
    }

    @Test func sourceFilePathsAreStoredOnceAndRowsCarryTheirKey() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        func lines(_ files: [String?]) -> Table {
            Table(name: "fact_order_line", columns: [
                Column("customer_id", strings: files.indices.map { "C\($0)" }),
                Column("_file", strings: files), Column("_line", .int, int64: files.indices.map { Int64($0) + 2 }),
            ])
        }
        _ = try w.loadSnapshot(asOf: d1, runID: "r1", tables: [lines(["/in/b.csv.gz", "/in/a.csv.gz", "/in/b.csv.gz"])], options: LoadOptions())
        // A later snapshot reuses the keys of known paths and adds new ones; a row without a file keeps a null.
        _ = try w.loadSnapshot(asOf: d2, runID: "r2", tables: [lines(["/in/a.csv.gz", "/in/c.csv.gz", nil])], options: LoadOptions())
        try w.close()
        #expect(try dump(path, "SELECT _file_id, path FROM cvm_files ORDER BY _file_id") == ["1|/in/b.csv.gz", "2|/in/a.csv.gz", "3|/in/c.csv.gz"])
        #expect(try dump(path, "SELECT as_of, customer_id, ifnull(path, '-'), _line FROM fact_order_line LEFT JOIN cvm_files USING (_file_id) ORDER BY as_of, customer_id") == [
            "2026-06-29|C0|/in/b.csv.gz|2", "2026-06-29|C1|/in/a.csv.gz|3", "2026-06-29|C2|/in/b.csv.gz|4",
            "2026-06-30|C0|/in/a.csv.gz|2", "2026-06-30|C1|/in/c.csv.gz|3", "2026-06-30|C2|-|4",
        ])
        #expect(try dump(path, "SELECT COUNT(*) FROM pragma_table_info('fact_order_line') WHERE name = '_file'") == ["0"])
    }

    @Test func reloadingAnAsOfReplacesOnlyThatSnapshot() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        _ = try w.loadSnapshot(asOf: d1, runID: "r1", tables: [snapshotTable(rows: 5)], options: LoadOptions())
        _ = try w.loadSnapshot(asOf: d2, runID: "r2", tables: [snapshotTable(rows: 7)], options: LoadOptions())
        let first = try dump(path, "SELECT * FROM customer_value WHERE as_of = '2026-06-30' ORDER BY customer_id")
        _ = try w.loadSnapshot(asOf: d2, runID: "r2", tables: [snapshotTable(rows: 7)], options: LoadOptions())
        #expect(try dump(path, "SELECT * FROM customer_value WHERE as_of = '2026-06-30' ORDER BY customer_id") == first)
        _ = try w.loadSnapshot(asOf: d2, runID: "r3", tables: [snapshotTable(rows: 3, offset: 100)], options: LoadOptions())
        #expect(try w.snapshotRowCounts(asOf: d1) == ["customer_value": 5])
        #expect(try w.snapshotRowCounts(asOf: d2) == ["customer_value": 3])
        #expect(try dump(path, "SELECT MIN(score) FROM customer_value WHERE as_of = '2026-06-30'") == ["100"])
        try w.close()
    }

    @Test func typesAreReadableByAnalysts() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        var options = LoadOptions()
        options.pseudonymize = ["email"]
        options.key = "s3cret"
        _ = try w.loadSnapshot(asOf: d2, runID: "r1", tables: [snapshotTable(rows: 2)], options: options)
        try w.close()
        let rows = try dump(path, "SELECT as_of, run_id, customer_id, score, price, ratio IS NULL, day, at, email FROM customer_value ORDER BY customer_id")
        #expect(rows[0].hasPrefix("2026-06-30|r1|C0|0|0.0|1|2024-10-04|1970-01-01T00:00:00Z|"))
        #expect(rows[1].hasPrefix("2026-06-30|r1|C1|1|1.01|0|2024-10-05|1970-01-01T00:00:01Z|"))
        #expect(!rows.joined().contains("@example.com"))
        // HMAC-SHA256 under the key (Python: hmac.new(b"s3cret", b"user0@example.com", sha256).hexdigest()).
        #expect(rows[0].hasSuffix("|3ce2e59e5c4f736f2fe457722e97919638f8436b098d574f7b329b2783049a00"))
        #expect(Warehouse.pseudonymValue("user0@example.com", key: "other") != Warehouse.pseudonymValue("user0@example.com", key: "s3cret"))
        // The warehouse file is readable by its owner only.
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func tablesGainColumnsThatLaterRunsAdd() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        let narrow = Table(name: "customer_features", columns: [Column("customer_id", strings: ["A"]), Column("f1", double: [1])])
        let wide = Table(name: "customer_features", columns: [Column("customer_id", strings: ["A"]), Column("f1", double: [2]), Column("f2", double: [3])])
        _ = try w.loadSnapshot(asOf: d1, runID: "r1", tables: [narrow], options: LoadOptions())
        _ = try w.loadSnapshot(asOf: d2, runID: "r2", tables: [wide], options: LoadOptions())
        #expect(try dump(path, "SELECT as_of, f1, f2 FROM customer_features ORDER BY as_of") == ["2026-06-29|1.0|", "2026-06-30|2.0|3.0"])
    }

    @Test func hostileNamesAreRefusedAndNothingIsInjected() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        _ = try w.loadSnapshot(asOf: d1, runID: "r1", tables: [snapshotTable("quarantine", rows: 2)], options: LoadOptions())
        let evil = Table(name: "x\"; DROP TABLE quarantine; --", columns: [Column("a", .int, int64: [1])])
        #expect(throws: CVMFailure.self) { try w.loadSnapshot(asOf: d1, runID: "r2", tables: [evil], options: LoadOptions()) }
        let evilColumn = Table(name: "ok", columns: [Column("a\" TEXT); DROP TABLE quarantine; --", .int, int64: [1])])
        #expect(throws: CVMFailure.self) { try w.loadSnapshot(asOf: d1, runID: "r2", tables: [evilColumn], options: LoadOptions()) }
        #expect(try w.snapshotRowCounts(asOf: d1)["quarantine"] == 2)
    }

    @Test func readersKeepSeeingTheOldSnapshotWhileALoadIsOpen() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        _ = try w.loadSnapshot(asOf: d2, runID: "r1", tables: [snapshotTable(rows: 4), snapshotTable("other", rows: 4)], options: LoadOptions())
        var options = LoadOptions()
        options.pauseInsideTransaction = 8
        options.exclusive = false  // `load.exclusive: false`: WAL for the whole load
        let done = Mutex(false)
        let inside = Mutex(false)
        // The writer runs on its own thread, not the test runner's shared pool, which other suites keep busy.
        let day = d2, held = options
        let writer = Thread {
            defer { done.withLock { $0 = true } }
            inside.withLock { $0 = true }
            _ = try? w.loadSnapshot(asOf: day, runID: "r2", tables: [snapshotTable(rows: 9), snapshotTable("other", rows: 9)], options: held)
        }
        writer.start()
        // Wait until the writer holds its transaction: the new rows of the first table exist only inside it.
        while !inside.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 1.5)
        let seen = try dump(path, "SELECT COUNT(*) FROM customer_value")
        let finished = done.withLock { $0 }
        // A second connection (WAL) sees the committed snapshot only, never the half-loaded one.
        #expect(finished || seen == ["4"], "reader saw \(seen) while the load was open")
        #expect(!finished, "the load finished before the reader looked; the test proved nothing")
        while !done.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try dump(path, "SELECT COUNT(*) FROM customer_value") == ["9"])
    }

    @Test func aLoadWithTheWarehouseToItselfUsesTheRollbackJournalThenLeavesItInWAL() throws {
        let dir = try makeTemporaryDirectory("wh")
        let tables = [snapshotTable(rows: 500), snapshotTable("fact_order_line", rows: 300)]
        var wal = LoadOptions()
        wal.exclusive = false
        let a = try Warehouse(path: "\(dir)/a.sqlite"), b = try Warehouse(path: "\(dir)/b.sqlite")
        let ra = try a.loadSnapshot(asOf: d1, runID: "r1", tables: tables, options: LoadOptions())
        let rb = try b.loadSnapshot(asOf: d1, runID: "r1", tables: tables, options: wal)
        #expect(ra.journal == "rollback")
        #expect(rb.journal == "wal")
        try a.close()
        try b.close()
        #expect(try dump("\(dir)/a.sqlite", "PRAGMA journal_mode") == ["wal"])
        for t in ["customer_value", "fact_order_line", "customer_history"] {
            let sql = "SELECT * FROM \(t) ORDER BY rowid"
            #expect(try dump("\(dir)/a.sqlite", sql) == dump("\(dir)/b.sqlite", sql), "\(t)")
        }
    }

    @Test func aNewerWarehouseIsRefused() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        try Warehouse(path: path).close()
        _ = try dump(path, "PRAGMA user_version = 99")
        do {
            _ = try Warehouse(path: path)
            Issue.record("opened a newer warehouse")
        } catch let e as CVMFailure {
            #expect(e.message.contains("newer than this cvm supports"))
        }
    }

    @Test func analystViewsExistAfterALoad() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        let cv = Table(name: "customer_value", columns: [
            Column("customer_id", strings: ["A", "B"]), Column("rfm_segment", strings: ["Champions", "At Risk"]),
            Column("lifecycle_stage", strings: ["loyal", "at_risk"]), Column("monetary", double: [300, 100]),
            Column("recency_days", double: [1, 200]), Column("frequency", .int, int64: [9, 2]),
        ])
        _ = try w.loadSnapshot(asOf: d1, runID: "r1", tables: [cv], options: LoadOptions())
        let cv2 = Table(name: "customer_value", columns: [
            Column("customer_id", strings: ["A", "B"]), Column("rfm_segment", strings: ["Champions", "Hibernating"]),
            Column("lifecycle_stage", strings: ["loyal", "churned"]), Column("monetary", double: [350, 100]),
            Column("recency_days", double: [2, 230]), Column("frequency", .int, int64: [10, 2]),
        ])
        _ = try w.loadSnapshot(asOf: d2, runID: "r2", tables: [cv2], options: LoadOptions())
        #expect(try dump(path, "SELECT rfm_segment, customers, revenue FROM v_segment_summary") == ["Champions|1|350.0", "Hibernating|1|100.0"])
        #expect(try dump(path, "SELECT * FROM v_segment_migration ORDER BY from_segment") == ["At Risk|Hibernating|1", "Champions|Champions|1"])
        #expect(try dump(path, "SELECT as_of, snapshots FROM v_latest_snapshot") == ["2026-06-30|2"])
    }

    /// v_quarantine_summary is about the latest snapshot (empty when it quarantined nothing, though an earlier one
    /// did), and its example is the first row in file and line order (line 73 before line 112).
    @Test func theQuarantineSummaryIsTheLatestSnapshotsInLineOrder() throws {
        let path = try makeTemporaryDirectory("views") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        defer { try? w.close() }
        let cv = Table(name: "customer_value", columns: [Column("customer_id", strings: ["A"])])
        func quarantine(_ lines: [Int64]) -> Table {
            Table(name: "quarantine", columns: [
                Column("source", strings: lines.map { _ in "orders" }), Column("file", strings: lines.map { _ in "o.csv" }),
                Column("line", .int, int64: lines), Column("rule", strings: lines.map { _ in "window" }),
            ])
        }
        let (d1, d2) = (CivilDate(year: 2026, month: 6, day: 15), CivilDate(year: 2026, month: 6, day: 30))
        _ = try w.loadSnapshot(asOf: d1, runID: "r1", tables: [cv, quarantine([112, 73, 9])], options: LoadOptions())
        #expect(try dump(path, "SELECT * FROM v_quarantine_summary") == ["orders|window|3|o.csv:9"])
        _ = try w.loadSnapshot(asOf: d2, runID: "r2", tables: [cv, quarantine([])], options: LoadOptions())
        #expect(try dump(path, "SELECT * FROM v_quarantine_summary") == [])
    }
}

/// A warehouse path that holds something else is an input problem (exit 66), named as such, not an I/O error.
struct WarehouseOpenTests {
    @Test func aFileThatIsNotADatabaseExits66() throws {
        let dir = try makeTemporaryDirectory("not-a-db")
        let path = "\(dir)/notes.txt"
        try String(repeating: "not a database\n", count: 100).write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try Warehouse(path: path)
            Issue.record("opened a text file as a warehouse")
        } catch let e as CVMFailure {
            #expect(e.exitStatus == .noInput)
            #expect(e.message.hasPrefix("\(path): error: not an SQLite database"), "\(e.message)")
        }
    }
}

import CVMCore
import Foundation
import TestSupport
import Testing
@testable import Warehouse

/// customer_history (type 2), dim_date, dim_product and the v1 → v2 upgrade.
struct StarSchemaTests {
    static let days = [CivilDate(year: 2026, month: 4, day: 30), CivilDate(year: 2026, month: 5, day: 31), CivilDate(year: 2026, month: 6, day: 30)]

    /// customer_value of one snapshot: (customer, segment, stage, quadrant, tier).
    static func values(_ rows: [(String, String, String, String, String?)]) -> Table {
        Table(name: "customer_value", columns: [
            Column("customer_id", strings: rows.map(\.0)), Column("rfm_segment", strings: rows.map(\.1)),
            Column("lifecycle_stage", strings: rows.map(\.2)), Column("quadrant", strings: rows.map(\.3)),
            Column("tier", strings: rows.map(\.4)),
        ])
    }

    /// A: Champions twice, then At Risk. B: known from May. C: April, gone in May, back in June.
    static let snapshots: [Table] = [
        values([("A", "Champions", "loyal", "strategic", "gold"), ("C", "New Customers", "new", "potential", nil)]),
        values([("A", "Champions", "loyal", "strategic", "gold"), ("B", "Promising", "active", "ordinary", "bronze")]),
        values([("A", "At Risk", "at_risk", "profit", "gold"), ("B", "Promising", "active", "ordinary", "bronze"),
                ("C", "New Customers", "new", "potential", nil)]),
    ]

    func history(_ path: String) throws -> [String] {
        try dump(path, "SELECT customer_id, valid_from, coalesce(valid_to, '-'), is_current, rfm_segment, lifecycle_stage, quadrant, coalesce(tier, '-') FROM customer_history ORDER BY 1, 2")
    }

    @Test func customerHistoryKeepsOnePeriodPerUnchangedRun() throws {
        let path = try makeTemporaryDirectory("star") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        for (day, t) in zip(Self.days, Self.snapshots) {
            _ = try w.loadSnapshot(asOf: day, runID: "r-\(day)", tables: [t], options: LoadOptions())
        }
        #expect(try history(path) == [
            "A|2026-04-30|2026-06-30|0|Champions|loyal|strategic|gold",
            "A|2026-06-30|-|1|At Risk|at_risk|profit|gold",
            "B|2026-05-31|-|1|Promising|active|ordinary|bronze",
            "C|2026-04-30|2026-05-31|0|New Customers|new|potential|-",
            "C|2026-06-30|-|1|New Customers|new|potential|-",
        ])
        // Movements between May and June, counted from the history.
        #expect(try dump(path, "SELECT COUNT(*) FROM customer_history WHERE valid_from = '2026-06-30' AND customer_id IN (SELECT customer_id FROM customer_history WHERE valid_to = '2026-06-30')") == ["1"])
    }

    @Test func historyIsTheSameWhateverTheLoadOrderAndAfterReloads() throws {
        let inOrder = try makeTemporaryDirectory("star") + "/cvm.sqlite"
        let shuffled = try makeTemporaryDirectory("star") + "/cvm.sqlite"
        let a = try Warehouse(path: inOrder), b = try Warehouse(path: shuffled)
        for i in [0, 1, 2] { _ = try a.loadSnapshot(asOf: Self.days[i], runID: "r", tables: [Self.snapshots[i]], options: LoadOptions()) }
        for i in [2, 0, 1, 1, 2] { _ = try b.loadSnapshot(asOf: Self.days[i], runID: "r", tables: [Self.snapshots[i]], options: LoadOptions()) }
        #expect(try history(inOrder) == history(shuffled))
        #expect(try history(inOrder).count == 5)
    }

    /// Loading each snapshot as the new latest extends the history (`appendHistory`); loading them
    /// newest first rebuilds it from all snapshots every time. Both give the same rows, on random
    /// snapshots where customers come, go, come back, change values, and carry null and empty text.
    @Test(arguments: [1, 2, 3])
    func extendingTheHistoryEqualsRebuildingIt(seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let segments: [String?] = ["Champions", "At Risk", "", nil]
        let days = (0..<6).map { CivilDate(year: 2026, month: 1, day: 31).adding(days: Int64($0 * 7)) }
        let snapshots: [Table] = days.map { _ in
            let rows = (0..<40).filter { _ in rng.next() % 4 != 0 }.map { c -> (String, String, String, String, String?) in
                let pick = { segments[Int(rng.next() % UInt64(segments.count))] }
                return ("C\(c)", pick() ?? "x", rng.next() % 3 == 0 ? "new" : "active", "q", pick())
            }
            return Self.values(rows)
        }
        let appended = try makeTemporaryDirectory("star") + "/cvm.sqlite"
        let rebuilt = try makeTemporaryDirectory("star") + "/cvm.sqlite"
        let a = try Warehouse(path: appended), b = try Warehouse(path: rebuilt)
        for i in days.indices { _ = try a.loadSnapshot(asOf: days[i], runID: "r", tables: [snapshots[i]], options: LoadOptions()) }
        for i in days.indices.reversed() { _ = try b.loadSnapshot(asOf: days[i], runID: "r", tables: [snapshots[i]], options: LoadOptions()) }
        try a.close(); try b.close()
        let full = "SELECT customer_id, valid_from, coalesce(valid_to, '-'), is_current, quote(rfm_segment), lifecycle_stage, quote(tier) FROM customer_history ORDER BY 1, 2"
        #expect(try dump(appended, full) == dump(rebuilt, full))
        #expect(try dump(appended, "SELECT COUNT(*) > 60, SUM(is_current) > 20 FROM customer_history") == ["1|1"])
    }

    @Test func dimDateAndDimProductDescribeTheLoadedFacts() throws {
        let path = try makeTemporaryDirectory("star") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        let lines = Table(name: "fact_order_line", columns: [
            Column("customer_id", strings: ["A", "A", "B"]), Column("sku", strings: ["S1", "S2", "S1"]),
            Column("category", strings: ["toys", "books", "toys"]),
            Column("ordered_at", .timestamp, int64: [CivilDate(year: 2025, month: 12, day: 29).daysSinceEpoch * 86_400_000_000,
                                                    CivilDate(year: 2026, month: 1, day: 2).daysSinceEpoch * 86_400_000_000 + 3_600_000_000,
                                                    CivilDate(year: 2026, month: 1, day: 3).daysSinceEpoch * 86_400_000_000]),
        ])
        _ = try w.loadSnapshot(asOf: CivilDate(year: 2026, month: 1, day: 4), runID: "r", tables: [lines], options: LoadOptions())
        #expect(try dump(path, "SELECT COUNT(*), MIN(date), MAX(date) FROM dim_date") == ["7|2025-12-29|2026-01-04"])
        // ISO weeks around the year end: 2025-12-29 (Monday) is week 1 of 2026.
        #expect(try dump(path, "SELECT date, iso_year, iso_week, day_name, is_weekend FROM dim_date WHERE date IN ('2025-12-29', '2026-01-04') ORDER BY date")
                == ["2025-12-29|2026|1|Monday|0", "2026-01-04|2026|1|Sunday|1"])
        #expect(try dump(path, "SELECT sku, category, order_lines, customers, substr(first_ordered, 1, 10) FROM dim_product ORDER BY sku")
                == ["S1|toys|2|2|2025-12-29", "S2|books|1|1|2026-01-02"])
    }

    @Test func isoWeeksFollowTheThursdayRule() {
        let cases: [((Int, Int, Int), (Int, Int))] = [
            ((2020, 12, 31), (2020, 53)), ((2021, 1, 3), (2020, 53)), ((2021, 1, 4), (2021, 1)),
            ((2024, 12, 30), (2025, 1)), ((2026, 6, 30), (2026, 27)), ((2027, 1, 1), (2026, 53)),
        ]
        for ((y, m, d), expected) in cases {
            let got = StarSchema.isoWeek(CivilDate(year: y, month: m, day: d))
            #expect(got == expected, "\(y)-\(m)-\(d)")
        }
    }

    /// A warehouse written by schema version 1 (ledger migration only, landing tables named stg_*)
    /// upgrades in place: tables renamed to the star names, derived tables built from its snapshots.
    @Test func aVersion1WarehouseUpgradesInPlace() throws {
        let path = try makeTemporaryDirectory("star") + "/cvm.sqlite"
        _ = try dump(path, """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1-ledger');
            CREATE TABLE cvm_runs (run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, config_hash TEXT NOT NULL, as_of TEXT NOT NULL,
              started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL, exit_code INTEGER, threads INTEGER NOT NULL, message TEXT);
            CREATE TABLE cvm_run_stages (run_id TEXT NOT NULL REFERENCES cvm_runs(run_id), stage TEXT NOT NULL, status TEXT NOT NULL,
              started_at TEXT NOT NULL, duration_s REAL NOT NULL, rows_in INTEGER NOT NULL, rows_out INTEGER NOT NULL,
              rows_rejected INTEGER NOT NULL, message TEXT, PRIMARY KEY (run_id, stage));
            INSERT INTO cvm_runs VALUES ('r1', 'demo', 'h', '2026-05-31', 't', 't', 'succeeded', 0, 2, NULL);
            CREATE TABLE stg_orders (as_of TEXT NOT NULL, run_id TEXT NOT NULL, customer_id TEXT, sku TEXT, category TEXT, ordered_at TEXT);
            INSERT INTO stg_orders VALUES ('2026-05-31', 'r1', 'A', 'S1', 'toys', '2026-05-02T10:00:00Z');
            CREATE TABLE customer_value (as_of TEXT NOT NULL, run_id TEXT NOT NULL, customer_id TEXT, rfm_segment TEXT, lifecycle_stage TEXT);
            INSERT INTO customer_value VALUES ('2026-04-30', 'r0', 'A', 'New Customers', 'new'), ('2026-05-31', 'r1', 'A', 'Champions', 'active');
            PRAGMA user_version = 1;
            """)
        let w = try Warehouse(path: path)
        #expect(try dump(path, "PRAGMA user_version") == ["4"])
        #expect(try dump(path, "SELECT COUNT(*) FROM pragma_table_info('cvm_run_stages') WHERE name = 'detail'") == ["1"])
        #expect(try dump(path, "SELECT customer_id, sku FROM fact_order_line") == ["A|S1"])
        #expect(try dump(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'stg_orders'") == ["0"])
        #expect(try dump(path, "SELECT run_id, status FROM cvm_runs") == ["r1|succeeded"])
        #expect(try history(path) == ["A|2026-04-30|2026-05-31|0|New Customers|new||-", "A|2026-05-31|-|1|Champions|active||-"])
        #expect(try dump(path, "SELECT sku FROM dim_product") == ["S1"])
        // The upgraded warehouse takes new snapshots as usual.
        _ = try w.loadSnapshot(asOf: CivilDate(year: 2026, month: 6, day: 30), runID: "r2",
                               tables: [Self.values([("A", "Champions", "active", "strategic", "gold")])], options: LoadOptions())
        #expect(try dump(path, "SELECT COUNT(*) FROM customer_history WHERE customer_id = 'A'") == ["3"])
    }

    /// A version 2 warehouse, whose rows carry their source file's path in `_file`, upgrades in place:
    /// each path goes to cvm_files once and the rows keep its key in `_file_id`.
    @Test func aVersion2WarehouseMovesFilePathsToCvmFiles() throws {
        let path = try makeTemporaryDirectory("star") + "/cvm.sqlite"
        _ = try dump(path, """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1-ledger'), ('v2-star-schema');
            CREATE TABLE fact_order_line (as_of TEXT NOT NULL, run_id TEXT NOT NULL, customer_id TEXT, sku TEXT, _file TEXT, _line INTEGER);
            INSERT INTO fact_order_line VALUES ('2026-05-31', 'r1', 'A', 'S1', '/in/b.gz', 2), ('2026-05-31', 'r1', 'B', 'S2', '/in/a.gz', 2),
              ('2026-06-30', 'r2', 'A', 'S1', '/in/b.gz', 3), ('2026-06-30', 'r2', 'C', 'S3', NULL, 4);
            CREATE TABLE dim_customer (as_of TEXT NOT NULL, run_id TEXT NOT NULL, customer_id TEXT, _file TEXT, _line INTEGER);
            INSERT INTO dim_customer VALUES ('2026-06-30', 'r2', 'A', '/in/customers.gz', 2);
            CREATE TABLE customer_value (as_of TEXT NOT NULL, run_id TEXT NOT NULL, customer_id TEXT);
            PRAGMA user_version = 2;
            """)
        let w = try Warehouse(path: path)
        try w.close()
        #expect(try dump(path, "PRAGMA user_version") == ["4"])
        #expect(try dump(path, "SELECT path FROM cvm_files ORDER BY _file_id") == ["/in/customers.gz", "/in/a.gz", "/in/b.gz"])
        #expect(try dump(path, "SELECT as_of, customer_id, ifnull(path, '-'), _line FROM fact_order_line LEFT JOIN cvm_files USING (_file_id) ORDER BY fact_order_line.rowid") == [
            "2026-05-31|A|/in/b.gz|2", "2026-05-31|B|/in/a.gz|2", "2026-06-30|A|/in/b.gz|3", "2026-06-30|C|-|4",
        ])
        #expect(try dump(path, "SELECT customer_id, path FROM dim_customer JOIN cvm_files USING (_file_id)") == ["A|/in/customers.gz"])
        #expect(try dump(path, "SELECT name FROM pragma_table_info('fact_order_line') WHERE name LIKE '\\_file%' ESCAPE '\\'") == ["_file_id"])
        #expect(try dump(path, "SELECT COUNT(*) FROM pragma_table_info('customer_value') WHERE name = '_file_id'") == ["0"])
    }
}

// Apart from WarehouseTests.swift: GRDB's `Table` and `Column` would shadow CVMCore's there.
import CVMCore
import Foundation
import GRDB
import TestSupport
import Testing
import Warehouse

struct ReaderConnectionTests {
    let d1 = CivilDate(year: 2026, month: 6, day: 1), d2 = CivilDate(year: 2026, month: 6, day: 2)

    @Test func aLoadWhileAnotherConnectionIsOpenStaysInWAL() throws {
        let path = try makeTemporaryDirectory("wh") + "/cvm.sqlite"
        let w = try Warehouse(path: path)
        _ = try w.loadSnapshot(asOf: d1, runID: "r1", tables: [snapshotTable(rows: 4)], options: LoadOptions())
        // An analyst's connection, open across the next load.
        let reader = try DatabaseQueue(path: path)
        #expect(try reader.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM customer_value") } == 4)
        let r = try w.loadSnapshot(asOf: d2, runID: "r2", tables: [snapshotTable(rows: 7)], options: LoadOptions())
        #expect(r.journal == "wal")
        #expect(try reader.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM customer_value WHERE as_of = '\(d2)'") } == 7)
        try reader.close()
    }
}

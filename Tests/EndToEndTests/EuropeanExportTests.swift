import Foundation
import GRDB
import TestSupport
import Testing

/// `pipelines/europe.yaml` on fixtures/europe: a German shop's Windows-1252 exports with semicolons, a title line,
/// comment lines, day-first dates in Berlin time, decimal commas with dot grouping and euro signs, ja/nein flags
/// and German statuses. Only the config says so; the warehouse must hold the same kind of values as the demo's.
struct EuropeanExportTests {
    @Test func aGermanShopsExportsLoadWithOnlyConfig() throws {
        let dir = try makeTemporaryDirectory("e2e-europe")
        let config = try makePipelineConfig("europe", in: dir)
        let r = try runCVM(["run", config])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let db = try DatabaseQueue(path: "\(dir)/cvm.sqlite")
        let lines = try db.read { db in
            try String.fetchAll(db, sql: """
                SELECT order_id || '/' || line_no || ' ' || customer_id || ' ' || ordered_at || ' ' || printf('%.2f', unit_price)
                       || ' ' || printf('%.2f', discount) || ' ' || quantity || ' ' || status || ' ' || category
                FROM fact_order_line ORDER BY order_id, line_no
                """)
        }
        #expect(lines == [
            // 09:15 in Berlin (summer time) is 07:15 UTC; "1.234,50 €" is 1234.50.
            "B-1001/1 K-001 2026-06-02T07:15:00Z 1234.50 0.00 1 abgeschlossen Küche",
            "B-1001/2 K-001 2026-06-02T07:15:00Z 19.99 2.00 2 abgeschlossen Küche",
            "B-1002/1 K-002 2026-06-14T21:40:00Z 49.90 0.00 1 storniert Garten",
            // After a comment line: its line number still counts the comment.
            "B-1003/1 K-003 2026-06-28T22:05:00Z 9.50 0.00 3 abgeschlossen Bad",
            "B-1005/1 K-004 2026-06-30T16:30:00Z 12345.00 1000.00 10 retourniert Büro",
        ])
        let quarantine = try db.read { db in
            try String.fetchAll(db, sql: "SELECT line || ' ' || rule || ' ' || reason FROM quarantine ORDER BY line")
        }
        #expect(quarantine == [
            // "1.5" is neither 1.5 nor 15 in a file whose decimal mark is ",": refused, not guessed.
            "8 parse unit_price: \"1.5\" is not a number written with decimal separator \",\" and thousands separator \".\" (sources.orders.decimal_separator, thousands_separator)",
            "10 parse ordered_at: \"31.06.2026 10:00\" is not a valid timestamp (format dd.MM.yyyy HH:mm)",
        ])
        let customers = try db.read { db in
            try String.fetchAll(db, sql: "SELECT customer_id || ' ' || name || ' ' || signup_date || ' ' || country || ' ' || newsletter || ' ' || _line FROM dim_customer ORDER BY customer_id")
        }
        #expect(customers == [
            "K-001 Jürgen Müller 2026-01-05 DE 1 3",
            "K-002 Zoë Béranger 2026-02-11 FR 0 4",
            "K-003 Lukasz „Luke“ Nowak 2026-03-20 PL 1 5",
            "K-004 Ærøskøbing Ltd 2026-04-01 DK 0 6",
        ])
        // Statuses mapped to outcomes: the returned and the cancelled order bring no revenue.
        let revenue = try db.read { db in
            try String.fetchAll(db, sql: "SELECT customer_id || ' ' || printf('%.2f', revenue_sum_all) FROM customer_features ORDER BY customer_id")
        }
        #expect(revenue == ["K-001 1272.48", "K-002 0.00", "K-003 28.50", "K-004 0.00"])
        // The title line and the two comment lines are accounted for, not counted as rows.
        let skipped = try db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM quarantine WHERE rule = 'field_count'") }
        #expect(skipped == 0)
        #expect(r.stderr.contains("lines_skipped=2") || r.stdout.contains("lines_skipped=2"), "\(r.stderr)")
    }
}

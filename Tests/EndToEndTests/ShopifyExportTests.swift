import Foundation
import GRDB
import TestSupport
import Testing

/// `pipelines/shopify.yaml` on fixtures/shopify: a Shopify order export (an order's email, dates and status on its
/// first line item only, times with their offset, a grouped price in quotes) and GA4 click events (microseconds,
/// GA4's own event names, anonymous events before a login). Only the config says so.
struct ShopifyExportTests {
    @Test func aShopifyExportAndGA4EventsLoadWithOnlyConfig() throws {
        let dir = try makeTemporaryDirectory("e2e-shopify")
        let config = try makePipelineConfig("shopify", in: dir)
        let r = try runCVM(["run", config])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let db = try DatabaseQueue(path: "\(dir)/cvm.sqlite")
        let lines = try db.read { db in
            try String.fetchAll(db, sql: """
                SELECT order_id || ' ' || customer_id || ' ' || ordered_at || ' ' || status || ' ' || quantity || ' ' || printf('%.2f', unit_price)
                FROM fact_order_line ORDER BY _line
                """)
        }
        #expect(lines == [
            // 10:14:31 at -04:00 is 14:14:31 UTC; the second line item takes the order's email, time and status.
            "#1001 ann@example.com 2026-05-02T14:14:31Z paid 2 12.50",
            "#1001 ann@example.com 2026-05-02T14:14:31Z paid 1 1299.00",
            "#1002 bob@example.com 2026-05-20T21:59:10Z refunded 1 45.00",
            "#1003 ann@example.com 2026-06-11T12:59:59Z paid 3 12.50",
            "#1003 ann@example.com 2026-06-11T12:59:59Z paid 1 3.00",
            "#1004 cy@example.com 2026-06-20T16:00:00Z voided 1 12.50",
            "#1005 bob@example.com 2026-06-29T03:29:00Z partially_refunded 2 8.00",
            "#1005 bob@example.com 2026-06-29T03:29:00Z partially_refunded 1 45.00",
        ])
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM quarantine", as: Int.self) == 0)
        // Statuses mapped to outcomes (refunded and voided bring no revenue); GA4's event names are features, and
        // the view_item before each login counts for the customer who logged in.
        let features = try db.read { db in
            try String.fetchAll(db, sql: """
                SELECT customer_id || ' ' || printf('%.2f', revenue_sum_all) || ' ' || events_view_item_all || ' ' || events_begin_checkout_all
                       || ' ' || events_add_to_cart_all || ' ' || sessions_all FROM customer_features ORDER BY customer_id
                """)
        }
        #expect(features == ["ann@example.com 1364.50 1 1 1 1", "bob@example.com 61.00 1 0 1 1", "cy@example.com 0.00 0 0 0 0"])
        #expect(r.stderr.contains("events_stitched=5") || r.stdout.contains("events_stitched=5"), "\(r.stderr)")
        // Every buyer has a finite CLV (the fit runs to extreme parameters on three customers).
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM customer_value WHERE frequency >= 1 AND clv IS NOT NULL", as: Int.self) == 2)
    }
}

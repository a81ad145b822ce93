import Foundation
import GRDB
import TestSupport
import Testing

/// `pipelines/visitors.yaml` on fixtures/visitors: a shop with its own column and event names, Berlin wall-clock
/// times and a cookie per visitor. Sessions are per visitor, stitched to the customer who logs in, split at
/// local midnight, and reach the features.
struct VisitorSessionTests {
    @Test func visitorsAreStitchedToTheirCustomersFromConfigToWarehouse() throws {
        let dir = try makeTemporaryDirectory("e2e-visitors")
        let config = try makePipelineConfig("visitors", in: dir)
        let r = try runCVM(["run", config])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let db = try DatabaseQueue(path: "\(dir)/cvm.sqlite")
        let rows = try db.read { db in
            try String.fetchAll(db, sql: """
                SELECT session_id || ' ' || visitor_id || ' ' || ifnull(customer_id, '-') || ' ' || started_at || ' ' || events || ' '
                       || page_views || '/' || product_views || '/' || searches || '/' || add_to_cart || '/' || purchases || ' '
                       || landing_page || ' > ' || exit_page || ' ' || is_bounce
                FROM fact_session ORDER BY session_id
                """)
        }
        #expect(rows == [
            // No cookie: the customer id is the visitor.
            "U2-1 U2 U2 2026-06-25T06:00:00Z 1 1/0/0/0/0 /home > /home 1",
            // Anonymous views, then a login: the whole session is U1's. The visit after it stays anonymous.
            "k1-1 k1 U1 2026-06-10T07:00:00Z 4 2/1/0/1/1 /home > /checkout/done 0",
            "k1-2 k1 - 2026-06-12T18:00:00Z 1 1/0/0/0/0 /home > /home 1",
            // stitch: visitor: the two anonymous sessions before the login are U2's too.
            "k2-1 k2 U2 2026-06-01T08:00:00Z 2 1/0/1/0/0 /home > /search?q=mug 0",
            "k2-2 k2 U2 2026-06-03T09:00:00Z 1 1/1/0/0/0 /p/P-3 > /p/P-3 1",
            "k2-3 k2 U2 2026-06-05T10:00:00Z 3 1/0/0/1/1 /home > /checkout/done 0",
            // 23:50 and 00:05 in Berlin, 15 minutes apart: split at local midnight.
            "k3-1 k3 U3 2026-06-20T21:50:00Z 1 1/1/0/0/0 /p/P-1 > /p/P-1 1",
            "k3-2 k3 U3 2026-06-20T22:05:00Z 2 0/0/0/1/1 /cart > /checkout/done 0",
            // One device, two logins: two sessions.
            "k4-1 k4 U1 2026-06-15T08:00:00Z 1 1/0/0/0/0 /home > /home 1",
            "k4-2 k4 U3 2026-06-15T08:05:00Z 1 1/0/0/0/0 /home > /home 1",
            // A visitor who never logs in.
            "k5-1 k5 - 2026-06-26T12:00:00Z 2 2/1/0/0/0 /landing/sale > /p/P-9 0",
        ])
        // The event with neither cookie nor customer is kept as an event, outside every session.
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT sum(events) FROM fact_session", as: Int.self) == 19)
        // The click after the as-of day is outside the declared window.
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT rule || ' ' || line || ' ' || reason FROM quarantine", as: String.self)
                    == "window 22 occurred_at: 2026-07-02T07:00:00Z is after the as-of window, which ends 2026-06-30T22:00:00Z (days_after: 0)")
        // Stitched sessions count in the customers' features.
        let sessions = try db.read { db in
            try String.fetchAll(db, sql: "SELECT customer_id || ' ' || sessions_90d FROM customer_features ORDER BY customer_id")
        }
        #expect(sessions == ["U1 2", "U2 4", "U3 3"])
        // The persisted events carry the stitched customers too: the features rerun from clean's artifacts are the
        // same (clean writes its other tables early, the stitched events only once the sessions are cut).
        func features() throws -> [String] {
            try db.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM customer_features ORDER BY customer_id").map { row in
                    row.columnNames.filter { $0 != "run_id" }.map { "\($0)=\(row[$0] as DatabaseValue)" }.joined(separator: " ")
                }
            }
        }
        let exported = try runCVM(["export", config, "--table", "stg_clicks"])
        #expect(exported.status == 0, "stderr: \(exported.stderr)")
        let customers = exported.stdout.split(separator: "\n").dropFirst().map { line -> String in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return "\(f[0]):\(f[2])"
        }
        #expect(customers.prefix(11) == ["c01:U1", "c02:U1", "c03:U1", "c04:U1", "c05:", "c06:U2", "c07:U2", "c08:U2", "c09:U2", "c10:U2", "c11:U2"])
        let before = try features()
        let rerun = try runCVM(["run", config, "--from", "features"])
        #expect(rerun.status == 0, "stderr: \(rerun.stderr)")
        #expect(try features() == before)
    }
}

/// Pseudonymised ids reach no table of the warehouse in clear: the session id's visitor part is the visitor's
/// pseudonym, and the data-quality profile shows no values of personal columns (it showed their min and max).
struct PseudonymisedSessionTests {
    @Test func pseudonymisedVisitorsLeaveNoRawIdInTheWarehouse() throws {
        let dir = try makeTemporaryDirectory("e2e-visitors-private")
        let config = try makePipelineConfig("visitors", in: dir)
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "pseudonymize: [email]", with: "pseudonymize: [email, visitor_id]")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let r = try runCVM(["run", config])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let db = try DatabaseQueue(path: "\(dir)/cvm.sqlite")
        try db.read { db in
            let sessions = try Row.fetchAll(db, sql: "SELECT session_id, visitor_id FROM fact_session")
            #expect(!sessions.isEmpty)
            for row in sessions {
                let id: String = row["session_id"], visitor: String = row["visitor_id"]
                #expect(visitor.count == 64 && !id.hasPrefix("k"), "\(id) \(visitor)")
                #expect(id.hasPrefix(visitor + "-"), "\(id) does not read as a session of \(visitor)")
            }
            let shown = try Row.fetchAll(db, sql: "SELECT source, \"column\", min, max, p50 FROM data_quality WHERE \"column\" IN ('email', 'visitor_id')")
            #expect(shown.count == 2)
            for row in shown {
                let values: [String?] = [row["min"], row["max"], row["p50"]]
                #expect(values.allSatisfy { $0 == nil }, "\(row)")
            }
        }
        let html = try String(contentsOfFile: "\(dir)/report/index.html", encoding: .utf8)
        #expect(!html.contains("@example"), "an email in the report")
    }

    /// An event without a cookie takes its customer id as visitor: with `customer_id` pseudonymised, that raw id sat
    /// in `fact_session.visitor_id` beside its own pseudonym in `customer_id` (fixture click c17: user U2, no cookie).
    @Test func aCustomerIdStandingInForAVisitorIsPseudonymisedToo() throws {
        let dir = try makeTemporaryDirectory("e2e-visitors-customer-private")
        let config = try makePipelineConfig("visitors", in: dir)
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "pseudonymize: [email]", with: "pseudonymize: [email, customer_id]")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let r = try runCVM(["run", config])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let visitors = try DatabaseQueue(path: "\(dir)/cvm.sqlite").read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT visitor_id FROM fact_session")
        }
        #expect(visitors.count >= 3)
        #expect(visitors.allSatisfy { $0.count == 64 && $0.allSatisfy(\.isHexDigit) }, "\(visitors)")
    }
}

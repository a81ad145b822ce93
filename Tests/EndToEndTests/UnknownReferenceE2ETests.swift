import Foundation
import GRDB
import TestSupport
import Testing

/// `references: {customer_id: {to: customers.customer_id, on_unknown: …}}` from config to warehouse, on the
/// European fixture with customer K-004 left out of the customers file (its order B-1005 is then unknown).
struct UnknownReferenceE2ETests {
    func run(_ policy: String) throws -> (dir: String, result: ProcessResult) {
        let dir = try makeTemporaryDirectory("e2e-unknown-\(policy)")
        let config = try makePipelineConfig("europe", in: dir)
        // The customers file without K-004 (its bytes are Windows-1252: filter by line, keep the bytes).
        let original = try Data(contentsOf: URL(fileURLWithPath: Repo.path("fixtures/europe/kunden.csv")))
        let lines = original.split(separator: 0x0A, omittingEmptySubsequences: false).filter { !$0.starts(with: Array("K-004".utf8)) }
        try Data(lines.joined(separator: [0x0A])).write(to: URL(fileURLWithPath: "\(dir)/kunden.csv"))
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text = text.replacingOccurrences(of: Repo.path("fixtures") + "/europe/kunden.csv", with: "\(dir)/kunden.csv")
        text = text.replacingOccurrences(of: "references: {customer_id: customers.customer_id}",
                                         with: "references: {customer_id: {to: customers.customer_id, on_unknown: \(policy)}}")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        return (dir, try runCVM(["run", config]))
    }

    @Test func placeholderCustomersJoinTheCustomersTable() throws {
        let (dir, r) = try run("placeholder")
        #expect(r.status == 0, "\(r.stderr)")
        let db = try DatabaseQueue(path: "\(dir)/cvm.sqlite")
        let customers = try db.read { db in
            try String.fetchAll(db, sql: "SELECT customer_id || ' ' || ifnull(name, '-') || ' ' || ifnull(signup_date, '-') || ' ' || _line FROM dim_customer ORDER BY customer_id")
        }
        #expect(customers == ["K-001 Jürgen Müller 2026-01-05 3", "K-002 Zoë Béranger 2026-02-11 4", "K-003 Lukasz „Luke“ Nowak 2026-03-20 5", "K-004 - - 0"])
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM quarantine WHERE rule = 'reference'", as: Int.self) == 0)
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM fact_order_line WHERE customer_id = 'K-004'", as: Int.self) == 1)
        #expect(r.stderr.contains("kept rows whose reference is unknown") && r.stderr.contains("placeholders_added=1"), "\(r.stderr)")
        // The profile is the customers file's: the placeholder (an id, nulls elsewhere) is not one of its rows.
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT MAX(rows) FROM data_quality WHERE source = 'customers'", as: Int.self) == 3)
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT SUM(nulls) FROM data_quality WHERE source = 'customers' AND \"column\" = 'name'", as: Int.self) == 0)
    }

    @Test func keptRowsKeepTheirIdWithoutACustomerRow() throws {
        let (dir, r) = try run("keep")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM dim_customer WHERE customer_id = 'K-004'", as: Int.self) == 0)
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM fact_order_line WHERE customer_id = 'K-004'", as: Int.self) == 1)
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM quarantine WHERE rule = 'reference'", as: Int.self) == 0)
    }

    @Test func rejectQuarantinesTheOrder() throws {
        let (dir, r) = try run("reject")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT reason FROM quarantine WHERE rule = 'reference'", as: String.self)
                    == "customer_id \"K-004\" not found in customers.customer_id")
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM fact_order_line WHERE customer_id = 'K-004'", as: Int.self) == 0)
    }
}

import Clean
import CVMCore
import Testing

/// `map`: values rewritten before the rules, once per distinct value (Online Retail's cancellations are invoices
/// starting with "C": the status is read from the invoice number).
struct ValueMapTests {
    func spec(_ status: ColumnDecl, sku: ColumnDecl = ColumnDecl(.string)) -> SourceSpec {
        SourceSpec(name: "orders", files: [], columns: [("order_id", ColumnDecl(.string)), ("status", status), ("sku", sku)])
    }

    func table(_ rows: [(String, String?, String)]) -> Table {
        Table(name: "raw_orders", columns: [
            Column("order_id", strings: rows.map(\.0)),
            Column("status", strings: rows.map(\.1)),
            Column("sku", strings: rows.map(\.2)),
            Column(Provenance.file, strings: rows.map { _ in "o.csv" }),
            Column(Provenance.line, .int, int64: (0..<rows.count).map { Int64($0 + 2) }),
        ])
    }

    @Test func theFirstMatchingPatternGivesTheValue() throws {
        var status = ColumnDecl(.enum, values: ["completed", "cancelled"])
        status.map = [try ValueMapping(pattern: "C[0-9]+", value: "cancelled"), try ValueMapping(pattern: "[0-9]+", value: "completed")]
        var sku = ColumnDecl(.string)
        sku.map = [try ValueMapping(pattern: "SKU-0*([0-9]+)", value: "$1")]
        let rows: [(String, String?, String)] = [("489434", "489434", "SKU-0042"), ("C489449", "C489449", "SKU-7"), ("489435", nil, "POST"),
                                                 ("X1", "X1", "SKU-0042"), ("489436", "489436", "sku-1")]
        let r = Cleaner.clean(spec(status, sku: sku), table: table(rows), references: [:], threads: 1)
        let out = r.table
        #expect(out.rowCount == 4)
        #expect((0..<out.rowCount).map { out["status"]!.string(at: $0) } == ["completed", "cancelled", nil, "completed"])
        // `$1` is the group; a value no pattern matches ("POST", "sku-1": patterns are case-sensitive) is kept.
        #expect((0..<out.rowCount).map { out["sku"]!.string(at: $0) } == ["42", "7", "POST", "sku-1"])
        // The enum rule checks the mapped value: "X1" matches no pattern, stays "X1" and is not allowed.
        #expect(r.quarantine.map(\.rule) == ["enum"])
        #expect(r.quarantine.first?.reason == "status: \"X1\" is not one of completed, cancelled")
        // Values mapped to the same text share one dictionary entry.
        guard case .string(_, let dict) = out["status"]!.storage else { Issue.record("not a string column"); return }
        #expect(dict.count <= 3)
    }

    @Test func aColumnNoMappingChangesIsLeftAsItIs() throws {
        var status = ColumnDecl(.string)
        status.map = [try ValueMapping(pattern: "nothing", value: "x")]
        let t = table([("1", "a", "s"), ("2", "b", "s")])
        let r = Cleaner.clean(spec(status), table: t, references: [:], threads: 1)
        #expect(r.table["status"] == t["status"])
    }

    @Test func templatesAndBadPatterns() throws {
        #expect(ValueMapping.apply([try ValueMapping(pattern: "(\\w+)@(\\w+)\\.com", value: "$2")], to: "ann@shop.com") == "shop")
        #expect(ValueMapping.apply([try ValueMapping(pattern: "a", value: "\\$1")], to: "a") == "$1")
        #expect(ValueMapping.apply([try ValueMapping(pattern: "a", value: "b")], to: "ab") == nil)  // the whole value must match
        // `$` also matched before a final line break: "a\n" (a quoted field's) matched "a".
        #expect(ValueMapping.apply([try ValueMapping(pattern: "a", value: "b")], to: "a\n") == nil)
        #expect(throws: (any Error).self) { try ValueMapping(pattern: "(", value: "x") }
    }
}

/// `fill_down`: Shopify's order export writes an order's email, date and status on its first line item only.
struct FillDownTests {
    @Test func nullsTakeTheNearestEarlierValueOfTheSameKey() throws {
        var email = ColumnDecl(.string, required: true)
        email.fillDown = "order_id"
        var paid = ColumnDecl(.timestamp)
        paid.fillDown = "order_id"
        let s = SourceSpec(name: "orders", files: [], columns: [("order_id", ColumnDecl(.string)), ("email", email), ("paid_at", paid),
                                                                ("sku", ColumnDecl(.string))])
        let ids: [String?] = ["#1001", "#1001", "#1002", "#1001", "#1003", nil, "#1002", "#1002"]
        let emails: [String?] = ["a@x", nil, "b@x", nil, nil, nil, "b2@x", nil]
        let times: [Int64?] = [10, nil, 20, 11, nil, nil, nil, nil]
        let t = Table(name: "raw_orders", columns: [
            Column("order_id", strings: ids),
            Column("email", strings: emails),
            Column("paid_at", .timestamp, int64: times.map { $0 ?? 0 }, validity: times.map { $0 != nil }),
            Column("sku", strings: (0..<8).map { "S\($0)" }),
            Column(Provenance.file, strings: (0..<8).map { _ in "o.csv" }),
            Column(Provenance.line, .int, int64: (0..<8).map { Int64($0 + 2) }),
        ])
        let r = Cleaner.clean(s, table: t, references: [:], threads: 1)
        // #1003 has no earlier email, and the row without an order id is not filled: both still fail `required`.
        #expect(r.quarantine.map(\.line) == [6, 7])
        #expect(r.quarantine.map(\.rule) == ["required", "required"])
        let out = r.table
        #expect((0..<out.rowCount).map { out["sku"]!.string(at: $0)! } == ["S0", "S1", "S2", "S3", "S6", "S7"])
        // The nearest earlier value: #1002's last row takes b2@x, not b@x.
        #expect((0..<out.rowCount).map { out["email"]!.string(at: $0)! } == ["a@x", "a@x", "b@x", "a@x", "b2@x", "b2@x"])
        #expect((0..<out.rowCount).map { out["paid_at"]!.isValid($0) ? out["paid_at"]!.int64Values[$0] : nil } == [10, 10, 20, 11, 20, 20])
    }
}

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
        #expect(throws: (any Error).self) { try ValueMapping(pattern: "(", value: "x") }
    }
}

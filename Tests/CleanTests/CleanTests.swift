import Clean
import CVMCore
import TestSupport
import Testing

/// A raw table as Extract makes it, with provenance columns.
func rawOrders(_ rows: [(order: String, line: Int64, customer: String?, qty: Int64?, status: String)]) -> Table {
    Table(name: "raw_orders", columns: [
        Column("order_id", strings: rows.map(\.order)),
        Column("line_no", .int, int64: rows.map(\.line)),
        Column("customer_id", strings: rows.map(\.customer)),
        Column("quantity", .int, int64: rows.map { $0.qty ?? 0 }, validity: rows.map { $0.qty != nil }),
        Column("status", .enum, strings: rows.map(\.status)),
        Column(Provenance.file, strings: rows.map { _ in "o.csv" }),
        Column(Provenance.line, .int, int64: (0..<rows.count).map { Int64($0 + 2) }),
    ])
}

func ordersSpec(dedupe: SourceSpec.DedupePolicy = .first) -> SourceSpec {
    var s = SourceSpec(name: "orders", files: [], columns: [
        ("order_id", ColumnDecl(.string, required: true)),
        ("line_no", ColumnDecl(.int, required: true)),
        ("customer_id", ColumnDecl(.string, required: true)),
        ("quantity", ColumnDecl(.int, min: 1, max: 10)),
        ("status", ColumnDecl(.enum, values: ["completed", "returned"])),
    ])
    s.key = ["order_id", "line_no"]
    s.dedupe = dedupe
    s.references = KeyedList([(key: "customer_id", value: "customers.customer_id")])
    return s
}

let knownCustomers = Column("customer_id", strings: ["C1", "C2"])

struct CleanerRuleTests {
    func clean(_ rows: [(order: String, line: Int64, customer: String?, qty: Int64?, status: String)],
               dedupe: SourceSpec.DedupePolicy = .first) -> CleanResult {
        Cleaner.clean(ordersSpec(dedupe: dedupe), table: rawOrders(rows), references: ["customers.customer_id": knownCustomers], threads: 1)
    }

    @Test func eachRuleRejectsWithItsReasonFileAndLine() {
        let r = clean([
            ("O1", 1, "C1", 2, "completed"),     // ok
            ("O2", 1, nil, 2, "completed"),      // required
            ("O3", 1, "C1", 2, "shipped"),       // enum
            ("O4", 1, "C1", 0, "completed"),     // min
            ("O5", 1, "C1", 11, "completed"),    // max
            ("O1", 1, "C2", 3, "completed"),     // duplicate of line 2
            ("O6", 1, "C9", 1, "returned"),      // reference
            ("O7", 1, "C2", nil, "returned"),    // nullable quantity: ok
        ])
        #expect(r.table.rowCount == 2)
        #expect(r.table.name == "stg_orders")
        #expect(r.quarantine.map(\.rule) == ["required", "enum", "min", "max", "duplicate", "reference"])
        #expect(r.quarantine.map(\.reason) == [
            "customer_id is required but empty",
            "status: \"shipped\" is not one of completed, returned",
            "quantity: 0 is below the minimum 1",
            "quantity: 11 is above the maximum 10",
            "duplicate of o.csv:2 (key order_id=O1, line_no=1)",
            "customer_id \"C9\" not found in customers.customer_id",
        ])
        #expect(r.quarantine.map(\.line) == [3, 4, 5, 6, 7, 8])
        #expect(r.quarantine.map(\.column) == [3, 5, 4, 4, nil, 3])
        #expect(r.quarantine.allSatisfy { $0.file == "o.csv" && $0.source == "orders" })
        #expect(r.rowsIn == r.table.rowCount + r.quarantine.count)
        #expect(r.rejectsByRule.map(\.rule) == Cleaner.ruleOrder.filter { !["window", "pattern", "length", "currency", "check"].contains($0) })
    }

    @Test func theFirstFailingRuleNamesTheRow() {
        // Missing customer AND an unknown status: required comes first.
        let r = clean([("O1", 1, nil, 50, "shipped")])
        #expect(r.quarantine.map(\.rule) == ["required"])
    }

    @Test func dedupeKeepsTheFirstOrTheLastRow() {
        let rows: [(order: String, line: Int64, customer: String?, qty: Int64?, status: String)] =
            [("O1", 1, "C1", 1, "completed"), ("O1", 1, "C1", 2, "completed"), ("O1", 2, "C1", 3, "completed")]
        let first = clean(rows, dedupe: .first), last = clean(rows, dedupe: .last)
        #expect(first.table["quantity"]?.int64Values == [1, 3])
        #expect(last.table["quantity"]?.int64Values == [2, 3])
        #expect(first.quarantine.map(\.line) == [3])
        #expect(last.quarantine.map(\.line) == [2])
    }

    @Test func rowsThatFailARowRuleDoNotCountAsTheKeptDuplicate() {
        // The first O1 fails `min`, so the second O1 is not a duplicate of it.
        let r = clean([("O1", 1, "C1", 0, "completed"), ("O1", 1, "C1", 2, "completed")])
        #expect(r.quarantine.map(\.rule) == ["min"])
        #expect(r.table.rowCount == 1)
    }

    @Test func decimalBoundsCompareRealValues() {
        var s = SourceSpec(name: "p", files: [], columns: [("price", ColumnDecl(.decimal, scale: 2, min: 0, max: 19.99))])
        s.key = []
        let t = Table(name: "raw_p", columns: [
            Column("price", .decimal, int64: [1999, 2000, -1], scale: 2),
            Column(Provenance.file, strings: ["f", "f", "f"]), Column(Provenance.line, .int, int64: [2, 3, 4]),
        ])
        let r = Cleaner.clean(s, table: t, references: [:], threads: 1)
        #expect(r.quarantine.map(\.rule) == ["max", "min"])
        #expect(r.quarantine.first?.reason == "price: 20.00 is above the maximum 19.99")
    }
}

struct ReferenceOrderTests {
    func spec(_ name: String, refs: [(String, String)]) -> SourceSpec {
        var s = SourceSpec(name: name, files: [], columns: [("id", ColumnDecl(.string))])
        s.references = KeyedList(refs.map { (key: $0.0, value: $0.1) })
        return s
    }

    @Test func referencedSourcesAreCleanedFirst() throws {
        let order = try Cleaner.referenceOrder([
            spec("events", refs: [("id", "customers.id")]), spec("orders", refs: [("id", "customers.id")]), spec("customers", refs: []),
        ])
        #expect(order == ["customers", "events", "orders"])
    }

    @Test func cyclesAndUnknownSourcesAreConfigErrors() {
        #expect(throws: CVMFailure.self) {
            try Cleaner.referenceOrder([spec("a", refs: [("id", "b.id")]), spec("b", refs: [("id", "a.id")])])
        }
        do {
            _ = try Cleaner.referenceOrder([spec("orders", refs: [("id", "custmers.id")])])
            Issue.record("expected an error")
        } catch let e as CVMFailure {
            #expect(e.exitStatus == .config)
            #expect(e.message.contains("unknown source \"custmers\""))
        } catch { Issue.record("\(error)") }
    }
}

struct ProfileTests {
    @Test func profilesNullsDistinctAndRanges() {
        let t = Table(name: "stg_x", columns: [
            Column("n", .int, int64: [3, 1, 3, 0], validity: [true, true, true, false]),
            Column("s", strings: ["b", "a", nil, "b"]),
            Column(Provenance.line, .int, int64: [1, 2, 3, 4]),
        ])
        let p = Cleaner.profile(t, source: "x")
        #expect(p.rowCount == 2)  // provenance columns are not profiled
        #expect(p["nulls"]?.int64Values == [1, 1])
        #expect(p["distinct"]?.int64Values == [2, 2])
        #expect(p["min"]?.string(at: 0) == "1")
        #expect(p["max"]?.string(at: 0) == "3")
        #expect(p["min"]?.string(at: 1) == "a")
        #expect(p["mean"]?.double(at: 0).map { approxEqual($0, 7.0 / 3) } == true)
        #expect(p["null_share"]?.doubleValues == [0.25, 0.25])
        // Nearest-rank quantiles of the present values 1, 3, 3, written as the column's values; none for text.
        #expect(["p05", "p25", "p50", "p75", "p95"].map { p[$0]?.string(at: 0) } == ["1", "1", "3", "3", "3"])
        #expect(p["p50"]?.string(at: 1) == nil)
    }

    @Test func quantilesAreWrittenInTheColumnsType() {
        let day: Int64 = 20_000
        let t = Table(name: "stg_x", columns: [
            Column("d", .date, int64: (0..<100).map { day + $0 }),
            Column("price", .decimal, int64: (1...100).map { $0 * 25 }, scale: 2),
            Column("share", double: (0..<100).map { Double($0) / 100 }),
        ])
        let p = Cleaner.profile(t, source: "x")
        #expect(p["p50"]?.string(at: 0) == CivilDate(daysSinceEpoch: day + 49).description)
        #expect(p["p95"]?.string(at: 1) == "23.75")
        #expect(p["p05"]?.string(at: 2) == "0.04")
    }
}

struct SessionizerTests {
    static let minute: Int64 = 60 * microsPerSecond

    func events(_ rows: [(String?, Int64, String)]) -> Table {
        Table(name: "stg_events", columns: [
            Column("customer_id", strings: rows.map(\.0)),
            Column("occurred_at", .timestamp, int64: rows.map(\.1)),
            Column("event_type", .enum, strings: rows.map(\.2)),
        ])
    }

    @Test func aGapLongerThanTheLimitStartsANewSession() throws {
        let m = Self.minute
        let t = events([
            ("B", 0, "page_view"), ("A", 0, "page_view"), ("A", 30 * m, "add_to_cart"),  // exactly 30 min: same session
            ("A", 61 * m, "purchase"), (nil, 5, "page_view"), ("A", 10 * m, "search"),
        ])
        let s = try Sessionizer.sessionize(t, gapMinutes: 30, threads: 1)
        #expect((0..<s.rowCount).map { s["session_id"]!.string(at: $0)! } == ["A-1", "A-2", "B-1"])
        #expect(s["events"]?.int64Values == [3, 1, 1])
        #expect(s["duration_s"]?.int64Values == [1800, 0, 0])
        #expect(s["add_to_cart"]?.int64Values == [1, 0, 0])
        #expect(s["searches"]?.int64Values == [1, 0, 0])
        #expect(s["purchases"]?.int64Values == [0, 1, 0])
        #expect(s["is_bounce"]?.int64Values == [0, 0, 1])
    }

    /// Slow obvious oracle: per customer, sort times, split on gaps.
    func oracle(_ rows: [(String?, Int64, String)], gap: Int64) -> [String: [Int]] {
        var by: [String: [Int64]] = [:]
        for r in rows { if let c = r.0 { by[c, default: []].append(r.1) } }
        return by.mapValues { ts in
            let s = ts.sorted()
            var sizes = [1]
            for k in 1..<max(1, s.count) where s.count > 1 {
                if s[k] - s[k - 1] > gap { sizes.append(1) } else { sizes[sizes.count - 1] += 1 }
            }
            return sizes
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func matchesAnOracleAndIsIdenticalForAnyThreadCount(seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let types = ["page_view", "search", "add_to_cart", "checkout", "purchase"]
        let rows: [(String?, Int64, String)] = (0..<3000).map { _ in
            let c = rng.next() % 50 == 0 ? nil : "C\(rng.next() % 300)"
            return (c, Int64(rng.next() % 100_000) * microsPerSecond * 10, types[Int(rng.next() % 5)])
        }
        let t = events(rows)
        let one = try Sessionizer.sessionize(t, gapMinutes: 30, threads: 1)
        let two = try Sessionizer.sessionize(t, gapMinutes: 30, threads: 2)
        #expect(one == two)
        var got: [String: [Int]] = [:]
        for i in 0..<one.rowCount { got[one["customer_id"]!.string(at: i)!, default: []].append(Int(one["events"]!.int64(at: i)!)) }
        #expect(got == oracle(rows, gap: 30 * Self.minute))
    }

    /// Enough sessions for the ids and the columns to be written by several workers (over 200,000 sessions in
    /// over 1,024 groups), with ordinals of one to three digits and ids of multi-byte text: each id is its
    /// customer's id, "-" and the session's ordinal within the customer, the same on one thread and on two.
    @Test func manySessionsGetTheirIdsAndColumnsOnAnyThreadCount() throws {
        let m = Self.minute
        var rng = SeededRNG(seed: 4)
        var rows: [(String?, Int64, String)] = []
        var expected: [String] = []
        var perCustomer: [Int] = []
        for c in 0..<2_600 {
            let sessions = 1 + Int(rng.next() % 160)
            perCustomer.append(sessions)
            for k in 0..<sessions { rows.append((c % 10 == 0 ? "é\(c)" : "c\(c)", Int64(k) * 31 * m, k % 2 == 0 ? "page_view" : "search")) }
        }
        let ids = (0..<2_600).map { $0 % 10 == 0 ? "é\($0)" : "c\($0)" }
        for c in (0..<2_600).sorted(by: { Array(ids[$0].utf8).lexicographicallyPrecedes(Array(ids[$1].utf8)) }) {
            expected += (1...perCustomer[c]).map { "\(ids[c])-\($0)" }
        }
        #expect(expected.count > 200_000)
        let t = events(rows)
        let one = try Sessionizer.sessionize(t, gapMinutes: 30, threads: 1)
        let two = try Sessionizer.sessionize(t, gapMinutes: 30, threads: 2)
        #expect(one == two)
        #expect(one["session_id"]!.dictionary.map { $0 } == expected)
        #expect(one["events"]!.int64Values.allSatisfy { $0 == 1 })
        #expect(one["page_views"]!.int64Values.reduce(0, +) == Int64(perCustomer.reduce(0) { $0 + ($1 + 1) / 2 }))
    }

    @Test func eventsAfterTheCutoffAreLeftOutOfSessions() throws {
        let m = Self.minute
        let t = events([("A", 0, "page_view"), ("A", 10 * m, "add_to_cart"), ("A", 20 * m, "purchase")])
        let s = try Sessionizer.sessionize(t, gapMinutes: 30, threads: 1, before: 15 * m)
        #expect(s["events"]?.int64Values == [2])
        #expect(s["purchases"]?.int64Values == [0])
    }

    @Test func missingColumnsAreConfigErrors() {
        let t = Table(name: "e", columns: [Column("customer_id", strings: ["A"])])
        #expect(throws: CVMFailure.self) { try Sessionizer.sessionize(t, gapMinutes: 30, threads: 1) }
    }
}

struct DedupeKeyShapeTests {
    /// Rows 0..<n with key values cycling through `distinct` values, as a string, an int and a two-column key.
    func table(_ n: Int, distinct: Int) -> Table {
        Table(name: "raw_e", columns: [
            Column("s", strings: (0..<n).map { i in i % 7 == 3 ? nil : "k\(i % distinct)" }),
            Column("i", .int, int64: (0..<n).map { Int64($0 % distinct) }, validity: (0..<n).map { $0 % 7 != 3 }),
            Column("j", .int, int64: (0..<n).map { Int64($0 % 2) }),
            Column(Provenance.file, strings: (0..<n).map { _ in "e.csv" }),
            Column(Provenance.line, .int, int64: (0..<n).map { Int64($0 + 2) }),
        ])
    }

    func kept(_ key: [String], _ dedupe: SourceSpec.DedupePolicy, n: Int, distinct: Int) -> [Int64] {
        var s = SourceSpec(name: "e", files: [], columns: [("s", ColumnDecl(.string)), ("i", ColumnDecl(.int)), ("j", ColumnDecl(.int))])
        s.key = key
        s.dedupe = dedupe
        let r = Cleaner.clean(s, table: table(n, distinct: distinct), references: [:], threads: 1)
        #expect(r.table.rowCount + r.quarantine.count == n)
        #expect(r.quarantine.allSatisfy { $0.rule == "duplicate" && $0.reason.hasPrefix("duplicate of e.csv:") })
        // Each duplicate names the kept row with its key.
        func keyOf(line: Int) -> [String] {
            let i = line - 2
            return key.map { c in
                switch c {
                case "j": return "\(i % 2)"
                default: return i % 7 == 3 ? "null" : "\(i % distinct)"
                }
            }
        }
        let kept = Set(r.table[Provenance.line]!.int64Values.map(Int.init))
        for q in r.quarantine {
            let first = Int(q.reason.dropFirst("duplicate of e.csv:".count).prefix { $0.isNumber })!
            #expect(kept.contains(first) && keyOf(line: first) == keyOf(line: q.line), "\(q.reason) at line \(q.line)")
        }
        return r.table[Provenance.line]!.int64Values
    }

    /// The string-code path, the Int64 table and the compound-key table agree with a plain reference.
    /// Compound keys with a string column are deduplicated within groups of that column's values: a few rows each
    /// (613 values of 5,000 rows), one or two (2,500 and 4,999), and the group of nulls (a sixth of the rows),
    /// which has a table of its own.
    @Test(arguments: [SourceSpec.DedupePolicy.first, .last], [613, 2500, 4999])
    func everyKeyShapeKeepsTheSameRowsAsAReference(_ policy: SourceSpec.DedupePolicy, distinct: Int) {
        let n = 5000
        // Reference: the key of row i is (null or i % distinct); keep the first (or last) row per key.
        func reference(_ keyOf: (Int) -> String) -> [Int64] {
            var chosen: [String: Int] = [:]
            for i in 0..<n where policy == .last || chosen[keyOf(i)] == nil { chosen[keyOf(i)] = i }
            return chosen.values.sorted().map { Int64($0 + 2) }
        }
        let single = reference { $0 % 7 == 3 ? "null" : "\($0 % distinct)" }
        #expect(kept(["s"], policy, n: n, distinct: distinct) == single)
        #expect(kept(["i"], policy, n: n, distinct: distinct) == single)
        let pair = reference { ($0 % 7 == 3 ? "null" : "\($0 % distinct)") + "/\($0 % 2)" }
        #expect(kept(["i", "j"], policy, n: n, distinct: distinct) == pair)
        #expect(kept(["s", "j"], policy, n: n, distinct: distinct) == pair)
        #expect(kept(["j", "s"], policy, n: n, distinct: distinct) == pair)
        let triple = reference { ($0 % 7 == 3 ? "null" : "\($0 % distinct)") + "/\($0 % 2)" }
        #expect(kept(["s", "i", "j"], policy, n: n, distinct: distinct) == triple)
    }
}

struct DistinctCountTests {
    /// The distinct counts of `values` as an int column and as a double column.
    func distinct(_ values: [Int64]) -> [Int64] {
        let t = Table(name: "stg_x", columns: [Column("v", .int, int64: values), Column("d", double: values.map { Double($0) / 4 })])
        return Cleaner.profile(t, source: "x")["distinct"]!.int64Values
    }

    @Test func exactUpToTheLimit() {
        // 65,536 distinct values, each twice: still exact.
        #expect(distinct((0..<131_072).map { Int64($0 / 2) }) == [65_536, 65_536])
        #expect(distinct([5, 5, 5]) == [1, 1])
    }

    @Test func anEstimateWithinOnePercentAboveTheLimit() {
        for n in [100_000, 1_000_000] {
            for d in distinct((0..<Int64(n)).map { $0 &* 2_654_435_761 % 1_000_000_007 }) {
                #expect(abs(Double(d) - Double(n)) / Double(n) < 0.01, "estimated \(d) distinct values of \(n)")
            }
        }
    }
}

struct UnknownReferenceTests {
    let rows: [(order: String, line: Int64, customer: String?, qty: Int64?, status: String)] = [
        ("O1", 1, "C1", 1, "completed"), ("O2", 1, "C9", 1, "completed"), ("O3", 1, "C8", 1, "completed"),
        ("O4", 1, "C9", 1, "completed"), ("O5", 1, "C7", 0, "completed"),
    ]

    func clean(_ policy: SourceSpec.UnknownReferencePolicy) -> CleanResult {
        var s = ordersSpec(dedupe: .first)
        s.unknownReferences["customer_id"] = policy
        return Cleaner.clean(s, table: rawOrders(rows), references: ["customers.customer_id": knownCustomers], threads: 1)
    }

    @Test func rejectIsTheDefault() {
        let r = clean(.reject)
        #expect(r.quarantine.map(\.rule) == ["reference", "reference", "reference", "min"])
        #expect(r.unknownReferences.isEmpty)
    }

    @Test("keep and placeholder keep the rows and list the unknown ids once, in order", arguments: [
        SourceSpec.UnknownReferencePolicy.keep, .placeholder,
    ])
    func keptRowsAreCounted(policy: SourceSpec.UnknownReferencePolicy) throws {
        let r = clean(policy)
        #expect(r.table["order_id"]!.strings() == ["O1", "O2", "O3", "O4"])
        // O5 fails min first: it is quarantined and its unknown customer adds nothing.
        #expect(r.quarantine.map(\.rule) == ["min"])
        let u = try #require(r.unknownReferences.first)
        #expect(u == {
            var x = UnknownReferences(column: "customer_id", target: "customers.customer_id", policy: policy)
            x.rows = 3
            x.ids = ["C9", "C8"]
            return x
        }())
    }

    /// An unknown id the referenced column's rules reject gets no placeholder (it could never be a customer there):
    /// its rows are rejected, naming the rule; the others get theirs.
    @Test func idsTheReferencedColumnRejectsGetNoPlaceholder() throws {
        var s = ordersSpec(dedupe: .first)
        s.unknownReferences["customer_id"] = .placeholder
        var id = ColumnDecl(.string)
        id.name = "customer_id"
        id.pattern = "C[0-8]"
        let r = Cleaner.clean(s, table: rawOrders(rows), references: ["customers.customer_id": knownCustomers], threads: 1,
                              referenceRules: ["customers.customer_id": id])
        #expect(r.table["order_id"]!.strings() == ["O1", "O3"])
        #expect(r.quarantine.map(\.rule) == ["reference", "reference", "min"])
        #expect(r.quarantine.first?.reason == "customer_id \"C9\" not found in customers.customer_id, and no placeholder: customer_id must match the pattern C[0-8]")
        #expect(r.unknownReferences.first?.ids == ["C8"])
    }

    @Test func placeholdersHaveTheIdsAndNullsElsewhere() throws {
        var u = UnknownReferences(column: "customer_id", target: "customers.customer_id", policy: .placeholder)
        u.ids = ["C9", "C8"]
        let customers = Table(name: "stg_customers", columns: [
            Column("customer_id", strings: ["C1"]), Column("signup", .date, int64: [19_000]), Column("score", double: [1.5]),
            Column(Provenance.file, strings: ["c.csv"]), Column(Provenance.line, .int, int64: [2]),
        ])
        let p = try #require(u.placeholders(matching: customers, source: "orders"))
        #expect(p.schema.columns.map(\.type) == customers.schema.columns.map(\.type))
        #expect(p["customer_id"]!.strings() == ["C9", "C8"])
        #expect(p["signup"]!.validity == [false, false])
        #expect(p["score"]!.validity == [false, false])
        #expect(p[Provenance.file]!.strings() == ["placeholder for orders.customer_id", "placeholder for orders.customer_id"])
        #expect(p[Provenance.line]!.int64Values == [0, 0])
    }
}

extension Column {
    func strings() -> [String] { (0..<count).map { string(at: $0) ?? "" } }
}

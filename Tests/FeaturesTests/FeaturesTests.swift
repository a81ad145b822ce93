import CVMCore
import Features
import TestSupport
import Testing

let asOf = CivilDate(year: 2026, month: 6, day: 30)

struct Line {
    var customer: String
    var order: String
    var day: Int64       // days before as-of (0 = the as-of day; negative = after it)
    var qty: Int64
    var priceCents: Int64
    var discountCents: Int64
    var status: String
}

func ordersTable(_ lines: [Line]) -> Table {
    let base = asOf.daysSinceEpoch
    return Table(name: "stg_orders", columns: [
        Column("customer_id", strings: lines.map(\.customer)),
        Column("order_id", strings: lines.map(\.order)),
        Column("ordered_at", .timestamp, int64: lines.map { (base - $0.day) * microsPerDay + 12 * 3600 * microsPerSecond }),
        Column("quantity", .int, int64: lines.map(\.qty)),
        Column("unit_price", .decimal, int64: lines.map(\.priceCents), scale: 2),
        Column("discount", .decimal, int64: lines.map(\.discountCents), scale: 2),
        Column("status", .enum, strings: lines.map(\.status)),
        Column("sku", strings: lines.map { "S\($0.priceCents % 7)" }),
        Column("category", strings: lines.map { $0.priceCents % 2 == 0 ? "books" : "toys" }),
    ])
}

func randomLines(seed: UInt64, customers: Int, count: Int) -> [Line] {
    var rng = SeededRNG(seed: seed)
    let statuses = ["completed", "completed", "completed", "returned", "cancelled"]
    return (0..<count).map { i in
        let customer = "C\(rng.next() % UInt64(customers))", day = Int64(rng.next() % 500) - 3
        // Lines of one order share its customer and day, as in real order logs.
        return Line(customer: customer, order: "O\(i / 2)-\(customer)-\(day)", day: day,
             qty: Int64(1 + rng.next() % 3), priceCents: Int64(100 + rng.next() % 10_000),
             discountCents: rng.next() % 4 == 0 ? 50 : 0, status: statuses[Int(rng.next() % 5)])
    }
}

func value(_ t: Table, _ feature: String, _ customer: String) -> Double? {
    guard let row = (0..<t.rowCount).first(where: { t["customer_id"]!.string(at: $0) == customer }) else { return nil }
    return t[feature]?.double(at: row)
}

struct FeatureBuilderTests {
    /// Slow obvious oracle over row objects.
    func oracle(_ lines: [Line], customer: String, window: Int?) -> (orders: Int, revenue: Double, recency: Int64?) {
        let limit = Int64(window ?? Int.max)
        let mine = lines.filter { (l: Line) -> Bool in l.customer == customer && l.day >= 0 && l.day < limit }
        let completed = mine.filter { (l: Line) -> Bool in l.status == "completed" }
        let orders = Set(completed.map { (l: Line) -> String in l.order }).count
        var revenue = 0.0
        for l in completed {
            let cents: Int64 = l.qty * l.priceCents - l.discountCents
            revenue += Double(cents) / 100
        }
        let all = lines.filter { $0.customer == customer && $0.day >= 0 && $0.status == "completed" }
        return (orders, revenue, all.map(\.day).min())
    }

    @Test(arguments: [1, 2] as [UInt64])
    func windowsAndRFMMatchAnOracle(seed: UInt64) throws {
        let lines = randomLines(seed: seed, customers: 40, count: 2000)
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(lines)), asOf: asOf, configuration: Configuration(), threads: 2)
        for c in (0..<40).map({ "C\($0)" }) {
            for w in [7, 30, 90, 180, 365] as [Int?] + [nil] {
                let o = oracle(lines, customer: c, window: w)
                let suffix = w.map { "_\($0)d" } ?? "_all"
                #expect(value(r.features, "orders_count\(suffix)", c) == Double(o.orders), "\(c) \(suffix)")
                #expect(approxEqual(value(r.features, "revenue_sum\(suffix)", c) ?? -1, o.revenue, rel: 1e-12), "\(c) \(suffix)")
            }
            let o = oracle(lines, customer: c, window: nil)
            #expect(value(r.features, "recency_days", c) == o.recency.map(Double.init))
            #expect(value(r.features, "frequency", c) == Double(o.orders))
            #expect(approxEqual(value(r.features, "monetary", c) ?? -1, o.revenue, rel: 1e-12))
        }
    }

    @Test func rowsAfterTheAsOfDateAreIgnored() throws {
        let lines = [
            Line(customer: "A", order: "1", day: 10, qty: 1, priceCents: 1000, discountCents: 0, status: "completed"),
            Line(customer: "A", order: "2", day: -1, qty: 1, priceCents: 99_999, discountCents: 0, status: "completed"),
            Line(customer: "A", order: "3", day: 0, qty: 2, priceCents: 500, discountCents: 100, status: "completed"),
        ]
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(lines)), asOf: asOf, configuration: Configuration(), threads: 1)
        #expect(value(r.features, "frequency", "A") == 2)
        #expect(value(r.features, "monetary", "A") == 19)   // 10 + (2 × 5 − 1)
        #expect(value(r.features, "recency_days", "A") == 0)
        #expect(value(r.features, "orders_count_7d", "A") == 1)
        #expect(value(r.features, "tenure_days", "A") == 10)
    }

    @Test func customersWithoutOrdersHaveNullRecencyButZeroCounts() throws {
        let lines = [Line(customer: "A", order: "1", day: 3, qty: 1, priceCents: 100, discountCents: 0, status: "completed")]
        let customers = Table(name: "stg_customers", columns: [Column("customer_id", strings: ["A", "B"]),
                                                               Column("signup_date", .date, int64: [asOf.daysSinceEpoch - 100, asOf.daysSinceEpoch - 5])])
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(lines), customers: customers), asOf: asOf,
                                         configuration: Configuration(), threads: 1)
        #expect(r.features.rowCount == 2)
        #expect(value(r.features, "recency_days", "B") == nil)
        #expect(value(r.features, "orders_count_all", "B") == 0)
        #expect(value(r.features, "days_since_signup", "B") == 5)
        #expect(value(r.features, "signup_to_first_order_days", "A") == 97)
    }

    @Test func returnsAndCancellationsAreRatesNotRevenue() throws {
        let lines = [
            Line(customer: "A", order: "1", day: 1, qty: 1, priceCents: 1000, discountCents: 0, status: "completed"),
            Line(customer: "A", order: "1", day: 1, qty: 1, priceCents: 3000, discountCents: 0, status: "returned"),
            Line(customer: "A", order: "2", day: 2, qty: 1, priceCents: 5000, discountCents: 0, status: "cancelled"),
        ]
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(lines)), asOf: asOf, configuration: Configuration(), threads: 1)
        #expect(value(r.features, "revenue_sum_all", "A") == 10)
        #expect(value(r.features, "return_rate_all", "A") == 0.5)
        #expect(approxEqual(value(r.features, "cancel_rate_all", "A") ?? -1, 1.0 / 3))
        #expect(value(r.features, "orders_count_all", "A") == 1)
    }

    /// Sums of decimal money are exact to the cent: ten lines of 0.10 make 1.00 (the Double sum is
    /// 0.9999999999999998), three of 0.29 make 0.87; a single order's revenue too.
    @Test func decimalMoneySumsExactlyToItsScale() throws {
        let tenDimes = (0..<10).map { Line(customer: "A", order: "A\($0)", day: Int64($0), qty: 1, priceCents: 10, discountCents: 0, status: "completed") }
        let threeLines = (0..<3).map { _ in Line(customer: "B", order: "B", day: 1, qty: 1, priceCents: 29, discountCents: 0, status: "completed") }
        let discounted = [Line(customer: "C", order: "C", day: 1, qty: 3, priceCents: 110, discountCents: 10, status: "completed"),
                          Line(customer: "C", order: "C", day: 1, qty: 1, priceCents: 20, discountCents: 0, status: "completed")]
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(tenDimes + threeLines + discounted)), asOf: asOf,
                                         configuration: Configuration(), threads: 1)
        #expect(value(r.features, "revenue_sum_all", "A") == 1.0)
        #expect(value(r.features, "monetary", "A") == 1.0)
        #expect(value(r.features, "revenue_sum_all", "B") == 0.87)
        #expect(value(r.features, "revenue_max_all", "B") == 0.87)
        #expect(value(r.features, "revenue_sum_all", "C") == 3.4)
        // Means are not rounded: A's ten orders of 0.10 average 0.1 anyway; the value is the plain quotient.
        #expect(approxEqual(value(r.features, "aov_all", "A") ?? 0, 0.1))
    }

    /// Quantities near Int64's end (a source declaring no max) do not trap: units bought beyond Int64 are null.
    @Test func unitsBeyondInt64AreNullNotATrap() throws {
        let lines = [
            Line(customer: "A", order: "1", day: 1, qty: 4_000_000_000_000_000_000, priceCents: 1, discountCents: 0, status: "completed"),
            Line(customer: "A", order: "2", day: 2, qty: 4_000_000_000_000_000_000, priceCents: 1, discountCents: 0, status: "completed"),
            Line(customer: "A", order: "3", day: 200, qty: 4_000_000_000_000_000_000, priceCents: 1, discountCents: 0, status: "completed"),
            Line(customer: "B", order: "4", day: 1, qty: Int64.max, priceCents: 1, discountCents: 0, status: "completed"),
            Line(customer: "C", order: "5", day: 1, qty: 3, priceCents: 1, discountCents: 0, status: "completed"),
        ]
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(lines)), asOf: asOf, configuration: Configuration(), threads: 1)
        #expect(value(r.features, "items_7d", "A") == 8e18)
        #expect(value(r.features, "items_all", "A") == nil)
        #expect(value(r.features, "items_all", "B") == nil)
        #expect(value(r.features, "items_all", "C") == 3)
        #expect(value(r.features, "orders_count_all", "A") == 3)
    }

    @Test func oneAndTwoThreadsGiveIdenticalTables() throws {
        let lines = randomLines(seed: 9, customers: 3000, count: 20_000)
        let inputs = FeatureInputs(orders: ordersTable(lines))
        let a = try FeatureBuilder.build(inputs, asOf: asOf, configuration: Configuration(), threads: 1)
        let b = try FeatureBuilder.build(inputs, asOf: asOf, configuration: Configuration(), threads: 2)
        #expect(a.features == b.features)
        #expect(a.catalog == b.catalog)
    }

    @Test func theCatalogExplainsEveryFeatureOnce() throws {
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(randomLines(seed: 1, customers: 20, count: 200))),
                                         asOf: asOf, configuration: Configuration(), threads: 1)
        let names = (0..<r.catalog.rowCount).map { r.catalog["name"]!.string(at: $0)! }
        #expect(names == Array(r.features.columnNames.dropFirst()))
        #expect(Set(names).count == names.count)
        #expect((0..<r.catalog.rowCount).allSatisfy { (r.catalog["description"]!.string(at: $0)?.count ?? 0) > 15 })
        for required in ["recency_days", "frequency", "monetary", "tenure_days", "orders_count_all", "revenue_sum_all", "aov_all",
                         "orders_count_30d", "revenue_sum_365d"] {
            #expect(names.contains(required), "\(required)")
        }
    }

    @Test func familiesCanBeSwitchedOff() throws {
        var config = Configuration()
        config.families.timing = false
        config.families.trends = false
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(randomLines(seed: 1, customers: 5, count: 50))),
                                         asOf: asOf, configuration: config, threads: 1)
        #expect(r.features["dow_share_mon"] == nil)
        #expect(r.features["revenue_trend_30v30"] == nil)
        #expect(r.features["recency_days"] != nil)
    }

    @Test func trendRatiosAreDefinedWhenTheBaseIsZero() throws {
        let lines = [Line(customer: "A", order: "1", day: 5, qty: 1, priceCents: 900, discountCents: 0, status: "completed")]
        let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(lines)), asOf: asOf, configuration: Configuration(), threads: 1)
        #expect(value(r.features, "revenue_trend_30v30", "A") == 10)   // (9 + 1) / (0 + 1)
        #expect(value(r.features, "orders_trend_30v30", "A") == 2)
    }

    @Test func missingColumnsAreConfigErrors() {
        let t = Table(name: "stg_orders", columns: [Column("customer_id", strings: ["A"])])
        #expect(throws: CVMFailure.self) {
            try FeatureBuilder.build(FeatureInputs(orders: t), asOf: asOf, configuration: Configuration(), threads: 1)
        }
    }
}

import CVMCore
@testable import Features
import Testing

/// The events pass (`Context.countEvents`): counts per customer, window bucket and type in one pass over row
/// ranges, and local days in the declared zone.
struct EventCountTests {
    /// The demo's event types (its `event_type` enum), counted in this order.
    static let demoTypes = ["page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase",
                            "review", "share", "referral", "support_contact"]

    /// Random events over 40 customers and 400 days around the as-of date, with null customers, null times,
    /// unknown types and rows after the cutoff.
    func events(_ n: Int, seed: UInt64) -> (customer: Column, time: Column, type: Column) {
        var rng = SeededRNG(seed: seed)
        let types = Self.demoTypes + ["unknown_type"]
        let end = (asOf.daysSinceEpoch + 1) * microsPerDay
        var ids: [String] = [], times: [Int64] = [], kinds: [String] = []
        var idOK: [Bool] = [], timeOK: [Bool] = []
        for _ in 0..<n {
            ids.append("C\(rng.next() % 40)")
            times.append(end - Int64(rng.next() % UInt64(400 * microsPerDay)) + Int64(rng.next() % 3) * microsPerDay)
            kinds.append(types[Int(rng.next() % UInt64(types.count))])
            idOK.append(rng.next() % 50 != 0)
            timeOK.append(rng.next() % 70 != 0)
        }
        var c = Column("customer_id", strings: ids)
        c.validity = idOK
        var t = Column("occurred_at", .timestamp, int64: times)
        t.validity = timeOK
        return (c, t, Column("event_type", .enum, strings: kinds))
    }

    @Test func rowRangesAddUpToOnePass() throws {
        let (c, t, k) = events(5_000, seed: 7)
        let cut = (asOf.daysSinceEpoch + 1) * microsPerDay
        let clock = try #require(LocalClock("UTC"))
        func count(threads: Int, rowsPerPart: Int) -> Context.EventCounts {
            Context.countEvents(customer: c, time: t, type: k, types: Self.demoTypes, clock: clock, ages: AgeBuckets(windows: [7, 30, 90, 180, 365]),
                                asOfDay: asOf.daysSinceEpoch, cut: cut, threads: threads, rowsPerPart: rowsPerPart)
        }
        let one = count(threads: 1, rowsPerPart: 1_000_000)
        for (threads, rowsPerPart) in [(2, 100), (3, 700), (4, 1)] {
            let split = count(threads: threads, rowsPerPart: rowsPerPart)
            #expect(split.counts == one.counts)
            #expect(split.total == one.total)
            #expect(split.seen == one.seen)
            #expect(split.dict == one.dict)
        }
        // Against a plain count: every kept event (customer and time present, before the cutoff) once.
        let ids = c.validity!, times = t.validity!, values = t.int64Values
        let kept = (0..<5_000).filter { ids[$0] && times[$0] && values[$0] < cut }.count
        #expect(Int(one.total.reduce(0, +)) == kept)
        let typed = (0..<5_000).filter { ids[$0] && times[$0] && values[$0] < cut && k.string(at: $0) != "unknown_type" }.count
        // Slots per bucket: the ten types, then word of mouth (referral, share, review) and feedback (review, support_contact).
        let slots = Self.demoTypes.count + 2
        let named = one.counts.indices.filter { $0 % slots < Self.demoTypes.count }.map { Int(one.counts[$0]) }
        #expect(named.reduce(0, +) == typed)
        func keptOf(_ types: Set<String>) -> Int {
            (0..<5_000).filter { ids[$0] && times[$0] && values[$0] < cut && types.contains(k.string(at: $0)!) }.count
        }
        #expect(one.counts.indices.filter { $0 % slots == slots - 2 }.map { Int(one.counts[$0]) }.reduce(0, +) == keptOf(["referral", "share", "review"]))
        #expect(one.counts.indices.filter { $0 % slots == slots - 1 }.map { Int(one.counts[$0]) }.reduce(0, +) == keptOf(["review", "support_contact"]))
        // A customer whose only events have no time still joins the universe (`seen`), with no counts.
        #expect(one.seen.filter { $0 }.count >= one.total.filter { $0 > 0 }.count)
    }

    @Test func eventDaysAreLocalDaysInTheZone() throws {
        let midnight = (asOf.daysSinceEpoch + 1) * microsPerDay  // 2026-07-01T00:00Z
        let hour = 3_600 * microsPerSecond
        // A: 23:30 UTC on the as-of day = 01:30 on July 1 in Berlin: after the as-of day there, so not counted.
        // B: 03:00 UTC on July 1 = 23:00 on June 30 in New York: the as-of day there.
        // C: 22:30 UTC on June 23 = 00:30 on June 24 in Berlin: inside the 7-day window there, not in UTC.
        let at: [(String, Int64)] = [("A", midnight - hour / 2), ("B", midnight + 3 * hour), ("C", midnight - 7 * 24 * hour - 3 * hour / 2)]
        let orders = Table(name: "stg_orders", columns: [
            Column("customer_id", strings: ["Z"]), Column("order_id", strings: ["O"]),
            Column("ordered_at", .timestamp, int64: [midnight - 100 * 24 * hour]), Column("quantity", .int, int64: [1]),
            Column("unit_price", .decimal, int64: [100], scale: 2), Column("status", strings: ["completed"]),
        ])
        let events = Table(name: "stg_events", columns: [
            Column("customer_id", strings: at.map(\.0)), Column("occurred_at", .timestamp, int64: at.map(\.1)),
            Column("event_type", .enum, strings: at.map { _ in "page_view" }),
        ])
        func build(_ zone: String) throws -> Table {
            var cfg = Configuration()
            cfg.zone = zone
            return try FeatureBuilder.build(FeatureInputs(orders: orders, events: events), asOf: asOf, configuration: cfg, threads: 2).features
        }
        let berlin = try build("Europe/Berlin")
        #expect(value(berlin, "events_page_view_all", "A") == nil)  // not a customer as of the cutoff there
        #expect(value(berlin, "events_page_view_7d", "C") == 1)
        let utc = try build("UTC")
        #expect(value(utc, "events_page_view_all", "A") == 1)
        #expect(value(utc, "events_page_view_7d", "C") == 0)  // June 23 in UTC: the day before the window
        #expect(value(utc, "events_page_view_30d", "C") == 1)
        let newYork = try build("America/New_York")
        #expect(value(newYork, "events_page_view_7d", "B") == 1)
        #expect(value(utc, "events_page_view_all", "B") == nil)
    }

    /// Windows may be declared in any order: each feature depends only on its own window.
    /// Without sessions the session trends are null, and the catalog says so (it said "never null").
    @Test func sessionTrendsWithoutSessionsAreNullAndSaySo() throws {
        let midnight = (asOf.daysSinceEpoch + 1) * microsPerDay
        let orders = Table(name: "stg_orders", columns: [
            Column("customer_id", strings: ["A"]), Column("order_id", strings: ["O"]),
            Column("ordered_at", .timestamp, int64: [midnight - 100 * microsPerDay]), Column("quantity", .int, int64: [1]),
            Column("unit_price", .decimal, int64: [100], scale: 2), Column("status", strings: ["completed"]),
        ])
        let out = try FeatureBuilder.build(FeatureInputs(orders: orders), asOf: asOf, configuration: Configuration(), threads: 1)
        #expect(value(out.features, "sessions_trend_30v30", "A") == nil)
        #expect(value(out.features, "orders_trend_30v30", "A") == 1)
        let names = out.catalog["name"]!, fill = out.catalog["fill"]!
        let row = try #require((0..<out.catalog.rowCount).first { names.string(at: $0) == "sessions_trend_30v30" })
        #expect(fill.string(at: row) == "null: this shop has no sessions")
    }

    /// Event types from the data claim their names most frequent first: one `Page View` beside five `page_view`
    /// took `events_page_view_*` (it sorts first byte-wise), and the real page views went to `_2`.
    @Test func theMostFrequentSpellingKeepsThePlainName() throws {
        let midnight = (asOf.daysSinceEpoch + 1) * microsPerDay, hour = 3_600 * microsPerSecond
        let orders = Table(name: "stg_orders", columns: [
            Column("customer_id", strings: ["A"]), Column("order_id", strings: ["O"]),
            Column("ordered_at", .timestamp, int64: [midnight - 100 * 24 * hour]), Column("quantity", .int, int64: [1]),
            Column("unit_price", .decimal, int64: [100], scale: 2), Column("status", strings: ["completed"]),
        ])
        let kinds = ["page_view", "page_view", "Page View", "page_view", "page_view", "page_view"]
        let events = Table(name: "stg_events", columns: [
            Column("customer_id", strings: kinds.map { _ in "A" }),
            Column("occurred_at", .timestamp, int64: kinds.indices.map { midnight - Int64($0 + 1) * hour }),
            Column("event_type", strings: kinds),
        ])
        let out = try FeatureBuilder.build(FeatureInputs(orders: orders, events: events), asOf: asOf, configuration: Configuration(), threads: 1)
        #expect(value(out.features, "events_page_view_all", "A") == 5)
        #expect(value(out.features, "events_page_view_2_all", "A") == 1)
    }

    @Test func windowOrderDoesNotChangeValues() throws {
        let (c, t, k) = events(3_000, seed: 11)
        let orders = ordersTable(randomLines(seed: 3, customers: 40, count: 400))
        let events = Table(name: "stg_events", columns: [c, t, k])
        func build(_ windows: [Int]) throws -> Table {
            var cfg = Configuration()
            cfg.windows = windows
            return try FeatureBuilder.build(FeatureInputs(orders: orders, events: events), asOf: asOf, configuration: cfg, threads: 2).features
        }
        let sorted = try build([7, 30, 90]), shuffled = try build([90, 7, 30])
        #expect(sorted.columns.count == shuffled.columns.count)
        var compared = 0
        for column in sorted.columns where column.name.hasPrefix("events_") || column.name.hasPrefix("orders_") {
            let other = try #require(shuffled[column.name])
            for id in ["C1", "C7", "C22", "C39"] {
                #expect(value(sorted, column.name, id) == value(shuffled, column.name, id), "\(column.name) \(id)")
                compared += 1
            }
            _ = other
        }
        #expect(compared > 100)
        #expect(value(sorted, "events_page_view_7d", "C1")! <= value(sorted, "events_page_view_30d", "C1")!)
    }

    /// Order lines out of time order within a customer are put in (time, row) order before the per-customer pass:
    /// intervals between orders and the first line's order come out as for chronological input.
    @Test func linesOutOfTimeOrderAreSorted() throws {
        let forward = [
            Line(customer: "A", order: "1", day: 30, qty: 1, priceCents: 1000, discountCents: 0, status: "completed"),
            Line(customer: "B", order: "9", day: 5, qty: 1, priceCents: 700, discountCents: 0, status: "completed"),
            Line(customer: "A", order: "2", day: 20, qty: 1, priceCents: 2000, discountCents: 0, status: "completed"),
            Line(customer: "A", order: "3", day: 2, qty: 1, priceCents: 4000, discountCents: 0, status: "completed"),
        ]
        let shuffled = [forward[2], forward[3], forward[1], forward[0]]
        for lines in [forward, shuffled] {
            let r = try FeatureBuilder.build(FeatureInputs(orders: ordersTable(lines)), asOf: asOf, configuration: Configuration(), threads: 1)
            #expect(value(r.features, "interval_min_days", "A") == 10)
            #expect(value(r.features, "interval_max_days", "A") == 18)
            #expect(value(r.features, "recency_days", "A") == 2)
            #expect(value(r.features, "tenure_days", "A") == 30)
            #expect(value(r.features, "frequency", "B") == 1)
        }
    }

    /// Counters are UInt16 with a carry past 65,535: a customer (a bot, say) with 140,000 page views on one day
    /// gets exactly that count, in one part or split over two.
    @Test func countsPastTheSmallCounterRangeAreCarried() throws {
        let n = 140_000
        let day = asOf.daysSinceEpoch * microsPerDay
        let ids = Column("customer_id", strings: (0..<n).map { $0 % 1_000 == 0 ? "B" : "A" })
        let times = Column("occurred_at", .timestamp, int64: (0..<n).map { day + Int64($0) * 100_000 })
        let kinds = Column("event_type", .enum, strings: (0..<n).map { _ in "page_view" })
        let clock = try #require(LocalClock("UTC"))
        for (threads, rowsPerPart) in [(1, 1_000_000), (2, 1)] {
            let r = Context.countEvents(customer: ids, time: times, type: kinds, types: Self.demoTypes, clock: clock, ages: AgeBuckets(windows: [7, 30]),
                                        asOfDay: asOf.daysSinceEpoch, cut: (asOf.daysSinceEpoch + 1) * microsPerDay,
                                        threads: threads, rowsPerPart: rowsPerPart)
            let a = try #require(r.dict.firstIndex(of: "A")), b = try #require(r.dict.firstIndex(of: "B"))
            let width = 3 * (Self.demoTypes.count + 2)
            #expect(r.counts[a * width + 0] == Int32(n - n / 1_000))  // bucket 0 (the last 7 days), type 0 (page_view)
            #expect(r.counts[b * width + 0] == Int32(n / 1_000))
            #expect(r.total[a] == Int32(n - n / 1_000))
            #expect(r.counts.reduce(0, +) == Int32(n))
        }
    }
}

import CVMCore
import Testing
@testable import Clean

/// Sessions per visitor: stitching anonymous events to the customer who logs in, the midnight split, product
/// views, landing and exit pages, and the event-type mapping.
struct SessionVisitorTests {
    static let minute: Int64 = 60 * microsPerSecond

    struct Event {
        var visitor: String?
        var customer: String?
        var time: Int64
        var type = "page_view"
        var sku: String? = nil
        var page: String? = nil
    }

    func table(_ rows: [Event]) -> Table {
        Table(name: "stg_events", columns: [
            Column("visitor_id", strings: rows.map(\.visitor)),
            Column("customer_id", strings: rows.map(\.customer)),
            Column("occurred_at", .timestamp, int64: rows.map(\.time)),
            Column("event_type", .enum, strings: rows.map(\.type)),
            Column("sku", strings: rows.map(\.sku)),
            Column("page", strings: rows.map(\.page)),
        ])
    }

    func config(stitch: SessionConfiguration.Stitch = .session, midnight: Bool = false, zone: String? = nil,
                types: SessionEventTypes = .init()) -> SessionConfiguration {
        SessionConfiguration(source: "events", gapMinutes: 30, splitAtMidnight: midnight, zone: zone, visitor: "visitor_id",
                             stitch: stitch, page: "page", product: "sku", eventTypes: types)
    }

    /// (session id, visitor, customer, events) per session, in table order.
    func summary(_ s: Table) -> [String] {
        (0..<s.rowCount).map { i in
            "\(s["session_id"]!.string(at: i)!) \(s["visitor_id"]!.string(at: i) ?? "-") \(s["customer_id"]!.string(at: i) ?? "-") \(s["events"]!.int64(at: i)!)"
        }
    }

    /// Visitor v1 browses anonymously, logs in as A, and comes back anonymous after a long gap; v2 never logs in.
    var visits: [Event] {
        let m = Self.minute
        return [
            Event(visitor: "v1", customer: nil, time: 0),
            Event(visitor: "v2", customer: nil, time: 1 * m),
            Event(visitor: "v1", customer: nil, time: 5 * m, type: "search"),
            Event(visitor: "v1", customer: "A", time: 10 * m, type: "add_to_cart"),
            Event(visitor: "v1", customer: nil, time: 12 * m, type: "checkout"),
            Event(visitor: "v1", customer: nil, time: 120 * m),
            Event(visitor: "v1", customer: "A", time: 300 * m, type: "purchase"),
        ]
    }

    /// The stitched sessions' anonymous events carry their customer in the events too (the features count them).
    @Test func stitchedEventsCarryTheirCustomer() throws {
        let (_, stitched, count) = try Sessionizer.sessionizeStitching(table(visits), config(), zone: "UTC", threads: 1)
        let e = try #require(stitched)
        #expect(count == 3)  // rows 0, 2 and 4 take A; row 3 had it
        // v1's first session (rows 0, 2, 3, 4) is A's; row 5 is an anonymous session after it; v2 never logs in.
        #expect((0..<e.rowCount).map { e["customer_id"]!.string(at: $0) ?? "-" } == ["A", "-", "A", "A", "A", "-", "A"])
        #expect(e["event_type"] == table(visits)["event_type"])
        // Under `stitch: visitor` an anonymous session takes the customer of the visitor's next logged-in session.
        let (_, byVisitor, _) = try Sessionizer.sessionizeStitching(table(visits), config(stitch: .visitor), zone: "UTC", threads: 2)
        #expect((0..<7).map { byVisitor!["customer_id"]!.string(at: $0) ?? "-" } == ["A", "-", "A", "A", "A", "A", "A"])
        // Without a visitor column, or when nobody logs in, there is nothing to stitch.
        let anonymous = visits.map { Event(visitor: $0.visitor, customer: nil, time: $0.time) }
        #expect(try Sessionizer.sessionizeStitching(table(anonymous), config(), zone: "UTC", threads: 1).events == nil)
        var perCustomer = config()
        perCustomer.visitor = nil
        #expect(try Sessionizer.sessionizeStitching(table(visits), perCustomer, zone: "UTC", threads: 1).events == nil)
    }

    @Test func aLoginStitchesTheSessionsEarlierAnonymousEvents() throws {
        let s = try Sessionizer.sessionize(table(visits), config(), zone: "UTC", threads: 1)
        #expect(summary(s) == ["v1-1 v1 A 4", "v1-2 v1 - 1", "v1-3 v1 A 1", "v2-1 v2 - 1"])
        #expect(s["searches"]?.int64Values == [1, 0, 0, 0])
        #expect(s["add_to_cart"]?.int64Values == [1, 0, 0, 0])
        #expect(s["checkouts"]?.int64Values == [1, 0, 0, 0])
        #expect(s["purchases"]?.int64Values == [0, 0, 1, 0])
    }

    @Test func stitchingByVisitorGivesEarlierAnonymousSessionsTheNextLogin() throws {
        let m = Self.minute
        var rows = visits
        // v1's first session is now wholly anonymous: the login comes in the next one.
        rows[3] = Event(visitor: "v1", customer: nil, time: 10 * m, type: "add_to_cart")
        let bySession = try Sessionizer.sessionize(table(rows), config(stitch: .session), zone: "UTC", threads: 1)
        #expect(summary(bySession) == ["v1-1 v1 - 4", "v1-2 v1 - 1", "v1-3 v1 A 1", "v2-1 v2 - 1"])
        let byVisitor = try Sessionizer.sessionize(table(rows), config(stitch: .visitor), zone: "UTC", threads: 1)
        #expect(summary(byVisitor) == ["v1-1 v1 A 4", "v1-2 v1 A 1", "v1-3 v1 A 1", "v2-1 v2 - 1"])
        // Sessions after a visitor's last login stay anonymous.
        rows.append(Event(visitor: "v1", customer: nil, time: 500 * m))
        let after = try Sessionizer.sessionize(table(rows), config(stitch: .visitor), zone: "UTC", threads: 1)
        #expect(summary(after).suffix(2) == ["v1-4 v1 - 1", "v2-1 v2 - 1"])
    }

    @Test func aLoginAsAnotherCustomerStartsANewSession() throws {
        let m = Self.minute
        let rows = [
            Event(visitor: "shared", customer: "A", time: 0),
            Event(visitor: "shared", customer: nil, time: 2 * m),
            Event(visitor: "shared", customer: "B", time: 4 * m),
            Event(visitor: "shared", customer: "B", time: 6 * m),
        ]
        let s = try Sessionizer.sessionize(table(rows), config(), zone: "UTC", threads: 1)
        #expect(summary(s) == ["shared-1 shared A 2", "shared-2 shared B 2"])
    }

    @Test func anEventWithoutVisitorTakesItsCustomerAsVisitorAndOneWithNeitherIsLeftOut() throws {
        let m = Self.minute
        let rows = [
            Event(visitor: nil, customer: "C", time: 0),
            Event(visitor: nil, customer: nil, time: 1 * m),
            Event(visitor: "C", customer: nil, time: 2 * m),  // the same id as customer C: the same visitor
            Event(visitor: nil, customer: "D", time: 3 * m),
        ]
        let s = try Sessionizer.sessionize(table(rows), config(), zone: "UTC", threads: 1)
        #expect(summary(s) == ["C-1 C C 2", "D-1 D D 1"])
    }

    @Test func aNewLocalDaySplitsASessionWhenDeclared() throws {
        let m = Self.minute
        // 22:50 and 23:10 UTC are 23:50 and 00:10 at +01:00: one day in UTC, two in the shop's zone.
        let rows = [Event(visitor: "v", customer: "A", time: 22 * 60 * m + 50 * m), Event(visitor: "v", customer: "A", time: 23 * 60 * m + 10 * m)]
        #expect(summary(try Sessionizer.sessionize(table(rows), config(), zone: "+01:00", threads: 1)) == ["v-1 v A 2"])
        #expect(summary(try Sessionizer.sessionize(table(rows), config(midnight: true), zone: "UTC", threads: 1)) == ["v-1 v A 2"])
        #expect(summary(try Sessionizer.sessionize(table(rows), config(midnight: true), zone: "+01:00", threads: 1))
                    == ["v-1 v A 1", "v-2 v A 1"])
        // The sessions' own zone wins over the shop's.
        #expect(summary(try Sessionizer.sessionize(table(rows), config(midnight: true, zone: "Europe/Berlin"), zone: "UTC", threads: 1))
                    == ["v-1 v A 1", "v-2 v A 1"])
    }

    @Test func productViewsLandingAndExitPages() throws {
        let m = Self.minute
        let rows = [
            Event(visitor: "v", customer: "A", time: 0, type: "page_view", page: "/home"),
            Event(visitor: "v", customer: "A", time: 1 * m, type: "page_view", sku: "S1", page: "/p/S1"),
            Event(visitor: "v", customer: "A", time: 2 * m, type: "product_view", sku: "S2", page: "/p/S2"),
            Event(visitor: "v", customer: "A", time: 3 * m, type: "search", sku: "S3", page: nil),
        ]
        let s = try Sessionizer.sessionize(table(rows), config(), zone: "UTC", threads: 1)
        // A page view with a product, and a product_view event; a search with a product is not a view.
        #expect(s["product_views"]?.int64Values == [2])
        #expect(s["page_views"]?.int64Values == [2])
        #expect(s["landing_page"]?.string(at: 0) == "/home")
        #expect(s["exit_page"]?.string(at: 0) == nil)
        #expect(s["is_bounce"]?.int64Values == [0])
    }

    @Test func eventTypesAreMappedByTheConfig() throws {
        let m = Self.minute
        let rows = [
            Event(visitor: "v", customer: "A", time: 0, type: "pdp"),
            Event(visitor: "v", customer: "A", time: 1 * m, type: "basket_add"),
            Event(visitor: "v", customer: "A", time: 2 * m, type: "order_placed"),
        ]
        let types = SessionEventTypes(pageView: ["pdp"], productView: ["pdp"], addToCart: ["basket_add"], purchase: ["order_placed"])
        let s = try Sessionizer.sessionize(table(rows), config(types: types), zone: "UTC", threads: 1)
        #expect(s["page_views"]?.int64Values == [1])
        #expect(s["product_views"]?.int64Values == [1])
        #expect(s["add_to_cart"]?.int64Values == [1])
        #expect(s["purchases"]?.int64Values == [1])
        #expect(s["searches"]?.int64Values == [0])
    }

    @Test func withoutAVisitorColumnTheVisitorIsNullAndAnonymousEventsAreLeftOut() throws {
        let s = try Sessionizer.sessionize(table(visits), SessionConfiguration(source: "events"), zone: "UTC", threads: 1)
        #expect(summary(s) == ["A-1 - A 1", "A-2 - A 1"])
        #expect(s["landing_page"]?.validity == [false, false])
    }

    @Test func namedColumnsMustExist() {
        let t = Table(name: "e", columns: [
            Column("customer_id", strings: ["A"]), Column("occurred_at", .timestamp, int64: [0]), Column("event_type", strings: ["page_view"]),
        ])
        #expect(throws: CVMFailure.self) { try Sessionizer.sessionize(t, config(), zone: "UTC", threads: 1) }
    }

    /// Slow obvious oracle: group by visitor (else customer), sort by time then input order, split on the gap, a
    /// new local day (a fixed offset) and another customer's login; stitch.
    func oracle(_ rows: [Event], gap: Int64, midnightOffset: Int64?, stitchVisitor: Bool) -> [String] {
        var groups: [String: [(Int64, Int)]] = [:]
        for (i, r) in rows.enumerated() {
            guard let key = r.visitor ?? r.customer else { continue }
            groups[key, default: []].append((r.time, i))
        }
        var out: [String] = []
        for key in groups.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let events = groups[key]!.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            var sessions: [(customer: String?, events: Int)] = []
            var last: Int64 = 0
            for (t, i) in events {
                let c = rows[i].customer
                let day = midnightOffset.map { floorDiv(t + $0, microsPerDay) }
                let lastDay = midnightOffset.map { floorDiv(last + $0, microsPerDay) }
                if sessions.isEmpty || t - last > gap || day != lastDay
                    || (c != nil && sessions[sessions.count - 1].customer != nil && c != sessions[sessions.count - 1].customer) {
                    sessions.append((nil, 0))
                }
                if let c { sessions[sessions.count - 1].customer = c }
                sessions[sessions.count - 1].events += 1
                last = t
            }
            if stitchVisitor {
                var next: String?
                for k in sessions.indices.reversed() {
                    if let c = sessions[k].customer { next = c } else { sessions[k].customer = next }
                }
            }
            for (n, s) in sessions.enumerated() { out.append("\(key)-\(n + 1) \(key) \(s.customer ?? "-") \(s.events)") }
        }
        return out
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func matchesAnOracleAndIsIdenticalForAnyThreadCount(seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let rows: [Event] = (0..<4000).map { _ in
            // About 100 events a visitor over a day and a half (two local midnights): sessions of one to a dozen events.
            let visitor = rng.next() % 20 == 0 ? nil : "v\(rng.next() % 40)"
            let customer = rng.next() % 4 == 0 ? "c\(rng.next() % 20)" : nil
            return Event(visitor: visitor, customer: customer, time: Int64(rng.next() % 13_000) * microsPerSecond * 10)
        }
        for (stitch, midnight) in [(SessionConfiguration.Stitch.session, false), (.visitor, false), (.visitor, true)] {
            let c = config(stitch: stitch, midnight: midnight)
            let one = try Sessionizer.sessionize(table(rows), c, zone: "+05:30", threads: 1)
            let two = try Sessionizer.sessionize(table(rows), c, zone: "+05:30", threads: 2)
            #expect(one == two)
            #expect(summary(one) == oracle(rows, gap: 30 * Self.minute, midnightOffset: midnight ? 330 * Self.minute : nil,
                                           stitchVisitor: stitch == .visitor))
        }
    }

    /// The counting sort in row ranges on several threads gives the very slots of one pass: each group's rows in
    /// input order.
    @Test(arguments: [1, 2] as [UInt64])
    func groupingInRangesEqualsOnePass(seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let rows: [Event] = (0..<5000).map { _ in
            Event(visitor: rng.next() % 10 == 0 ? nil : "v\(rng.next() % 300)", customer: rng.next() % 3 == 0 ? "c\(rng.next() % 50)" : nil,
                  time: Int64(rng.next() % 1000), type: rng.next() % 2 == 0 ? "page_view" : "search", sku: rng.next() % 2 == 0 ? "s" : nil)
        }
        let t = table(rows)
        guard case .string(let vc, let vd) = t["visitor_id"]!.storage, case .string(let cc, let cd) = t["customer_id"]!.storage,
              case .string(let tc, let td) = t["event_type"]!.storage else { Issue.record("string columns"); return }
        let masks = EventMasks(byType: td.map { $0 == "page_view" ? 1 : 4 }, types: tc, hasProduct: true, productOK: t["sku"]!.validity ?? [])
        let byCustomer = CustomerKeys(customers: cc, valid: t["customer_id"]!.validity)
        let one = group(byCustomer, groups: cd.count, times: t["occurred_at"]!.int64Values, masks: masks, before: 900, threads: 1)
        for threads in [2, 3] {
            #expect(group(byCustomer, groups: cd.count, times: t["occurred_at"]!.int64Values, masks: masks, before: 900,
                          threads: threads, rangeRows: 100) == one)
        }
        // Slots of a group hold its rows in input order.
        for g in 0..<cd.count {
            let slots = Array(one.rows[one.counts[g]..<one.counts[g + 1]])
            #expect(slots == slots.sorted())
        }
        #expect(one.rows.count == rows.enumerated().filter { $0.element.customer != nil && $0.element.time < 900 }.count)
        let byVisitor = VisitorKeys(visitors: vc, visitorValid: t["visitor_id"]!.validity, fromVisitor: (0..<vd.count).map(Int32.init),
                                    customers: cc, customerValid: t["customer_id"]!.validity,
                                    fromCustomer: [Int32](repeating: Int32(vd.count), count: cd.count))
        let oneV = group(byVisitor, groups: vd.count + 1, times: t["occurred_at"]!.int64Values, masks: masks, before: .max, threads: 1)
        #expect(group(byVisitor, groups: vd.count + 1, times: t["occurred_at"]!.int64Values, masks: masks, before: .max,
                      threads: 2, rangeRows: 50) == oneV)
        #expect(oneV.customers.count == oneV.rows.count)
    }
}

// Feature accumulation on one core: the features stage's public entry point (FeatureBuilder.build) on
// clean tables of 3,000 customers (orders, events, sessions, customers), all default families and windows.
import Benchmark
import CVMCore
import Features

/// Clean tables in the canonical columns, made with a fixed seed (shaped like the synthetic shop).
struct Inputs: Sendable {
    static let customers = 3_000
    static let asOf = CivilDate(year: 2026, month: 6, day: 30)
    var orders: Table, events: Table, sessions: Table, customers: Table
    var rows: Int { orders.rowCount + events.rowCount + sessions.rowCount + customers.rowCount }

    static func make() -> Inputs {
        var rng = SeededRNG(seed: 42)
        let end = asOf.daysSinceEpoch
        func at(_ daysBack: Int64) -> Int64 { (end - daysBack) * microsPerDay + Int64(rng.next() % 86_400) * microsPerSecond }
        let categories = ["electronics", "books", "fashion", "home", "beauty", "toys", "sports", "grocery", "garden", "music"]
        let statuses = ["completed", "completed", "completed", "completed", "returned", "cancelled"]
        let eventTypes = ["page_view", "page_view", "page_view", "search", "add_to_cart", "remove_from_cart", "checkout",
                          "purchase", "review", "share", "referral", "support_contact"]
        let devices = ["desktop", "mobile", "tablet", "app"], referrers = ["google", "direct", "newsletter", "facebook", nil]

        var oc: [String?] = [], oid: [String?] = [], ots: [Int64] = [], qty: [Int64] = [], price: [Int64] = [], disc: [Int64] = []
        var ost: [String?] = [], sku: [String?] = [], cat: [String?] = []
        var ec: [String?] = [], ets: [Int64] = [], etype: [String?] = []
        var sid: [String?] = [], sc: [String?] = [], sts: [Int64] = [], dur: [Int64] = [], sev: [Int64] = [], views: [Int64] = []
        var searches: [Int64] = [], carts: [Int64] = [], checkouts: [Int64] = [], purchases: [Int64] = [], bounce: [Int64] = []
        var device: [String?] = [], referrer: [String?] = []
        var cid: [String?] = [], email: [String?] = [], signup: [Int64] = [], country: [String?] = [], birth: [Int64] = []
        var birthValid: [Bool] = [], channel: [String?] = []
        for c in 0..<customers {
            let id = "C\(100_000 + c)"
            cid.append(id); email.append("c\(c)@example.com"); signup.append(end - 30 - Int64(rng.next() % 700))
            country.append(["US", "GB", "DE", "FR", "CN", "JP"][Int(rng.next() % 6)])
            birthValid.append(rng.next() % 5 != 0); birth.append(1950 + Int64(rng.next() % 55))
            channel.append(["organic", "paid_search", "social", "email"][Int(rng.next() % 4)])
            for o in 0..<Int(rng.next() % 12) {  // orders of 1-3 lines over 400 days
                let day = Int64(rng.next() % 400), status = statuses[Int(rng.next() % 6)]
                let t = at(day)
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    let k = Int(rng.next() % 10)
                    oc.append(id); oid.append("O\(c)-\(o)"); ots.append(t); qty.append(1 + Int64(rng.next() % 3))
                    price.append(199 + Int64(rng.next() % 20_000)); disc.append(rng.next() % 4 == 0 ? 150 : 0)
                    ost.append(status); sku.append("SKU-\(k * 20 + Int(rng.next() % 20))"); cat.append(categories[k])
                }
            }
            for s in 0..<Int(rng.next() % 16) {  // sessions over 90 days, with their events
                let t = at(Int64(rng.next() % 90))
                let n = 1 + Int(rng.next() % 12)
                var counts = [Int64](repeating: 0, count: 5)
                for e in 0..<n {
                    let type = eventTypes[Int(rng.next() % UInt64(eventTypes.count))]
                    ec.append(id); ets.append(t + Int64(e) * 40 * microsPerSecond); etype.append(type)
                    if let i = ["page_view", "search", "add_to_cart", "checkout", "purchase"].firstIndex(of: type) { counts[i] += 1 }
                }
                sid.append("S\(c)-\(s)"); sc.append(id); sts.append(t); dur.append(Int64(n - 1) * 40); sev.append(Int64(n))
                views.append(counts[0]); searches.append(counts[1]); carts.append(counts[2]); checkouts.append(counts[3])
                purchases.append(counts[4]); bounce.append(n == 1 ? 1 : 0)
                device.append(devices[Int(rng.next() % 4)]); referrer.append(referrers[Int(rng.next() % 5)])
            }
        }
        return Inputs(
            orders: Table(name: "stg_orders", columns: [
                Column("customer_id", strings: oc), Column("order_id", strings: oid), Column("ordered_at", .timestamp, int64: ots),
                Column("quantity", .int, int64: qty), Column("unit_price", .decimal, int64: price, scale: 2),
                Column("discount", .decimal, int64: disc, scale: 2), Column("status", .enum, strings: ost),
                Column("sku", strings: sku), Column("category", strings: cat),
            ]),
            events: Table(name: "stg_events", columns: [
                Column("customer_id", strings: ec), Column("occurred_at", .timestamp, int64: ets), Column("event_type", .enum, strings: etype),
            ]),
            sessions: Table(name: "stg_sessions", columns: [
                Column("session_id", strings: sid), Column("customer_id", strings: sc), Column("started_at", .timestamp, int64: sts),
                Column("duration_s", .int, int64: dur), Column("events", .int, int64: sev), Column("page_views", .int, int64: views),
                Column("searches", .int, int64: searches), Column("add_to_cart", .int, int64: carts),
                Column("checkouts", .int, int64: checkouts), Column("purchases", .int, int64: purchases),
                Column("is_bounce", .bool, int64: bounce), Column("device", strings: device), Column("referrer", strings: referrer),
            ]),
            customers: Table(name: "stg_customers", columns: [
                Column("customer_id", strings: cid), Column("email", strings: email), Column("signup_date", .date, int64: signup),
                Column("country", strings: country), Column("birth_year", .int, int64: birth, validity: birthValid),
                Column("channel", strings: channel),
            ]))
    }
}

let inputs = Inputs.make()

extension BenchmarkMetric {
    static var rowsPerSecond: BenchmarkMetric { .custom("input rows/s", polarity: .prefersLarger, useScalingFactor: false) }
    static var customersPerSecond: BenchmarkMetric { .custom("customers/s", polarity: .prefersLarger, useScalingFactor: false) }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("feature build (3,000 customers, default catalog, 1 thread)",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident, .rowsPerSecond, .customersPerSecond],
                                   units: [.rowsPerSecond: .kilo, .customersPerSecond: .count], warmupIterations: 2, maxDuration: .seconds(4), maxIterations: 100,
                                   setup: { blackHole(inputs.rows) })) { benchmark in
        let feed = FeatureInputs(orders: inputs.orders, events: inputs.events, sessions: inputs.sessions, customers: inputs.customers)
        benchmark.startMeasurement()
        let t0 = ContinuousClock.now
        let r = try FeatureBuilder.build(feed, asOf: Inputs.asOf, configuration: Configuration(), threads: 1)
        let d = (ContinuousClock.now - t0).components
        benchmark.stopMeasurement()
        let seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
        precondition(r.features.rowCount == Inputs.customers, "every customer gets a row")
        benchmark.measurement(.rowsPerSecond, Int(Double(inputs.rows) / seconds))
        benchmark.measurement(.customersPerSecond, Int(Double(r.features.rowCount) / seconds))
        blackHole(r)
    }
}

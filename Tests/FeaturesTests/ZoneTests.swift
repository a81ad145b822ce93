import CVMCore
import Features
import Testing

/// Windows and timing features in a declared zone (`features.zone`).
struct ZoneTests {
    /// One order per customer at a given UTC instant.
    func orders(_ at: [(String, Int64)]) -> Table {
        Table(name: "stg_orders", columns: [
            Column("customer_id", strings: at.map(\.0)), Column("order_id", strings: at.map { "O-\($0.0)" }),
            Column("ordered_at", .timestamp, int64: at.map(\.1)), Column("quantity", .int, int64: at.map { _ in 1 }),
            Column("unit_price", .decimal, int64: at.map { _ in 1000 }, scale: 2), Column("status", strings: at.map { _ in "completed" }),
        ])
    }

    func build(_ t: Table, zone: String) throws -> Table {
        var cfg = Configuration()
        cfg.zone = zone
        return try FeatureBuilder.build(FeatureInputs(orders: t), asOf: asOf, configuration: cfg, threads: 1).features
    }

    @Test func theAsOfDayEndsAtLocalMidnight() throws {
        let midnight = (asOf.daysSinceEpoch + 1) * microsPerDay  // 2026-07-01T00:00Z
        let hour = 3_600 * microsPerSecond
        // A: 23:30 UTC on the as-of day = 01:30 on July 1 in Berlin (CEST, +2): after the as-of day there.
        // B: 03:00 UTC on July 1 = 23:00 on June 30 in New York (EDT, -4): still the as-of day there.
        let t = orders([("A", midnight - hour / 2), ("B", midnight + 3 * hour)])
        let utc = try build(t, zone: "UTC")
        #expect(value(utc, "orders_count_all", "A") == 1)
        #expect(value(utc, "orders_count_all", "B") == nil)  // after the cutoff: not even a customer yet
        let berlin = try build(t, zone: "Europe/Berlin")
        #expect(value(berlin, "orders_count_all", "A") == nil)
        let newYork = try build(t, zone: "America/New_York")
        #expect(value(newYork, "orders_count_all", "A") == 1)
        #expect(value(newYork, "orders_count_all", "B") == 1)
        #expect(value(newYork, "recency_days", "B") == 0)
        #expect(value(newYork, "hour_share_evening", "B") == 1)  // 23:00 local
        #expect(value(newYork, "hour_share_evening", "A") == 1)  // 19:30 local
        #expect(value(utc, "hour_share_evening", "A") == 1)
        // A fixed offset works the same way.
        #expect(value(try build(t, zone: "-04:00"), "orders_count_all", "B") == 1)
    }

    @Test func weekdaysFollowTheLocalCalendar() throws {
        // 2026-06-28 is a Sunday. 22:30 UTC that day is Monday 06:30 in Tokyo (+9).
        let sunday = CivilDate(year: 2026, month: 6, day: 28).daysSinceEpoch * microsPerDay + 22 * 3_600 * microsPerSecond + 1_800 * microsPerSecond
        let t = orders([("A", sunday)])
        #expect(value(try build(t, zone: "UTC"), "dow_share_sun", "A") == 1)
        let tokyo = try build(t, zone: "Asia/Tokyo")
        #expect(value(tokyo, "dow_share_mon", "A") == 1)
        #expect(value(tokyo, "weekend_share", "A") == 0)
        #expect(value(tokyo, "hour_share_morning", "A") == 1)
    }

    @Test func cutoffsAreUTCInstants() {
        var cfg = Configuration()
        let endUTC = (asOf.daysSinceEpoch + 1) * microsPerDay
        #expect(cfg.cutoffUTC(asOf: asOf) == endUTC)
        cfg.zone = "Europe/Berlin"
        #expect(cfg.cutoffUTC(asOf: asOf) == endUTC - 2 * 3_600 * microsPerSecond)
        cfg.zone = "America/New_York"
        #expect(cfg.cutoffUTC(asOf: asOf) == endUTC + 4 * 3_600 * microsPerSecond)
        // Winter: CET is +1.
        #expect(cfg.cutoffUTC(asOf: CivilDate(year: 2026, month: 1, day: 15)) ==
                (CivilDate(year: 2026, month: 1, day: 16).daysSinceEpoch) * microsPerDay + 5 * 3_600 * microsPerSecond)
    }
}

/// The feature stage refuses, before allocating, a matrix larger than its memory limit.
struct MemoryLimitTests {
    @Test func aMatrixOverTheLimitIsRefusedWithAdvice() throws {
        let t = Table(name: "stg_orders", columns: [
            Column("customer_id", strings: (0..<2000).map { "C\($0)" }), Column("order_id", strings: (0..<2000).map { "O\($0)" }),
            Column("ordered_at", .timestamp, int64: (0..<2000).map { _ in asOf.daysSinceEpoch * microsPerDay }),
            Column("quantity", .int, int64: (0..<2000).map { _ in 1 }),
            Column("unit_price", .decimal, int64: (0..<2000).map { _ in 100 }, scale: 2),
        ])
        var cfg = Configuration()
        cfg.memoryLimitMB = 1  // 2,000 customers × ~150 features × 17 bytes ≈ 5 MiB
        do {
            _ = try FeatureBuilder.build(FeatureInputs(orders: t), asOf: asOf, configuration: cfg, threads: 1)
            Issue.record("built features over the limit")
        } catch let e as CVMFailure {
            #expect(e.exitStatus == .config)
            #expect(e.message.contains("2000 customers × ") && e.message.contains("more than the limit of 1.0 MiB"))
            #expect(e.message.contains("use fewer windows (stages.features.windows)"))
        }
        cfg.memoryLimitMB = 64
        #expect(try FeatureBuilder.build(FeatureInputs(orders: t), asOf: asOf, configuration: cfg, threads: 1).features.rowCount == 2000)
    }
}

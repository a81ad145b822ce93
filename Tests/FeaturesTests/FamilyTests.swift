import Foundation
import CVMCore
import Features
import TestSupport
import Testing

/// One small customer per family, every expected value worked out by hand in the comments
/// (the as-of date 2026-06-30 is a Tuesday; "day k" is k days before it, at the given UTC hour).
struct FamilyTests {
    static let base = asOf.daysSinceEpoch

    static func at(_ day: Int64, hour: Int64 = 12, minute: Int64 = 0) -> Int64 {
        (base - day) * microsPerDay + (hour * 60 + minute) * 60 * microsPerSecond
    }

    /// Order lines: (customer, order, day, hour, price in cents, category, status), quantity 1, no discount.
    static func orders(_ rows: [(String, String, Int64, Int64, Int64, String, String)]) -> Table {
        Table(name: "stg_orders", columns: [
            Column("customer_id", strings: rows.map(\.0)),
            Column("order_id", strings: rows.map(\.1)),
            Column("ordered_at", .timestamp, int64: rows.map { at($0.2, hour: $0.3) }),
            Column("quantity", .int, int64: rows.map { _ in 1 }),
            Column("unit_price", .decimal, int64: rows.map(\.4), scale: 2),
            Column("discount", .decimal, int64: rows.map { _ in 0 }, scale: 2),
            Column("status", .enum, strings: rows.map(\.6)),
            Column("sku", strings: rows.map { "\($0.5)-\($0.4)" }),
            Column("category", strings: rows.map(\.5)),
        ])
    }

    static func build(_ inputs: FeatureInputs, _ configure: (inout Configuration) -> Void = { _ in }) throws -> Table {
        var config = Configuration()
        configure(&config)
        return try FeatureBuilder.build(inputs, asOf: asOf, configuration: config, threads: 1).features
    }

    static func expectClose(_ t: Table, _ feature: String, _ customer: String, _ expected: Double?,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        let got = value(t, feature, customer)
        switch (got, expected) {
        case (nil, nil): break
        case let (g?, e?): #expect(approxEqual(g, e, rel: 1e-12), "\(feature) of \(customer): \(g) != \(e)", sourceLocation: sourceLocation)
        default: Issue.record("\(feature) of \(customer): got \(String(describing: got)), expected \(String(describing: expected))",
                              sourceLocation: sourceLocation)
        }
    }

    // MARK: clickstream

    /// A's sessions: day 2 twice (a purchase session and a bounce), day 40 once (cart and checkout, no purchase),
    /// and one after the as-of day (ignored). B has an order but no sessions.
    static func sessions() -> Table {
        typealias S = (customer: String, day: Int64, duration: Int64, events: Int64, views: Int64, searches: Int64,
                       carts: Int64, checkouts: Int64, purchases: Int64, bounce: Int64, device: String?, referrer: String?)
        let rows: [S] = [
            ("A", 2, 100, 4, 3, 1, 1, 1, 1, 0, "mobile", "google"),
            ("A", 2, 10, 1, 1, 0, 0, 0, 0, 1, "mobile", nil),
            ("A", 40, 300, 6, 4, 2, 1, 1, 0, 0, "desktop", "google"),
            ("A", -1, 999, 9, 9, 9, 9, 9, 9, 0, "tablet", "bing"),
        ]
        return Table(name: "stg_sessions", columns: [
            Column("session_id", strings: rows.indices.map { "A-\($0)" }),
            Column("customer_id", strings: rows.map(\.customer)),
            Column("started_at", .timestamp, int64: rows.map { at($0.day, hour: 10) }),
            Column("duration_s", .int, int64: rows.map(\.duration)),
            Column("events", .int, int64: rows.map(\.events)),
            Column("page_views", .int, int64: rows.map(\.views)),
            Column("searches", .int, int64: rows.map(\.searches)),
            Column("add_to_cart", .int, int64: rows.map(\.carts)),
            Column("checkouts", .int, int64: rows.map(\.checkouts)),
            Column("purchases", .int, int64: rows.map(\.purchases)),
            Column("is_bounce", .bool, int64: rows.map(\.bounce)),
            Column("device", strings: rows.map(\.device)),
            Column("referrer", strings: rows.map(\.referrer)),
        ])
    }

    @Test func clickstreamByHand() throws {
        let o = Self.orders([("A", "1", 2, 12, 1000, "books", "completed"), ("B", "2", 3, 12, 500, "books", "completed")])
        let t = try Self.build(FeatureInputs(orders: o, sessions: Self.sessions()))
        let e = { (f: String, c: String, v: Double?) in Self.expectClose(t, f, c, v) }
        // Last 7 days: the two day-2 sessions.
        e("sessions_7d", "A", 2)
        e("active_days_7d", "A", 1)
        e("page_views_7d", "A", 4)
        e("pv_per_session_7d", "A", 2)                  // 4 / 2
        e("session_duration_mean_s_7d", "A", 55)        // (100 + 10) / 2
        e("session_duration_median_s_7d", "A", 55)
        e("bounce_rate_7d", "A", 0.5)
        e("add_to_cart_rate_7d", "A", 0.5)
        e("cart_abandonment_7d", "A", 0)                // the one cart was bought
        e("checkout_abandonment_7d", "A", 0)
        e("conversion_7d", "A", 0.5)
        e("search_share_7d", "A", 0.2)                  // 1 search of 5 events
        // All time: three sessions (the one after the as-of day is ignored).
        e("sessions_all", "A", 3)
        e("active_days_all", "A", 2)
        e("page_views_all", "A", 8)
        e("pv_per_session_all", "A", 8.0 / 3)
        e("session_duration_mean_s_all", "A", 410.0 / 3)
        e("session_duration_median_s_all", "A", 100)
        e("bounce_rate_all", "A", 1.0 / 3)
        e("add_to_cart_rate_all", "A", 2.0 / 3)
        e("cart_abandonment_all", "A", 0.5)             // day 40 had a cart and no purchase
        e("checkout_abandonment_all", "A", 0.5)
        e("conversion_all", "A", 1.0 / 3)
        e("search_share_all", "A", 3.0 / 11)
        // Devices and referrers ranked by sessions before the cutoff: mobile (2), desktop (1); google (2).
        e("device_share_mobile_7d", "A", 1)
        e("device_share_mobile_all", "A", 2.0 / 3)
        e("device_share_desktop_all", "A", 1.0 / 3)
        e("referrer_share_google_7d", "A", 0.5)
        e("referrer_share_google_all", "A", 2.0 / 3)
        #expect(t["device_share_tablet_all"] == nil, "tablet only appears after the cutoff")
        // B: counts are 0, ratios undefined.
        e("sessions_all", "B", 0)
        e("page_views_30d", "B", 0)
        e("pv_per_session_all", "B", nil)
        e("bounce_rate_all", "B", nil)
        e("device_share_mobile_all", "B", nil)
        // Sessions trend: 2 sessions in the last 30 days, 1 in the 30 before: (2 + 1) / (1 + 1).
        e("sessions_trend_30v30", "A", 1.5)
    }

    // MARK: events and the value parts

    @Test func eventCountsAndValuePartsByHand() throws {
        let o = Self.orders([("A", "1", 2, 12, 1000, "books", "completed")])
        let rows: [(Int64, String)] = [(0, "page_view"), (1, "page_view"), (10, "page_view"), (100, "review"), (3, "share"),
                                       (3, "support_contact"), (-1, "review")]
        let events = Table(name: "stg_events", columns: [
            Column("customer_id", strings: rows.map { _ in "A" }),
            Column("occurred_at", .timestamp, int64: rows.map { Self.at($0.0, hour: 9) }),
            Column("event_type", .enum, strings: rows.map(\.1)),
        ])
        let customers = Table(name: "stg_customers", columns: [
            Column("customer_id", strings: ["A"]),
            Column("email", strings: ["a@example.com"]),
            Column("signup_date", .date, int64: [Self.base - 200]),
            Column("country", strings: [nil]),
            Column("birth_year", .int, int64: [0], validity: [false]),
            Column("channel", strings: ["ads"]),
        ])
        let t = try Self.build(FeatureInputs(orders: o, events: events, customers: customers))
        let e = { (f: String, v: Double?) in Self.expectClose(t, f, "A", v) }
        e("events_page_view_7d", 2)
        e("events_page_view_30d", 3)
        e("events_review_90d", 0)
        e("events_review_180d", 1)
        e("events_review_all", 1)                  // the review after the as-of day is ignored
        e("events_share_7d", 1)
        e("events_support_contact_all", 1)
        // Without `event_types` the types in the data are counted: no checkout feature, as there is no checkout.
        #expect(t["events_checkout_all"] == nil)
        e("value_reputation", 2)                   // review + share + referral
        e("value_knowledge", 2)                    // review + support contact
        e("profile_completeness", 0.6)             // email, signup date, channel of five
        e("value_information", 0.5 * 0.6 + 0.5 * 6 / 100)   // six events before the cutoff

        // Listed types are counted in that order, present in the data or not; the value parts count their own
        // types whether they are listed or not.
        let listed = try Self.build(FeatureInputs(orders: o, events: events, customers: customers)) { $0.eventTypes = ["checkout", "review"] }
        let names = listed.columns.map(\.name).filter { $0.hasPrefix("events_") && $0.hasSuffix("_all") }
        #expect(names == ["events_checkout_all", "events_review_all"])
        Self.expectClose(listed, "events_checkout_all", "A", 0)
        Self.expectClose(listed, "events_review_all", "A", 1)
        Self.expectClose(listed, "value_reputation", "A", 2)
        Self.expectClose(listed, "value_knowledge", "A", 2)
        // The value parts' types are the config's too (GA4 names a shop's own events differently).
        let own = try Self.build(FeatureInputs(orders: o, events: events, customers: customers)) {
            $0.valueEvents.reputation = ["share"]
            $0.valueEvents.knowledge = ["page_view", "support_contact"]
        }
        Self.expectClose(own, "value_reputation", "A", 1)
        Self.expectClose(own, "value_knowledge", "A", 4)    // three page views and a support contact
    }

    /// A status no `statuses` list names counts as completed, as before, and the result says which ones (WooCommerce's
    /// "processing" and "on-hold" would otherwise be revenue without a word).
    @Test func unlistedStatusesAreNamed() throws {
        let o = Self.orders([("A", "1", 2, 12, 1000, "books", "completed"), ("A", "2", 3, 12, 500, "books", "processing"),
                             ("B", "3", 3, 12, 700, "books", "On-Hold"), ("B", "4", 4, 12, 200, "books", "processing"),
                             ("B", "5", 5, 12, 900, "books", "refunded")])
        let r = try FeatureBuilder.build(FeatureInputs(orders: o), asOf: asOf, configuration: Configuration(), threads: 1)
        #expect(r.warnings == ["order status values no list of stages.features.statuses names count as completed: processing (2 lines), On-Hold (1 line); list each under completed, returned or cancelled"])
        Self.expectClose(r.features, "revenue_sum_all", "A", 15)
        Self.expectClose(r.features, "revenue_sum_all", "B", 9)
        var listed = Configuration()
        listed.statuses.cancelled += ["processing", "on-hold"]
        let q = try FeatureBuilder.build(FeatureInputs(orders: o), asOf: asOf, configuration: listed, threads: 1)
        #expect(q.warnings.isEmpty)
        Self.expectClose(q.features, "revenue_sum_all", "A", 10)
        #expect(q.features["revenue_sum_all"]!.isValid(1) == false || q.features["revenue_sum_all"]!.double(at: 1) == 0)
    }

    /// Without a list, the 20 most frequent types in the data are counted (ties by name), named after the type's slug.
    @Test func eventTypesComeFromTheDataWhenNotListed() throws {
        let o = Self.orders([("A", "1", 2, 12, 1000, "books", "completed")])
        // 22 types: "t00" once, "t01" twice, ... ; "Begin Checkout" 30 times.
        var rows: [String] = []
        for k in 0..<21 { rows += Array(repeating: String(format: "t%02d", k), count: k + 1) }
        rows += Array(repeating: "Begin Checkout", count: 30)
        let events = Table(name: "stg_events", columns: [
            Column("customer_id", strings: rows.map { _ in "A" }),
            Column("occurred_at", .timestamp, int64: rows.map { _ in Self.at(1, hour: 9) }),
            Column("event_type", .string, strings: rows),
        ])
        let t = try Self.build(FeatureInputs(orders: o, events: events))
        let names = t.columns.map(\.name).filter { $0.hasPrefix("events_") && $0.hasSuffix("_all") }
        // t00 and t01 are the two least frequent of 22: left out.
        #expect(names == ["events_begin_checkout_all"] + (2..<21).map { String(format: "events_t%02d_all", $0) })
        Self.expectClose(t, "events_begin_checkout_7d", "A", 30)
        Self.expectClose(t, "events_t20_all", "A", 21)
    }

    /// Labels that slug alike get `_2` on the slug, before the window, in every window: a `*_7d` glob finds them all.
    @Test func labelsThatSlugAlikeKeepTheirWindowLast() throws {
        let o = Self.orders([("A", "1", 2, 12, 1000, "Home & Garden", "completed"), ("A", "2", 3, 12, 500, "home-garden", "completed")])
        let types = ["Add to cart", "add-to-cart", "add_to_cart_2", "add-to-cart"]
        let events = Table(name: "stg_events", columns: [
            Column("customer_id", strings: types.map { _ in "A" }),
            Column("occurred_at", .timestamp, int64: types.map { _ in Self.at(1, hour: 9) }),
            Column("event_type", .string, strings: types),
        ])
        let t = try Self.build(FeatureInputs(orders: o, events: events))
        let week = t.columns.map(\.name).filter { $0.hasPrefix("events_") && $0.hasSuffix("_7d") }
        // Data types sort by name: "Add to cart", "add-to-cart", "add_to_cart_2"; they claim names most frequent
        // first: "add-to-cart" (twice) the plain one, then "Add to cart" and "add_to_cart_2" (once each, by name).
        #expect(week == ["events_add_to_cart_2_7d", "events_add_to_cart_7d", "events_add_to_cart_2_2_7d"])
        Self.expectClose(t, "events_add_to_cart_all", "A", 2)    // add-to-cart, twice
        Self.expectClose(t, "events_add_to_cart_2_all", "A", 1)  // Add to cart
        Self.expectClose(t, "events_add_to_cart_2_2_30d", "A", 1)
        let shares = t.columns.map(\.name).filter { $0.hasPrefix("category_spend_share_") }
        #expect(Set(shares) == ["category_spend_share_home_garden", "category_spend_share_home_garden_2"])
        #expect(t.columns.allSatisfy { !$0.name.hasSuffix("d_2") })
    }

    /// A date-typed `ordered_at` has no time of day: the hour shares are null (they were all "night", the date read as
    /// its midnight), and the catalog says why; the weekday shares still count.
    @Test func hourSharesAreNullWhenOrderTimesAreDates() throws {
        var o = Self.orders([("A", "1", 2, 0, 1000, "books", "completed"), ("A", "2", 6, 0, 500, "books", "completed")])
        o.replace(Column("ordered_at", .date, int64: [Self.base - 2, Self.base - 6]))
        let r = try FeatureBuilder.build(FeatureInputs(orders: o), asOf: asOf, configuration: Configuration(), threads: 1)
        for b in ["night", "morning", "afternoon", "evening"] {
            Self.expectClose(r.features, "hour_share_\(b)", "A", nil)
            let row = (0..<r.catalog.rowCount).first { r.catalog["name"]!.string(at: $0) == "hour_share_\(b)" }!
            #expect(r.catalog["description"]!.string(at: row)!.hasSuffix("null: orders.ordered_at is a date, without a time of day"))
        }
        Self.expectClose(r.features, "dow_share_sun", "A", 0.5)   // day 2 is a Sunday, day 6 a Wednesday
        Self.expectClose(r.features, "dow_share_wed", "A", 0.5)
        // With timestamps the shares are there.
        let t = try Self.build(FeatureInputs(orders: Self.orders([("A", "1", 2, 20, 1000, "books", "completed")])))
        Self.expectClose(t, "hour_share_evening", "A", 1)
    }

    /// The catalog names the config's sources, not the roles: a shop whose orders source is `bestellungen` reads
    /// `bestellungen.ordered_at` (it read `orders.ordered_at`, a source the config does not have).
    @Test func theCatalogNamesTheConfigsSources() throws {
        var config = Configuration()
        config.orders = "bestellungen"
        config.customers = "kunden"
        let r = try FeatureBuilder.build(FeatureInputs(orders: Self.orders([("A", "1", 2, 12, 1000, "books", "completed")])),
                                         asOf: asOf, configuration: config, threads: 1)
        func sources(_ name: String) -> String? {
            (0..<r.catalog.rowCount).first { r.catalog["name"]!.string(at: $0) == name }.flatMap { r.catalog["source_columns"]!.string(at: $0) }
        }
        #expect(sources("recency_days") == "bestellungen.customer_id, bestellungen.order_id, bestellungen.ordered_at, bestellungen.status")
        #expect(sources("days_since_signup") == "kunden.customer_id, kunden.signup_date")
        #expect(sources("dow_share_mon") == "bestellungen.customer_id, bestellungen.order_id, bestellungen.ordered_at, bestellungen.status")
    }

    // MARK: categories

    @Test func categoryMixByHand() throws {
        // Shop revenue by category: toys 60, books 30, garden 5, so the top two are toys and books.
        let o = Self.orders([
            ("A", "1", 5, 12, 3000, "books", "completed"),
            ("A", "1", 5, 12, 1000, "toys", "completed"),
            ("A", "2", 4, 12, 500, "garden", "completed"),
            ("A", "3", 3, 12, 9000, "garden", "cancelled"),
            ("B", "4", 2, 12, 5000, "toys", "completed"),
        ])
        let t = try Self.build(FeatureInputs(orders: o)) { $0.topCategories = 2 }
        let e = { (f: String, c: String, v: Double?) in Self.expectClose(t, f, c, v) }
        e("category_spend_share_toys", "A", 10.0 / 45)
        e("category_spend_share_books", "A", 30.0 / 45)
        e("category_order_share_toys", "A", 0.5)         // order 1 of A's two completed orders
        e("category_order_share_books", "A", 0.5)
        e("favourite_category", "A", 1)                  // books, the second top category
        e("category_spend_share_toys", "B", 1)
        e("category_spend_share_books", "B", 0)
        e("favourite_category", "B", 0)
        #expect(t["category_spend_share_garden"] == nil, "garden is not in the top two")
        e("distinct_categories_all", "A", 3)
        e("distinct_products_all", "A", 3)
    }

    // MARK: timing, trends and the CLV inputs

    @Test func timingTrendsAndCLVByHand() throws {
        // Saturday day 10 at 02:00 (night), Tuesday day 7 at 08:00 (morning), Monday day 1 at 20:00 (evening),
        // 10.00 each; a cancelled order on day 0 does not count.
        let o = Self.orders([
            ("A", "1", 10, 2, 1000, "books", "completed"),
            ("A", "2", 7, 8, 1000, "books", "completed"),
            ("A", "3", 1, 20, 1000, "books", "completed"),
            ("A", "4", 0, 13, 1000, "books", "cancelled"),
        ])
        let customers = Table(name: "stg_customers", columns: [
            Column("customer_id", strings: ["A"]),
            Column("signup_date", .date, int64: [Self.base - 100]),
        ])
        let t = try Self.build(FeatureInputs(orders: o, customers: customers))
        let e = { (f: String, v: Double?) in Self.expectClose(t, f, "A", v) }
        e("dow_share_mon", 1.0 / 3)
        e("dow_share_tue", 1.0 / 3)
        e("dow_share_sat", 1.0 / 3)
        e("dow_share_sun", 0)
        e("weekend_share", 1.0 / 3)
        e("hour_share_night", 1.0 / 3)
        e("hour_share_morning", 1.0 / 3)
        e("hour_share_afternoon", 0)
        e("hour_share_evening", 1.0 / 3)
        // Gaps between order times: 3 days 6 h = 3.25, then 6 days 12 h = 6.5.
        e("interval_mean_days", 4.875)
        e("interval_std_days", 1.625)
        e("interval_min_days", 3.25)
        e("interval_max_days", 6.5)
        e("purchase_regularity_cv", 1.0 / 3)
        e("signup_to_first_order_days", 90)
        e("cancel_rate_all", 0.25)
        // Trends: 30 in the last 30 days, nothing before: (30 + 1) / (0 + 1); orders (3 + 1) / (0 + 1).
        e("revenue_trend_30v30", 31)
        e("orders_trend_30v30", 4)
        e("revenue_trend_90v90", 31)
        // All revenue falls in the latest of 12 thirty-day months: slope = Σ(x − 5.5)·y / Σ(x − 5.5)² = 5.5 · 30 / 143.
        e("revenue_slope_12m", 165.0 / 143)
        // CLV inputs: three purchase days, two repeats; first day 10, last day 1.
        e("clv_repeat_days", 2)
        e("clv_recency_days", 9)
        e("clv_age_days", 10)
        e("clv_repeat_value", 10)
        // Transaction value: no returns, one of four lines cancelled, regularity 1/3: (1 − 0)(1 − 0.25) / (1 + 1/3).
        e("value_transaction", 0.75 * 0.75)
    }

    // MARK: profile

    @Test func profileByHand() throws {
        let o = Self.orders([("A", "1", 2, 12, 1000, "books", "completed")])
        let customers = Table(name: "stg_customers", columns: [
            Column("customer_id", strings: ["A", "B"]),
            Column("email", strings: ["a@example.com", nil]),
            Column("signup_date", .date, int64: [Self.base - 30, Self.base - 3]),
            Column("country", strings: ["DE", "AT"]),
            Column("birth_year", .int, int64: [1990, 0], validity: [true, false]),
            Column("channel", strings: ["ads", nil]),
        ])
        let t = try Self.build(FeatureInputs(orders: o, customers: customers))
        let e = { (f: String, c: String, v: Double?) in Self.expectClose(t, f, c, v) }
        e("age", "A", 36)                 // 2026 − 1990
        e("age_band", "A", 3)             // 35–44
        e("country_code", "A", 1)         // sorted: AT, DE
        e("country_code", "B", 0)
        e("channel_code", "A", 0)
        e("channel_code", "B", nil)
        e("age", "B", nil)
        e("profile_completeness", "A", 1)
        e("profile_completeness", "B", 0.4)   // signup date and country of five
        e("days_since_signup", "B", 3)
        e("recency_days", "B", nil)
        e("frequency", "B", 0)
    }
}

/// The runner reads only `FeatureInputs.columnsRead` from the artifacts: tables cut down to those columns must give
/// exactly the features of the whole tables (a column read but not declared would be missing and change them).
struct ProjectionTests {
    @Test func theDeclaredColumnsAreAllTheStageReads() throws {
        let lines = randomLines(seed: 3, customers: 30, count: 600)
        let base = ordersTable(lines)
        let orders = Table(name: base.name, columns: base.columns + [Column("_file", strings: lines.map { _ in "f.csv.gz" })])
        let ids = (0..<30).map { "C\($0)" }
        let types = ["page_view", "search", "add_to_cart", "checkout", "purchase", "review", "share", "support_contact"]
        let events = Table(name: "stg_events", columns: [
            Column("event_id", strings: (0..<300).map { "E\($0)" }),
            Column("customer_id", strings: (0..<300).map { ids[$0 % 30] }),
            Column("occurred_at", .timestamp, int64: (0..<300).map { FamilyTests.at(Int64($0 % 97), hour: Int64($0 % 24)) }),
            Column("event_type", .enum, strings: (0..<300).map { types[$0 % types.count] }),
            Column("device", strings: (0..<300).map { $0 % 2 == 0 ? "mobile" : "desktop" }),
        ])
        let s0 = FamilyTests.sessions()
        let sessions = Table(name: s0.name, columns: s0.columns + [Column("ended_at", .timestamp, int64: Array(repeating: 0, count: s0.rowCount))])
        let customers = Table(name: "stg_customers", columns: [
            Column("customer_id", strings: ids),
            Column("email", strings: ids.map { "\($0)@example.com" }),
            Column("signup_date", .date, int64: (0..<30).map { FamilyTests.base - Int64(400 + $0) }),
            Column("country", strings: ids.indices.map { ["DE", "FR", nil][$0 % 3] }),
            Column("birth_year", .int, int64: (0..<30).map { Int64(1950 + $0) }),
            Column("channel", strings: ids.indices.map { ["ads", "seo"][$0 % 2] }),
            Column("phone", strings: ids.map { _ in "+49" }),
        ])
        let whole = FeatureInputs(orders: orders, events: events, sessions: sessions, customers: customers)
        func cut(_ t: Table, _ keep: Set<String>) -> Table { Table(name: t.name, columns: t.columns.filter { keep.contains($0.name) }) }
        let read = FeatureInputs.columnsRead
        let projected = FeatureInputs(orders: cut(orders, read.orders), events: cut(events, read.events),
                                      sessions: cut(sessions, read.sessions), customers: cut(customers, read.customers))
        #expect(projected.events!.columns.count < events.columns.count)
        var config = Configuration()
        config.eventTypes = EventCountTests.demoTypes
        let a = try FeatureBuilder.build(whole, asOf: asOf, configuration: config, threads: 1)
        let b = try FeatureBuilder.build(projected, asOf: asOf, configuration: config, threads: 1)
        #expect(a.features.columns.count > 250)
        #expect(a.features == b.features)
        #expect(a.catalog == b.catalog)
    }
}

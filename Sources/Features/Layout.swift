import CVMCore

/// Feature columns in a fixed order, with offsets per family so computation and
/// catalog can never disagree. Built once per run from the config and the data's
/// global parameters (top categories, devices, referrers).
struct Layout: Sendable {
    var specs: [FeatureSpec] = []

    struct WindowOffsets: Sendable { var start: Int }  // first feature of this window's block

    // Family offsets (-1 when the family is off).
    var rfm = -1
    var ordersBlocks: [Int] = []       // per window (windows..., all)
    var clickBlocks: [Int] = []
    var eventBlocks: [Int] = []
    var deviceBlocks: [Int] = []       // per window: devices, then referrers
    var categoryStart = -1
    var timing = -1
    var trends = -1
    var profile = -1
    var value = -1
    var clv = -1

    /// Windows then nil for all time.
    let windows: [Int?]
    /// The windows' age buckets, and per entry of `windows` the last bucket it covers (`ages.last`).
    let ages: AgeBuckets
    let windowLastBucket: [Int]

    static let orderMetrics: [(String, String, String, Bool)] = [
        ("orders_count", "orders", "Completed orders", true),
        ("revenue_sum", "currency", "Net revenue from completed order lines (after discounts; returned and cancelled lines excluded)", false),
        ("revenue_mean", "currency", "Average net revenue per completed order", false),
        ("revenue_max", "currency", "Largest completed order by net revenue", false),
        ("revenue_min", "currency", "Smallest completed order by net revenue", false),
        ("revenue_std", "currency", "Standard deviation of net revenue per completed order", false),
        ("items", "items", "Units bought in completed order lines", true),
        ("distinct_products", "count", "Distinct products bought", true),
        ("distinct_categories", "count", "Distinct categories bought", true),
        ("discount_share", "share", "Discounts as a share of gross revenue", false),
        ("return_rate", "share", "Share of bought order lines that were returned", false),
        ("cancel_rate", "share", "Share of order lines that were cancelled", false),
    ]

    static let clickMetrics: [(String, String, String, Bool)] = [
        ("sessions", "sessions", "Browsing sessions", true),
        ("active_days", "days", "Days with at least one session", true),
        ("page_views", "count", "Page views", true),
        ("pv_per_session", "ratio", "Page views per session", false),
        ("session_duration_mean_s", "seconds", "Mean session duration", false),
        ("session_duration_median_s", "seconds", "Median session duration", false),
        ("bounce_rate", "share", "Share of sessions with a single page view and nothing else", false),
        ("add_to_cart_rate", "share", "Share of sessions with an add-to-cart", false),
        ("cart_abandonment", "share", "Share of sessions with a cart but no purchase", false),
        ("checkout_abandonment", "share", "Share of sessions that reached checkout but did not purchase", false),
        ("conversion", "share", "Share of sessions ending in a purchase (view → cart → purchase)", false),
        ("search_share", "share", "Searches as a share of all session events", false),
    ]

    init(_ ctx: Context, _ config: Configuration) {
        windows = ctx.windows.map { Optional($0) } + [nil]
        ages = ctx.ages
        windowLastBucket = windows.map(ctx.ages.last)
        let fam = config.families
        func suffix(_ w: Int?) -> String { w.map { "_\($0)d" } ?? "_all" }
        func span(_ w: Int?) -> String { w.map { "in the last \($0) days" } ?? "over all time" }
        var used = Set<String>()
        var sources = "", fill = "null"
        // The catalog names the config's sources (`bestellungen.ordered_at`), not the roles the code reads them as.
        let roles = ["orders": config.orders, "events": config.events ?? "events", "customers": config.customers ?? "customers"]
        func sourceNames(_ list: String) -> String {
            list.split(separator: ",").map { part in
                let item = part.drop { $0 == " " }
                guard let dot = item.firstIndex(of: "."), let name = roles[String(item[..<dot])] else { return String(item) }
                return name + item[dot...]
            }.joined(separator: ", ")
        }
        func add(_ name: String, _ family: String, _ unit: String, _ window: Int?, _ desc: String, int: Bool = false,
                 zero: Bool = false) {
            // A last guard: names from labels are made unique per list first (`uniqueSlugs`).
            var name = name, k = 2
            while used.contains(name) { name = "\(name)_\(k)"; k += 1 }
            used.insert(name)
            specs.append(FeatureSpec(name: name, family: family, unit: unit, window: window, description: desc, isInteger: int,
                                     sources: sourceNames(sources), fill: zero ? "0" : fill))
        }
        let orderCols = "orders.customer_id, orders.order_id, orders.ordered_at, orders.status"
        let money = "orders.quantity, orders.unit_price, orders.discount"
        let sessionCols = "sessions.customer_id, sessions.started_at"
        let zone = config.zone
        if fam.rfm {
            rfm = specs.count
            sources = orderCols
            add("recency_days", "rfm", "days", nil, "Days from the last completed order to the as-of date", int: true)
            add("frequency", "rfm", "orders", nil, "Completed orders over all time", int: true, zero: true)
            sources = "\(orderCols), \(money)"
            add("monetary", "rfm", "currency", nil, "Net revenue over all time", zero: true)
            add("aov_all", "rfm", "currency", nil, "Average order value over all time")
            sources = orderCols
            add("tenure_days", "rfm", "days", nil, "Days since the first completed order", int: true)
            sources = "customers.customer_id, customers.signup_date"
            add("days_since_signup", "rfm", "days", nil, "Days since the customer signed up", int: true)
        }
        if fam.orders {
            for w in windows {
                ordersBlocks.append(specs.count)
                for (i, (m, unit, desc, isInt)) in Layout.orderMetrics.enumerated() {
                    sources = orderCols + (i == 0 ? "" : i == 6 ? ", orders.quantity" : i == 7 ? ", orders.sku" : i == 8 ? ", orders.category" : ", \(money)")
                    add("\(m)\(suffix(w))", "orders", unit, w, "\(desc) \(span(w))", int: isInt, zero: [0, 1, 6, 7, 8].contains(i))
                }
            }
        }
        if fam.clickstream && ctx.hasSessions {
            for w in windows {
                clickBlocks.append(specs.count)
                let detail = ["", "", ", sessions.page_views", ", sessions.page_views", ", sessions.duration_s", ", sessions.duration_s",
                              ", sessions.is_bounce", ", sessions.add_to_cart", ", sessions.add_to_cart, sessions.purchases",
                              ", sessions.checkouts, sessions.purchases", ", sessions.purchases", ", sessions.searches, sessions.events"]
                for (i, (m, unit, desc, isInt)) in Layout.clickMetrics.enumerated() {
                    sources = sessionCols + detail[i]
                    add("\(m)\(suffix(w))", "clickstream", unit, w, "\(desc) \(span(w))", int: isInt, zero: i <= 2)
                }
            }
            // Device and referrer mix per window: shares of the window's sessions (null without sessions).
            let deviceSlugs = uniqueSlugs(ctx.topDevices.map(\.name)), referrerSlugs = uniqueSlugs(ctx.topReferrers.map(\.name))
            for w in windows {
                deviceBlocks.append(specs.count)
                sources = sessionCols + ", sessions.device"
                for (d, s) in zip(ctx.topDevices, deviceSlugs) {
                    add("device_share_\(s)\(suffix(w))", "clickstream", "share", w, "Share of sessions on \(d.name) \(span(w))")
                }
                sources = sessionCols + ", sessions.referrer"
                for (r, s) in zip(ctx.topReferrers, referrerSlugs) {
                    add("referrer_share_\(s)\(suffix(w))", "clickstream", "share", w, "Share of sessions arriving from \(r.name) \(span(w))")
                }
            }
        }
        if fam.clickstream && ctx.hasEvents {
            let typeSlugs = uniqueSlugs(ctx.eventTypes, claimOrder: ctx.eventTypeClaimOrder)
            for w in windows {
                eventBlocks.append(specs.count)
                sources = "events.customer_id, events.occurred_at, events.event_type"
                for (t, s) in zip(ctx.eventTypes, typeSlugs) {
                    add("events_\(s)\(suffix(w))", "clickstream", "count", w, "Events of type \(t) \(span(w))", int: true, zero: true)
                }
            }
        }
        if fam.categories && !ctx.topCategories.isEmpty {
            categoryStart = specs.count
            sources = "\(orderCols), orders.category, \(money)"
            let names = ctx.topCategories.map { ctx.categoryNames[Int($0)] }, slugs = uniqueSlugs(names)
            for (name, s) in zip(names, slugs) {
                add("category_spend_share_\(s)", "categories", "share", nil, "Share of net revenue spent on \(name)")
            }
            for (name, s) in zip(names, slugs) {
                add("category_order_share_\(s)", "categories", "share", nil, "Share of completed orders containing \(name)")
            }
            add("favourite_category", "categories", "code", nil,
                "Rank (0 = the shop's top category) of the category with the customer's highest spend, among the top categories: \(ctx.topCategories.map { ctx.categoryNames[Int($0)] }.joined(separator: ", "))", int: true)
        }
        if fam.timing {
            timing = specs.count
            sources = orderCols
            for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
                add("dow_share_\(d)", "timing", "share", nil, "Share of completed orders placed on \(d) (\(zone))")
            }
            for (b, hours) in [("night", "0-6h"), ("morning", "6-12h"), ("afternoon", "12-18h"), ("evening", "18-24h")] {
                add("hour_share_\(b)", "timing", "share", nil, "Share of completed orders placed in the \(b) (\(hours) \(zone))"
                    + (ctx.orderTimesHaveHours ? "" : "; null: orders.ordered_at is a date, without a time of day"))
            }
            add("weekend_share", "timing", "share", nil, "Share of completed orders placed on Saturday or Sunday (\(zone))")
            add("interval_mean_days", "timing", "days", nil, "Mean days between consecutive completed orders")
            add("interval_std_days", "timing", "days", nil, "Standard deviation of days between consecutive completed orders")
            add("interval_min_days", "timing", "days", nil, "Shortest gap between consecutive completed orders")
            add("interval_max_days", "timing", "days", nil, "Longest gap between consecutive completed orders")
            add("purchase_regularity_cv", "timing", "ratio", nil, "Coefficient of variation of inter-purchase intervals (lower is more regular)")
            sources = "\(orderCols), customers.signup_date"
            add("signup_to_first_order_days", "timing", "days", nil, "Days from signup to the first completed order", int: true)
            sources = orderCols
            add("interval_last_days", "timing", "days", nil, "Days between the last two completed orders (the silence the latest one ended)")
        }
        if fam.trends {
            trends = specs.count
            for (what, unit) in [("revenue", "net revenue"), ("orders", "completed orders"), ("sessions", "sessions")] {
                sources = what == "sessions" ? sessionCols : what == "revenue" ? "\(orderCols), \(money)" : orderCols
                // Without sessions (no events, or no stages.clean.sessions) there is nothing to trend: null, said so
                // (the catalog promised "never null").
                fill = what == "sessions" && !ctx.hasSessions ? "null: this shop has no sessions" : "1 when both periods are empty (flat), never null"
                add("\(what)_trend_30v30", "trends", "ratio", 30, "(\(unit) in the last 30 days + 1) / (\(unit) in the 30 days before + 1); 1 means flat")
                add("\(what)_trend_90v90", "trends", "ratio", 90, "(\(unit) in the last 90 days + 1) / (\(unit) in the 90 days before + 1); 1 means flat")
            }
            fill = "0"
            sources = "\(orderCols), \(money)"
            add("revenue_slope_12m", "trends", "currency per month", 360, "Least-squares slope of monthly net revenue over the last 12 months of 30 days (360 days)")
            fill = "null"
        }
        if fam.profile && ctx.hasCustomers {
            profile = specs.count
            sources = "customers.birth_year"
            add("age", "profile", "years", nil, "Age in the as-of year, from birth_year", int: true)
            add("age_band", "profile", "code", nil, "Age band: 1 <25, 2 25-34, 3 35-44, 4 45-54, 5 55-64, 6 65+", int: true)
            sources = "customers.country"
            add("country_code", "profile", "code", nil, "Country as a code (index in: \(ctx.countries.prefix(30).joined(separator: ", ")))", int: true)
            sources = "customers.channel"
            add("channel_code", "profile", "code", nil, "Acquisition channel as a code (index in: \(ctx.channels.joined(separator: ", ")))", int: true)
            sources = "customers.email, customers.signup_date, customers.country, customers.birth_year, customers.channel"
            add("profile_completeness", "profile", "share", nil, "Share of profile fields filled in (email, signup date, country, birth year, channel)")
        }
        if fam.clv {
            clv = specs.count
            sources = "\(orderCols), \(money)"
            add("clv_repeat_days", "clv", "purchase days", nil, "Repeat purchase occasions: distinct days with a completed order, minus the first (BG/NBD x)", int: true)
            add("clv_recency_days", "clv", "days", nil, "Days from the first to the last purchase day (BG/NBD t_x)", int: true)
            add("clv_age_days", "clv", "days", nil, "Days from the first purchase day to the as-of date (BG/NBD T)", int: true)
            add("clv_repeat_value", "clv", "currency", nil, "Mean net revenue per repeat purchase day (Gamma-Gamma m̄; 0 without repeats)")
        }
        if fam.value {
            value = specs.count
            sources = "events.customer_id, events.occurred_at, events.event_type"
            func types(_ list: [String]) -> String { list.isEmpty ? "none" : list.joined(separator: ", ") }
            add("value_reputation", "value", "count", nil, "Reputation value: word-of-mouth events (\(types(config.valueEvents.reputation)))", int: true)
            sources = "customers (profile fields), events.customer_id, events.occurred_at"
            add("value_information", "value", "score", nil, "Information value: half profile completeness, half events contributed (capped at 100)")
            sources = "events.customer_id, events.occurred_at, events.event_type"
            add("value_knowledge", "value", "count", nil, "Knowledge value: feedback events (\(types(config.valueEvents.knowledge)))", int: true)
            sources = "\(orderCols), \(money)"
            add("value_transaction", "value", "score", nil, "Transaction value: (1 - return rate) × (1 - cancellation rate) / (1 + purchase irregularity)")
        }
    }
}

/// Slugs of a list of labels, unique within the list: a label whose slug is taken gets `_2`, `_3`, ... on its
/// slug, before any window suffix, so `Add to cart` and `add-to-cart` give `events_add_to_cart_7d` and
/// `events_add_to_cart_2_7d` and a `*_7d` glob still finds both.
/// `claimOrder`: the order in which the labels (indices) claim their slugs, the list's order by default.
func uniqueSlugs(_ labels: [String], claimOrder: [Int]? = nil) -> [String] {
    var used = Set<String>()
    var out = [String](repeating: "", count: labels.count)
    for i in claimOrder ?? Array(labels.indices) {
        let base = slug(labels[i])
        var s = base, k = 2
        while used.contains(s) { s = "\(base)_\(k)"; k += 1 }
        used.insert(s)
        out[i] = s
    }
    return out
}

/// A lowercase identifier from a label: `books, magazines` → `books_magazines`.
func slug(_ s: String) -> String {
    var out = ""
    var lastUnderscore = false
    for c in s.lowercased().unicodeScalars {
        if (c >= "a" && c <= "z") || (c >= "0" && c <= "9") {
            out.unicodeScalars.append(c)
            lastUnderscore = false
        } else if !lastUnderscore && !out.isEmpty {
            out += "_"
            lastUnderscore = true
        }
    }
    while out.hasSuffix("_") { out.removeLast() }
    return out.isEmpty ? "other" : out
}

public import CVMCore

/// Settings of the features stage (`stages.features`).
public struct Configuration: Decodable, Sendable {
    /// Source names playing the orders, events and customers roles.
    public var orders: String
    public var events: String?
    public var customers: String?
    /// Window lengths in days, each ending at the as-of date (inclusive).
    public var windows: [Int]
    /// How many of the shop's top categories get spend and order shares.
    public var topCategories: Int
    /// Status values meaning completed, returned and cancelled (after lowercasing).
    public var statuses: Statuses
    /// Families switched on; all by default.
    public var families: Families
    /// The time zone days and hours are read in: windows end at the end of the as-of day there, and
    /// weekday and hour features use its wall clock. "UTC" (default), "+02:00", or an IANA name.
    public var zone: String = "UTC"
    /// The most memory the feature matrix may take, in MiB; default 75% of physical memory.
    public var memoryLimitMB: Int?
    /// The event types counted per window (`events_<type>_<window>`), in this order. Nil: the pipeline fills in the
    /// events source's declared `event_type` values when it is an enum; otherwise the most frequent types in the data
    /// are taken (`Context.eventTypeNames`).
    public var eventTypes: [String]?
    /// The event types the value family counts as word of mouth (`value_reputation`) and feedback (`value_knowledge`).
    public var valueEvents = ValueEvents()

    public struct ValueEvents: Decodable, Sendable {
        public var reputation: [String] = ["referral", "share", "review"]
        public var knowledge: [String] = ["review", "support_contact"]
        enum CodingKeys: String, CodingKey, CaseIterable { case reputation, knowledge }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            reputation = try c.decodeIfPresent([String].self, forKey: .reputation) ?? reputation
            knowledge = try c.decodeIfPresent([String].self, forKey: .knowledge) ?? knowledge
        }
    }

    public struct Statuses: Decodable, Sendable {
        public var completed: [String] = ["completed", "complete", "paid", "shipped", "delivered"]
        public var returned: [String] = ["returned", "refunded"]
        public var cancelled: [String] = ["cancelled", "canceled"]
        enum CodingKeys: String, CodingKey, CaseIterable { case completed, returned, cancelled }
        public init() {}

        /// A status value's outcome (any case): 0 completed, 1 returned, 2 cancelled; nil when no list names it
        /// (the features count it as completed, and say so).
        public func outcome(_ value: String) -> UInt8? {
            let l = value.lowercased()
            return returned.contains(l) ? 1 : cancelled.contains(l) ? 2 : completed.contains(l) ? 0 : nil
        }

        /// The values of a status column that no list names, with their non-null line counts, most lines first (ties
        /// by value): what the features stage logs and `cvm validate --sample` prints.
        public func unlisted(in column: Column) -> [(value: String, lines: Int)] {
            guard case .string(let codes, let dict) = column.storage else { return [] }
            var count = [Int](repeating: 0, count: dict.count)
            for i in 0..<column.count where column.isValid(i) { count[Int(codes[i])] += 1 }
            return dict.indices.filter { count[$0] > 0 && outcome(dict[$0]) == nil }
                .sorted { (count[$0], dict[$1]) > (count[$1], dict[$0]) }.map { (dict[$0], count[$0]) }
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            completed = try c.decodeIfPresent([String].self, forKey: .completed) ?? completed
            returned = try c.decodeIfPresent([String].self, forKey: .returned) ?? returned
            cancelled = try c.decodeIfPresent([String].self, forKey: .cancelled) ?? cancelled
            // One outcome per status: one listed twice was silently counted as returned (returned is looked up first).
            let lists = [("completed", completed), ("returned", returned), ("cancelled", cancelled)]
            for (a, x) in lists.enumerated() {
                for (b, y) in lists.enumerated() where b > a {
                    let both = Set(x.1.map { $0.lowercased() }).intersection(y.1.map { $0.lowercased() }).sorted()
                    if let v = both.first {
                        throw ConfigValueError("\"\(v)\" is listed under both \(x.0) and \(y.0) (a list not written keeps its default); give each status one outcome")
                    }
                }
            }
        }
    }

    public struct Families: Decodable, Sendable {
        public var rfm = true, orders = true, clickstream = true, categories = true, timing = true
        public var trends = true, profile = true, value = true, clv = true
        enum CodingKeys: String, CodingKey, CaseIterable { case rfm, orders, clickstream, categories, timing, trends, profile, value, clv }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            rfm = try c.decodeIfPresent(Bool.self, forKey: .rfm) ?? true
            orders = try c.decodeIfPresent(Bool.self, forKey: .orders) ?? true
            clickstream = try c.decodeIfPresent(Bool.self, forKey: .clickstream) ?? true
            categories = try c.decodeIfPresent(Bool.self, forKey: .categories) ?? true
            timing = try c.decodeIfPresent(Bool.self, forKey: .timing) ?? true
            trends = try c.decodeIfPresent(Bool.self, forKey: .trends) ?? true
            profile = try c.decodeIfPresent(Bool.self, forKey: .profile) ?? true
            value = try c.decodeIfPresent(Bool.self, forKey: .value) ?? true
            clv = try c.decodeIfPresent(Bool.self, forKey: .clv) ?? true
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case orders, events, customers, windows, topCategories = "top_categories", statuses, families, zone, memoryLimitMB = "memory_limit_mb"
        case eventTypes = "event_types", valueEvents = "value_events"
    }

    public init(orders: String = "orders", events: String? = nil, customers: String? = nil,
                windows: [Int] = [7, 30, 90, 180, 365], topCategories: Int = 5) {
        self.orders = orders
        self.events = events
        self.customers = customers
        self.windows = windows
        self.topCategories = topCategories
        statuses = Statuses()
        families = Families()
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        orders = try c.decodeIfPresent(String.self, forKey: .orders) ?? orders
        events = try c.decodeIfPresent(String.self, forKey: .events)
        customers = try c.decodeIfPresent(String.self, forKey: .customers)
        if let w = try c.decodeIfPresent([Int].self, forKey: .windows) {
            // At most 100 years: a huge window asked for an allocation of that many days (a crash, exit 134).
            if w.isEmpty || w.contains(where: { !(1...36_525).contains($0) }) || Set(w).count != w.count {
                throw ConfigValueError("windows must be distinct whole numbers of days, each between 1 and 36525 (100 years)")
            }
            windows = w.sorted()
        }
        if let n = try c.decodeIfPresent(Int.self, forKey: .topCategories) {
            if n < 0 || n > 50 { throw ConfigValueError("top_categories must be between 0 and 50, found \(n)") }
            topCategories = n
        }
        statuses = try c.decodeIfPresent(Statuses.self, forKey: .statuses) ?? statuses
        families = try c.decodeIfPresent(Families.self, forKey: .families) ?? families
        zone = try c.decodeIfPresent(ZoneName.self, forKey: .zone)?.name ?? zone
        memoryLimitMB = try c.decodeIfPresent(Int.self, forKey: .memoryLimitMB)
        if let m = memoryLimitMB, m < 1 { throw ConfigValueError("memory_limit_mb must be at least 1") }
        if let types = try c.decodeIfPresent([String].self, forKey: .eventTypes) {
            if types.isEmpty || types.contains(where: \.isEmpty) || Set(types).count != types.count {
                throw ConfigValueError("event_types must be a list of distinct, non-empty event_type values, e.g. [page_view, add_to_cart, purchase]")
            }
            eventTypes = types
        }
        valueEvents = try c.decodeIfPresent(ValueEvents.self, forKey: .valueEvents) ?? valueEvents
    }

    /// The end of the as-of day in the declared zone, as a UTC instant in µs (the point-in-time cutoff).
    public func cutoffUTC(asOf: CivilDate) -> Int64 {
        clock.endOfDayUTC(asOf.daysSinceEpoch)
    }

    /// The declared zone's clock (UTC when the name is unknown; the config check refuses those).
    public var clock: LocalClock { LocalClock(zone) ?? LocalClock("UTC")! }
}


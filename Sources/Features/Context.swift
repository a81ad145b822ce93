import CVMCore

/// Per-customer records derived once from the input tables; read-only during the parallel pass.
///
/// Order lines and sessions are gathered per customer (CSR layout: customer c's rows are `start[c]..<start[c + 1]`)
/// into one record each (`OrderLine`, `SessionRow`), so the per-customer pass reads one contiguous stream per table
/// instead of a dozen arrays, and each row's local day is computed here once. Events only feed counts per window
/// and type, so they are not gathered at all: one pass over row ranges adds each event to its customer's counter
/// for the smallest window that holds it (`countEvents`). Orders and sessions are prepared concurrently.
/// On the M preset (15.8 M events, 2.6 M order lines, 3 M sessions) this took 4.5 s with per-row `map`/`filter`
/// arrays and a time sort per customer; see `make bench BENCH_SUITES=features` for today's figure.
struct Context: Sendable {
    let asOfDay: Int64
    /// The decimals of the orders' money (price or amount, and discount) when all of it is `decimal`: sums of
    /// money are then exact to that scale (`ColumnBuffers.store`); nil when any of it is a double.
    let moneyScale: Int?
    let cutoff: Int64  // local µs: the end of the as-of day
    let windows: [Int]
    let customerIDs: [String]

    // Order lines before the cutoff, per customer in (time, row) order.
    let orderStart: [Int]
    let lines: [OrderLine]
    let categoryNames: [String]
    /// Global top categories (by completed revenue), as category codes.
    let topCategories: [Int32]
    /// Order status values no `statuses` list names (counted as completed), most lines first.
    let unlistedStatuses: [(value: String, lines: Int)]
    /// `ordered_at` is a timestamp, not a date: orders have a time of day (the hour shares are null without one;
    /// a date read as its midnight put every order in the night).
    let orderTimesHaveHours: Bool

    // Sessions before the cutoff, per customer (in input order; no feature depends on their order).
    let hasSessions: Bool
    let sessionStart: [Int]
    let sessions: [SessionRow]
    let topDevices: [(code: Int32, name: String)]
    let topReferrers: [(code: Int32, name: String)]

    // Events before the cutoff: counts per customer × window bucket × event type, and all events per customer.
    let hasEvents: Bool
    /// The event types counted (`Configuration.eventTypes`, else the data's most frequent ones); counters are per type in this order.
    let eventTypes: [String]
    /// The order in which `eventTypes` claim their feature names (`uniqueSlugs`): the data's most frequent first, so
    /// a rare spelling (`Page View` beside `page_view`) takes the `_2`, not the plain name; the listed order when
    /// configured.
    let eventTypeClaimOrder: [Int]
    /// Counters per bucket: one per event type, then the value family's word-of-mouth and feedback events
    /// (`Configuration.valueEvents`: a type may be in both, and need not be among `eventTypes`).
    var eventSlots: Int { eventTypes.count + 2 }
    /// The windows' age buckets (event counters are kept per bucket).
    let ages: AgeBuckets
    let eventCounts: [Int32]
    let eventTotal: [Int32]

    // Customers.
    let hasCustomers: Bool
    let signupDay: [Int64?]
    let birthYear: [Int64?]
    let countryCode: [Int?]
    let channelCode: [Int?]
    let completeness: [Double?]
    let countries: [String]
    let channels: [String]

    init(_ inputs: FeatureInputs, asOf: CivilDate, configuration: Configuration, threads: Int = 1) throws {
        asOfDay = asOf.daysSinceEpoch
        let cut = (asOf.daysSinceEpoch + 1) * microsPerDay
        cutoff = cut
        windows = configuration.windows
        let ages = AgeBuckets(windows: configuration.windows)
        self.ages = ages
        let o = inputs.orders
        let oc = try requireColumn(o, "customer_id", role: "orders", types: [.string, .enum, .int])
        let oid = try requireColumn(o, "order_id", role: "orders", types: [.string, .enum, .int])
        let ot = try requireColumn(o, "ordered_at", role: "orders", types: [.timestamp, .date])
        // Every instant becomes local wall-clock time in the declared zone; the cutoff is local midnight
        // after the as-of day. Dates (signup_date, date-typed ordered_at) are already local days.
        let clock = LocalClock(configuration.zone) ?? LocalClock("UTC")!
        orderTimesHaveHours = ot.type != .date
        let orderTimes: [Int64] = ot.type == .date ? ot.int64Values.map { $0 * microsPerDay } : clock.local(ot.int64Values)
        let price = o["unit_price"], amount = o["amount"]
        guard price != nil || amount != nil else {
            throw CVMFailure(.config, "error: features need a money column in the orders source: unit_price (with quantity) or amount")
        }
        let moneyColumns = [price ?? amount, o["discount"]].compactMap { $0 }
        moneyScale = moneyColumns.allSatisfy { $0.type == .decimal } ? moneyColumns.map(\.spec.scale).max() : nil

        // The customer universe as of the cutoff: customers signed up by then ∪ customers with an order or an
        // event before it, in byte order. A backfill for an earlier date sees exactly the customers of that date.
        // Ids are interned by their bytes (ByteInterner: a word-at-a-time hash over UTF-8, no `String` hashing), then put in byte
        // order once; each source's dictionary maps to the universe through the same table.
        var universe = ByteInterner()
        var names: [String] = []
        func add(_ id: String) { if Int(universe.intern(id)) == names.count { names.append(id) } }
        func collect(_ c: Column?, before time: Column?, local: [Int64]? = nil) {
            guard let c else { return }
            let (codes, dict) = stringCodes(c)
            var used = [Bool](repeating: false, count: dict.count)
            let timeValues = time.flatMap { $0.storage.kind == .int64 ? $0.int64Values : nil }
            let scale: Int64 = local == nil ? microsPerDay : 1
            for i in 0..<codes.count where c.isValid(i) {
                if let time, let tv = timeValues, time.isValid(i) {
                    let t = local?[i] ?? tv[i] &* scale
                    if t >= cut { continue }
                }
                used[Int(codes[i])] = true
            }
            for (k, u) in used.enumerated() where u { add(dict[k]) }
        }
        collect(inputs.customers?["customer_id"], before: inputs.customers?["signup_date"])
        collect(oc, before: ot, local: orderTimes)
        // Events are counted before the universe is known, per code of their own customer_id dictionary: the same
        // pass tells which customers have an event before the cutoff, so the 15.8 M events (M) are read once.
        let (eventTypes, claimOrder) = Self.eventTypeNames(inputs.events?["event_type"], configured: configuration.eventTypes)
        self.eventTypes = eventTypes
        eventTypeClaimOrder = claimOrder
        let types = eventTypes.count + 2
        let slots = ages.count
        let eventPass: EventCounts? = inputs.events.flatMap { e in
            guard let ec = e["customer_id"], let et = e["occurred_at"] else { return nil }
            return Self.countEvents(customer: ec, time: et, type: e["event_type"], types: eventTypes,
                                    valueEvents: configuration.valueEvents, clock: clock, ages: ages,
                                    asOfDay: asOf.daysSinceEpoch, cut: cut, threads: threads)
        }
        if let eventPass { for k in eventPass.dict.indices where eventPass.seen[k] { add(eventPass.dict[k]) } }
        let byteOrder = universe.codesInByteOrder()
        customerIDs = byteOrder.map { names[Int($0)] }
        var rank = [Int32](repeating: -1, count: names.count)
        for (r, code) in byteOrder.enumerated() { rank[Int(code)] = Int32(r) }
        let n = customerIDs.count
        let (lookupTable, lookupRank) = (universe, rank)
        /// A customer id's index in `customerIDs`, -1 when it is not a customer as of the cutoff.
        @Sendable func lookup(_ id: String) -> Int32 { lookupTable.code(of: id).map { lookupRank[Int($0)] } ?? -1 }
        /// Each row's customer index, -1 for null or unknown ids; `keep` rows only (others -1).
        @Sendable func customerIndex(_ c: Column, keep: (Int) -> Bool) -> [Int32] {
            let (codes, dict) = stringCodes(c)
            let map = dict.map(lookup)
            let validity = c.validity ?? []
            // Never an empty `unsafeUninitializedCapacity`: it writes the count into the shared empty-array
            // singleton, which races (ThreadSanitizer) when orders and sessions are prepared at once.
            guard !codes.isEmpty else { return [] }
            return [Int32](unsafeUninitializedCapacity: codes.count) { out, count in
                map.withUnsafeBufferPointer { map in
                    validity.withUnsafeBufferPointer { ok in
                        let all = ok.isEmpty
                        for i in 0..<codes.count { out[i] = (all || ok[i]) && keep(i) ? map[Int(codes[i])] : -1 }
                    }
                }
                count = codes.count
            }
        }

        // Orders and sessions are prepared concurrently (neither reads the other); events follow, split by rows.
        let prepared = parallelMap(chunks: 2, threads: threads) { part -> Prepared in
            part == 0 ? .orders(Self.orderRows(o, times: orderTimes, customerOf: { customerIndex(oc, keep: $0) }, ot: ot, oid: oid,
                                                price: price, amount: amount, customers: n, cut: cut, configuration: configuration))
                      : .sessions(Self.sessionRows(inputs.sessions, clock: clock, customerOf: customerIndex, customers: n, cut: cut))
        }
        guard case .orders(let or) = prepared[0], case .sessions(let sr) = prepared[1] else { preconditionFailure("prepared parts out of order") }
        (orderStart, lines) = (or.start, or.lines)
        unlistedStatuses = or.unlistedStatuses
        (categoryNames, topCategories) = (or.categoryNames, or.topCategories)
        if let sr {
            hasSessions = true
            (sessionStart, sessions) = (sr.start, sr.rows)
            (topDevices, topReferrers) = (sr.topDevices, sr.topReferrers)
        } else {
            hasSessions = false
            sessionStart = [Int](repeating: 0, count: n + 1)
            sessions = []
            topDevices = []
            topReferrers = []
        }

        // Events: the counters per event-source code, moved to the universe's customer order.
        if let eventPass, inputs.events?["event_type"] != nil {
            hasEvents = true
            let custOf = eventPass.dict.map(lookup)
            let width = slots * types
            var counts = [Int32](repeating: 0, count: n * width)
            var total = [Int32](repeating: 0, count: n)
            counts.withUnsafeMutableBufferPointer { counts in
                eventPass.counts.withUnsafeBufferPointer { from in
                    for (k, c) in custOf.enumerated() where c >= 0 && eventPass.total[k] > 0 {
                        let to = Int(c) * width
                        for j in 0..<width { counts[to + j] = from[k * width + j] }
                        total[Int(c)] = eventPass.total[k]
                    }
                }
            }
            eventCounts = counts
            eventTotal = total
        } else {
            hasEvents = false
            eventCounts = []
            eventTotal = []
        }

        // Customers' profile attributes.
        var signup = [Int64?](repeating: nil, count: n), birth = [Int64?](repeating: nil, count: n)
        var country = [Int?](repeating: nil, count: n), channel = [Int?](repeating: nil, count: n)
        var complete = [Double?](repeating: nil, count: n)
        var countryNames: [String] = [], channelNames: [String] = []
        if let c = inputs.customers, let cc = c["customer_id"] {
            hasCustomers = true
            let ci = customerIndex(cc) { _ in true }
            let profileCols = ["email", "signup_date", "country", "birth_year", "channel"].compactMap { c[$0] }
            /// Each row's rank of its value among the column's distinct values (byte order), nil for nulls.
            func codes(_ name: String) -> ([Int?], [String]) {
                guard let col = c[name] else { return ([Int?](repeating: nil, count: c.rowCount), []) }
                let (cd, dict) = stringCodes(col)
                var used = [Bool](repeating: false, count: dict.count)
                for r in 0..<c.rowCount where col.isValid(r) { used[Int(cd[r])] = true }
                let sorted = Array(Set(dict.indices.filter { used[$0] }.map { dict[$0] })).sorted()
                var rankOf: [String: Int] = [:]
                for (k, v) in sorted.enumerated() { rankOf[v] = k }
                let rank = dict.map { rankOf[$0] }
                return ((0..<c.rowCount).map { col.isValid($0) ? rank[Int(cd[$0])] : nil }, sorted)
            }
            let (countryC, countryN) = codes("country")
            let (channelC, channelN) = codes("channel")
            countryNames = countryN
            channelNames = channelN
            /// A profile field is filled when it is not null and, for text, not empty: per row, how many are.
            var filled = [Int](repeating: 0, count: c.rowCount)
            for col in profileCols {
                let empty: [Bool]
                if case .string(_, let dict) = col.storage { empty = dict.map(\.isEmpty) } else { empty = [] }
                let cd = empty.isEmpty ? [] : stringCodes(col).codes
                for r in 0..<c.rowCount where col.isValid(r) && (empty.isEmpty || !empty[Int(cd[r])]) { filled[r] += 1 }
            }
            /// An int-stored column's values, nil for nulls (or when the column is absent).
            func ints(_ name: String) -> [Int64?] {
                guard let col = c[name], col.storage.kind == .int64 else { return [Int64?](repeating: nil, count: c.rowCount) }
                let v = col.int64Values
                return (0..<c.rowCount).map { col.isValid($0) ? v[$0] : nil }
            }
            let signupOf = ints("signup_date"), birthOf = ints("birth_year")
            for r in 0..<c.rowCount {
                let k = ci[r]
                guard k >= 0 else { continue }
                let i = Int(k)
                signup[i] = signupOf[r]
                birth[i] = birthOf[r]
                country[i] = countryC[r]
                channel[i] = channelC[r]
                if !profileCols.isEmpty { complete[i] = Double(filled[r]) / Double(profileCols.count) }
            }
        } else {
            hasCustomers = false
        }
        (signupDay, birthYear, countryCode, channelCode, completeness) = (signup, birth, country, channel, complete)
        countries = countryNames
        channels = channelNames
    }

    /// Both parts prepared concurrently by `init`.
    enum Prepared: Sendable { case orders(OrderRows), sessions(SessionRows?) }

    /// One order line as the per-customer pass reads it: one 56-byte record instead of a value in each of eleven
    /// arrays, built in one gather (no temporary arrays for quantity × price, net, days).
    struct OrderLine: Sendable {
        /// Local wall-clock µs.
        var time: Int64
        /// Quantity × unit price (or the amount), and the discount; net = gross − discount.
        var gross: Double, discount: Double
        var qty: Int64
        /// Local day (days since 1970-01-01).
        var day: Int32
        /// Order, product and category codes (-1: none).
        var order: Int32, sku: Int32, category: Int32
        /// 0 completed, 1 returned, 2 cancelled.
        var status: UInt8
        @inline(__always) var net: Double { gross - discount }
    }

    struct OrderRows: Sendable {
        var start: [Int]
        var lines: [OrderLine] = []
        var categoryNames: [String] = [], topCategories: [Int32] = []
        /// Status values in none of `Configuration.statuses`' lists (counted as completed), with their line counts.
        var unlistedStatuses: [(value: String, lines: Int)] = []
    }

    /// One session as the per-customer pass reads it: one 32-byte record instead of a value in each of twelve
    /// arrays (on M, 3 M sessions: 96 MB instead of 200 MB, and one memory stream in the pass instead of twelve).
    struct SessionRow: Sendable {
        var duration: Double
        /// Local day of the start (days since 1970-01-01).
        var day: Int32
        /// Counts per session (clamped to Int32: the sessionizer's counts are bounded by the rows).
        var views: Int32, events: Int32, searches: Int32
        /// `cart`, `checkout`, `purchase`, `bounce`: the session had one (the features only test these for > 0).
        var flags: UInt8
        /// Index into `topDevices` / `topReferrers`, or -1.
        var device: Int8, referrer: Int8
        static let cart: UInt8 = 1, checkout: UInt8 = 2, purchase: UInt8 = 4, bounce: UInt8 = 8
    }

    struct SessionRows: Sendable {
        var start: [Int]
        var rows: [SessionRow] = []
        var topDevices: [(code: Int32, name: String)] = [], topReferrers: [(code: Int32, name: String)] = []
    }

    /// Events before the cutoff counted per code of the events' own customer_id dictionary.
    struct EventCounts: Sendable {
        var dict: StringDictionary
        /// code × (bucket, type): events of the type in the bucket (Context.buckets).
        var counts: [Int32]
        /// code: events before the cutoff (any type, or none).
        var total: [Int32]
        /// code: the customer has an event before the cutoff, or one without a time (it joins the universe).
        var seen: [Bool]
    }

    /// At most this many event types are counted when the config does not list them.
    static let maxDataEventTypes = 20

    /// The event types counted per window: the configured ones, else the `maxDataEventTypes` most frequent values of the
    /// events' `event_type` (ties by name), in name order, so a shop's own event names (GA4's `view_item`,
    /// `begin_checkout`) get their counts without configuration. Empty without the column.
    /// The event types counted, in name order, and the order they claim names in (`eventTypeClaimOrder`).
    static func eventTypeNames(_ column: Column?, configured: [String]?) -> (names: [String], claimOrder: [Int]) {
        if let configured { return (configured, Array(configured.indices)) }
        guard let column else { return ([], []) }
        let (codes, dict) = stringCodes(column)
        var counts = [Int](repeating: 0, count: dict.count)
        let valid = column.validity ?? []
        for i in codes.indices where valid.isEmpty || valid[i] { counts[Int(codes[i])] += 1 }
        let names = (0..<dict.count).map { dict[$0] }
        let byFrequency = names.indices.filter { counts[$0] > 0 }
            .sorted { (counts[$0], names[$1]) > (counts[$1], names[$0]) }
            .prefix(maxDataEventTypes).map { names[$0] }
        let sorted = byFrequency.sorted()
        let position = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, $0) })
        return (sorted, byFrequency.map { position[$0]! })
    }

    /// One pass over the events, split into row ranges across the threads; each range counts into its own
    /// counters, which are then added up (integer sums: the result does not depend on the split).
    /// The earlier design split by customer, so every thread scanned all rows: twice the scanning on 2 threads.
    ///
    /// The counters are hit at random (events come in time order, customers interleaved), so their size sets
    /// the cost: they are UInt16, with a count past 65,535 carried in a small table, so two threads' counters
    /// (2 × 12 MB on M) fit in this machine's 32 MB L3 where Int32 ones (2 × 24 MB) did not. On M the pass took
    /// 0.19 s with Int32 counters; with sequential counters (a test only) it took 0.08 s.
    static func countEvents(customer ec: Column, time et: Column, type ty: Column?, types names: [String],
                            valueEvents: Configuration.ValueEvents = .init(), clock: LocalClock,
                            ages: AgeBuckets, asOfDay: Int64, cut: Int64, threads: Int, rowsPerPart: Int = 1_000_000) -> EventCounts {
        // Slots per bucket: the named types, then word of mouth, then feedback (`Context.eventSlots`).
        let named = names.count, types = named + 2, width = ages.count * types
        let (custCodes, custDict) = stringCodes(ec)
        let (typeCodes, typeDict) = ty.map(stringCodes) ?? ([], [])
        let position = Dictionary(names.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
        let (mouth, feedback) = (Set(valueEvents.reputation), Set(valueEvents.knowledge))
        let typeIndex = typeDict.map { position[$0] ?? -1 }
        // Bit 0: a word-of-mouth type, bit 1: a feedback type.
        let valueMask = typeDict.map { UInt8(mouth.contains($0) ? 1 : 0) | UInt8(feedback.contains($0) ? 2 : 0) }
        let utc = et.int64Values
        // Nulls as empty arrays (no nulls): raw buffers below, no per-row `Column` calls.
        let (custOK, timeOK, typeOK) = (ec.validity ?? [], et.validity ?? [], ty?.validity ?? [])
        let rows = custCodes.count, codes = custDict.count
        let partCount = max(1, min(threads, rows / rowsPerPart))
        let parts = parallelMap(chunks: partCount, threads: threads) { part -> EventCounts in
            let lo = rows * part / partCount, hi = rows * (part + 1) / partCount
            var small = [UInt16](repeating: 0, count: codes * width)
            var carried: [Int: Int32] = [:]  // slot: multiples of 65,536 counted past the UInt16 range
            var total = [Int32](repeating: 0, count: codes)
            var seen = [Bool](repeating: false, count: codes)
            var local = clock.converter()
            let (cc, tc) = (custCodes, typeCodes)
            small.withUnsafeMutableBufferPointer { counts in total.withUnsafeMutableBufferPointer { total in
            utc.withUnsafeBufferPointer { ts in
            typeIndex.withUnsafeBufferPointer { typeIndex in valueMask.withUnsafeBufferPointer { valueMask in
            custOK.withUnsafeBufferPointer { custOK in timeOK.withUnsafeBufferPointer { timeOK in typeOK.withUnsafeBufferPointer { typeOK in
                for i in lo..<hi {
                    guard custOK.isEmpty || custOK[i] else { continue }
                    let c = Int(cc[i])
                    guard timeOK.isEmpty || timeOK[i] else { seen[c] = true; continue }
                    let t = local.convert(ts[i])
                    guard t < cut else { continue }
                    total[c] += 1
                    guard !tc.isEmpty, typeOK.isEmpty || typeOK[i] else { continue }
                    let code = Int(tc[i])
                    let k = Int(typeIndex[code]), mask = valueMask[code]
                    guard k >= 0 || mask != 0 else { continue }
                    let age = asOfDay - floorDiv(t, microsPerDay)
                    let base = c * width + ages.bucket(age: age) * types
                    @inline(__always) func count(_ slot: Int) {
                        let (v, wrapped) = counts[slot].addingReportingOverflow(1)
                        counts[slot] = v
                        if wrapped { carried[slot, default: 0] += 1 }
                    }
                    if k >= 0 { count(base + k) }
                    if mask & 1 != 0 { count(base + named) }
                    if mask & 2 != 0 { count(base + named + 1) }
                }
            } } } } } } } }
            // Widened once per part (sequential): Int32 counts with the carried multiples added back.
            var counts = small.map { Int32($0) }
            for (slot, times) in carried { counts[slot] &+= times &* 65_536 }
            return EventCounts(dict: [], counts: counts, total: total, seen: seen)
        }
        var merged = parts[0]
        for p in parts.dropFirst() {
            merged.counts.withUnsafeMutableBufferPointer { m in p.counts.withUnsafeBufferPointer { x in for j in 0..<m.count { m[j] &+= x[j] } } }
            for j in 0..<codes { merged.total[j] &+= p.total[j]; merged.seen[j] = merged.seen[j] || p.seen[j] }
        }
        for j in 0..<codes where merged.total[j] > 0 { merged.seen[j] = true }
        merged.dict = custDict
        return merged
    }

    /// Order lines before the cutoff, gathered per customer in (time, row) order.
    static func orderRows(_ o: Table, times: [Int64], customerOf: ((Int) -> Bool) -> [Int32], ot: Column, oid: Column,
                          price: Column?, amount: Column?, customers n: Int, cut: Int64, configuration: Configuration) -> OrderRows {
        let orderCust = customerOf { ot.isValid($0) && times[$0] < cut }
        let (orderCodes, _) = stringCodes(oid)
        var statusOf = [UInt8](repeating: 0, count: o.rowCount)
        var unlistedStatuses: [(value: String, lines: Int)] = []
        if let s = o["status"] {
            let (codes, dict) = stringCodes(s)
            let st = configuration.statuses
            // A status no list names counts as completed (0), and is reported.
            let map: [UInt8] = dict.map { st.outcome($0) ?? 0 }
            for i in 0..<s.count where s.isValid(i) { statusOf[i] = map[Int(codes[i])] }
            unlistedStatuses = st.unlisted(in: s)
        }
        var r = OrderRows(start: [])
        r.unlistedStatuses = unlistedStatuses
        let quantity = Numbers(o["quantity"]), money = Numbers(price ?? amount), discount = Numbers(o["discount"])
        let perUnit = price != nil
        let sku = o["sku"].map { (codes: stringCodes($0).codes, ok: $0.validity ?? []) }
        var catNames: [String] = []
        var category: (codes: StringCodes, ok: [Bool])?
        if let c = o["category"] {
            let (codes, dict) = stringCodes(c)
            catNames = Array(dict)
            category = (codes, c.validity ?? [])
        }
        @inline(__always) func code(_ x: (codes: StringCodes, ok: [Bool])?, _ i: Int) -> Int32 {
            guard let x, x.ok.isEmpty || x.ok[i] else { return -1 }
            return x.codes[i]
        }
        (r.start, r.lines) = scatterRows(orderCust, customers: n) { i in
            let qty = quantity.int(i, null: 1)
            let m = money.double(i, null: 0)
            return OrderLine(time: times[i], gross: perUnit ? Double(qty) * m : m, discount: discount.double(i, null: 0), qty: qty,
                             day: Int32(clamping: floorDiv(times[i], microsPerDay)), order: orderCodes[i],
                             sku: code(sku, i), category: code(category, i), status: statusOf[i])
        }
        // Within a customer, lines in (time, row) order: order logs are usually chronological already, and the
        // scatter kept row order, so only a customer whose lines are out of time order is sorted (stably, by time).
        r.lines.withUnsafeMutableBufferPointer { lines in
            for c in 0..<n where r.start[c + 1] - r.start[c] > 1 {
                let slice = UnsafeMutableBufferPointer(rebasing: lines[r.start[c]..<r.start[c + 1]])
                var sorted = true
                for k in 1..<slice.count where slice[k].time < slice[k - 1].time { sorted = false; break }
                if sorted { continue }
                let order = slice.indices.sorted { (slice[$0].time, $0) < (slice[$1].time, $1) }
                let copy = Array(slice)
                for (k, j) in order.enumerated() { slice[k] = copy[j - slice.startIndex] }
            }
        }
        r.categoryNames = catNames
        var revenueByCategory = [Double](repeating: 0, count: catNames.count)
        for line in r.lines where line.category >= 0 && line.status == 0 { revenueByCategory[Int(line.category)] += line.net }
        r.topCategories = catNames.indices
            .sorted { (revenueByCategory[$0], catNames[$1]) > (revenueByCategory[$1], catNames[$0]) }
            .prefix(configuration.topCategories).map { Int32($0) }
        return r
    }

    /// Sessions before the cutoff, gathered per customer; nil without a sessions table.
    static func sessionRows(_ sessions: Table?, clock: LocalClock, customerOf: (Column, (Int) -> Bool) -> [Int32],
                            customers n: Int, cut: Int64) -> SessionRows? {
        guard let s = sessions, let sc = s["customer_id"], let st = s["started_at"] else { return nil }
        let starts = clock.local(st.int64Values)
        let sessionCust = customerOf(sc) { st.isValid($0) && starts[$0] < cut }
        var r = SessionRows(start: [])
        /// The k most frequent labels among kept sessions (count, then name): the rank of each code among them.
        func top(_ name: String, _ k: Int) -> (rank: [Int8], codes: StringCodes, ok: [Bool], best: [(code: Int32, name: String)]) {
            guard let c = s[name] else { return ([], [], [], []) }
            let (codes, dict) = stringCodes(c)
            var counts = [Int](repeating: 0, count: dict.count)
            for i in sessionCust.indices where sessionCust[i] >= 0 && c.isValid(i) { counts[Int(codes[i])] += 1 }
            let best = dict.indices.filter { !dict[$0].isEmpty && counts[$0] > 0 }
                .sorted { (counts[$0], dict[$1]) > (counts[$1], dict[$0]) }.prefix(k)
            var rank = [Int8](repeating: -1, count: dict.count)
            for (r, code) in best.enumerated() { rank[code] = Int8(r) }
            return (rank, codes, c.validity ?? [], best.map { (code: Int32($0), name: dict[$0]) })
        }
        let device = top("device", 4), referrer = top("referrer", 5)
        r.topDevices = device.best
        r.topReferrers = referrer.best
        /// An int-stored count column's values and validity (empty when absent: the value is 0).
        struct Ints { var values: [Int64] = [], ok: [Bool] = [] }
        func ints(_ name: String) -> Ints {
            guard let c = s[name], c.storage.kind == .int64 else { return Ints() }
            return Ints(values: c.int64Values, ok: c.validity ?? [])
        }
        let (duration, events, views, searches) = (ints("duration_s"), ints("events"), ints("page_views"), ints("searches"))
        let (carts, checkouts, purchases, bounce) = (ints("add_to_cart"), ints("checkouts"), ints("purchases"), ints("is_bounce"))
        @inline(__always) func at(_ x: Ints, _ i: Int) -> Int64 { x.values.isEmpty || !(x.ok.isEmpty || x.ok[i]) ? 0 : x.values[i] }
        @inline(__always) func label(_ t: (rank: [Int8], codes: StringCodes, ok: [Bool], best: [(code: Int32, name: String)]), _ i: Int) -> Int8 {
            t.codes.isEmpty || !(t.ok.isEmpty || t.ok[i]) ? -1 : t.rank[Int(t.codes[i])]
        }
        // One sequential pass over the kept sessions, each written to its customer's next slot.
        (r.start, r.rows) = scatterRows(sessionCust, customers: n) { i in
            var flags: UInt8 = 0
            if at(carts, i) > 0 { flags |= SessionRow.cart }
            if at(checkouts, i) > 0 { flags |= SessionRow.checkout }
            if at(purchases, i) > 0 { flags |= SessionRow.purchase }
            if at(bounce, i) != 0 { flags |= SessionRow.bounce }
            return SessionRow(duration: Double(at(duration, i)), day: Int32(clamping: floorDiv(starts[i], microsPerDay)),
                              views: Int32(clamping: at(views, i)), events: Int32(clamping: at(events, i)),
                              searches: Int32(clamping: at(searches, i)), flags: flags,
                              device: label(device, i), referrer: label(referrer, i))
        }
        return r
    }

    @inline(__always) func orderRange(_ c: Int) -> Range<Int> { orderStart[c]..<orderStart[c + 1] }
    @inline(__always) func sessionRange(_ c: Int) -> Range<Int> { sessionStart[c]..<sessionStart[c + 1] }

}

/// Rows grouped by customer (CSR starts, customers + 1) as records: row i, kept when `customer[i] >= 0`, becomes
/// `make(i)` at its customer's next free slot, so each group keeps input order.
///
/// The columns are read in row order and each record is written once. Gathering by a customer-ordered
/// permutation instead read every column at a random row: about ten cache misses per row instead of one or
/// two (on M, orders and sessions took 0.35 s that way).
func scatterRows<T>(_ customer: [Int32], customers: Int, _ make: (Int) -> T) -> (start: [Int], rows: [T]) {
    var start = [Int](repeating: 0, count: customers + 1)
    for c in customer where c >= 0 { start[Int(c) + 1] += 1 }
    for k in 0..<customers { start[k + 1] += start[k] }
    let total = start[customers]
    guard total > 0 else { return (start, []) }  // no empty `unsafeUninitializedCapacity` (see customerIndex)
    var fill = start
    let rows = [T](unsafeUninitializedCapacity: total) { out, count in
        customer.withUnsafeBufferPointer { customer in
            fill.withUnsafeMutableBufferPointer { fill in
                for i in 0..<customer.count where customer[i] >= 0 {
                    let c = Int(customer[i])
                    (out.baseAddress! + fill[c]).initialize(to: make(i))
                    fill[c] += 1
                }
            }
        }
        count = total
    }
    return (start, rows)
}

/// The age buckets of the declared windows (ages in days before the as-of day). Windows are nested, so bucket k
/// holds the ages below the k-th shortest window but not below the one before it, and the last bucket the older
/// rows: window w covers buckets `0...last(w)`, and sums kept per bucket add up to every window's sums.
struct AgeBuckets: Sendable {
    /// The distinct window lengths, ascending.
    let ends: [Int]
    private let table: [UInt8]  // the bucket of each age below the longest window

    init(windows: [Int]) {
        let ends = Array(Set(windows)).sorted()
        self.ends = ends
        table = (0..<(ends.last ?? 0)).map { age in UInt8(ends.firstIndex { age < $0 }!) }
    }

    var count: Int { ends.count + 1 }

    /// The bucket of a row `age` (>= 0) days before the as-of day.
    @inline(__always) func bucket(age: Int64) -> Int { age < Int64(table.count) ? Int(table[Int(age)]) : ends.count }

    /// The last bucket a window covers; nil, all time: every bucket.
    func last(_ window: Int?) -> Int { window.map { w in ends.firstIndex(of: w)! } ?? ends.count }
}

/// A numeric column read row by row as Double or Int64 (decimals scaled to units); nulls, an absent column or a
/// text column give the caller's null value.
struct Numbers {
    private var doubles: [Double] = [], ints: [Int64] = [], ok: [Bool] = []
    private var divisor = 1.0, isDouble = false, present = false

    init(_ c: Column?) {
        guard let c else { return }
        ok = c.validity ?? []
        switch c.storage {
        case .double(let d): (doubles, isDouble, present) = (d, true, true)
        case .int64(let i): (ints, present, divisor) = (i, true, c.type == .decimal ? Double(pow10(c.spec.scale)) : 1)
        case .string: break
        }
    }

    @inline(__always) func double(_ i: Int, null: Double) -> Double {
        guard present, ok.isEmpty || ok[i] else { return null }
        return isDouble ? doubles[i] : (divisor == 1 ? Double(ints[i]) : Double(ints[i]) / divisor)
    }

    /// Whole units: a double value is truncated (not finite or out of range: `null`).
    @inline(__always) func int(_ i: Int, null: Int64) -> Int64 {
        guard present, ok.isEmpty || ok[i] else { return null }
        guard isDouble else { return divisor == 1 ? ints[i] : Int64(Double(ints[i]) / divisor) }
        let d = doubles[i]
        return d.isFinite && abs(d) < 9.2e18 ? Int64(d) : null
    }
}


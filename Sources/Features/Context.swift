import CVMCore

/// Flat per-row arrays derived once from the input tables; read-only during the parallel pass.
struct Context: Sendable {
    let asOfDay: Int64
    let cutoff: Int64  // µs: end of the as-of day
    let windows: [Int]
    let customerIDs: [String]

    // Orders (line level), filtered to before the cutoff.
    let oCustomer: [Int32], oTime: [Int64], oOrder: [Int32], oStatus: [UInt8]  // 0 completed, 1 returned, 2 cancelled
    let oNet: [Double], oGross: [Double], oDiscount: [Double], oQty: [Int64], oSku: [Int32], oCategory: [Int32]
    let orders: Groups
    let categoryNames: [String]
    /// Global top categories (by completed revenue), as category codes.
    let topCategories: [Int32]

    // Sessions.
    let hasSessions: Bool
    let sCustomer: [Int32], sStart: [Int64], sDuration: [Double], sEvents: [Int64], sViews: [Int64], sSearches: [Int64]
    let sCarts: [Int64], sCheckouts: [Int64], sPurchases: [Int64], sBounce: [Bool], sDevice: [Int32], sReferrer: [Int32]
    let sessions: Groups
    let topDevices: [(code: Int32, name: String)]
    let topReferrers: [(code: Int32, name: String)]

    // Events.
    let hasEvents: Bool
    let eCustomer: [Int32], eTime: [Int64], eType: [Int8]
    let events: Groups

    // Customers.
    let hasCustomers: Bool
    let signupDay: [Int64?]
    let birthYear: [Int64?]
    let countryCode: [Int?]
    let channelCode: [Int?]
    let completeness: [Double?]
    let countries: [String]
    let channels: [String]

    init(_ inputs: FeatureInputs, asOf: CivilDate, configuration: Configuration) throws {
        asOfDay = asOf.daysSinceEpoch
        let cut = (asOf.daysSinceEpoch + 1) * microsPerDay
        cutoff = cut
        windows = configuration.windows
        let o = inputs.orders
        let oc = try requireColumn(o, "customer_id", role: "orders", types: [.string, .enum, .int])
        let oid = try requireColumn(o, "order_id", role: "orders", types: [.string, .enum, .int])
        let ot = try requireColumn(o, "ordered_at", role: "orders", types: [.timestamp, .date])
        // Every instant becomes local wall-clock time in the declared zone; the cutoff is local midnight
        // after the as-of day. Dates (signup_date, date-typed ordered_at) are already local days.
        let clock = LocalClock(configuration.zone) ?? LocalClock("UTC")!
        let orderTimes: [Int64] = ot.type == .date ? ot.int64Values.map { $0 * microsPerDay } : clock.local(ot.int64Values)
        let eventTimes: [Int64]? = inputs.events?["occurred_at"].map { clock.local($0.int64Values) }
        let price = o["unit_price"], amount = o["amount"]
        guard price != nil || amount != nil else {
            throw CVMFailure(.config, "error: features need a money column in the orders source: unit_price (with quantity) or amount")
        }

        // The customer universe as of the cutoff: customers signed up by then ∪ customers with an order or an
        // event before it, in byte order. A backfill for an earlier date sees exactly the customers of that date.
        var ids = Set<String>()
        func collect(_ c: Column?, before time: Column?, local: [Int64]? = nil) {
            guard let c else { return }
            let (codes, dict) = stringCodes(c)
            var used = [Bool](repeating: false, count: dict.count)
            for i in 0..<c.count where c.isValid(i) {
                if let time, time.isValid(i) {
                    let t = local?[i] ?? ((time.int64(at: i) ?? 0) * microsPerDay)
                    if t >= cut { continue }
                }
                used[Int(codes[i])] = true
            }
            for (k, u) in used.enumerated() where u { ids.insert(dict[k]) }
        }
        collect(inputs.customers?["customer_id"], before: inputs.customers?["signup_date"])
        collect(oc, before: ot, local: orderTimes)
        if let e = inputs.events, let t = e["occurred_at"] { collect(e["customer_id"], before: t, local: eventTimes) }
        customerIDs = ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var index: [String: Int32] = [:]
        for (i, id) in customerIDs.enumerated() { index[id] = Int32(i) }
        let lookup = index
        let customerIndex: (Column) -> [Int32] = { c in
            let (codes, dict) = stringCodes(c)
            let map = dict.map { lookup[$0] ?? -1 }
            return (0..<c.count).map { c.isValid($0) ? map[Int(codes[$0])] : -1 }
        }

        // Orders.
        let times = orderTimes
        let keep = (0..<o.rowCount).filter { ot.isValid($0) && times[$0] < cut }
        let custAll = customerIndex(oc)
        let (orderCodes, _) = stringCodes(oid)
        let statusMap: [UInt8]
        let statusCodes: [Int32]
        if let s = o["status"] {
            let (codes, dict) = stringCodes(s)
            let st = configuration.statuses
            statusMap = dict.map { v in
                let l = v.lowercased()
                return st.returned.contains(l) ? 1 : (st.cancelled.contains(l) ? 2 : 0)
            }
            statusCodes = (0..<s.count).map { s.isValid($0) ? codes[$0] : -1 }
        } else {
            statusMap = []
            statusCodes = []
        }
        let qtyCol = o["quantity"], discCol = o["discount"]
        var cust: [Int32] = [], time: [Int64] = [], ord: [Int32] = [], status: [UInt8] = []
        var net: [Double] = [], gross: [Double] = [], disc: [Double] = [], qty: [Int64] = []
        for i in keep {
            cust.append(custAll[i])
            time.append(times[i])
            ord.append(orderCodes[i])
            status.append(statusCodes.isEmpty || statusCodes[i] < 0 ? 0 : statusMap[Int(statusCodes[i])])
            let q = qtyCol?.int64(at: i) ?? Int64(qtyCol?.double(at: i) ?? 1)
            let g: Double = price != nil ? Double(q) * (price!.double(at: i) ?? 0) : (amount!.double(at: i) ?? 0)
            let d = discCol?.double(at: i) ?? 0
            qty.append(q)
            gross.append(g)
            disc.append(d)
            net.append(g - d)
        }
        let sku = o["sku"].map { c -> [Int32] in let (codes, _) = stringCodes(c); return keep.map { c.isValid($0) ? codes[$0] : -1 } }
            ?? [Int32](repeating: -1, count: keep.count)
        var catNames: [String] = []
        var cat = [Int32](repeating: -1, count: keep.count)
        if let c = o["category"] {
            let (codes, dict) = stringCodes(c)
            catNames = dict
            cat = keep.map { c.isValid($0) ? codes[$0] : -1 }
        }
        (oCustomer, oTime, oOrder, oStatus, oNet, oGross, oDiscount, oQty, oSku, oCategory) =
            (cust, time, ord, status, net, gross, disc, qty, sku, cat)
        orders = Groups(customer: cust, time: time, customers: customerIDs.count)
        categoryNames = catNames
        var revenueByCategory = [Double](repeating: 0, count: catNames.count)
        for i in 0..<cat.count where cat[i] >= 0 && status[i] == 0 { revenueByCategory[Int(cat[i])] += net[i] }
        topCategories = catNames.indices
            .sorted { (revenueByCategory[$0], catNames[$1]) > (revenueByCategory[$1], catNames[$0]) }
            .prefix(configuration.topCategories).map { Int32($0) }

        // Sessions.
        if let s = inputs.sessions, let sc = s["customer_id"], let st = s["started_at"] {
            hasSessions = true
            let starts = clock.local(st.int64Values)
            let keepS = (0..<s.rowCount).filter { starts[$0] < cut }
            let ci = customerIndex(sc)
            func ints(_ name: String) -> [Int64] { let c = s[name]; return keepS.map { c?.int64(at: $0) ?? 0 } }
            sCustomer = keepS.map { ci[$0] }
            sStart = keepS.map { starts[$0] }
            sDuration = ints("duration_s").map(Double.init)
            sEvents = ints("events")
            sViews = ints("page_views")
            sSearches = ints("searches")
            sCarts = ints("add_to_cart")
            sCheckouts = ints("checkouts")
            sPurchases = ints("purchases")
            sBounce = ints("is_bounce").map { $0 != 0 }
            func top(_ name: String, _ k: Int) -> ([Int32], [(Int32, String)]) {
                guard let c = s[name] else { return ([Int32](repeating: -1, count: keepS.count), []) }
                let (codes, dict) = stringCodes(c)
                let col = keepS.map { c.isValid($0) ? codes[$0] : -1 }
                var counts = [Int](repeating: 0, count: dict.count)
                for x in col where x >= 0 { counts[Int(x)] += 1 }
                let best = dict.indices.filter { !dict[$0].isEmpty && counts[$0] > 0 }
                    .sorted { (counts[$0], dict[$1]) > (counts[$1], dict[$0]) }.prefix(k)
                return (col, best.map { (Int32($0), dict[$0]) })
            }
            let (dev, topDev) = top("device", 4)
            let (ref, topRef) = top("referrer", 5)
            sDevice = dev
            sReferrer = ref
            topDevices = topDev.map { (code: $0.0, name: $0.1) }
            topReferrers = topRef.map { (code: $0.0, name: $0.1) }
            sessions = Groups(customer: sCustomer, time: sStart, customers: customerIDs.count)
        } else {
            hasSessions = false
            (sCustomer, sStart, sDuration, sEvents, sViews, sSearches) = ([], [], [], [], [], [])
            (sCarts, sCheckouts, sPurchases, sBounce, sDevice, sReferrer) = ([], [], [], [], [], [])
            topDevices = []
            topReferrers = []
            sessions = Groups(customer: [], time: [], customers: customerIDs.count)
        }

        // Events.
        if let e = inputs.events, let ec = e["customer_id"], let et = e["occurred_at"], let ty = e["event_type"] {
            hasEvents = true
            let ts = eventTimes ?? clock.local(et.int64Values)
            let keepE = (0..<e.rowCount).filter { et.isValid($0) && ts[$0] < cut }
            let ci = customerIndex(ec)
            let (codes, dict) = stringCodes(ty)
            let typeIndex = dict.map { Int8(FeatureBuilder.eventTypes.firstIndex(of: $0) ?? -1) }
            eCustomer = keepE.map { ci[$0] }
            eTime = keepE.map { ts[$0] }
            eType = keepE.map { ty.isValid($0) ? typeIndex[Int(codes[$0])] : -1 }
            events = Groups(customer: eCustomer, time: eTime, customers: customerIDs.count)
        } else {
            hasEvents = false
            (eCustomer, eTime, eType) = ([], [], [])
            events = Groups(customer: [], time: [], customers: customerIDs.count)
        }

        // Customers' profile attributes.
        let n = customerIDs.count
        var signup = [Int64?](repeating: nil, count: n), birth = [Int64?](repeating: nil, count: n)
        var country = [Int?](repeating: nil, count: n), channel = [Int?](repeating: nil, count: n)
        var complete = [Double?](repeating: nil, count: n)
        var countryNames: [String] = [], channelNames: [String] = []
        if let c = inputs.customers, let cc = c["customer_id"] {
            hasCustomers = true
            let ci = customerIndex(cc)
            let profileCols = ["email", "signup_date", "country", "birth_year", "channel"].compactMap { c[$0] }
            func codes(_ name: String) -> ([Int?], [String]) {
                guard let col = c[name] else { return ([Int?](repeating: nil, count: c.rowCount), []) }
                let (cd, dict) = stringCodes(col)
                let sorted = Array(Set((0..<c.rowCount).filter { col.isValid($0) }.map { dict[Int(cd[$0])] })).sorted()
                var rank: [String: Int] = [:]
                for (k, v) in sorted.enumerated() { rank[v] = k }
                return ((0..<c.rowCount).map { col.isValid($0) ? rank[dict[Int(cd[$0])]] : nil }, sorted)
            }
            let (countryC, countryN) = codes("country")
            let (channelC, channelN) = codes("channel")
            countryNames = countryN
            channelNames = channelN
            for r in 0..<c.rowCount {
                let k = ci[r]
                guard k >= 0 else { continue }
                let i = Int(k)
                signup[i] = c["signup_date"]?.int64(at: r)
                birth[i] = c["birth_year"]?.int64(at: r)
                country[i] = countryC[r]
                channel[i] = channelC[r]
                if !profileCols.isEmpty {
                    complete[i] = Double(profileCols.filter { $0.isValid(r) && !($0.string(at: r)?.isEmpty ?? false) }.count) / Double(profileCols.count)
                }
            }
        } else {
            hasCustomers = false
        }
        (signupDay, birthYear, countryCode, channelCode, completeness) = (signup, birth, country, channel, complete)
        countries = countryNames
        channels = channelNames
    }
}

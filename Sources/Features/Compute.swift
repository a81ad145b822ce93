import CVMCore

/// Per-order aggregate of one customer's lines.
struct OrderAgg {
    var time: Int64
    var day: Int64
    var revenue = 0.0
    var gross = 0.0
    var discount = 0.0
    var completed = false
}

/// Computes one customer's features into `row` (NaN = undefined).
/// - Complexity: O(the customer's rows × windows).
func computeCustomer(_ c: Int, _ ctx: Context, _ L: Layout, _ row: UnsafeMutableBufferPointer<Double>, _ s: inout Scratch) {
    let asOf = ctx.asOfDay
    let lines = ctx.orderRange(c)
    // Orders of this customer, by order code, in time order of their first line (lines of one order are
    // usually adjacent, so the last order is tried first; then a linear search while the customer has few
    // orders, and a hash table only beyond `Scratch.linearOrders`, emptied only when it was used).
    s.orders.removeAll(keepingCapacity: true)
    if !s.orderIndex.isEmpty { s.orderIndex.removeAll() }
    s.orderCodes.removeAll(keepingCapacity: true)
    s.lineOrder.removeAll(keepingCapacity: true)
    for i in lines {
        let line = ctx.lines[i]
        let key = line.order
        var o: Int
        if let lastIndex = s.orders.indices.last, s.orderCodes[lastIndex] == key {
            o = lastIndex
        } else if s.orders.count <= Scratch.linearOrders, let x = s.orderCodes.firstIndex(of: key) {
            o = x
        } else if s.orders.count > Scratch.linearOrders, let x = s.orderIndex[key] {
            o = x
        } else {
            o = s.orders.count
            s.orders.append(OrderAgg(time: line.time, day: Int64(line.day)))
            s.orderCodes.append(key)
            if s.orders.count == Scratch.linearOrders + 1 {
                for (k, code) in s.orderCodes.enumerated() { s.orderIndex[code] = k }
            } else if s.orders.count > Scratch.linearOrders + 1 {
                s.orderIndex[key] = o
            }
        }
        s.lineOrder.append(Int32(o))
        if line.status == 0 {
            s.orders[o].revenue += line.net
            s.orders[o].gross += line.gross
            s.orders[o].discount += line.discount
            s.orders[o].completed = true
        }
    }
    s.completed.removeAll(keepingCapacity: true)
    for o in s.orders where o.completed { s.completed.append(o) }
    let completed = s.completed
    let first = completed.first?.day, last = completed.last?.day

    @inline(__always) func put(_ offset: Int, _ v: Double?) { if let v, v.isFinite { row[offset] = v } }
    func inWindow(_ day: Int64, _ w: Int?) -> Bool { w.map { day > asOf - Int64($0) } ?? true }

    if L.rfm >= 0 {
        let revenue = completed.reduce(0) { $0 + $1.revenue }
        put(L.rfm, last.map { Double(asOf - $0) })
        put(L.rfm + 1, Double(completed.count))
        put(L.rfm + 2, revenue)
        put(L.rfm + 3, completed.isEmpty ? nil : revenue / Double(completed.count))
        put(L.rfm + 4, first.map { Double(asOf - $0) })
        put(L.rfm + 5, ctx.signupDay.isEmpty ? nil : ctx.signupDay[c].map { Double(asOf - $0) })
    }

    var returnRateAll: Double?, cancelRateAll: Double?
    if !L.ordersBlocks.isEmpty {
        // The line metrics: one pass over the lines adds each into its age bucket (windows are nested, so a window
        // adds up the buckets it covers). A product or category counts in every window that holds its most recent
        // completed line, so its distinct count per window comes from the bucket of that line.
        let width = 7, slots = L.ages.count  // all, bought, returned, cancelled, items, products, categories
        withUnsafeTemporaryAllocation(of: Int.self, capacity: slots * width + width) { acc in
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * slots) { money in
            acc.initialize(repeating: 0)
            money.initialize(repeating: 0)
            s.products.clear()
            s.categories.clear()
            for i in lines {
                let line = ctx.lines[i]
                let bucket = L.ages.bucket(age: asOf - Int64(line.day))
                let a = acc.baseAddress! + bucket * width
                a[0] += 1
                switch line.status {
                case 0:
                    a[1] += 1
                    // Saturating: quantities near Int64's end (no max declared) must not trap; the feature
                    // then reads as null (`FeatureBuilder`: not representable).
                    let (units, over) = a[4].addingReportingOverflow(Int(line.qty))
                    a[4] = over ? (line.qty > 0 ? Int.max : Int.min) : units
                    money[2 * bucket] += line.gross
                    money[2 * bucket + 1] += line.discount
                    if line.sku >= 0 { s.products.keepLeast(Int(line.sku), UInt8(bucket)) }
                    if line.category >= 0 { s.categories.keepLeast(Int(line.category), UInt8(bucket)) }
                case 1: a[2] += 1
                default: a[3] += 1
                }
            }
            for k in s.products.keys { acc[Int(s.products.value(k)) * width + 5] += 1 }
            for k in s.categories.keys { acc[Int(s.categories.value(k)) * width + 6] += 1 }
            let total = acc.baseAddress! + slots * width
            for (wi, w) in L.windows.enumerated() {
                let b = L.ordersBlocks[wi]
                s.revenues.removeAll(keepingCapacity: true)
                for o in completed where inWindow(o.day, w) { s.revenues.append(o.revenue) }
                let rev = s.revenues
                let n = Double(rev.count)
                put(b, n)
                put(b + 1, rev.reduce(0, +))
                if !rev.isEmpty {
                    let mean = rev.reduce(0, +) / n
                    put(b + 2, mean)
                    put(b + 3, rev.max())
                    put(b + 4, rev.min())
                    put(b + 5, (rev.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot())
                }
                total.update(repeating: 0, count: width)
                var gross = 0.0, discount = 0.0
                for bucket in 0...L.windowLastBucket[wi] {
                    for j in 0..<width {
                        let (sum, over) = total[j].addingReportingOverflow(acc[bucket * width + j])
                        total[j] = over ? (sum < 0 ? Int.max : Int.min) : sum
                    }
                    gross += money[2 * bucket]
                    discount += money[2 * bucket + 1]
                }
                let (all, bought, returned, cancelled) = (total[0], total[1], total[2], total[3])
                put(b + 6, Double(total[4]))
                put(b + 7, Double(total[5]))
                put(b + 8, Double(total[6]))
                put(b + 9, gross > 0 ? discount / gross : nil)
                put(b + 10, bought + returned > 0 ? Double(returned) / Double(bought + returned) : nil)
                put(b + 11, all > 0 ? Double(cancelled) / Double(all) : nil)
                if w == nil {
                    returnRateAll = bought + returned > 0 ? Double(returned) / Double(bought + returned) : nil
                    cancelRateAll = all > 0 ? Double(cancelled) / Double(all) : nil
                }
            }
        }
        }
    }

    // Sessions.
    let sr = ctx.sessionRange(c)
    // Session durations sorted once (with each session's age in days); a window's median is found by walking
    // this order and counting the window's members, so no per-window sort.
    s.sessions.removeAll(keepingCapacity: true)
    if !L.clickBlocks.isEmpty {
        for i in sr { s.sessions.append((ctx.sessions[i].duration, asOf - Int64(ctx.sessions[i].day))) }
        // Insertion sort for the usual few dozen sessions (the library sort's set-up cost dominates there).
        if s.sessions.count <= 48 {
            s.sessions.withUnsafeMutableBufferPointer { v in
                for k in v.indices.dropFirst() {
                    let x = v[k]
                    var j = k
                    while j > 0, v[j - 1].0 > x.0 { v[j] = v[j - 1]; j -= 1 }
                    v[j] = x
                }
            }
        } else {
            s.sessions.sort { $0.0 < $1.0 }
        }
    }
    func median(n: Int, window w: Int?) -> Double {
        let limit = w.map(Int64.init) ?? .max
        let lo = (n - 1) / 2, hi = n / 2
        var k = 0, a = 0.0
        for (d, age) in s.sessions where age < limit {
            if k == lo { a = d }
            if k == hi { return lo == hi ? d : (a + d) / 2 }
            k += 1
        }
        return a
    }
    // The click metrics and the device and referrer shares: one pass over the sessions adds each into its age
    // bucket's sums, and each window adds up the buckets it covers (windows are nested). No branches on the
    // session's flags or labels (both are data, so branches on them mispredict): 0/1 flags are added, and labels
    // index the counters (device -1...3 → slots 11...15, referrer -1...4 → slots 16...21).
    if !L.clickBlocks.isEmpty || !L.deviceBlocks.isEmpty {
        let width = 22, slots = L.ages.count
        withUnsafeTemporaryAllocation(of: Int.self, capacity: slots * width + width) { acc in
        withUnsafeTemporaryAllocation(of: Double.self, capacity: slots) { durations in
            acc.initialize(repeating: 0)
            durations.initialize(repeating: 0)
            s.days.clear()
            for i in sr {
                let row = ctx.sessions[i]
                let age = asOf - Int64(row.day)
                let bucket = L.ages.bucket(age: age)
                let a = acc.baseAddress! + bucket * width
                a[0] += 1
                if s.days.insert(Int(age)) { a[1] += 1 }  // a day lies in one bucket: distinct days add up
                a[2] += Int(row.views)
                a[3] += Int(row.events)
                a[4] += Int(row.searches)
                let f = Int(row.flags)
                let cart = f & 1, checkout = f >> 1 & 1, bought = f >> 2 & 1
                a[5] += f >> 3 & 1
                a[6] += cart
                a[7] += cart & (bought ^ 1)
                a[8] += checkout
                a[9] += checkout & (bought ^ 1)
                a[10] += bought
                a[12 + Int(row.device)] += 1
                a[17 + Int(row.referrer)] += 1
                durations[bucket] += row.duration
            }
            let total = acc.baseAddress! + slots * width  // the window's sums
            for (wi, w) in L.windows.enumerated() {
                total.update(repeating: 0, count: width)
                var duration = 0.0
                for bucket in 0...L.windowLastBucket[wi] {
                    for j in 0..<width { total[j] += acc[bucket * width + j] }
                    duration += durations[bucket]
                }
                let n = total[0]
                if !L.deviceBlocks.isEmpty && n > 0 {
                    let b = L.deviceBlocks[wi], nd = ctx.topDevices.count
                    for d in 0..<nd { put(b + d, Double(total[12 + d]) / Double(n)) }
                    for r in 0..<ctx.topReferrers.count { put(b + nd + r, Double(total[17 + r]) / Double(n)) }
                }
                guard !L.clickBlocks.isEmpty else { continue }
                let b = L.clickBlocks[wi]
                let (views, events, searches, bounces) = (total[2], total[3], total[4], total[5])
                let (carts, abandonedCarts, checkouts, abandonedCheckouts, purchases) = (total[6], total[7], total[8], total[9], total[10])
                let dn = Double(n)
                put(b, dn)
                put(b + 1, Double(total[1]))
                put(b + 2, Double(views))
                if n > 0 {
                    put(b + 3, Double(views) / dn)
                    put(b + 4, duration / dn)
                    put(b + 5, median(n: n, window: w))
                    put(b + 6, Double(bounces) / dn)
                    put(b + 7, Double(carts) / dn)
                    put(b + 10, Double(purchases) / dn)
                }
                put(b + 8, carts > 0 ? Double(abandonedCarts) / Double(carts) : nil)
                put(b + 9, checkouts > 0 ? Double(abandonedCheckouts) / Double(checkouts) : nil)
                put(b + 11, events > 0 ? Double(searches) / Double(events) : nil)
            }
        }
        }
    }

    // Events by type: sums of the per-bucket counters (Context).
    // Windows are nested and bucket k holds the rows between window k - 1 and window k, so a running sum over
    // the buckets gives every window's counts in one sweep (`windowLastBucket`: each window's last bucket).
    let types = ctx.eventSlots, named = ctx.eventTypes.count
    s.typeCounts.removeAll(keepingCapacity: true)
    s.typeCounts.append(contentsOf: repeatElement(0, count: types))
    if ctx.hasEvents {
        let slots = L.ages.count, base = c * slots * types
        ctx.eventCounts.withUnsafeBufferPointer { counts in
            s.typeCounts.withUnsafeMutableBufferPointer { run in
                for b in 0..<slots {
                    for t in 0..<types { run[t] += counts[base + b * types + t] }
                    // Windows in any declared order: each is written when the sweep reaches its last bucket.
                    for wi in L.windows.indices where !L.eventBlocks.isEmpty && L.windowLastBucket[wi] == b {
                        for t in 0..<named { put(L.eventBlocks[wi] + t, Double(run[t])) }
                    }
                }
            }
        }
    }
    let typeAll = s.typeCounts  // after the last bucket: all time

    // Category mix over all time.
    if L.categoryStart >= 0 {
        let top = ctx.topCategories
        var spend = [Double](repeating: 0, count: top.count)
        var ordersWith = [Int](repeating: 0, count: top.count)
        var total = 0.0
        s.orderCategories.clear()
        for (k, i) in lines.enumerated() {
            let line = ctx.lines[i]
            guard line.status == 0 else { continue }
            total += line.net
            if let j = top.firstIndex(of: line.category) {
                spend[j] += line.net
                if s.orderCategories.insert(Int(s.lineOrder[k]) * top.count + j) { ordersWith[j] += 1 }
            }
        }
        for j in top.indices {
            put(L.categoryStart + j, total > 0 ? spend[j] / total : nil)
            put(L.categoryStart + top.count + j, completed.isEmpty ? nil : Double(ordersWith[j]) / Double(completed.count))
        }
        if let best = spend.indices.max(by: { (spend[$0], -$0) < (spend[$1], -$1) }), spend[best] > 0 {
            put(L.categoryStart + 2 * top.count, Double(best))
        }
    }

    // Timing.
    var regularity: Double?
    if L.timing >= 0 {
        let t = L.timing
        if !completed.isEmpty {
            var dow = [Int](repeating: 0, count: 7), hours = [Int](repeating: 0, count: 4)
            for o in completed {
                dow[CivilDate(daysSinceEpoch: o.day).isoWeekday - 1] += 1
                let hour = Int((o.time - o.day * microsPerDay) / (3600 * microsPerSecond))
                hours[min(3, hour / 6)] += 1
            }
            let n = Double(completed.count)
            for d in 0..<7 { put(t + d, Double(dow[d]) / n) }
            if ctx.orderTimesHaveHours { for h in 0..<4 { put(t + 7 + h, Double(hours[h]) / n) } }
            put(t + 11, Double(dow[5] + dow[6]) / n)
        }
        if completed.count >= 2 {
            var gaps: [Double] = []
            for k in 1..<completed.count { gaps.append(Double(completed[k].time - completed[k - 1].time) / Double(microsPerDay)) }
            let mean = gaps.reduce(0, +) / Double(gaps.count)
            let std = (gaps.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(gaps.count)).squareRoot()
            put(t + 12, mean)
            put(t + 13, std)
            put(t + 14, gaps.min())
            put(t + 15, gaps.max())
            regularity = mean > 0 ? std / mean : nil
            put(t + 16, regularity)
            put(t + 18, gaps.last)
        }
        if let f = first, !ctx.signupDay.isEmpty, let sd = ctx.signupDay[c] { put(t + 17, Double(f - sd)) }
    }

    // Trends.
    if L.trends >= 0 {
        func sums(_ from: Int64, _ to: Int64) -> (Double, Double, Double) {  // days (from, to]
            var rev = 0.0, n = 0.0, sess = 0.0
            for o in completed where o.day > from && o.day <= to { rev += o.revenue; n += 1 }
            for i in sr {
                let d = Int64(ctx.sessions[i].day)
                if d > from && d <= to { sess += 1 }
            }
            return (rev, n, sess)
        }
        for (k, span) in [Int64(30), 90].enumerated() {
            let cur = sums(asOf - span, asOf), prev = sums(asOf - 2 * span, asOf - span)
            put(L.trends + k, (cur.0 + 1) / (prev.0 + 1))
            put(L.trends + 2 + k, (cur.1 + 1) / (prev.1 + 1))
            put(L.trends + 4 + k, ctx.hasSessions ? (cur.2 + 1) / (prev.2 + 1) : nil)
        }
        // Monthly revenue over the last 12 months (30-day buckets, oldest first), least-squares slope.
        var months = [Double](repeating: 0, count: 12)
        for o in completed where o.day > asOf - 360 {
            let m = Int((asOf - o.day) / 30)
            if m < 12 { months[11 - m] += o.revenue }
        }
        let xm = 5.5, ym = months.reduce(0, +) / 12
        var num = 0.0, den = 0.0
        for (x, y) in months.enumerated() { num += (Double(x) - xm) * (y - ym); den += (Double(x) - xm) * (Double(x) - xm) }
        put(L.trends + 6, num / den)
    }

    // Profile.
    if L.profile >= 0 {
        let p = L.profile
        if let by = ctx.birthYear[c] {
            let age = Int64(CivilDate(daysSinceEpoch: asOf).year) - by
            put(p, Double(age))
            put(p + 1, Double(age < 25 ? 1 : age < 35 ? 2 : age < 45 ? 3 : age < 55 ? 4 : age < 65 ? 5 : 6))
        }
        put(p + 2, ctx.countryCode[c].map(Double.init))
        put(p + 3, ctx.channelCode[c].map(Double.init))
        put(p + 4, ctx.completeness[c])
    }

    // BG/NBD and Gamma-Gamma inputs: purchase occasions are distinct days (same-day orders merge).
    if L.clv >= 0, !completed.isEmpty {
        var byDay: [(Int64, Double)] = []
        for o in completed {
            if let lastDay = byDay.last?.0, lastDay == o.day { byDay[byDay.count - 1].1 += o.revenue } else { byDay.append((o.day, o.revenue)) }
        }
        let repeats = byDay.dropFirst()
        put(L.clv, Double(repeats.count))
        put(L.clv + 1, Double(byDay.last!.0 - byDay[0].0))
        put(L.clv + 2, Double(asOf - byDay[0].0))
        put(L.clv + 3, repeats.isEmpty ? 0 : repeats.reduce(0) { $0 + $1.1 } / Double(repeats.count))
    }

    // The value parts of BACKGROUND.md.
    if L.value >= 0 {
        let v = L.value
        if ctx.hasEvents {
            put(v, Double(typeAll[named]))
            put(v + 2, Double(typeAll[named + 1]))
        }
        let contributed = Double(min(100, ctx.hasEvents ? Int(ctx.eventTotal[c]) : 0)) / 100
        put(v + 1, 0.5 * (ctx.completeness.isEmpty ? 0 : (ctx.completeness[c] ?? 0)) + 0.5 * contributed)
        if !completed.isEmpty {
            put(v + 3, (1 - (returnRateAll ?? 0)) * (1 - (cancelRateAll ?? 0)) / (1 + (regularity ?? 0)))
        }
    }
}

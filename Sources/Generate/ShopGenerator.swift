import CVMCore
import Foundation

/// Sizes and seed of a synthetic shop.
public struct GeneratorConfiguration: Sendable, Equatable {
    public enum Preset: String, CaseIterable, Sendable { case demo, S, M, L }

    public var customers: Int
    /// Days of order history, ending at `endDate` (inclusive).
    public var orderDays: Int
    /// Days of hourly clickstream, ending at `endDate`.
    public var clickDays: Int
    public var endDate: CivilDate
    public var seed: UInt64
    /// Multiplies browsing sessions per customer (tunes event volume).
    public var sessionScale: Double

    public init(customers: Int, orderDays: Int, clickDays: Int, endDate: CivilDate, seed: UInt64, sessionScale: Double = 1) {
        (self.customers, self.orderDays, self.clickDays, self.endDate, self.seed, self.sessionScale) =
            (customers, orderDays, clickDays, endDate, seed, sessionScale)
    }

    /// demo: ~400 customers, a year of orders, 30 days of clicks (the committed fixtures);
    /// S: 10k customers; M: 100k customers, two years, ~12M click events; L: 1M customers.
    public static func preset(_ p: Preset, seed: UInt64) -> GeneratorConfiguration {
        let end = CivilDate(year: 2026, month: 6, day: 30)
        switch p {
        case .demo: return .init(customers: 400, orderDays: 365, clickDays: 30, endDate: end, seed: seed, sessionScale: 1)
        case .S: return .init(customers: 10_000, orderDays: 365, clickDays: 60, endDate: end, seed: seed, sessionScale: 1)
        case .M: return .init(customers: 100_000, orderDays: 730, clickDays: 90, endDate: end, seed: seed, sessionScale: 1.1)
        case .L: return .init(customers: 1_000_000, orderDays: 730, clickDays: 30, endDate: end, seed: seed, sessionScale: 1)
        }
    }
}

/// What a generation wrote.
public struct GenerationSummary: Sendable, Equatable {
    public var files: Int
    public var bytes: Int64
    public var customers: Int
    public var orderLines: Int
    public var events: Int
    public var plantedDefects: Int
}

/// Customer behaviour planted in the data; `ground_truth.csv` names each customer's.
public enum Archetype: String, CaseIterable, Sendable {
    case champion, loyal, new, atRisk = "at_risk", churned, bargainHunter = "bargain_hunter", browser, oneTimer = "one_timer"

    var weight: Double {
        switch self {
        case .champion: 0.07
        case .loyal: 0.15
        case .new: 0.10
        case .atRisk: 0.12
        case .churned: 0.18
        case .bargainHunter: 0.10
        case .browser: 0.11
        case .oneTimer: 0.17
        }
    }
    /// Orders per 30 days while active.
    var orderRate: Double {
        switch self {
        case .champion: 3.0
        case .loyal: 1.2
        case .new: 1.5
        case .atRisk: 1.5
        case .churned: 0.8
        case .bargainHunter: 1.0
        case .browser: 0.15
        case .oneTimer: 0
        }
    }
    /// Browsing sessions per day in the click window.
    var sessionRate: Double {
        switch self {
        case .champion: 0.6
        case .loyal: 0.35
        case .new: 0.5
        case .atRisk: 0.05
        case .churned: 0.01
        case .bargainHunter: 0.4
        case .browser: 1.2
        case .oneTimer: 0.05
        }
    }
}

/// Writes a realistic synthetic online shop as gzip CSV.
///
/// Deterministic: every random draw comes from `SeededRNG(seed:stream:)` keyed by
/// customer or file, and files are compressed with a fixed header and level, so
/// the same configuration gives byte-identical files for any thread count.
public enum ShopGenerator {
    static let categories = ["electronics", "books, magazines", "fashion", "home", "beauty", "toys",
                             "sports", "grocery", "garden", "music", "pets", "office"]
    static let countries: [(String, String, Double)] = [  // code, offset, weight
        ("US", "-05:00", 0.30), ("GB", "Z", 0.12), ("DE", "+01:00", 0.14), ("FR", "+01:00", 0.08),
        ("CN", "+08:00", 0.14), ("JP", "+09:00", 0.07), ("BR", "-03:00", 0.07), ("IN", "+05:30", 0.08),
    ]
    static let channels = ["organic", "paid_search", "social", "email", "referral", "affiliate"]
    static let devices = ["desktop", "mobile", "tablet", "app"]
    static let referrers = ["google", "direct", "newsletter", "facebook", "instagram", "partner", ""]
    static let skuCount = 240

    struct Product {
        var sku: String
        var category: Int
        var priceCents: Int64
        var popularity: Double
    }

    struct Customer {
        var id: String
        var archetype: Archetype
        var country: Int
        var signupDay: Int64
        var email: String
        var birthYear: Int?
        var channel: Int
    }

    struct OrderLine {
        var time: Int64        // UTC seconds
        var customer: Int32
        var order: Int32       // order ordinal within the customer
        var line: Int8
        var product: Int32
        var quantity: Int8
        var discountCents: Int64
        var status: UInt8      // 0 completed, 1 returned, 2 cancelled
    }

    struct Event {
        var time: Int64        // UTC milliseconds
        var customer: Int32    // -1 anonymous
        var type: UInt8
        var product: Int32     // -1 none
        var device: UInt8
        var referrer: UInt8
    }

    static let eventTypes = ["page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase",
                             "review", "share", "referral", "support_contact"]

    public static func generate(_ config: GeneratorConfiguration, to directory: String, threads: Int) throws -> GenerationSummary {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let products = makeCatalog(seed: config.seed)
        var running = 0.0
        let cdf = products.map { running += $0.popularity; return running }
        let endDay = config.endDate.daysSinceEpoch
        let firstOrderDay = endDay - Int64(config.orderDays) + 1
        let firstClickDay = endDay - Int64(config.clickDays) + 1

        // Simulate customers in fixed-size chunks (independent of the thread count).
        let chunk = 2048
        let chunks = (config.customers + chunk - 1) / chunk
        let sims = parallelMap(chunks: chunks, threads: threads) { c -> ([Customer], [OrderLine], [Event]) in
            var cs: [Customer] = [], ls: [OrderLine] = [], es: [Event] = []
            for i in (c * chunk)..<min(config.customers, (c + 1) * chunk) {
                var rng = SeededRNG(seed: config.seed, stream: UInt64(i) &+ 1_000)
                let cust = makeCustomer(i, &rng, endDay: endDay, firstOrderDay: firstOrderDay)
                cs.append(cust)
                simulate(cust, index: Int32(i), products: products, popularityCDF: cdf, &rng, endDay: endDay, firstOrderDay: firstOrderDay,
                         firstClickDay: firstClickDay, sessionScale: config.sessionScale, lines: &ls, events: &es)
            }
            return (cs, ls, es)
        }
        let customers = sims.flatMap(\.0)
        var lines = sims.flatMap(\.1)
        var events = sims.flatMap(\.2)
        // Anonymous browsing: a little traffic without a customer id.
        var anon = SeededRNG(seed: config.seed, stream: 7)
        let anonymous = max(5, config.customers / 40) * max(1, config.clickDays / 30)
        for _ in 0..<anonymous {
            let day = firstClickDay + Int64(anon.next() % UInt64(config.clickDays))
            let t = (day * 86_400 + Int64(anon.next() % 86_400)) * 1000
            events.append(Event(time: t, customer: -1, type: 0, product: Int32(anon.next() % UInt64(skuCount)),
                                device: UInt8(anon.next() % 4), referrer: UInt8(anon.next() % 7)))
        }
        lines.sort { ($0.time, $0.customer, $0.order, $0.line) < ($1.time, $1.customer, $1.order, $1.line) }
        events.sort { ($0.time, $0.customer, $0.type) < ($1.time, $1.customer, $1.type) }

        var defects: [(String, Int, String)] = []
        var files = 0
        var bytes: Int64 = 0

        // customers.csv.gz
        let (customerText, customerDefects) = customerFile(customers, seed: config.seed)
        try GzipWriter.write(customerText, to: "\(directory)/customers.csv.gz")
        defects += customerDefects.map { ("customers.csv.gz", $0.0, $0.1) }
        files += 1

        // Orders: one file per day. Order ids are assigned in time order.
        var orderIDs: [Int64: Int] = [:]  // (customer << 20 | order) -> id
        var byDay: [Int64: [Int]] = [:]
        for (k, l) in lines.enumerated() {
            let key = Int64(l.customer) << 20 | Int64(l.order)
            if orderIDs[key] == nil { orderIDs[key] = orderIDs.count + 1 }
            byDay[floorDiv(l.time, 86_400), default: []].append(k)
        }
        let days = Array(firstOrderDay...endDay)
        let (byDayL, linesL, orderIDsL) = (byDay, lines, orderIDs)
        let orderOutputs = parallelMap(chunks: days.count, threads: threads) { di -> (String, [UInt8], [(Int, String)]) in
            let day = days[di]
            let date = CivilDate(daysSinceEpoch: day)
            let rel = "orders/\(pad(date.year, 4))/\(pad(date.month, 2))/orders-\(date).csv.gz"
            var rng = SeededRNG(seed: config.seed, stream: 50_000 + UInt64(di))
            let (text, ds) = orderFile(byDayL[day] ?? [], linesL, customers, products, orderIDsL, dayIndex: di, &rng)
            return (rel, text, ds)
        }
        for (rel, text, ds) in orderOutputs {
            try GzipWriter.write(text, to: "\(directory)/\(rel)")
            defects += ds.map { (rel, $0.0, $0.1) }
            files += 1
        }

        // Events: one file per hour of the click window.
        var byHour: [Int64: [Int]] = [:]
        for (k, e) in events.enumerated() { byHour[floorDiv(e.time, 3_600_000), default: []].append(k) }
        let hours = Array((firstClickDay * 24)...(endDay * 24 + 23))
        let (byHourL, eventsL) = (byHour, events)
        let eventOutputs = parallelMap(chunks: hours.count, threads: threads) { hi -> (String, [UInt8], [(Int, String)]) in
            let hour = hours[hi]
            let date = CivilDate(daysSinceEpoch: floorDiv(hour, 24))
            let rel = "events/\(date)/events-\(pad(Int(hour - floorDiv(hour, 24) * 24), 2)).csv.gz"
            var rng = SeededRNG(seed: config.seed, stream: 900_000 + UInt64(hi))
            let (text, ds) = eventFile(byHourL[hour] ?? [], eventsL, customers, products, hourIndex: hi, &rng)
            return (rel, text, ds)
        }
        for (rel, text, ds) in eventOutputs {
            try GzipWriter.write(text, to: "\(directory)/\(rel)")
            defects += ds.map { (rel, $0.0, $0.1) }
            files += 1
        }

        var truth = "customer_id,archetype\n"
        for c in customers { truth += "\(c.id),\(c.archetype.rawValue)\n" }
        try truth.write(toFile: "\(directory)/ground_truth.csv", atomically: true, encoding: .utf8)
        var defectText = "file,line,kind\n"
        for (f, l, k) in defects.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) { defectText += "\(f),\(l),\(k)\n" }
        try defectText.write(toFile: "\(directory)/defects.csv", atomically: true, encoding: .utf8)
        files += 2

        if let e = fm.enumerator(atPath: directory) {
            for case let rel as String in e {
                if let a = try? fm.attributesOfItem(atPath: "\(directory)/\(rel)"), (a[.type] as? FileAttributeType) == .typeRegular {
                    bytes += (a[.size] as? Int64) ?? Int64((a[.size] as? Int) ?? 0)
                }
            }
        }
        // Count what was written: simulated rows whose UTC day or hour falls outside the windows are not.
        let writtenLines = days.reduce(0) { $0 + (byDayL[$1]?.count ?? 0) }
        let writtenEvents = hours.reduce(0) { $0 + (byHourL[$1]?.count ?? 0) }
        return GenerationSummary(files: files, bytes: bytes, customers: customers.count, orderLines: writtenLines,
                                 events: writtenEvents, plantedDefects: defects.count)
    }

    // MARK: - Simulation

    static func makeCatalog(seed: UInt64) -> [Product] {
        var rng = SeededRNG(seed: seed, stream: 1)
        return (0..<skuCount).map { i in
            let cat = i % categories.count
            let base = [8000, 1500, 4000, 3500, 2500, 2000, 4500, 800, 3000, 1800, 2200, 1200][cat]
            let price = Int64(Double(base) * (0.4 + 1.6 * rng.nextDouble()))
            var sku = "SKU-" + pad(i + 1, 4)
            if i == 99 { sku += " \"XL\"" }  // a quoted value with doubled quotes, valid CSV
            return Product(sku: sku, category: cat, priceCents: max(99, price), popularity: pow(rng.nextDouble(), 2.5) + 0.02)
        }
    }

    /// Index drawn from a cumulative distribution (binary search).
    static func pickCDF(_ cdf: [Double], _ rng: inout SeededRNG) -> Int {
        let x = rng.nextDouble() * (cdf.last ?? 1)
        var lo = 0, hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] > x { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    static func pick(_ weights: [Double], _ rng: inout SeededRNG) -> Int {
        let total = weights.reduce(0, +)
        var x = rng.nextDouble() * total
        for (i, w) in weights.enumerated() {
            x -= w
            if x < 0 { return i }
        }
        return weights.count - 1
    }

    static func makeCustomer(_ i: Int, _ rng: inout SeededRNG, endDay: Int64, firstOrderDay: Int64) -> Customer {
        let archetype = Archetype.allCases[pick(Archetype.allCases.map(\.weight), &rng)]
        let country = pick(countries.map(\.2), &rng)
        let signup: Int64
        switch archetype {
        case .new: signup = endDay - 29 + Int64(rng.next() % 30)
        default: signup = firstOrderDay - 365 + Int64(rng.next() % UInt64(max(1, endDay - 30 - (firstOrderDay - 365))))
        }
        let first = ["ana", "ben", "chen", "dara", "eli", "fay", "gus", "hana", "ivan", "june", "kofi", "lena", "mo", "nia", "omar", "pia"]
        let last = ["smith", "mueller", "wang", "garcia", "sato", "silva", "kumar", "martin", "brown", "lee"]
        var email = "\(first[Int(rng.next() % 16)]).\(last[Int(rng.next() % 10)])\(i)@example.com"
        if rng.nextDouble() < 0.1 { email = email.capitalized }
        let birth: Int? = rng.nextDouble() < 0.05 ? nil : 1950 + Int(rng.next() % 56)
        return Customer(id: "C" + pad(i + 1, 6), archetype: archetype, country: country, signupDay: signup,
                        email: email, birthYear: birth, channel: Int(rng.next() % UInt64(channels.count)))
    }

    static func simulate(_ c: Customer, index: Int32, products: [Product], popularityCDF: [Double], _ rng: inout SeededRNG, endDay: Int64,
                         firstOrderDay: Int64, firstClickDay: Int64, sessionScale: Double,
                         lines: inout [OrderLine], events: inout [Event]) {
        // Active window for orders.
        let start = max(firstOrderDay, c.signupDay)
        var stop = endDay
        switch c.archetype {
        case .atRisk: stop = endDay - 90 - Int64(rng.next() % 90)
        case .churned: stop = endDay - 300 - Int64(rng.next() % 60)
        default: break
        }
        var orderDays: [Int64] = []
        if c.archetype == .oneTimer {
            if stop >= start { orderDays.append(start + Int64(rng.next() % UInt64(stop - start + 1))) }
        } else if stop >= start {
            let rate = c.archetype.orderRate / 30 * (0.6 + 0.8 * rng.nextDouble())
            var t = Double(start) + (-log(1 - rng.nextDouble()) / max(rate, 1e-6)) * (c.archetype == .new ? 0.2 : 1)
            while t <= Double(stop) {
                orderDays.append(Int64(t))
                t += -log(1 - rng.nextDouble()) / max(rate, 1e-6)
            }
        }
        let favourite = Int(rng.next() % UInt64(categories.count))
        // Customers differ in basket size (lines per order), so spend per order varies between
        // customers as the Gamma-Gamma model assumes: a Gamma(2, 0.6)-like draw per customer.
        let basket = -0.6 * (log(1 - rng.nextDouble()) + log(1 - rng.nextDouble()))
        let offsetSeconds = tzOffsetSeconds(countries[c.country].1)
        for (k, day) in orderDays.enumerated() {
            // Local time of day: busiest in the evening.
            let hour = [9, 11, 13, 15, 18, 19, 20, 21, 22, 23][pick([1, 1.5, 2, 1.5, 2, 2.5, 3, 3, 2, 1], &rng)]
            let local = day * 86_400 + Int64(hour * 3600) + Int64(rng.next() % 3600)
            let utc = local - offsetSeconds
            var nLines = 1
            var draw = rng.nextDouble()
            var p = exp(-basket), acc = p
            while draw > acc && nLines < 9 { p *= basket / Double(nLines); acc += p; nLines += 1 }
            let status: UInt8 = {
                let x = rng.nextDouble()
                let returns = c.archetype == .bargainHunter ? 0.25 : 0.05
                return x < returns ? 1 : (x < returns + 0.04 ? 2 : 0)
            }()
            for l in 0..<nLines {
                let product: Int = {
                    if rng.nextDouble() < 0.5 {
                        // Products of the favourite category are favourite + k * categories.count.
                        let perCategory = (skuCount - favourite + categories.count - 1) / categories.count
                        return favourite + categories.count * Int(rng.next() % UInt64(perCategory))
                    }
                    return pickCDF(popularityCDF, &rng)
                }()
                let qty = Int8(1 + pick([10, 3, 1], &rng))
                var discount: Int64 = 0
                let price = products[product].priceCents * Int64(qty)
                if c.archetype == .bargainHunter, rng.nextDouble() < 0.8 { discount = price * Int64(20 + rng.next() % 20) / 100 }
                else if rng.nextDouble() < 0.1 { discount = price / 10 }
                lines.append(OrderLine(time: utc, customer: index, order: Int32(k), line: Int8(l + 1), product: Int32(product),
                                       quantity: qty, discountCents: discount, status: status))
            }
            if day >= firstClickDay {
                appendSession(c, index: index, endsWithPurchase: true, at: utc * 1000, favourite: favourite, products: products,
                              &rng, events: &events)
            }
        }
        // Browsing sessions in the click window.
        let clickStart = max(firstClickDay, c.signupDay)
        if clickStart <= endDay {
            let rate = c.archetype.sessionRate * sessionScale
            var day = clickStart
            while day <= endDay {
                var n = 0
                var p = rng.nextDouble()
                let l = exp(-rate)
                var acc = l
                while p > acc && n < 20 { n += 1; p -= acc; acc = acc * rate / Double(n) }
                for _ in 0..<n {
                    let t = (day * 86_400 + Int64(rng.next() % 86_400)) * 1000
                    appendSession(c, index: index, endsWithPurchase: false, at: t, favourite: favourite, products: products,
                                  &rng, events: &events)
                }
                day += 1
            }
        }
    }

    /// One visit: page views and searches, maybe carts and checkout; a purchase visit ends at `at`.
    static func appendSession(_ c: Customer, index: Int32, endsWithPurchase: Bool, at: Int64, favourite: Int,
                              products: [Product], _ rng: inout SeededRNG, events: inout [Event]) {
        let device = UInt8(pick([4, 4, 1, 2], &rng))
        let referrer = UInt8(pick([4, 3, 1.5, 1, 1, 0.5, 2], &rng))
        let views = 1 + Int(rng.next() % (c.archetype == .browser ? 12 : 6))
        var types: [UInt8] = []
        for v in 0..<views {
            types.append(v > 0 && rng.nextDouble() < 0.2 ? 1 : 0)
        }
        let cartProb = endsWithPurchase ? 1.0 : (c.archetype == .browser ? 0.15 : 0.3)
        if rng.nextDouble() < cartProb {
            types.append(2)
            if rng.nextDouble() < 0.15 { types.append(3) }
            if endsWithPurchase || rng.nextDouble() < 0.3 { types.append(4) }
        }
        if endsWithPurchase { types.append(5) }
        if rng.nextDouble() < (c.archetype == .champion ? 0.08 : 0.02) { types.append(UInt8(6 + pick([3, 2, 1, 1.5], &rng))) }
        var gaps: [Int64] = []
        for _ in types { gaps.append(Int64(10_000 + rng.next() % 240_000)) }
        let total = gaps.reduce(0, +)
        var t = endsWithPurchase ? at - total : at
        for (k, ty) in types.enumerated() {
            t += k == 0 ? 0 : gaps[k]
            let product = ty == 1 ? -1 : Int32(rng.nextDouble() < 0.6
                ? (favourite + categories.count * Int(rng.next() % UInt64(skuCount / categories.count))) % skuCount
                : Int(rng.next() % UInt64(skuCount)))
            events.append(Event(time: t, customer: index, type: ty, product: product, device: device, referrer: referrer))
        }
    }

    static func tzOffsetSeconds(_ s: String) -> Int64 {
        if s == "Z" { return 0 }
        let sign: Int64 = s.hasPrefix("-") ? -1 : 1
        let b = Array(s.utf8)
        let h = Int64(b[1] - 48) * 10 + Int64(b[2] - 48), m = Int64(b[4] - 48) * 10 + Int64(b[5] - 48)
        return sign * (h * 3600 + m * 60)
    }

    // MARK: - Files

    static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func money(_ cents: Int64) -> String { formatDecimal(cents, scale: 2) }

    static func localTimestamp(_ utc: Int64, offset: String) -> String {
        let local = utc + tzOffsetSeconds(offset)
        let day = floorDiv(local, 86_400)
        let s = local - day * 86_400
        return "\(CivilDate(daysSinceEpoch: day))T\(pad(Int(s / 3600), 2)):\(pad(Int(s / 60 % 60), 2)):\(pad(Int(s % 60), 2))\(offset)"
    }

    static func customerFile(_ customers: [Customer], seed: UInt64) -> ([UInt8], [(Int, String)]) {
        var rng = SeededRNG(seed: seed, stream: 3)
        var out = "customer_id,email,signup_date,country,birth_year,acquisition_channel\n"
        var defects: [(Int, String)] = []
        var line = 2
        for c in customers {
            let country = rng.nextDouble() < 0.02 ? "" : countries[c.country].0
            var row = "\(c.id),\(c.email),\(CivilDate(daysSinceEpoch: c.signupDay)),\(country),\(c.birthYear.map(String.init) ?? ""),\(channels[c.channel])\n"
            let x = rng.nextDouble()
            if customers.count >= 50 && x < 0.004 {
                row = "\(c.id),\(c.email),\(CivilDate(daysSinceEpoch: c.signupDay)),\(country),1850,\(channels[c.channel])\n"
                defects.append((line, "min"))
            }
            out += row
            line += 1
            if customers.count >= 50 && x > 0.997 {
                out += row  // an exact duplicate customer row
                defects.append((line, "duplicate"))
                line += 1
            }
        }
        return (Array(out.utf8), defects)
    }

    static func orderFile(_ idx: [Int], _ lines: [OrderLine], _ customers: [Customer], _ products: [Product],
                          _ orderIDs: [Int64: Int], dayIndex: Int, _ rng: inout SeededRNG) -> ([UInt8], [(Int, String)]) {
        let eol = dayIndex == 10 ? "\r\n" : "\n"  // one file with CRLF line endings
        var out = (dayIndex == 20 ? "\u{FEFF}" : "") + "order_id,line_no,customer_id,order_ts,sku,category,quantity,unit_price,discount,status" + eol
        var defects: [(Int, String)] = []
        var line = 2
        let statuses = ["completed", "returned", "cancelled"]
        for k in idx {
            let l = lines[k]
            let c = customers[Int(l.customer)]
            let p = products[Int(l.product)]
            let orderID = "O" + pad(orderIDs[Int64(l.customer) << 20 | Int64(l.order)] ?? 0, 8)
            var f = [orderID, String(l.line), c.id, localTimestamp(l.time, offset: countries[c.country].1),
                     csvField(p.sku), csvField(categories[p.category]), String(l.quantity), money(p.priceCents),
                     money(l.discountCents), statuses[Int(l.status)]]
            var kind: String?
            if rng.nextDouble() < 0.004 {
                switch rng.next() % 10 {
                case 0: f[6] = "-1"; kind = "min"
                case 1: f[6] = "abc"; kind = "parse"
                case 2: f[3] = "2026-13-45T10:00:00Z"; kind = "parse"
                case 3: f[3] = "2026-02-30T10:00:00Z"; kind = "parse"
                case 4: f[2] = "C999999"; kind = "reference"
                case 5: kind = "duplicate"
                case 6: f[4] = ""; kind = "required"
                case 7: f[9] = "shipped"; kind = "enum"
                case 8: f.removeLast(); kind = "field_count"
                default: f[7] = "\"12,50\""; kind = "parse"
                }
            }
            if kind == "duplicate" {
                out += f.joined(separator: ",") + eol
                line += 1
            }
            out += f.joined(separator: ",") + eol
            if let kind { defects.append((line, kind)) }
            line += 1
        }
        return (Array(out.utf8), defects)
    }

    static func eventFile(_ idx: [Int], _ events: [Event], _ customers: [Customer], _ products: [Product],
                          hourIndex: Int, _ rng: inout SeededRNG) -> ([UInt8], [(Int, String)]) {
        var out = "event_id,customer_id,ts,event_type,sku,category,device,referrer\n"
        var defects: [(Int, String)] = []
        var line = 2
        for (n, k) in idx.enumerated() {
            let e = events[k]
            let id = "E" + pad(hourIndex, 5) + pad(n + 1, 5)
            let cust = e.customer < 0 ? "" : customers[Int(e.customer)].id
            let p = e.product < 0 ? nil : products[Int(e.product)]
            var f = [id, cust, String(e.time), eventTypes[Int(e.type)], p.map { csvField($0.sku) } ?? "",
                     p.map { csvField(categories[$0.category]) } ?? "", devices[Int(e.device)], referrers[Int(e.referrer)]]
            var kind: String?
            if rng.nextDouble() < 0.0005 {
                switch rng.next() % 3 {
                case 0: f[3] = "unknown_click"; kind = "enum"
                case 1 where !cust.isEmpty: f[1] = "C999999"; kind = "reference"
                default: kind = "duplicate"
                }
            }
            if kind == "duplicate" {
                out += f.joined(separator: ",") + "\n"
                line += 1
            }
            out += f.joined(separator: ",") + "\n"
            if let kind { defects.append((line, kind)) }
            line += 1
        }
        return (Array(out.utf8), defects)
    }
}

func pad(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

public import CVMCore
import Foundation

/// Campaign exports (`campaigns:` in the pipeline config): one CSV per declared action with the
/// customers its rule selects, their key scores and up to N product suggestions each.
public struct CampaignConfiguration: Decodable, Sendable {
    /// One action: who (`where`, conditions on `customer_value` columns, all must hold) and what.
    public struct Action: Decodable, Sendable {
        public enum Condition: Sendable, Equatable {
            case oneOf([String])
            case range(min: Double?, max: Double?)
        }
        public var action: String
        public var conditions: [(column: String, condition: Condition)]

        public init(action: String, conditions: [(String, Condition)]) {
            self.action = action
            self.conditions = conditions.map { (column: $0.0, condition: $0.1) }
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case action, `where` }
        struct RangeKeys: Decodable {
            var min: Double?
            var max: Double?
            enum CodingKeys: String, CodingKey, CaseIterable { case min, max }
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            action = try c.decode(String.self, forKey: .action)
            let w = try c.nestedContainer(keyedBy: AnyConfigKey.self, forKey: .where)
            conditions = []
            for key in w.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                // The config decoder says what the node is: trying each form in turn made it record the failed
                // tries as errors (a plain value was "expected a mapping", so the README's own example failed).
                switch try w.superDecoder(forKey: key).userInfo[ConfigNodeKind.key] as? String {
                case "mapping":
                    let range = try w.decode(RangeKeys.self, forKey: key)
                    guard range.min != nil || range.max != nil else {
                        throw ConfigValueError("where.\(key.stringValue): expected {min:, max:} with at least one of them")
                    }
                    conditions.append((key.stringValue, .range(min: range.min, max: range.max)))
                    continue
                case "sequence":
                    conditions.append((key.stringValue, .oneOf(try w.decode([String].self, forKey: key))))
                    continue
                case "scalar":
                    conditions.append((key.stringValue, .oneOf([try w.decode(String.self, forKey: key)])))
                    continue
                default:
                    break  // another decoder (JSON): try each form
                }
                if let range = try? w.decode(RangeKeys.self, forKey: key), range.min != nil || range.max != nil {
                    conditions.append((key.stringValue, .range(min: range.min, max: range.max)))
                } else if let list = try? w.decode([String].self, forKey: key) {
                    conditions.append((key.stringValue, .oneOf(list)))
                } else if let one = try? w.decode(String.self, forKey: key) {
                    conditions.append((key.stringValue, .oneOf([one])))
                } else {
                    throw ConfigValueError("where.\(key.stringValue): expected a value, a list of values, or {min:, max:}")
                }
            }
            if conditions.isEmpty { throw ConfigValueError("where: at least one condition, e.g. {lifecycle_stage: at_risk}") }
        }

        /// Does row `i` of `customer_value` meet every condition? Booleans compare as 1/0 or true/false.
        func matches(_ t: Table, _ i: Int) -> Bool {
            for (column, condition) in conditions {
                guard let col = t[column] else { return false }
                switch condition {
                case .oneOf(let values):
                    let v = col.formatted(at: i)
                    if v.isEmpty { return false }
                    // Booleans match as 1/0 or true/false, whichever way the table and the config spell them.
                    func norm(_ s: String) -> String { ["true": "1", "false": "0"][s.lowercased()] ?? s }
                    if !values.contains(where: { norm($0) == norm(v) }) { return false }
                case .range(let lo, let hi):
                    guard let v = col.double(at: i) else { return false }
                    if let lo, v < lo { return false }
                    if let hi, v > hi { return false }
                }
            }
            return true
        }
    }

    public enum IDs: String, ConfigEnum {
        case raw, pseudonymized
        public static var noun: String { "ids" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }

    public var actions: KeyedList<Action>
    /// Product suggestions per customer (0 to 20).
    public var suggestions: Int
    /// Orders of the last N days count as "bought together" (co-occurrence) and as best sellers.
    public var windowDays: Int
    /// Customer ids in the CSVs: raw, or the HMAC pseudonym (privacy key).
    public var ids: IDs

    /// The defaults: the five actions of BACKGROUND.md's marketing steps.
    public static let defaultActions: [(String, Action)] = [
        ("win_back_call", Action(action: "win-back call", conditions: [("lifecycle_stage", .oneOf(["at_risk"])), ("pareto_top20", .oneOf(["1"]))])),
        ("onboarding_series", Action(action: "onboarding series", conditions: [("lifecycle_stage", .oneOf(["new"]))])),
        ("vip_early_access", Action(action: "VIP early access", conditions: [("rfm_segment", .oneOf(["Champions"]))])),
        ("reactivation_offer", Action(action: "reactivation offer", conditions: [("rfm_segment", .oneOf(["Hibernating"]))])),
        ("tier_reminder", Action(action: "tier reminder", conditions: [("tier_at_risk", .oneOf(["1"]))])),
    ]

    public init() {
        actions = KeyedList(Self.defaultActions.map { (key: $0.0, value: $0.1) })
        (suggestions, windowDays, ids) = (5, 365, .raw)
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case actions, suggestions, windowDays = "window_days", ids }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        actions = try c.decodeIfPresent(KeyedList<Action>.self, forKey: .actions) ?? actions
        suggestions = try c.decodeIfPresent(Int.self, forKey: .suggestions) ?? suggestions
        if !(0...20).contains(suggestions) { throw ConfigValueError("suggestions must be between 0 and 20, found \(suggestions)") }
        windowDays = try c.decodeIfPresent(Int.self, forKey: .windowDays) ?? windowDays
        if !(1...36_525).contains(windowDays) { throw ConfigValueError("window_days must be between 1 and 36525 (100 years), found \(windowDays)") }
        ids = try c.decodeIfPresent(IDs.self, forKey: .ids) ?? ids
    }
}

/// One campaign list, ready to write as CSV.
public struct CampaignList: Sendable {
    public var name: String
    public var action: String
    public var header: [String]
    public var rows: [[String]]
}

/// Builds the campaign lists from `customer_value` and the clean order lines.
///
/// Suggestions: products the customer has not bought, ranked by how often they were bought
/// together (same order, within the window) with the customer's own products; ties by SKU. When
/// that gives fewer than N, the best sellers of the customer's RFM segment (distinct buyers in the
/// window), then of all customers, fill the list.
public enum Campaigns {
    /// Orders with more distinct products than this add no pairs (a bulk order says little about affinity).
    static let maxProductsPerOrder = 50

    public static func build(customerValue cv: Table, orders: Table?, asOf: CivilDate, configuration cfg: CampaignConfiguration,
                             pseudonym: ((String) -> String)? = nil) -> [CampaignList] {
        guard let ids = cv["customer_id"] else { return [] }
        let n = cv.rowCount
        let suggest = Suggester(orders: orders, asOf: asOf, windowDays: cfg.windowDays, customerValue: cv)
        var scratch = Suggester.Scratch(products: suggest.skuNames.count)
        var suggested = [[String]?](repeating: nil, count: n)  // a customer in several lists is scored once
        let scoreColumns = ["rfm_segment", "lifecycle_stage", "tier", "churn_band", "clv", "p_alive", "monetary"].filter { cv[$0] != nil }
        var lists: [CampaignList] = []
        for (name, action) in cfg.actions {
            var picked = (0..<n).filter { action.matches(cv, $0) }
            // Highest CLV first (then id), so the list can be cut at any length.
            let clv = cv["clv"]
            picked.sort {
                let a = clv?.double(at: $0) ?? 0, b = clv?.double(at: $1) ?? 0
                return a != b ? a > b : (ids.string(at: $0) ?? "") < (ids.string(at: $1) ?? "")
            }
            var rows: [[String]] = []
            for i in picked {
                let id = ids.string(at: i) ?? ""
                var row = [cfg.ids == .pseudonymized ? (pseudonym?(id) ?? id) : id, action.action]
                row += scoreColumns.map { cv[$0]!.formatted(at: i) }
                var s = suggested[i] ?? suggest.suggestions(for: i, count: cfg.suggestions, scratch: &scratch)
                suggested[i] = s
                s += [String](repeating: "", count: cfg.suggestions - s.count)
                rows.append(row + s)
            }
            let header = ["customer_id", "action"] + scoreColumns + (0..<cfg.suggestions).map { "suggestion_\($0 + 1)" }
            lists.append(CampaignList(name: name, action: action.action, header: header, rows: rows))
        }
        return lists
    }

    /// RFC 4180 CSV text of one list.
    public static func csv(_ list: CampaignList) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var out = list.header.map(field).joined(separator: ",") + "\n"
        for r in list.rows { out += r.map(field).joined(separator: ",") + "\n" }
        return out
    }
}

/// Item co-occurrence and best sellers over the order lines of the window.
///
/// Written over dictionary codes and dense arrays, not strings and hash maps: on the L preset
/// (1 M customers, 26 M order lines) the string-keyed version made the report stage take 186 s.
struct Suggester {
    var skuNames: [String] = []
    /// Products each customer (row of customer_value) bought, at any time in the data.
    var bought: [Set<Int32>] = []
    /// Products each customer bought within the window (the seeds of co-occurrence).
    var recent: [[Int32]] = []
    /// Per product: the products bought with it in one order within the window, and in how many orders.
    var neighbours: [[(item: Int32, count: Int)]] = []
    var segmentBest: [String: [Int32]] = [:]
    var overallBest: [Int32] = []
    var segments: [String] = []
    /// Per product: its place among all products in SKU name order (ties in scores go to the lower).
    var nameRank: [Int32] = []

    /// Per row, the column's dictionary code, or -1 where `string(at:)` is nil (a null, or not a string column).
    static func codes(_ c: Column?, rows: Int) -> (codes: [Int32], values: StringDictionary) {
        guard let c, case .string(let codes, let values) = c.storage else { return ([Int32](repeating: -1, count: rows), []) }
        guard let validity = c.validity else { return (codes.int32Array, values) }
        return (codes.indices.map { validity[$0] ? codes[$0] : -1 }, values)
    }

    init(orders: Table?, asOf: CivilDate, windowDays: Int, customerValue cv: Table) {
        let n = cv.rowCount
        bought = [Set<Int32>](repeating: [], count: n)
        recent = [[Int32]](repeating: [], count: n)
        segments = (0..<n).map { cv["rfm_segment"]?.formatted(at: $0) ?? "" }
        guard let orders, orders["sku"] != nil, orders["customer_id"] != nil, let ids = cv["customer_id"] else { return }
        var row: [String: Int] = [:]
        for i in 0..<n { if let id = ids.string(at: i) { row[id] = i } }
        let rows = orders.rowCount
        let sku = Suggester.codes(orders["sku"], rows: rows)
        let customer = Suggester.codes(orders["customer_id"], rows: rows)
        let order = Suggester.codes(orders["order_id"], rows: rows)
        // Each dictionary entry looked up once: the customer_value row of a customer code, the product of a sku code.
        let customerRow = customer.values.map { row[$0] ?? -1 }
        var skuID = [Int32](repeating: -1, count: sku.values.count)
        let at = orders["ordered_at"]
        let end = (asOf.daysSinceEpoch + 1) * microsPerDay
        let start = end - Int64(windowDays) * microsPerDay
        var basket = [[Int32]](repeating: [], count: order.values.count)
        var segmentCode: [String: Int] = [:]
        let segmentOf = segments.map { s -> Int in
            if let k = segmentCode[s] { return k }
            segmentCode[s] = segmentCode.count
            return segmentCode.count - 1
        }
        // Distinct buyers per product, overall and per segment: (product, customer) pairs, made distinct below.
        var buys: [(item: Int32, customer: Int32)] = []
        for r in 0..<rows {
            let sc = sku.codes[r], cc = customer.codes[r]
            guard sc >= 0, cc >= 0, sku.values.byteCount(Int(sc)) > 0 else { continue }
            let c = customerRow[Int(cc)]
            guard c >= 0 else { continue }
            let t = at.flatMap { Suggester.micros($0, r) }
            if let t, t >= end { continue }  // after the as-of day: not known yet
            var id = skuID[Int(sc)]
            if id < 0 { id = Int32(skuNames.count); skuID[Int(sc)] = id; skuNames.append(sku.values[Int(sc)]) }
            bought[c].insert(id)
            guard t.map({ $0 >= start }) ?? true else { continue }
            if !recent[c].contains(id) { recent[c].append(id) }
            if order.codes[r] >= 0, !basket[Int(order.codes[r])].contains(id) { basket[Int(order.codes[r])].append(id) }
            buys.append((id, Int32(c)))
        }
        var pairs: [UInt64: Int] = [:]
        for items in basket where items.count > 1 && items.count <= Campaigns.maxProductsPerOrder {
            let sorted = items.sorted()
            for a in 0..<sorted.count {
                for b in (a + 1)..<sorted.count { pairs[UInt64(UInt32(sorted[a])) << 32 | UInt64(UInt32(sorted[b])), default: 0] += 1 }
            }
        }
        neighbours = [[(item: Int32, count: Int)]](repeating: [], count: skuNames.count)
        for (key, count) in pairs {
            let a = Int32(truncatingIfNeeded: key >> 32), b = Int32(truncatingIfNeeded: key & 0xffff_ffff)
            neighbours[Int(a)].append((b, count))
            neighbours[Int(b)].append((a, count))
        }
        // Distinct (product, customer) pairs, counted per product and per (segment, product).
        buys.sort { $0.item != $1.item ? $0.item < $1.item : $0.customer < $1.customer }
        var buyers = [Int](repeating: 0, count: skuNames.count)
        var bySegment = [[Int]](repeating: [Int](repeating: 0, count: skuNames.count), count: segmentCode.count)
        var seenInSegment = [Bool](repeating: false, count: segmentCode.count)
        for (k, b) in buys.enumerated() where k == 0 || buys[k - 1] != b {
            buyers[Int(b.item)] += 1
            bySegment[segmentOf[Int(b.customer)]][Int(b.item)] += 1
            seenInSegment[segmentOf[Int(b.customer)]] = true
        }
        let names = skuNames
        var byName = [Int32](repeating: 0, count: names.count)
        for (place, item) in names.indices.sorted(by: { names[$0] < names[$1] }).enumerated() { byName[item] = Int32(place) }
        nameRank = byName
        func rank(_ counts: [Int]) -> [Int32] {
            counts.indices.filter { counts[$0] > 0 }.sorted { a, b in
                counts[a] != counts[b] ? counts[a] > counts[b] : byName[a] < byName[b]
            }.map { Int32($0) }
        }
        overallBest = rank(buyers)
        for (segment, k) in segmentCode where seenInSegment[k] { segmentBest[segment] = rank(bySegment[k]) }
    }

    /// Order time in µs: a timestamp column, or ISO 8601 text (`YYYY-MM-DDTHH:MM:SS…`, as the warehouse stores it).
    static func micros(_ c: Column, _ r: Int) -> Int64? {
        if let v = c.int64(at: r) { return v }
        guard let text = c.string(at: r), text.count >= 10, let day = CivilDate(iso: String(text.prefix(10))) else { return nil }
        var seconds: Int64 = 0
        let parts = text.dropFirst(11).prefix(8).split(separator: ":").compactMap { Int64($0) }
        if parts.count == 3 { seconds = parts[0] * 3600 + parts[1] * 60 + parts[2] }
        return day.daysSinceEpoch * microsPerDay + seconds * microsPerSecond
    }

    /// Working memory for `suggestions`, reused from one customer to the next.
    struct Scratch {
        var score: [Int]
        var bought: [Bool]
        var touched: [Int32] = []
        init(products: Int) { (score, bought) = ([Int](repeating: 0, count: products), [Bool](repeating: false, count: products)) }
    }

    /// The customer's `count` suggestions: co-occurrence scores summed in a dense array, the best kept
    /// in one pass (score, then SKU name), then the segment's and everyone's best sellers.
    func suggestions(for customer: Int, count: Int, scratch: inout Scratch) -> [String] {
        guard count > 0, customer < bought.count else { return [] }
        for item in bought[customer] { scratch.bought[Int(item)] = true }
        defer {
            for item in bought[customer] { scratch.bought[Int(item)] = false }
            for item in scratch.touched { scratch.score[Int(item)] = 0 }
            scratch.touched.removeAll(keepingCapacity: true)
        }
        for item in recent[customer] {
            for (other, c) in neighbours[Int(item)] where !scratch.bought[Int(other)] {
                if scratch.score[Int(other)] == 0 { scratch.touched.append(other) }
                scratch.score[Int(other)] += c
            }
        }
        func better(_ a: Int32, _ b: Int32) -> Bool {
            let (sa, sb) = (scratch.score[Int(a)], scratch.score[Int(b)])
            return sa != sb ? sa > sb : nameRank[Int(a)] < nameRank[Int(b)]
        }
        var out: [Int32] = []
        for item in scratch.touched where out.count < count || better(item, out[out.count - 1]) {
            var k = out.count < count ? out.count : out.count - 1
            if out.count < count { out.append(item) } else { out[k] = item }
            while k > 0 && better(out[k], out[k - 1]) { out.swapAt(k, k - 1); k -= 1 }
        }
        for pool in [segmentBest[segments[customer]] ?? [], overallBest] where out.count < count {
            for item in pool where out.count < count && !scratch.bought[Int(item)] && !out.contains(item) { out.append(item) }
        }
        return out.map { skuNames[Int($0)] }
    }
}

public import CVMCore
import Foundation

/// Settings of the clean stage (`stages.clean`).
public struct Configuration: Decodable, Sendable {
    /// Sessionize this source's click events into `stg_sessions`.
    public var sessions: SessionConfiguration?

    enum CodingKeys: String, CodingKey, CaseIterable { case sessions }

    public init(sessions: SessionConfiguration? = nil) { self.sessions = sessions }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sessions = try c.decodeIfPresent(SessionConfiguration.self, forKey: .sessions)
    }
}

/// `stages.clean.sessions`: which events to sessionize, how sessions split, and who they belong to.
public struct SessionConfiguration: Decodable, Sendable {
    public var source: String
    /// A new session starts after more than this many minutes without an event.
    public var gapMinutes: Int
    /// Also split a session where the local day changes (in `zone`).
    public var splitAtMidnight: Bool
    /// The zone of the midnight split; nil: the features' zone (`stages.features.zone`, the shop's day).
    public var zone: String?
    /// The column of an anonymous visitor id (cookie, device); nil: events are grouped by customer and
    /// anonymous events are left out.
    public var visitor: String?
    /// Who a visitor's anonymous events belong to once the visitor logs in.
    public var stitch: Stitch
    /// The column of the page (URL or path): the session's landing and exit pages; nil: they are null.
    public var page: String?
    /// The column of the product: a page view with one counts as a product view too; nil: only the event types
    /// listed under `event_types.product_view` do.
    public var product: String?
    /// Which values of `event_type` count as what.
    public var eventTypes: SessionEventTypes

    public enum Stitch: String, ConfigEnum {
        /// The logged-in session's earlier anonymous events belong to the customer.
        case session
        /// So do the visitor's anonymous sessions before it (each takes the customer of the visitor's next
        /// logged-in session).
        case visitor
        public static var noun: String { "stitch" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case source, gapMinutes = "gap_minutes", splitAtMidnight = "split_at_midnight", zone, visitor, stitch, page, product
        case eventTypes = "event_types"
    }

    public init(source: String, gapMinutes: Int = 30, splitAtMidnight: Bool = false, zone: String? = nil, visitor: String? = nil,
                stitch: Stitch = .session, page: String? = nil, product: String? = nil, eventTypes: SessionEventTypes = .init()) {
        (self.source, self.gapMinutes, self.splitAtMidnight, self.zone) = (source, gapMinutes, splitAtMidnight, zone)
        (self.visitor, self.stitch, self.page, self.product, self.eventTypes) = (visitor, stitch, page, product, eventTypes)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decode(String.self, forKey: .source)
        gapMinutes = try c.decodeIfPresent(Int.self, forKey: .gapMinutes) ?? 30
        // At most a year: larger gaps overflowed the sessionizer's microseconds (a crash, exit 132).
        if !(1...527_040).contains(gapMinutes) { throw ConfigValueError("gap_minutes must be between 1 and 527040 (a year), found \(gapMinutes)") }
        splitAtMidnight = try c.decodeIfPresent(Bool.self, forKey: .splitAtMidnight) ?? false
        zone = try c.decodeIfPresent(ZoneName.self, forKey: .zone)?.name
        visitor = try c.decodeIfPresent(String.self, forKey: .visitor)
        stitch = try c.decodeIfPresent(Stitch.self, forKey: .stitch) ?? .session
        page = try c.decodeIfPresent(String.self, forKey: .page)
        product = try c.decodeIfPresent(String.self, forKey: .product)
        eventTypes = try c.decodeIfPresent(SessionEventTypes.self, forKey: .eventTypes) ?? .init()
    }

    /// The events columns the sessions read besides `customer_id`, `occurred_at` and `event_type` (checked against
    /// the source's declared columns), with their config keys.
    public var namedColumns: [(key: String, column: String)] {
        [("visitor", visitor), ("page", page), ("product", product)].compactMap { k, c in c.map { (k, $0) } }
    }
}

/// `stages.clean.sessions.event_types`: the `event_type` values each session count takes. A value may be
/// listed under several counts (a `product_view` that is also a page view).
public struct SessionEventTypes: Decodable, Sendable, Equatable {
    public var pageView: [String]
    public var productView: [String]
    public var search: [String]
    public var addToCart: [String]
    public var checkout: [String]
    public var purchase: [String]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case pageView = "page_view", productView = "product_view", search, addToCart = "add_to_cart", checkout, purchase
    }

    public init(pageView: [String] = ["page_view"], productView: [String] = ["product_view"], search: [String] = ["search"],
                addToCart: [String] = ["add_to_cart"], checkout: [String] = ["checkout"], purchase: [String] = ["purchase"]) {
        (self.pageView, self.productView, self.search) = (pageView, productView, search)
        (self.addToCart, self.checkout, self.purchase) = (addToCart, checkout, purchase)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SessionEventTypes()
        pageView = try c.decodeIfPresent([String].self, forKey: .pageView) ?? d.pageView
        productView = try c.decodeIfPresent([String].self, forKey: .productView) ?? d.productView
        search = try c.decodeIfPresent([String].self, forKey: .search) ?? d.search
        addToCart = try c.decodeIfPresent([String].self, forKey: .addToCart) ?? d.addToCart
        checkout = try c.decodeIfPresent([String].self, forKey: .checkout) ?? d.checkout
        purchase = try c.decodeIfPresent([String].self, forKey: .purchase) ?? d.purchase
    }

    /// The counts in the bit order of `EventMasks` (bit k of an event type's mask: list k).
    var lists: [[String]] { [pageView, productView, search, addToCart, checkout, purchase] }
}

/// The cleaned rows of one source and what was set aside.
public struct CleanResult: Sendable {
    /// `stg_<source>`: the input's columns minus rejected rows, in input order.
    public var table: Table
    public var quarantine: [QuarantineRecord]
    public var rowsIn: Int
    /// Rejections per rule, in the fixed rule order.
    public var rejectsByRule: [(rule: String, count: Int)]
    /// Values set to null under `on_invalid: null`, per column and rule (rows kept), with one example each.
    public var nulled: [(column: String, rule: String, count: Int, example: String)] = []
    /// Kept rows whose reference was not found (`on_unknown: keep` or `placeholder`), per referencing column.
    public var unknownReferences: [UnknownReferences] = []
    public var rejectRate: Double { rowsIn == 0 ? 0 : Double(quarantine.count) / Double(rowsIn) }
}

/// Kept rows of one referencing column whose id the referenced source lacks (`on_unknown: keep | placeholder`).
public struct UnknownReferences: Sendable, Equatable {
    public var column: String
    /// `other_source.column`.
    public var target: String
    public var policy: SourceSpec.UnknownReferencePolicy
    /// Rows kept with an unknown id.
    public var rows = 0
    /// The distinct unknown ids, in the order their first row appears (the placeholders to add).
    public var ids: [String] = []

    public init(column: String, target: String, policy: SourceSpec.UnknownReferencePolicy) {
        (self.column, self.target, self.policy) = (column, target, policy)
    }

    /// `target`'s placeholder rows: the ids in its column, every other column null, `_file` naming where they
    /// came from (`placeholder for orders.customer_id`) and `_line` 0. Same schema as `table` (the cleaned target).
    public func placeholders(matching table: Table, source: String) -> Table? {
        let parts = target.split(separator: ".").map(String.init)
        guard parts.count == 2, table[parts[1]] != nil, !ids.isEmpty else { return nil }
        let n = ids.count
        let columns = table.columns.map { c -> Column in
            if c.name == parts[1] { return Column(c.name, c.type, strings: ids) }
            if c.name == Provenance.file { return Column(c.name, c.type, strings: Array(repeating: "placeholder for \(source).\(column)", count: n)) }
            if c.name == Provenance.line { return Column(c.spec, .int64([Int64](repeating: 0, count: n))) }
            let none = [Bool](repeating: false, count: n)
            switch c.type.storageKind {
            case .int64: return Column(c.spec, .int64([Int64](repeating: 0, count: n)), validity: none)
            case .double: return Column(c.spec, .double([Double](repeating: 0, count: n)), validity: none)
            case .string: return Column(c.name, c.type, strings: [String?](repeating: nil, count: n))
            }
        }
        return Table(name: table.name, columns: columns, rowCount: n)
    }
}

/// Validates typed rows against a source's declared rules (the clean stage).
public enum Cleaner {
    /// Rules in the order they are checked; the first failure names a row's reason.
    /// Why `value` cannot be a value of a column declared `decl` (allowed values, pattern, length), or nil.
    /// `pattern`: `decl.pattern` compiled (`wholeValueRegex`), once for all the ids checked.
    static func idProblem(_ value: String, _ decl: ColumnDecl, pattern: NSRegularExpression?) -> String? {
        if decl.type == .enum, let values = decl.values, !values.isEmpty, !values.contains(value) {
            return "\(decl.name) allows only \(values.joined(separator: ", "))"
        }
        if let p = decl.pattern, let pattern, !matches(pattern, value) {
            return "\(decl.name) must match the pattern \(p)"
        }
        if let lo = decl.minLength, value.count < lo { return "\(decl.name) has at least \(lo) characters" }
        if let hi = decl.maxLength, value.count > hi { return "\(decl.name) has at most \(hi) characters" }
        return nil
    }

    /// A row's values as a line of the source's dialect (its delimiter; a value holding the delimiter, the quote or a
    /// line break quoted, quotes doubled), for the quarantine's `raw` of rows the clean stage rejects: joined by
    /// commas, `a, b` split in two and a semicolon file's row read as one field.
    public static func rawLine(_ values: [String], _ source: SourceSpec) -> String {
        let delimiter = source.delimiter == "whitespace" ? " " : source.delimiter
        guard let quote = source.quote else { return values.joined(separator: delimiter) }
        return values.map { v in
            let needs = v.contains(delimiter) || v.contains(quote) || v.contains("\n") || v.contains("\r")
                || (source.delimiter == "whitespace" && (v.contains("\t") || v.isEmpty))
            return needs ? quote + v.replacingOccurrences(of: quote, with: quote + quote) + quote : v
        }.joined(separator: delimiter)
    }

    public static let ruleOrder = ["required", "enum", "min", "max", "window", "pattern", "length", "currency", "check", "duplicate",
                                   "reference"]

    /// `column` with its values rewritten by `mappings` (`ColumnDecl.map`), or nil when no value changes. Each distinct
    /// value is mapped once, on the dictionary; values mapped to the same text share a code again.
    static func mapped(_ column: Column, _ mappings: [ValueMapping]) -> Column? {
        guard case .string(let codes, let dict) = column.storage else { return nil }
        var out = StringDictionary(), index: [String: Int32] = [:]
        var remap = [Int32](repeating: 0, count: dict.count)
        var changed = false
        for k in 0..<dict.count {
            let value = dict[k]
            let to = ValueMapping.apply(mappings, to: value) ?? value
            if to != value { changed = true }
            if let code = index[to] { remap[k] = code; continue }
            let code = Int32(out.append(to))
            index[to] = code
            remap[k] = code
        }
        guard changed else { return nil }
        // A plain loop into the inlinable writer: the generic `StringCodes(_:dictionaryCount:)` over a lazy map is not
        // specialised across modules and took 3.4 s on M's 15.8 M events (this loop: well under a tenth of that).
        let newCodes = StringCodes(count: codes.count, width: .init(dictionaryCount: out.count)) { w in
            remap.withUnsafeBufferPointer { m in for i in 0..<codes.count { w.append(m[Int(codes[i])]) } }
        }
        return Column(column.spec, .string(codes: newCodes, dictionary: out), validity: column.validity)
    }

    /// `column` with each null taking the value of the nearest earlier row with the same `key` (`ColumnDecl.fillDown`),
    /// or nil when no null is filled. Rows whose key is null are left as they are.
    static func filledDown(_ column: Column, by key: Column) -> Column? {
        guard let valid = column.validity else { return nil }
        let n = column.count
        var source = Array(0..<n)
        var changed = false
        func fill<K: Hashable>(_ keyAt: (Int) -> K) {
            var last: [K: Int] = [:]
            for i in 0..<n where key.isValid(i) {
                let k = keyAt(i)
                if valid[i] { last[k] = i } else if let j = last[k] { source[i] = j; changed = true }
            }
        }
        switch key.storage {
        case .string(let codes, let dict):
            // Text keys by code: an array, not a hash table (a lookup per row).
            var last = [Int](repeating: -1, count: dict.count)
            for i in 0..<n where key.isValid(i) {
                let k = Int(codes[i])
                if valid[i] { last[k] = i } else if last[k] >= 0 { source[i] = last[k]; changed = true }
            }
        case .int64(let v): fill { v[$0] }
        case .double(let v): fill { (v[$0] + 0).bitPattern }  // -0 + 0 is +0: -0.0 and 0.0 are one value
        }
        return changed ? column.gathering(source) : nil
    }

    /// Validates `table` against `source`'s rules: `required`, `enum`, `min`, `max`, then
    /// `duplicate` (by `key`, keeping the first or last in input order) and `reference`.
    /// - Parameter references: `"other_source.column"` → that source's **cleaned** column.
    /// - Complexity: O(rows × columns); string rules work on dictionary codes, once per distinct value.
    /// - Parameter table: handed over (`consume` it): its columns are released one by one as the kept rows are
    ///   gathered.
    /// - Parameter asOf: the as-of day and the shop's zone (whose days the window counts) for `window` rules;
    ///   without it they are not checked (tests of other rules).
    /// - Parameter referenceRules: `"other_source.column"` → that column's declaration: an unknown id that breaks
    ///   its rules (pattern, length, allowed values) gets no placeholder; its rows are rejected (rule `reference`).
    public static func clean(_ source: SourceSpec, table: consuming Table, references: [String: Column], threads: Int,
                             asOf: (day: Int64, zone: LocalClock)? = nil, referenceRules: [String: ColumnDecl] = [:]) -> CleanResult {
        // `fill_down`, then `map`: the rules then check the filled and mapped values.
        for (name, decl) in source.columns {
            if let key = decl.fillDown, let c = table[name], let k = table[key], let filled = filledDown(c, by: k) { table.replace(filled) }
        }
        for (name, decl) in source.columns where !decl.map.isEmpty {
            if let c = table[name], let mapped = mapped(c, decl.map) { table.replace(mapped) }
        }
        let n = table.rowCount
        // One byte per row (0: passes, else 1 + the index of the first failing rule in `ruleOrder`);
        // the reason and column are kept only for rejected rows. Optional strings per row cost
        // 48 bytes a row (750 MB on 15.8M clicks); this costs 1.
        var ruleOf = [UInt8](repeating: 0, count: n)
        var detail: [Int: (reason: String, column: Int?)] = [:]
        let ruleCode = Dictionary(uniqueKeysWithValues: ruleOrder.enumerated().map { ($1, UInt8($0 + 1)) })
        let decls = source.columns.entries

        func reject(_ i: Int, _ r: String, _ why: @autoclosure () -> String, col: Int?) {
            if ruleOf[i] == 0 { ruleOf[i] = ruleCode[r]!; detail[i] = (why(), col) }
        }
        // Under `on_invalid: null` a value rule nulls the value instead of rejecting the row.
        var nullify: [String: [Bool]] = [:]
        var nulled: [String: (count: Int, example: String)] = [:]
        var nulledOrder: [String] = []
        func invalid(_ i: Int, _ r: String, _ ci: Int, _ e: (key: String, value: ColumnDecl), _ why: @autoclosure () -> String) {
            guard e.value.onInvalid == .null else { reject(i, r, why(), col: ci + 1); return }
            guard ruleOf[i] == 0 else { return }
            if nullify[e.key] == nil { nullify[e.key] = [Bool](repeating: false, count: n) }
            if nullify[e.key]![i] { return }
            nullify[e.key]![i] = true
            let k = "\(e.key)\u{0}\(r)"
            if nulled[k] == nil { nulledOrder.append(k); nulled[k] = (0, why()) }
            nulled[k]!.count += 1
        }
        // required
        for (ci, e) in decls.enumerated() where e.value.required {
            guard let c = table[e.key] else { continue }
            if let v = c.validity {
                for i in 0..<n where !v[i] { reject(i, "required", "\(e.key) is required but empty", col: ci + 1) }
            }
            if case .string(let codes, let dict) = c.storage {
                let empty = dict.indices.map { dict.byteCount($0) == 0 }
                for i in 0..<n where c.isValid(i) && empty[Int(codes[i])] { reject(i, "required", "\(e.key) is required but empty", col: ci + 1) }
            }
        }
        // enum
        for (ci, e) in decls.enumerated() {
            guard let allowed = e.value.values, let c = table[e.key], case .string(let codes, let dict) = c.storage else { continue }
            let set = Set(allowed)
            let ok = dict.map { set.contains($0) }
            for i in 0..<n where c.isValid(i) && !ok[Int(codes[i])] {
                invalid(i, "enum", ci, e, "\(e.key): \"\(dict[Int(codes[i])])\" is not one of \(allowed.joined(separator: ", "))")
            }
        }
        // min / max
        for (ci, e) in decls.enumerated() where e.value.min != nil || e.value.max != nil {
            guard let c = table[e.key] else { continue }
            let valid = c.validity
            let ints: [Int64]? = if case .int64(let v) = c.storage { v } else { nil }
            let doubles: [Double]? = if case .double(let v) = c.storage { v } else { nil }
            guard ints != nil || doubles != nil else { continue }
            let divisor = c.type == .decimal ? Double(pow10(c.spec.scale)) : 1
            let lo = e.value.min ?? -.infinity, hi = e.value.max ?? .infinity
            let (openLo, openHi) = (e.value.minExclusive, e.value.maxExclusive)
            for i in 0..<n where valid?[i] ?? true {
                let x = ints.map { Double($0[i]) / divisor } ?? doubles![i]
                let aboveLo = openLo ? x > lo : x >= lo, belowHi = openHi ? x < hi : x <= hi
                if aboveLo && belowHi { continue }
                if !aboveLo, let lo = e.value.min {
                    invalid(i, "min", ci, e, openLo ? "\(e.key): \(c.formatted(at: i)) is not above the exclusive minimum \(formatDouble(lo))"
                                                    : "\(e.key): \(c.formatted(at: i)) is below the minimum \(formatDouble(lo))")
                } else if !belowHi, let hi = e.value.max {
                    invalid(i, "max", ci, e, openHi ? "\(e.key): \(c.formatted(at: i)) is not below the exclusive maximum \(formatDouble(hi))"
                                                    : "\(e.key): \(c.formatted(at: i)) is above the maximum \(formatDouble(hi))")
                }
            }
        }
        // window: dates and timestamps around the as-of day.
        if let asOf {
            for (ci, e) in decls.enumerated() {
                guard let w = e.value.window, let c = table[e.key], case .int64(let v) = c.storage,
                      c.type == .timestamp || c.type == .date else { continue }
                // Both sides count calendar days from the end of the as-of day: timestamps from the end of a local
                // day in the zone (counted as 24 hours, the window was an hour off on either side of a daylight
                // saving change), dates in days (a date is in when its day starts in the window). Values in
                // [from, to) pass.
                let from: Int64, to: Int64
                if c.type == .date {
                    from = w.daysBefore.map { asOf.day + 1 - Int64($0) } ?? .min
                    to = w.daysAfter.map { asOf.day + 1 + Int64($0) } ?? .max
                } else {
                    from = w.daysBefore.map { asOf.zone.endOfDayUTC(asOf.day - Int64($0)) } ?? .min
                    to = w.daysAfter.map { asOf.zone.endOfDayUTC(asOf.day + Int64($0)) } ?? .max
                }
                func edge(_ x: Int64) -> String {
                    c.type == .date ? CivilDate(daysSinceEpoch: x).description : formatTimestampMicros(x)
                }
                let valid = c.validity
                for i in 0..<n where (valid?[i] ?? true) && (v[i] < from || v[i] >= to) {
                    invalid(i, "window", ci, e, v[i] < from
                        ? "\(e.key): \(c.formatted(at: i)) is before the as-of window, which starts \(edge(from)) (days_before: \(w.daysBefore!))"
                        : "\(e.key): \(c.formatted(at: i)) is after the as-of window, which ends \(c.type == .date ? edge(to - 1) : edge(to)) (days_after: \(w.daysAfter!))")
                }
            }
        }
        // pattern and length: checked once per distinct value of the column's dictionary.
        for (ci, e) in decls.enumerated() where e.value.pattern != nil || e.value.minLength != nil || e.value.maxLength != nil {
            guard let c = table[e.key], case .string(let codes, let dict) = c.storage else { continue }
            var why = [(String, String)?](repeating: nil, count: dict.count)
            let regex = e.value.pattern.flatMap { try? wholeValueRegex($0) }
            for (k, v) in dict.enumerated() {
                let length = v.count
                if let regex, !matches(regex, v) {
                    why[k] = ("pattern", "\(e.key): \"\(v)\" does not match the pattern \(e.value.pattern!)")
                } else if let lo = e.value.minLength, length < lo {
                    why[k] = ("length", "\(e.key): \"\(v)\" has \(length) characters, fewer than \(lo)")
                } else if let hi = e.value.maxLength, length > hi {
                    why[k] = ("length", "\(e.key): \"\(v)\" has \(length) characters, more than \(hi)")
                }
            }
            for i in 0..<n where c.isValid(i) {
                if let (r, text) = why[Int(codes[i])] { invalid(i, r, ci, e, text) }
            }
        }
        if !nullify.isEmpty {
            let columns = table.columns.map { c -> Column in
                guard let mask = nullify[c.name] else { return c }
                var c = c
                var validity = c.validity ?? [Bool](repeating: true, count: n)
                for i in 0..<n where mask[i] { validity[i] = false }
                c.validity = validity
                return c
            }
            table = Table(name: table.name, columns: columns, rowCount: n)
        }
        // currency: rows whose currency has no rate are rejected here; the amounts are converted after every rule,
        // so min, max and the checks see the amounts as the file writes them (a check `net = quantity * unit_price`
        // held in the file's currency failed on amounts each rounded to cents in the reporting one).
        var rates: [Decimal128?]? = nil
        if let cc = source.currency, let codeCol = table[cc.column] {
            let ci = (decls.firstIndex { $0.key == cc.column } ?? 0) + 1
            var perRow = [Decimal128?](repeating: nil, count: n)
            var exact: [String: Decimal128] = [:]
            for i in 0..<n where ruleOf[i] == 0 {
                guard codeCol.isValid(i), let code = codeCol.string(at: i), code != cc.to else { continue }  // already in `to`
                if let r = cc.rate(code) {
                    if exact[code] == nil { exact[code] = Decimal128(exactly: r) }
                    perRow[i] = exact[code]
                    if perRow[i] == nil { reject(i, "currency", "\(cc.column): the rate of \"\(code)\", \(r), is beyond 38 digits; write it in other units", col: ci) }
                } else {
                    reject(i, "currency", "\(cc.column): \"\(code)\" has no rate to \(cc.to); add it under currency.rates", col: ci)
                }
            }
            rates = perRow
        }
        // check: row expressions across columns, on the values as they stand (after on_invalid: null).
        for expr in source.checks {
            let bound = expr.bind(table)
            for i in 0..<n where ruleOf[i] == 0 && !bound.passes(i) {
                reject(i, "check", "check failed: \(expr.text) (\(expr.operands(table, row: i)))", col: nil)
            }
        }
        if let cc = source.currency, let rates {
            let codeCol = table[cc.column]
            let columns = table.columns.map { c -> Column in
                guard cc.amounts.contains(c.name) else { return c }
                let ci = (decls.firstIndex { $0.key == c.name } ?? 0) + 1
                switch c.storage {
                case .int64(var v):
                    // Fixed point, exactly: amount × rate (the rate's shortest decimal digits), rounded half away
                    // from zero at the column's scale. In Double, amounts past 2^53 units lost cents even at rate 1,
                    // and a result past Int64 crashed the run.
                    for i in 0..<n where ruleOf[i] == 0 && c.isValid(i) {
                        guard let r = rates[i] else { continue }
                        if let x = r.convert(v[i]) { v[i] = x } else {
                            let code = codeCol?.string(at: i) ?? ""
                            reject(i, "currency", "\(c.name): \(c.formatted(at: i)) \(code) is \(c.formatted(at: i)) × \(r.text) \(cc.to), beyond what a decimal of scale \(c.spec.scale) holds; declare \(c.name) with a smaller scale or as a double", col: ci)
                        }
                    }
                    return Column(c.spec, .int64(v), validity: c.validity)
                case .double(var v):
                    for i in 0..<n where ruleOf[i] == 0 { if let r = rates[i] { v[i] *= r.double } }
                    return Column(c.spec, .double(v), validity: c.validity)
                default: return c
                }
            }
            table = Table(name: table.name, columns: columns, rowCount: n)
        }
        // Columns held in locals are let go before the gather (below), so it can release the table's.
        var fileCol = table[Provenance.file], lineCol = table[Provenance.line]
        func place(_ i: Int) -> (String, Int) { (fileCol?.string(at: i) ?? "", Int(lineCol?.int64(at: i) ?? 0)) }
        // duplicate: among rows that passed the row rules.
        var keyCols = source.key.compactMap { table[$0] }
        if !keyCols.isEmpty, keyCols.count == source.key.count {
            // Keys are the columns' raw storage values (codes, integers, double bits): up to four
            // columns hash as one fixed-size value, without an array per row (the dedupe hot loop).
            // The key columns' values held in locals, each read without copying a `Column` out of an array
            // (a retain and release of its arrays per value: most of the orders' dedupe time on M).
            let keyValues = keyCols.map(KeyValues.init)
            let k0 = keyValues[0], k1 = keyValues.count > 1 ? keyValues[1] : k0
            let k2 = keyValues.count > 2 ? keyValues[2] : nil, k3 = keyValues.count > 3 ? keyValues[3] : nil
            /// Two to four key columns as one fixed-size value.
            func compoundKey(_ i: Int) -> Key4 {
                Key4(a: k0.at(i), b: k1.at(i), c: k2?.at(i) ?? 0, d: k3?.at(i) ?? 0)
            }
            // Keep the first or last by `dedupe_by` (nulls first), then by input order.
            var sorted: [Int]?
            if let by = source.dedupeBy.flatMap({ table[$0] }) {
                func key(_ i: Int) -> (Int, Double, String) {
                    guard by.isValid(i) else { return (0, 0, "") }
                    if case .string = by.storage { return (1, 0, by.string(at: i) ?? "") }
                    return (1, by.double(at: i) ?? 0, "")
                }
                var ascending = Array(0..<n)
                ascending.sort { a, b in
                    let ka = key(a), kb = key(b)
                    return ka != kb ? ka < kb : a < b
                }
                sorted = ascending
            }
            let reversed = source.dedupe != .first
            /// Calls `body` for every row in keep-priority order (no index array without `dedupe_by`).
            func inOrder(_ body: (Int) -> Void) {
                if let sorted {
                    if reversed { for i in sorted.reversed() { body(i) } } else { for i in sorted { body(i) } }
                } else if reversed {
                    for i in stride(from: n - 1, through: 0, by: -1) { body(i) }
                } else {
                    for i in 0..<n { body(i) }
                }
            }
            func report(_ i: Int, first: Int) {
                let (f, l) = place(first)
                let desc = zip(source.key, keyCols).map { "\($0)=\($1.formatted(at: i))" }.joined(separator: ", ")
                reject(i, "duplicate", "duplicate of \(f):\(l) (key \(desc))", col: nil)
            }
            if keyCols.count == 1, case .string(let codes, let dict) = keyCols[0].storage {
                // One string key: equal keys are equal dictionary codes, so the first row per code
                // is a flat array (4 bytes per distinct value; null keys share the last slot).
                var first = [Int32](repeating: -1, count: dict.count + 1)
                let valid = keyCols[0].validity
                inOrder { i in
                    guard ruleOf[i] == 0 else { return }
                    let slot = (valid?[i] ?? true) ? Int(codes[i]) : dict.count
                    if first[slot] < 0 { first[slot] = Int32(i) } else { report(i, first: Int(first[slot])) }
                }
            } else if keyCols.count == 1 {
                var seen = FirstSeenTable<Int64>(capacity: n)
                inOrder { i in
                    guard ruleOf[i] == 0 else { return }
                    let first = seen.insert(k0.at(i), row: i)
                    if first != i { report(i, first: first) }
                }
            } else if keyCols.count <= 4, let g = keyCols.indices.max(by: { keyCols[$0].dictionaryCount < keyCols[$1].dictionaryCount }),
                      case .string(let codes, let dict) = keyCols[g].storage {
                // A compound key with a string column (order_id, line_no): rows are grouped by the codes of the
                // key's string column with the most values (a counting sort, in keep-priority order), and
                // duplicates are looked for within each group: a few rows, compared directly. One table of every
                // row's key (32 bytes a slot, two slots a row) took 2.4 GB for L's 26 M order lines and missed
                // cache on every row.
                let valid = keyCols[g].validity
                let slots = dict.count + 1  // the last: rows whose grouping value is null
                func slot(_ i: Int) -> Int { (valid?[i] ?? true) ? Int(codes[i]) : dict.count }
                var start = [Int](repeating: 0, count: slots + 1)
                inOrder { i in if ruleOf[i] == 0 { start[slot(i) + 1] += 1 } }
                for s in 0..<slots { start[s + 1] += start[s] }
                var fill = start
                var grouped = [Int32](repeating: 0, count: start[slots])
                inOrder { i in
                    guard ruleOf[i] == 0 else { return }
                    let s = slot(i)
                    grouped[fill[s]] = Int32(i)
                    fill[s] += 1
                }
                fill = []
                var firsts: [(key: Key4, row: Int)] = []
                for s in 0..<slots where start[s + 1] - start[s] > 1 {
                    let group = grouped[start[s]..<start[s + 1]]
                    if group.count <= 16 {
                        firsts.removeAll(keepingCapacity: true)
                        for r in group {
                            let i = Int(r), key = compoundKey(i)
                            if let f = firsts.first(where: { $0.key == key }) { report(i, first: f.row) } else { firsts.append((key, i)) }
                        }
                    } else {
                        // A big group (nulls, or a string column of few values): a table for the group alone.
                        var seen = FirstSeenTable<Key4>(capacity: group.count)
                        for r in group {
                            let i = Int(r), first = seen.insert(compoundKey(i), row: i)
                            if first != i { report(i, first: first) }
                        }
                    }
                }
            } else if keyCols.count <= 4 {
                var seen = FirstSeenTable<Key4>(capacity: n)
                inOrder { i in
                    guard ruleOf[i] == 0 else { return }
                    let first = seen.insert(compoundKey(i), row: i)
                    if first != i { report(i, first: first) }
                }
            } else {
                var seen: [[Int64]: Int] = [:]
                inOrder { i in
                    guard ruleOf[i] == 0 else { return }
                    let key = keyValues.map { $0.at(i) }
                    if let first = seen[key] { report(i, first: first) } else { seen[key] = i }
                }
            }
        }
        // reference
        var unknown: [UnknownReferences] = []
        for (colName, target) in source.references {
            guard let c = table[colName], let ref = references[target], case .string(let codes, let dict) = c.storage else { continue }
            let known = Set((0..<ref.count).compactMap { ref.string(at: $0) })
            let ok = dict.map { known.contains($0) }
            let ci = (decls.firstIndex { $0.key == colName } ?? 0) + 1
            let policy = source.unknownReferences[colName] ?? .reject
            if policy == .reject {
                for i in 0..<n where c.isValid(i) && !ok[Int(codes[i])] {
                    reject(i, "reference", "\(colName) \"\(dict[Int(codes[i])])\" not found in \(target)", col: ci)
                }
                continue
            }
            // A placeholder is a row of the referenced source: an id its column's rules reject cannot be one (a
            // customer "bad id!" where customer ids match C[0-9]+).
            if policy == .placeholder, let rules = referenceRules[target] {
                var why = [String?](repeating: nil, count: dict.count)
                let pattern = rules.pattern.flatMap { try? wholeValueRegex($0) }
                for k in dict.indices where !ok[k] { why[k] = idProblem(dict[k], rules, pattern: pattern) }
                for i in 0..<n where ruleOf[i] == 0 && c.isValid(i) {
                    if let problem = why[Int(codes[i])] {
                        reject(i, "reference", "\(colName) \"\(dict[Int(codes[i])])\" not found in \(target), and no placeholder: \(problem)", col: ci)
                    }
                }
            }
            // Kept: only rows that pass every other rule count, and their distinct ids in first-seen order.
            var found = UnknownReferences(column: colName, target: target, policy: policy)
            var seen = [Bool](repeating: false, count: dict.count)
            for i in 0..<n where ruleOf[i] == 0 && c.isValid(i) && !ok[Int(codes[i])] {
                found.rows += 1
                let code = Int(codes[i])
                if !seen[code] { seen[code] = true; found.ids.append(dict[code]) }
            }
            if found.rows > 0 { unknown.append(found) }
        }

        // The kept rows as runs (a few long ones: a copy each per column, no index per row).
        let keep = RowRuns(zerosOf: ruleOf)
        var records: [QuarantineRecord] = []
        var counts: [String: Int] = [:]
        var dataCols = table.columns.filter { !$0.name.hasPrefix("_") }
        for i in 0..<n where ruleOf[i] != 0 {
            let r = ruleOrder[Int(ruleOf[i]) - 1]
            let (f, l) = place(i)
            let raw = source.maxRawBytes == 0 ? "" : prefixUTF8(Cleaner.rawLine(dataCols.map { $0.isValid(i) ? $0.formatted(at: i) : "" }, source), bytes: source.maxRawBytes)
            records.append(QuarantineRecord(source: source.name, file: f, line: l, column: detail[i]?.column, rule: r, reason: detail[i]?.reason ?? r, raw: raw))
            counts[r, default: 0] += 1
        }
        (dataCols, keyCols, fileCol, lineCol) = ([], [], nil, nil)
        // Nothing rejected: the table as it stands (no copy of every column).
        var out = keep.total == n ? table : (consume table).gatheringReleasing(keep, threads: threads)
        out.name = "stg_\(source.name)"
        var result = CleanResult(table: out, quarantine: records, rowsIn: n,
                                 rejectsByRule: ruleOrder.compactMap { r in counts[r].map { (r, $0) } })
        result.nulled = nulledOrder.map { k in
            let parts = k.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            return (parts[0], parts[1], nulled[k]!.count, nulled[k]!.example)
        }
        result.unknownReferences = unknown
        return result
    }

    /// The order in which to clean sources so referenced sources come first.
    /// - Throws: `CVMFailure` (exit 78) for a reference cycle or an unknown source.
    public static func referenceOrder(_ sources: [SourceSpec]) throws -> [String] {
        let names = sources.map(\.name)
        var deps: [String: [String]] = [:]
        for s in sources {
            for (col, target) in s.references {
                let other = String(target.split(separator: ".").first ?? "")
                guard names.contains(other) else {
                    throw CVMFailure(.config, "error: sources.\(s.name).references.\(col): unknown source \"\(other)\" (expected one of \(names.joined(separator: ", ")))")
                }
                if other != s.name { deps[s.name, default: []].append(other) }
            }
        }
        var order: [String] = []
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        func visit(_ n: String, _ path: [String]) throws {
            if state[n] == 2 { return }
            if state[n] == 1 {
                throw CVMFailure(.config, "error: sources: references form a cycle (\((path + [n]).joined(separator: " → "))); remove one reference")
            }
            state[n] = 1
            for d in deps[n] ?? [] { try visit(d, path + [n]) }
            state[n] = 2
            order.append(n)
        }
        for n in names { try visit(n, []) }
        return order
    }

    /// The profile's quantiles (nearest rank: each is a value of the column).
    public static let quantiles: [(name: String, p: Double)] = [("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95)]

    /// Data-quality profile: one row per column (source, column, type, rows, nulls, null_share, distinct, min, max, mean,
    /// then the `quantiles` of number, date and timestamp columns, written as min and max are).
    /// - Parameter masked: columns whose values must not appear (`privacy.pseudonymize`): their min, max and
    ///   quantiles are null; counts and shares stay.
    public static func profile(_ table: Table, source: String, threads: Int = 1, masked: Set<String> = []) -> Table {
        struct Stats: Sendable {
            var name: String, type: String, nulls: Int, distinct: Int
            var min: String?, max: String?, mean: Double, meanValid: Bool
            /// At `Cleaner.quantiles`, as min and max are written; nil for text and bool columns.
            var quantiles: [String?]
        }
        let n = table.rowCount
        let columns = table.columns.filter { !$0.name.hasPrefix("_") }
        // One column per worker (each one's stats are independent; the result does not depend on `threads`).
        let stats = parallelMap(chunks: columns.count, threads: threads) { k -> Stats in
            let c = columns[k]
            let nullCount = c.validity.map { $0.reduce(0) { $0 + ($1 ? 0 : 1) } } ?? 0
            var out = Stats(name: c.name, type: c.type.rawValue, nulls: nullCount, distinct: 0, min: nil, max: nil, mean: 0, meanValid: false,
                            quantiles: quantiles.map { _ in nil })
            let present = n - nullCount
            let ranks = present > 0 ? quantiles.map { Quantiles.nearestRank($0.p, count: present) } : []
            var lo: Int?, hi: Int?
            var sum = 0.0, count = 0
            switch c.storage {
            case .string(let codes, let dictionary):
                var usedFlags = [Bool](repeating: false, count: dictionary.count)
                if let valid = c.validity {
                    for i in 0..<n where valid[i] { usedFlags[Int(codes[i])] = true }
                } else {
                    for i in 0..<n { usedFlags[Int(codes[i])] = true }
                }
                // Smallest and largest in byte order (the order of their code points), compared in the
                // dictionary's arena: an id column has millions of values and no `String` is made for them.
                var used = 0
                var smallest = -1, largest = -1
                for (k, flag) in usedFlags.enumerated() where flag {
                    used += 1
                    if smallest < 0 || dictionary.precedesInByteOrder(k, smallest) { smallest = k }
                    if largest < 0 || dictionary.precedesInByteOrder(largest, k) { largest = k }
                }
                out.distinct = used
                out.min = smallest < 0 ? nil : dictionary[smallest]
                out.max = largest < 0 ? nil : dictionary[largest]
            case .int64(let v):
                let counter = DistinctCounter()
                let valid = c.validity
                let averaged = c.type != .date && c.type != .timestamp
                // One pass over the raw buffers (the first smallest and largest row, as written in the column).
                var loV = Int64.max, hiV = Int64.min, loI = -1, hiI = -1
                v.withUnsafeBufferPointer { p in
                    func take(_ i: Int) {
                        let x = p[i]
                        counter.insert(UInt64(bitPattern: x))
                        if loI < 0 || x < loV { loV = x; loI = i }
                        if hiI < 0 || x > hiV { hiV = x; hiI = i }
                        if averaged { sum += Double(x); count += 1 }
                    }
                    if let valid {
                        valid.withUnsafeBufferPointer { ok in for i in 0..<n where ok[i] { take(i) } }
                    } else {
                        for i in 0..<n { take(i) }
                    }
                }
                if loI >= 0 { (lo, hi) = (loI, hiI) }
                if c.type == .decimal { sum /= Double(pow10(c.spec.scale)) }
                out.distinct = counter.count
                out.min = lo.map { c.formatted(at: $0) }
                out.max = hi.map { c.formatted(at: $0) }
                if c.type != .bool && !ranks.isEmpty {
                    let known = lo.map { (v[$0], v[hi!], present) }
                    out.quantiles = Quantiles.select(ranks: ranks, of: v, valid: valid, known: known).map { Column(c.spec, .int64([$0])).formatted(at: 0) }
                }
            case .double(let v):
                let counter = DistinctCounter()
                let valid = c.validity
                for i in 0..<n where valid?[i] ?? true {
                    counter.insert((v[i] + 0).bitPattern)  // -0.0 is 0.0 (both print 0)
                    if lo == nil || v[i] < v[lo!] { lo = i }
                    if hi == nil || v[i] > v[hi!] { hi = i }
                    sum += v[i]
                    count += 1
                }
                out.distinct = counter.count
                out.min = lo.map { c.formatted(at: $0) }
                out.max = hi.map { c.formatted(at: $0) }
                if !ranks.isEmpty {
                    out.quantiles = Quantiles.select(ranks: ranks, of: v, valid: valid).map { Column(c.spec, .double([$0])).formatted(at: 0) }
                }
            }
            out.mean = count > 0 ? sum / Double(count) : 0
            out.meanValid = count > 0
            return out
        }
        return Table(name: "data_quality", columns: [
            Column("source", strings: stats.map { _ in source }),
            Column("column", strings: stats.map(\.name)),
            Column("type", strings: stats.map(\.type)),
            Column("rows", .int, int64: stats.map { _ in Int64(n) }),
            Column("nulls", .int, int64: stats.map { Int64($0.nulls) }),
            Column("null_share", double: stats.map { n == 0 ? 0 : Double($0.nulls) / Double(n) }),
            Column("distinct", .int, int64: stats.map { Int64($0.distinct) }),
            Column("min", strings: stats.map { masked.contains($0.name) ? nil : $0.min }),
            Column("max", strings: stats.map { masked.contains($0.name) ? nil : $0.max }),
            Column("mean", double: stats.map(\.mean), validity: stats.map { $0.meanValid && !masked.contains($0.name) }),
        ] + quantiles.indices.map { q in Column(quantiles[q].name, strings: stats.map { masked.contains($0.name) ? nil : $0.quantiles[q] }) },
                     rowCount: stats.count)
    }
}

extension Column {
    /// The dictionary's size of a string column; -1 for other columns.
    var dictionaryCount: Int {
        if case .string(_, let d) = storage { return d.count }
        return -1
    }
}

/// A dedupe key of up to four columns' raw values.
/// A fixed-size dedupe key that hashes without allocating.
protocol FixedKey: Equatable {
    static var zero: Self { get }
    var mixed: Int { get }
}

/// One key column's raw storage values (codes, integers, double bits; `Int64.min` for a null), read by row.
struct KeyValues {
    let ints: [Int64], doubles: [Double], codes: StringCodes?
    let valid: [Bool]?

    init(_ c: Column) {
        valid = c.validity
        switch c.storage {
        case .int64(let v): (ints, doubles, codes) = (v, [], nil)
        case .double(let v): (ints, doubles, codes) = ([], v, nil)
        case .string(let v, _): (ints, doubles, codes) = ([], [], v)
        }
    }

    @inline(__always) func at(_ i: Int) -> Int64 {
        if let valid, !valid[i] { return Int64.min }
        if let codes { return Int64(codes[i]) }
        // -0.0 + 0 is +0.0: equal numbers are one key (-0.0 and 0.0 both print 0; their bits differ).
        return ints.isEmpty ? Int64(bitPattern: (doubles[i] + 0).bitPattern) : ints[i]
    }
}

struct Key4: FixedKey {
    var a: Int64, b: Int64, c: Int64, d: Int64
    static var zero: Key4 { Key4(a: 0, b: 0, c: 0, d: 0) }
    @inline(__always) var mixed: Int {
        var h = UInt64(bitPattern: a) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ (h >> 29) ^ UInt64(bitPattern: b)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 31) ^ UInt64(bitPattern: c)) &* 0x94D0_49BB_1331_11EB
        h = (h ^ (h >> 29) ^ UInt64(bitPattern: d)) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h ^ (h >> 32))
    }
}

extension Int64: FixedKey {
    static var zero: Int64 { 0 }
    @inline(__always) var mixed: Int {
        var h = UInt64(bitPattern: self) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ (h >> 31)) &* 0xBF58_476D_1CE4_E5B9
        return Int(truncatingIfNeeded: h ^ (h >> 32))
    }
}

/// Open-addressing map from key to the first row that had it: the dedupe hot loop
/// (written by hand: a `Dictionary` hashes with SipHash and boxes nothing we need).
struct FirstSeenTable<Key: FixedKey> {
    private var keys: [Key]
    private var rows: [Int32]
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [Key](repeating: .zero, count: size)
        rows = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    /// The first row seen with `key`; `row` itself when the key is new.
    mutating func insert(_ key: Key, row: Int) -> Int {
        var s = key.mixed & mask
        while true {
            let r = rows[s]
            if r < 0 {
                keys[s] = key
                rows[s] = Int32(row)
                return row
            }
            if keys[s] == key { return Int(r) }
            s = (s + 1) & mask
        }
    }
}

extension Cleaner {
    /// The freshness check: nil when the newest value of the declared column is recent enough at `cutoff`
    /// (µs, end of the as-of day), else the reason. An empty table is stale.
    public static func staleness(_ source: SourceSpec, table: Table, cutoff: Int64) -> String? {
        guard let f = source.freshness, let c = table[f.column] else { return nil }
        var newest: Int64?
        let scale: Int64 = c.type == .date ? microsPerDay : 1
        for i in 0..<table.rowCount {
            if let v = c.int64(at: i).map({ $0 * scale }), v < cutoff, newest.map({ v > $0 }) ?? true { newest = v }
        }
        let limit = Int64(f.maxAgeHours * 3_600_000_000)
        guard let newest else {
            return "sources.\(source.name).freshness: no rows with \(f.column) before the end of the as-of day; check that today's files arrived"
        }
        if cutoff - newest > limit {
            let hours = Double(cutoff - newest) / 3_600_000_000
            return "sources.\(source.name).freshness: the newest \(f.column) is \(formatTimestampMicros(newest)), \(formatDouble((hours * 10).rounded() / 10)) hours before the end of the as-of day (limit \(formatDouble(f.maxAgeHours))); check that the latest files arrived"
        }
        return nil
    }
}

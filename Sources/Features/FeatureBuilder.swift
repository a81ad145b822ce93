public import CVMCore
import Foundation

/// The cleaned tables the feature stage reads (canonical column names).
public struct FeatureInputs: Sendable {
    public var orders: Table
    public var events: Table?
    public var sessions: Table?
    public var customers: Table?

    /// The only columns the feature stage reads from each role's clean table; the runner reads just these
    /// from the artifacts (on M, `stg_events` is 1 GB on disk and the stage needs 380 MB of it).
    /// FeaturesTests checks that projected inputs give the same features as whole tables.
    public static let columnsRead: (orders: Set<String>, events: Set<String>, sessions: Set<String>, customers: Set<String>) = (
        orders: ["customer_id", "order_id", "ordered_at", "status", "quantity", "unit_price", "amount", "discount", "sku", "category"],
        events: ["customer_id", "occurred_at", "event_type"],
        sessions: ["customer_id", "started_at", "duration_s", "events", "page_views", "searches", "add_to_cart", "checkouts",
                   "purchases", "is_bounce", "device", "referrer"],
        customers: ["customer_id", "email", "signup_date", "country", "birth_year", "channel"])

    public init(orders: Table, events: Table? = nil, sessions: Table? = nil, customers: Table? = nil) {
        (self.orders, self.events, self.sessions, self.customers) = (orders, events, sessions, customers)
    }
}

/// `customer_features` (one row per customer, a column per feature) and `feature_catalog`.
public struct FeatureResult: Sendable {
    public var features: Table
    public var catalog: Table
    /// Wall seconds per phase of the build (`context`: rows gathered per customer; `compute`: the features),
    /// for the stage's log line.
    public var phaseSeconds: [(String, Double)] = []
    /// What the run log should say about the inputs (e.g. order statuses no `statuses` list names).
    public var warnings: [String] = []
}

/// One catalog entry.
struct FeatureSpec {
    var name: String
    var family: String
    var unit: String
    var window: Int?
    var description: String
    var isInteger: Bool
    /// Source columns (table.column) the feature is computed from.
    var sources: String = ""
    /// What a customer without the underlying rows gets: "0" or "null" (never NaN or infinity).
    var fill: String = "null"
}

/// Builds per-customer features from declared families (the features stage).
///
/// Point-in-time correct: only rows before the end of the as-of day (in `zone`, default UTC) count;
/// a window of w days covers the w days ending at the as-of date. Every feature of
/// a customer depends only on that customer's rows plus global parameters (as-of,
/// top categories), so the work partitions by customer (DESIGN.md).
public enum FeatureBuilder {
    /// - Throws: `CVMFailure` (exit 78) when a needed column is missing or has the wrong type.
    /// - Complexity: O(rows) to gather rows per customer (plus a sort of any customer whose order lines are
    ///   out of time order), then O(rows × windows + customers × features).
    public static func build(_ inputs: consuming FeatureInputs, asOf: CivilDate, configuration: Configuration, threads: Int) throws -> FeatureResult {
        let start = DispatchTime.now().uptimeNanoseconds
        let ctx = try Context(copy inputs, asOf: asOf, configuration: configuration, threads: threads)
        let contextDone = DispatchTime.now().uptimeNanoseconds
        // The inputs are not needed after this: the caller hands them over (`consuming`), so they go now.
        _ = consume inputs
        let layout = Layout(ctx, configuration)
        let f = layout.specs.count
        let n = ctx.customerIDs.count
        // Refuse before allocating: the column buffers, then the columns (8-byte values and 1-byte validity each).
        let need = Double(n) * Double(f) * 17
        let limit = configuration.memoryLimitMB.map { Double($0) * 1_048_576 } ?? Double(ProcessInfo.processInfo.physicalMemory) * 0.75
        if need > limit {
            func gib(_ b: Double) -> String {
                b >= 1_073_741_824 ? String(format: "%.1f GiB", b / 1_073_741_824) : String(format: "%.1f MiB", b / 1_048_576)
            }
            throw CVMFailure(.config, "error: stages.features: \(n) customers × \(f) features need about \(gib(need)), more than the limit of \(gib(limit)) (stages.features.memory_limit_mb, default 75% of memory); use fewer windows (stages.features.windows), switch families off (stages.features.families) or raise the limit")
        }
        // Each chunk of customers is computed row-major into a small buffer that stays in cache (NaN = undefined),
        // then scattered into the feature columns at its own customers' positions: no full row-major matrix,
        // and the transpose runs on every worker. Integer features are stored as Int64.
        // Sums of decimal money are exact to its scale: the Double sum of ten 0.10 is 0.9999999999999998, rounded
        // to the cent it is 1.0 (the double nearest the exact decimal, for sums below 2^53 units of the scale).
        // Sums only (a line's or an order's revenue, and their totals), not means or spreads.
        let unit = ctx.moneyScale.map { (0..<$0).reduce(1.0) { r, _ in r * 10 } }
        let moneySums: [Double?] = layout.specs.map { s in
            let sum = s.name == "monetary" || ["revenue_sum", "revenue_max", "revenue_min"].contains { s.name.hasPrefix($0 + "_") }
            return sum && s.unit == "currency" ? unit : nil
        }
        let columns: [Column] = [Column("customer_id", strings: ctx.customerIDs)] + ColumnBuffers.make(specs: layout.specs, rows: n, exact: moneySums) { out in
            // 128 customers × 314 features is 320 KB: the block stays in L2 while `store` transposes it column by
            // column (at 512 customers, 1.3 MB, every column of the transpose went back to L3; on M `store` fell
            // from 4.3% to 1.9% of the stage's CPU time).
            let chunk = 128
            let chunks = (n + chunk - 1) / chunk
            _ = parallelMap(chunks: chunks, threads: threads) { c -> Bool in
                let lo = c * chunk, hi = min(n, lo + chunk)
                let rows = UnsafeMutableBufferPointer<Double>.allocate(capacity: (hi - lo) * f)
                defer { rows.deallocate() }
                rows.initialize(repeating: .nan)
                var scratch = Scratch()
                for i in lo..<hi {
                    computeCustomer(i, ctx, layout, UnsafeMutableBufferPointer(rebasing: rows[((i - lo) * f)..<((i - lo + 1) * f)]), &scratch)
                }
                out.store(rows, firstRow: lo, count: hi - lo)
                return true
            }
        }
        let features = Table(name: "customer_features", columns: columns, rowCount: n)
        let specs = layout.specs
        let catalog = Table(name: "feature_catalog", columns: [
            Column("name", strings: specs.map(\.name)),
            Column("family", strings: specs.map(\.family)),
            Column("description", strings: specs.map(\.description)),
            Column("type", strings: specs.map { $0.isInteger ? "int" : "double" }),
            Column("window_days", .int, int64: specs.map { Int64($0.window ?? 0) }, validity: specs.map { $0.window != nil }),
            Column("unit", strings: specs.map(\.unit)),
            Column("source_columns", strings: specs.map(\.sources)),
            Column("fill", strings: specs.map(\.fill)),
        ], rowCount: specs.count)
        let done = DispatchTime.now().uptimeNanoseconds
        var warnings: [String] = []
        if !ctx.unlistedStatuses.isEmpty {
            let shown = ctx.unlistedStatuses.prefix(10).map { "\($0.value) (\($0.lines) line\($0.lines == 1 ? "" : "s"))" }.joined(separator: ", ")
            let more = ctx.unlistedStatuses.count > 10 ? " and \(ctx.unlistedStatuses.count - 10) more" : ""
            warnings.append("order status values no list of stages.features.statuses names count as completed: \(shown)\(more); list each under completed, returned or cancelled")
        }
        return FeatureResult(features: features, catalog: catalog,
                             phaseSeconds: [("context", Double(contextDone - start) / 1e9), ("compute", Double(done - contextDone) / 1e9)],
                             warnings: warnings)
    }
}

/// The feature columns while workers fill them: one value buffer (Double, or Int64 for integer features) and
/// one validity buffer per feature, written at disjoint row ranges by different chunks.
///
/// The buffers are the final arrays' own storage: `make` opens every array with
/// `Array(unsafeUninitializedCapacity:)`, one inside the other, and fills them all from the innermost
/// closure, so the columns need no copy (on M: 280 MB and 0.2 s saved).
struct ColumnBuffers: @unchecked Sendable {
    let specs: [FeatureSpec]
    /// Per feature: round its values to 1 / this (a sum of decimal money, to its scale), or nil.
    var exact: [Double?] = []
    var doubles: [UnsafeMutablePointer<Double>?]
    var ints: [UnsafeMutablePointer<Int64>?]
    var valid: [UnsafeMutablePointer<Bool>?]

    static func make(specs: [FeatureSpec], rows: Int, exact: [Double?] = [], fill: (ColumnBuffers) -> Void) -> [Column] {
        // No customers: empty columns, and no empty `unsafeUninitializedCapacity` (it writes the shared empty-array
        // singleton, which ThreadSanitizer reports as a race with any other thread doing the same).
        guard rows > 0 else {
            return specs.map { Column(ColumnSpec($0.name, $0.isInteger ? .int : .double), $0.isInteger ? .int64([]) : .double([])) }
        }
        var buffers = ColumnBuffers(specs: specs, doubles: specs.map { _ in nil }, ints: specs.map { _ in nil },
                                    valid: specs.map { _ in nil })
        buffers.exact = exact.count == specs.count ? exact : specs.map { _ in nil }
        var values = [ColumnStorage?](repeating: nil, count: specs.count)
        var validity = [[Bool]?](repeating: nil, count: specs.count)
        // Level 2j opens feature j's values, level 2j + 1 its validity; the last level fills everything.
        func open(_ level: Int) {
            if level == 2 * specs.count { fill(buffers); return }
            let j = level / 2
            if level % 2 == 1 {
                validity[j] = [Bool](unsafeUninitializedCapacity: rows) { buf, count in
                    buffers.valid[j] = buf.baseAddress
                    open(level + 1)
                    count = rows
                }
            } else if specs[j].isInteger {
                values[j] = .int64([Int64](unsafeUninitializedCapacity: rows) { buf, count in
                    buffers.ints[j] = buf.baseAddress
                    open(level + 1)
                    count = rows
                })
            } else {
                values[j] = .double([Double](unsafeUninitializedCapacity: rows) { buf, count in
                    buffers.doubles[j] = buf.baseAddress
                    open(level + 1)
                    count = rows
                })
            }
        }
        open(0)
        return specs.indices.map { j in
            Column(ColumnSpec(specs[j].name, specs[j].isInteger ? .int : .double), values[j]!, validity: validity[j]!)
        }
    }

    /// Stores a row-major block of `count` customers starting at `firstRow` (NaN = null, stored as 0).
    func store(_ block: UnsafeMutableBufferPointer<Double>, firstRow: Int, count: Int) {
        let f = specs.count
        for j in 0..<f {
            guard let v = valid[j].map({ $0 + firstRow }) else { continue }
            if let d = doubles[j] {
                let dst = d + firstRow
                if let u = exact[j] {
                    for r in 0..<count {
                        let x = block[r * f + j]
                        dst[r] = x.isNaN ? 0 : (x * u).rounded() / u
                        v[r] = !x.isNaN
                    }
                    continue
                }
                for r in 0..<count {
                    let x = block[r * f + j]
                    dst[r] = x.isNaN ? 0 : x
                    v[r] = !x.isNaN
                }
            } else if let i = ints[j] {
                let dst = i + firstRow
                for r in 0..<count {
                    let x = block[r * f + j]
                    // A count beyond Int64 (a sum of absurd quantities) is null, not a trap: |x| < 2^63.
                    let fits = x.magnitude < 9.223_372_036_854_775_807e18
                    dst[r] = fits ? Int64(x) : 0
                    v[r] = fits
                }
            }
        }
    }
}

/// Per-chunk reusable buffers.
struct Scratch {
    /// Up to this many orders a customer's orders are found by linear search, beyond it by `orderIndex`.
    static let linearOrders = 24
    var orders: [OrderAgg] = []
    var orderCodes: [Int32] = []
    var orderIndex: [Int32: Int] = [:]
    var completed: [OrderAgg] = []
    var revenues: [Double] = []
    var lineOrder: [Int32] = []
    var products = LeastStamps(), categories = LeastStamps(), days = Stamps(), orderCategories = Stamps()
    var sessions: [(Double, Int64)] = []
    var typeCounts: [Int32] = []
}

/// A set of small non-negative integers that empties in O(1): a slot holds the generation that last
/// inserted it. Replaces hashed sets in the per-customer loop (codes and day offsets are dense).
struct Stamps {
    private var marks: [UInt32] = []
    private var generation: UInt32 = 1

    mutating func clear() {
        generation &+= 1
        if generation == 0 { marks = [UInt32](repeating: 0, count: marks.count); generation = 1 }
    }

    /// Inserts `key`; true when it was not in the set.
    @inline(__always) mutating func insert(_ key: Int) -> Bool {
        if key >= marks.count { marks += [UInt32](repeating: 0, count: max(key + 1 - marks.count, marks.count)) }
        if marks[key] == generation { return false }
        marks[key] = generation
        return true
    }
}

/// A map from small non-negative integers to the least value given for each: a `Stamps` set of the keys (so it
/// empties in O(1)) and a value per key; `keys` lists the keys in first-insertion order.
struct LeastStamps {
    private var seen = Stamps()
    private var values: [UInt8] = []
    private(set) var keys: [Int] = []

    mutating func clear() {
        seen.clear()
        keys.removeAll(keepingCapacity: true)
    }

    /// Records `value` for `key`, keeping the least value seen since `clear`.
    @inline(__always) mutating func keepLeast(_ key: Int, _ value: UInt8) {
        if seen.insert(key) {
            if key >= values.count { values += [UInt8](repeating: 0, count: max(key + 1 - values.count, values.count)) }
            values[key] = value
            keys.append(key)
        } else if value < values[key] {
            values[key] = value
        }
    }

    func value(_ key: Int) -> UInt8 { values[key] }
}

/// A string column as codes, whatever its storage (ints are rendered once per distinct value).
func stringCodes(_ c: Column) -> (codes: StringCodes, dict: StringDictionary) {
    switch c.storage {
    case .string(let codes, let dict): return (codes, dict)
    case .int64, .double:
        var b = StringColumnBuilder()
        for i in 0..<c.count { b.append(c.formatted(at: i)) }
        return (StringCodes(b.codes, dictionaryCount: b.dictionary.count), b.dictionary)
    }
}

func requireColumn(_ t: Table, _ name: String, role: String, types: [ColumnType]) throws -> Column {
    guard let c = t[name] else {
        throw CVMFailure(.config, "error: features need column \(name) (\(types.map(\.rawValue).joined(separator: " or "))) in the \(role) source; declare it and map your header with from:")
    }
    guard types.contains(c.type) else {
        throw CVMFailure(.config, "error: features need \(role) column \(name) as \(types.map(\.rawValue).joined(separator: " or ")), found \(c.type)")
    }
    return c
}

/// Rows of one table grouped by customer index (counting sort), each group in time order.


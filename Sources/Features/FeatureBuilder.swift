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
    static let eventTypes = ["page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase",
                             "review", "share", "referral", "support_contact"]

    /// - Throws: `CVMFailure` (exit 78) when a needed column is missing or has the wrong type.
    /// - Complexity: O(rows log rows) for grouping, then O(rows + customers × features).
    public static func build(_ inputs: FeatureInputs, asOf: CivilDate, configuration: Configuration, threads: Int) throws -> FeatureResult {
        let ctx = try Context(inputs, asOf: asOf, configuration: configuration)
        let layout = Layout(ctx, configuration)
        let f = layout.specs.count
        let n = ctx.customerIDs.count
        // Refuse before allocating: the row-major matrix, then the columns (8-byte values and 1-byte validity).
        let need = Double(n) * Double(f) * 17
        let limit = configuration.memoryLimitMB.map { Double($0) * 1_048_576 } ?? Double(ProcessInfo.processInfo.physicalMemory) * 0.75
        if need > limit {
            func gib(_ b: Double) -> String {
                b >= 1_073_741_824 ? String(format: "%.1f GiB", b / 1_073_741_824) : String(format: "%.1f MiB", b / 1_048_576)
            }
            throw CVMFailure(.config, "error: stages.features: \(n) customers × \(f) features need about \(gib(need)), more than the limit of \(gib(limit)) (stages.features.memory_limit_mb, default 75% of memory); use fewer windows (stages.features.windows), switch families off (stages.features.families) or raise the limit")
        }
        // Row-major output, NaN = undefined; each chunk fills only its own customers' rows.
        let chunk = 1024
        let chunks = (n + chunk - 1) / chunk
        let parts = parallelMap(chunks: chunks, threads: threads) { c -> [Double] in
            var out = [Double](repeating: .nan, count: (min(n, (c + 1) * chunk) - c * chunk) * f)
            var scratch = Scratch()
            for i in (c * chunk)..<min(n, (c + 1) * chunk) {
                out.withUnsafeMutableBufferPointer { buf in
                    let row = UnsafeMutableBufferPointer(rebasing: buf[((i - c * chunk) * f)..<((i - c * chunk + 1) * f)])
                    computeCustomer(i, ctx, layout, row, &scratch)
                }
            }
            return out
        }
        var columns: [Column] = [Column("customer_id", strings: ctx.customerIDs)]
        for (j, spec) in layout.specs.enumerated() {
            var values = [Double](repeating: 0, count: n)
            var valid = [Bool](repeating: true, count: n)
            var i = 0
            for part in parts {
                let rows = part.count / max(f, 1)
                for r in 0..<rows {
                    let v = part[r * f + j]
                    if v.isNaN { valid[i] = false } else { values[i] = v }
                    i += 1
                }
            }
            if spec.isInteger {
                columns.append(Column(spec.name, .int, int64: values.map { Int64($0) }, validity: valid))
            } else {
                columns.append(Column(spec.name, double: values, validity: valid))
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
        return FeatureResult(features: features, catalog: catalog)
    }
}

/// Per-chunk reusable buffers.
struct Scratch {
    var orders: [OrderAgg] = []
    var orderCodes: [Int32] = []
    var orderIndex: [Int32: Int] = [:]
    var completed: [OrderAgg] = []
    var revenues: [Double] = []
    var seen = Set<Int32>()
    var categories = Set<Int32>()
    var days = Set<Int64>()
    var orderCategory = Set<Int64>()
    var durations: [Double] = []
}

/// A string column as codes, whatever its storage (ints are rendered once per distinct value).
func stringCodes(_ c: Column) -> (codes: [Int32], dict: [String]) {
    switch c.storage {
    case .string(let codes, let dict): return (codes, dict)
    case .int64, .double:
        var b = StringColumnBuilder()
        for i in 0..<c.count { b.append(c.formatted(at: i)) }
        return (b.codes, b.dictionary)
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


public import CVMCore

/// Settings of the value stage (`stages.value`).
public struct Configuration: Decodable, Sendable {
    public struct RFM: Decodable, Sendable {
        /// Score levels (quantile bins) for R, F and M.
        public var bins = 5
        /// Declared segments, first match wins; nil uses the recency × frequency grid.
        public var segments: [SegmentRule]?
        /// The segment of customers no rule matches.
        public var fallback = "Other"
        enum CodingKeys: String, CodingKey, CaseIterable { case bins, segments, fallback }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            bins = try c.decodeIfPresent(Int.self, forKey: .bins) ?? 5
            if bins < 2 || bins > 10 { throw ConfigValueError("bins must be between 2 and 10, found \(bins)") }
            segments = try c.decodeIfPresent([SegmentRule].self, forKey: .segments)
            fallback = try c.decodeIfPresent(String.self, forKey: .fallback) ?? fallback
        }

        /// Rules that can never be the first match (out-of-range scores, or shadowed by earlier rules),
        /// as (index, reason), for `cvm validate`.
        public func unreachableRules() -> [(Int, String)] {
            guard let segments else { return [] }
            var claimed = Set<Int>()
            var out: [(Int, String)] = []
            for (i, rule) in segments.enumerated() {
                var mine = 0
                for r in 1...bins { for f in 1...bins { for m in 1...bins where rule.matches(r: r, f: f, m: m) {
                    if claimed.insert((r * 100) + (f * 10) + m).inserted { mine += 1 }
                } } }
                if mine == 0 {
                    let anyMatch = (1...bins).contains { r in (1...bins).contains { f in (1...bins).contains { m in rule.matches(r: r, f: f, m: m) } } }
                    out.append((i, anyMatch ? "segment \"\(rule.name)\" can never match: earlier rules take every score it covers"
                                            : "segment \"\(rule.name)\" can never match: its score ranges are outside 1...\(bins)"))
                }
            }
            return out
        }
    }

    /// One declared RFM segment: inclusive score ranges (`r: 4-5`, `f: 1`, `m: [3, 5]`); absent means any.
    public struct SegmentRule: Decodable, Sendable {
        public var name: String
        public var r: ClosedRange<Int>?
        public var f: ClosedRange<Int>?
        public var m: ClosedRange<Int>?
        enum CodingKeys: String, CodingKey, CaseIterable { case name, r, f, m }

        public init(name: String, r: ClosedRange<Int>? = nil, f: ClosedRange<Int>? = nil, m: ClosedRange<Int>? = nil) {
            (self.name, self.r, self.f, self.m) = (name, r, f, m)
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            func range(_ k: CodingKeys) throws -> ClosedRange<Int>? {
                guard let text = try c.decodeIfPresent(String.self, forKey: k) else { return nil }
                let parts = text.split(separator: "-").map { Int(String($0.filter { $0 != " " })) }
                if parts.count == 1, let v = parts[0] { return v...v }
                if parts.count == 2, let lo = parts[0], let hi = parts[1], lo <= hi { return lo...hi }
                throw ConfigValueError("expected a score or a range such as 4-5, found \"\(text)\"")
            }
            r = try range(.r)
            f = try range(.f)
            m = try range(.m)
        }

        public func matches(r: Int, f: Int, m: Int) -> Bool {
            (self.r?.contains(r) ?? true) && (self.f?.contains(f) ?? true) && (self.m?.contains(m) ?? true)
        }
    }

    /// Lifecycle stage thresholds, in days and orders.
    public struct Lifecycle: Decodable, Sendable {
        /// First order at most this many days ago: `new`.
        public var newDays = 30
        /// Last order at most this many days ago: `active` (or `loyal`).
        public var activeDays = 90
        /// Last order more than `activeDays` and at most this many days ago: `at_risk`; beyond: `churned`.
        public var atRiskDays = 180
        /// Active customers with at least this many orders are `loyal`.
        public var loyalMinOrders = 5
        /// Active customers whose P(alive) is below this are `at_risk` (when lifetime value is computed).
        public var atRiskPAlive = 0.3
        /// Active customers silent for longer than their own mean interval between orders times this are `at_risk`.
        public var intervalFactor = 2.0
        enum CodingKeys: String, CodingKey, CaseIterable {
            case newDays = "new_days", activeDays = "active_days", atRiskDays = "at_risk_days", loyalMinOrders = "loyal_min_orders"
            case atRiskPAlive = "at_risk_p_alive", intervalFactor = "interval_factor"
        }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            newDays = try c.decodeIfPresent(Int.self, forKey: .newDays) ?? newDays
            activeDays = try c.decodeIfPresent(Int.self, forKey: .activeDays) ?? activeDays
            atRiskDays = try c.decodeIfPresent(Int.self, forKey: .atRiskDays) ?? atRiskDays
            loyalMinOrders = try c.decodeIfPresent(Int.self, forKey: .loyalMinOrders) ?? loyalMinOrders
            atRiskPAlive = try c.decodeIfPresent(Double.self, forKey: .atRiskPAlive) ?? atRiskPAlive
            intervalFactor = try c.decodeIfPresent(Double.self, forKey: .intervalFactor) ?? intervalFactor
            if !(newDays <= activeDays && activeDays < atRiskDays) {
                throw ConfigValueError("thresholds must satisfy new_days <= active_days < at_risk_days")
            }
            if newDays < 0 || loyalMinOrders < 1 || !(0...1).contains(atRiskPAlive) || !(intervalFactor > 0) {
                throw ConfigValueError("new_days must be 0 or more, loyal_min_orders at least 1, at_risk_p_alive between 0 and 1, and interval_factor above 0")
            }
        }
    }

    /// Lifetime value with BG/NBD + Gamma-Gamma (needs the features' `clv` family).
    public struct CLV: Decodable, Sendable {
        public var enabled = true
        /// `week` (days / 7, as the published work) or `day`.
        public var timeUnit = "week"
        public var horizonMonths = 12
        public var discountRate = 0.01
        /// Horizon of `expected_purchases`, in days.
        public var expectedPurchasesDays = 90
        enum CodingKeys: String, CodingKey, CaseIterable {
            case enabled, timeUnit = "time_unit", horizonMonths = "horizon_months", discountRate = "discount_rate"
            case expectedPurchasesDays = "expected_purchases_days"
        }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
            timeUnit = try c.decodeIfPresent(String.self, forKey: .timeUnit) ?? timeUnit
            if !["week", "day"].contains(timeUnit) { throw ConfigValueError("time_unit must be week or day, found \"\(timeUnit)\"") }
            horizonMonths = try c.decodeIfPresent(Int.self, forKey: .horizonMonths) ?? horizonMonths
            if horizonMonths < 1 || horizonMonths > 120 { throw ConfigValueError("horizon_months must be between 1 and 120") }
            discountRate = try c.decodeIfPresent(Double.self, forKey: .discountRate) ?? discountRate
            if !(discountRate >= 0 && discountRate < 1) { throw ConfigValueError("discount_rate is a monthly rate, at least 0 and below 1") }
            expectedPurchasesDays = try c.decodeIfPresent(Int.self, forKey: .expectedPurchasesDays) ?? expectedPurchasesDays
        }
    }

    /// Churn-risk bands on 1 − P(alive): below `low` is low, below `high` medium, else high.
    public struct ChurnBands: Decodable, Sendable {
        public var low = 0.3
        public var high = 0.7
        enum CodingKeys: String, CodingKey, CaseIterable { case low, high }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            low = try c.decodeIfPresent(Double.self, forKey: .low) ?? low
            high = try c.decodeIfPresent(Double.self, forKey: .high) ?? high
            if !(0 < low && low < high && high < 1) { throw ConfigValueError("churn bands need 0 < low < high < 1") }
        }
    }

    /// Value × strategic match: two weighted sums of standardised features, split at their medians
    /// (or a declared quantile). Features missing from the data are skipped with a warning in `value_quadrant_fit`.
    public struct Quadrant: Decodable, Sendable {
        public var value: KeyedList<Double> = KeyedList([
            (key: "monetary", value: 1), (key: "clv", value: 1), (key: "value_reputation", value: 0.25),
            (key: "value_information", value: 0.25), (key: "value_knowledge", value: 0.25), (key: "value_transaction", value: 0.25),
        ])
        public var match: KeyedList<Double> = KeyedList([
            (key: "aov_all", value: 1), (key: "discount_share_all", value: -1), (key: "distinct_categories_all", value: 0.5),
        ])
        /// Quantile that separates high from low (0.5: the median).
        public var threshold = 0.5
        enum CodingKeys: String, CodingKey, CaseIterable { case value, match, threshold }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            value = try c.decodeIfPresent(KeyedList<Double>.self, forKey: .value) ?? value
            match = try c.decodeIfPresent(KeyedList<Double>.self, forKey: .match) ?? match
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? threshold
            if !(0 < threshold && threshold < 1) { throw ConfigValueError("threshold is a quantile between 0 and 1") }
        }
    }

    /// Loyalty tiers from spend and orders over a window; the first tier a customer qualifies for wins.
    public struct Tiers: Decodable, Sendable {
        public struct Level: Decodable, Sendable {
            public var name: String
            public var minRevenue: Double
            public var minOrders: Int
            enum CodingKeys: String, CodingKey, CaseIterable { case name, minRevenue = "min_revenue", minOrders = "min_orders" }
            public init(name: String, minRevenue: Double, minOrders: Int) { (self.name, self.minRevenue, self.minOrders) = (name, minRevenue, minOrders) }
            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                name = try c.decode(String.self, forKey: .name)
                minRevenue = try c.decodeIfPresent(Double.self, forKey: .minRevenue) ?? 0
                minOrders = try c.decodeIfPresent(Int.self, forKey: .minOrders) ?? 0
            }
        }
        public var levels: [Level] = [Level(name: "gold", minRevenue: 2000, minOrders: 8), Level(name: "silver", minRevenue: 500, minOrders: 3),
                                      Level(name: "bronze", minRevenue: 0, minOrders: 1)]
        /// Window of the qualifying spend and orders (a features window).
        public var windowDays = 365
        /// Days to the next tier review; spend older than (window − review) days will have aged out by then.
        public var reviewDays = 185
        enum CodingKeys: String, CodingKey, CaseIterable { case levels, windowDays = "window_days", reviewDays = "review_days" }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            levels = try c.decodeIfPresent([Level].self, forKey: .levels) ?? levels
            windowDays = try c.decodeIfPresent(Int.self, forKey: .windowDays) ?? windowDays
            reviewDays = try c.decodeIfPresent(Int.self, forKey: .reviewDays) ?? reviewDays
            if reviewDays < 1 || reviewDays >= windowDays { throw ConfigValueError("review_days must be between 1 and window_days - 1") }
        }
    }

    public var rfm = RFM()
    public var lifecycle = Lifecycle()
    public var tiers = Tiers()
    public var clv = CLV()
    public var churnBands = ChurnBands()
    public var quadrant = Quadrant()
    /// The Pareto flag marks the top share of customers by revenue (0.2: the 20/80 view).
    public var paretoShare = 0.2

    enum CodingKeys: String, CodingKey, CaseIterable {
        case rfm, lifecycle, paretoShare = "pareto_share", clv, churnBands = "churn_bands", quadrant, tiers
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rfm = try c.decodeIfPresent(RFM.self, forKey: .rfm) ?? rfm
        lifecycle = try c.decodeIfPresent(Lifecycle.self, forKey: .lifecycle) ?? lifecycle
        paretoShare = try c.decodeIfPresent(Double.self, forKey: .paretoShare) ?? paretoShare
        if !(paretoShare > 0 && paretoShare < 1) { throw ConfigValueError("pareto_share must be between 0 and 1") }
        clv = try c.decodeIfPresent(CLV.self, forKey: .clv) ?? clv
        churnBands = try c.decodeIfPresent(ChurnBands.self, forKey: .churnBands) ?? churnBands
        quadrant = try c.decodeIfPresent(Quadrant.self, forKey: .quadrant) ?? quadrant
        tiers = try c.decodeIfPresent(Tiers.self, forKey: .tiers) ?? tiers
    }
}

extension Configuration {
    /// The columns `customer_value` has under this configuration, in order (the tier columns need the tier window
    /// among the feature windows; without it they are left out, with a warning). Campaign conditions are checked
    /// against them when the config is read.
    public var customerValueColumns: [String] {
        ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_code", "rfm_segment",
         "revenue_rank", "revenue_share_cum", "pareto_top20"]
            + (clv.enabled ? ["p_alive", "expected_purchases", "expected_avg_value", "clv", "churn_risk", "churn_band"] : [])
            + ["lifecycle_stage", "tier", "tier_at_risk", "value_score", "match_score", "quadrant"]
    }

    /// The values a column of `customer_value` can hold under this configuration, for the columns with a fixed
    /// vocabulary (nil for the others: numbers and ids).
    public func vocabulary(of column: String) -> [String]? {
        switch column {
        case "rfm_segment":
            let named = rfm.segments.map { $0.map(\.name) + [rfm.fallback] } ?? ValueStage.segmentGrid.flatMap { $0 }
            var seen = Set<String>()
            return (named + ["No Purchases"]).filter { seen.insert($0).inserted }
        case "lifecycle_stage": return ["prospect", "new", "reactivated", "active", "loyal", "at_risk", "churned"]
        case "churn_band": return clv.enabled ? ["low", "medium", "high"] : nil
        case "quadrant": return ["strategic", "profit", "potential", "ordinary"]
        case "tier": return tiers.levels.map(\.name)
        case "pareto_top20", "tier_at_risk": return ["0", "1", "true", "false"]
        default: return nil
        }
    }
}

/// What the value stage produces.
public struct ValueOutput: Sendable {
    /// `customer_value`: RFM, lifecycle, Pareto, and when possible P(alive), expected purchases, CLV, churn risk, quadrant.
    public var customerValue: Table
    /// `pareto_summary`.
    public var paretoSummary: Table
    /// `value_models`: fitted BG/NBD and Gamma-Gamma parameters.
    public var models: Table
    /// `pareto_lorenz`: Lorenz curve points.
    public var lorenz: Table
    /// Fit and data warnings for the run log.
    public var warnings: [String]
}

/// RFM scores and segments, lifecycle stages and the Pareto view (the value stage).
public enum ValueStage {
    /// The recency × frequency grid (rows R = 5…1, columns F = 1…5): total and non-overlapping.
    public static let segmentGrid: [[String]] = [
        ["New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
        ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Loyal Customers"],
        ["About To Sleep", "About To Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"],
        ["Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
        ["Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
    ]

    /// The segment of 5-level scores r and f (1…5).
    public static func segment(r: Int, f: Int) -> String { segmentGrid[5 - r][f - 1] }

    /// Quantile scores 1…`bins` where equal values always get equal scores, from each value's mid-rank
    /// percentile (the textbook percentile rank: values below it, plus half the values equal to it, over n):
    /// score = 1 + ⌊bins × (below + equal / 2) / n⌋, at most `bins`.
    ///
    /// The earlier score counted only the values below, so a tie took the lowest score its group spans: when every
    /// buyer had spent the same, all scored 1 and were "Hibernating" (and in the reactivation campaign); with
    /// fewer buyers than bins the best could never score `bins`. Mid-rank puts an all-equal group in the middle
    /// and the best of three buyers at the top.
    /// - Complexity: O(n log n).
    public static func quantileScores(_ values: [Double], bins: Int) -> [Int] {
        let n = values.count
        guard n > 0 else { return [] }
        let sorted = values.sorted()
        return values.map { x in
            var lo = 0, hi = n
            while lo < hi { let m = (lo + hi) / 2; if sorted[m] < x { lo = m + 1 } else { hi = m } }
            let below = lo
            hi = n
            while lo < hi { let m = (lo + hi) / 2; if sorted[m] <= x { lo = m + 1 } else { hi = m } }
            let equal = lo - below
            return min(bins, 1 + (bins * (2 * below + equal)) / (2 * n))
        }
    }

    /// Builds `customer_value` from `customer_features` (needs recency_days, frequency, monetary).
    /// Customers without purchases get scores 0 and segment "No Purchases".
    /// - Throws: `CVMFailure` (exit 78) when a needed feature is missing (the rfm family switched off).
    public static func run(features: Table, asOf: CivilDate, configuration: Configuration) throws -> ValueOutput {
        var table = try scores(features: features, asOf: asOf, configuration: configuration)
        var models: [(String, String, Double)] = []
        var warnings: [String] = []
        if configuration.clv.enabled, let fit = try lifetimeValue(features, configuration, &table, warnings: &warnings) {
            let b = fit.bgnbd.model, g = fit.gammaGamma.model
            models = [("bgnbd", "r", b.r), ("bgnbd", "alpha", b.alpha), ("bgnbd", "a", b.a), ("bgnbd", "b", b.b),
                      ("bgnbd", "log_likelihood", fit.bgnbd.logLikelihood), ("gamma_gamma", "p", g.p), ("gamma_gamma", "q", g.q),
                      ("gamma_gamma", "v", g.gamma), ("gamma_gamma", "log_likelihood", fit.gammaGamma.logLikelihood)]
            warnings += fit.warnings
        }
        if let w = lifecycle(features, configuration.lifecycle, &table) { warnings.append(w) }
        warnings += tiers(features, configuration.tiers, &table)
        warnings += quadrant(features, configuration.quadrant, &table)
        let modelTable = Table(name: "value_models", columns: [
            Column("model", strings: models.map(\.0)), Column("parameter", strings: models.map(\.1)), Column("value", double: models.map(\.2)),
        ], rowCount: models.count)
        return ValueOutput(customerValue: table, paretoSummary: paretoSummary(table), models: modelTable, lorenz: lorenz(table),
                           warnings: warnings)
    }

    /// RFM scores, segments, lifecycle stage and Pareto flags.
    public static func scores(features: Table, asOf: CivilDate, configuration: Configuration) throws -> Table {
        func need(_ name: String) throws -> Column {
            guard let c = features[name] else {
                throw CVMFailure(.config, "error: stages.value needs the feature \(name); keep the rfm family on under stages.features.families")
            }
            return c
        }
        let ids = try need("customer_id"), rec = try need("recency_days"), freq = try need("frequency"), mon = try need("monetary")
        let n = features.rowCount
        let bins = configuration.rfm.bins
        let buyers = (0..<n).filter { (freq.double(at: $0) ?? 0) >= 1 }
        // Recency is reversed: fewer days since the last order scores higher.
        let rS = quantileScores(buyers.map { -(rec.double(at: $0) ?? 0) }, bins: bins)
        let fS = quantileScores(buyers.map { freq.double(at: $0) ?? 0 }, bins: bins)
        let mS = quantileScores(buyers.map { mon.double(at: $0) ?? 0 }, bins: bins)
        var r = [Int64](repeating: 0, count: n), f = r, m = r
        for (k, i) in buyers.enumerated() { (r[i], f[i], m[i]) = (Int64(rS[k]), Int64(fS[k]), Int64(mS[k])) }

        var segment: [String] = [], code: [String] = []
        for i in 0..<n {
            let isBuyer = r[i] > 0
            code.append(isBuyer ? "\(r[i])\(f[i])\(m[i])" : "000")
            if !isBuyer {
                segment.append("No Purchases")
            } else if let rules = configuration.rfm.segments {
                let (ri, fi, mi) = (Int(r[i]), Int(f[i]), Int(m[i]))
                segment.append(rules.first { $0.matches(r: ri, f: fi, m: mi) }?.name ?? configuration.rfm.fallback)
            } else {
                // Map to the 5-level grid when bins differ from 5, the lowest score to 1 and the highest to 5 (the
                // old (s - 1) * 5 / bins put a top score of 3 at 4: with bins 3 nobody was ever a Champion).
                let half = Int64(bins - 1) / 2
                let r5 = 1 + Int(((r[i] - 1) * 4 + half) / Int64(bins - 1)), f5 = 1 + Int(((f[i] - 1) * 4 + half) / Int64(bins - 1))
                segment.append(ValueStage.segment(r: r5, f: f5))
            }
        }
        // Pareto: rank by revenue (ties by customer id order), cumulative share.
        let revenue = (0..<n).map { max(0, mon.double(at: $0) ?? 0) }
        let order = (0..<n).sorted { (revenue[$0], -$0) > (revenue[$1], -$1) }
        let total = revenue.reduce(0, +)
        var rank = [Int64](repeating: 0, count: n), cum = [Double](repeating: 0, count: n), top = [Int64](repeating: 0, count: n)
        var acc = 0.0
        // The top share of buyers (customers with net revenue above zero): counting those who never bought made the
        // cut a share of all customers (a shop where a quarter never bought flagged fewer than a fifth of its buyers).
        let positive = revenue.filter { $0 > 0 }.count
        let cutoff = Int((Double(positive) * configuration.paretoShare).rounded(.up))
        for (k, i) in order.enumerated() {
            acc += revenue[i]
            rank[i] = Int64(k + 1)
            cum[i] = total > 0 ? acc / total : 0
            top[i] = k < cutoff && revenue[i] > 0 ? 1 : 0
        }
        return Table(name: "customer_value", columns: [
            ids.renamed("customer_id"),
            Column("recency_days", double: (0..<n).map { rec.double(at: $0) ?? 0 }, validity: (0..<n).map { rec.isValid($0) }),
            Column("frequency", .int, int64: (0..<n).map { Int64(freq.double(at: $0) ?? 0) }),
            Column("monetary", double: (0..<n).map { mon.double(at: $0) ?? 0 }),
            Column("r_score", .int, int64: r), Column("f_score", .int, int64: f), Column("m_score", .int, int64: m),
            Column("rfm_code", strings: code), Column("rfm_segment", strings: segment),
            Column("revenue_rank", .int, int64: rank), Column("revenue_share_cum", double: cum),
            Column("pareto_top20", .bool, int64: top),
        ], rowCount: n)
    }

    /// The net revenue of the buyers (customers whose net revenue is above zero), largest first: the base of the
    /// Pareto figures. Customers who never bought (or whose returns cancel their purchases) are not in it: with
    /// them, a shop where a quarter never bought showed a top-20% share of 0.76 for 0.67 among its buyers.
    static func buyerRevenue(_ customerValue: Table) -> [Double] {
        let m = customerValue["monetary"]
        return (0..<customerValue.rowCount).compactMap { m?.double(at: $0) }.filter { $0 > 0 }.sorted(by: >)
    }

    /// `pareto_lorenz`: the Lorenz curve in 101 points, buyers sorted by revenue from the top:
    /// the share of revenue from the top `customer_share` of buyers.
    public static func lorenz(_ customerValue: Table) -> Table {
        let revenue = buyerRevenue(customerValue)
        var prefix = [0.0]
        for r in revenue { prefix.append(prefix.last! + r) }
        let total = prefix.last!, n = revenue.count
        let xs = (0...100).map { Double($0) / 100 }
        let ys = xs.map { x -> Double in
            guard total > 0, n > 0 else { return x }
            return prefix[Int((x * Double(n)).rounded())] / total
        }
        return Table(name: "pareto_lorenz", columns: [Column("customer_share", double: xs), Column("revenue_share", double: ys)], rowCount: xs.count)
    }

    /// `pareto_summary`: revenue share of the top 1/5/10/20/50% of buyers and the Gini coefficient among them;
    /// `customers` counts every customer, `buyers` those the figures are over, `revenue` their net revenue.
    public static func paretoSummary(_ customerValue: Table) -> Table {
        let revenue = buyerRevenue(customerValue)
        let n = revenue.count
        let total = revenue.reduce(0, +)
        func topShare(_ p: Double) -> Double {
            guard total > 0 else { return 0 }
            let k = Int((Double(n) * p).rounded(.up))
            return revenue.prefix(k).reduce(0, +) / total
        }
        // Gini from the Lorenz curve of ascending revenue.
        var gini = 0.0
        if total > 0 && n > 0 {
            let asc = revenue.reversed()
            var weighted = 0.0
            for (i, x) in asc.enumerated() { weighted += Double(i + 1) * x }
            gini = (2 * weighted) / (Double(n) * total) - Double(n + 1) / Double(n)
        }
        let labels = ["top1_revenue_share", "top5_revenue_share", "top10_revenue_share", "top20_revenue_share",
                      "top50_revenue_share", "gini", "customers", "buyers", "revenue"]
        let values = [topShare(0.01), topShare(0.05), topShare(0.1), topShare(0.2), topShare(0.5), gini,
                      Double(customerValue.rowCount), Double(n), total]
        return Table(name: "pareto_summary", columns: [Column("metric", strings: labels), Column("value", double: values)], rowCount: labels.count)
    }

    /// Fits BG/NBD + Gamma-Gamma on the `clv_*` features and appends p_alive, expected_purchases,
    /// expected_avg_value, clv, churn_risk and churn_band. Nil, with those columns all null and a warning, when
    /// the features are absent or fewer than two customers bought (nothing to fit): the table keeps its columns,
    /// so queries and dashboards on it do not break on a small snapshot.
    static func lifetimeValue(_ f: Table, _ config: Configuration, _ table: inout Table, warnings: inout [String]) throws -> CLVFit? {
        let n = f.rowCount
        func nullColumns(_ why: String) {
            warnings.append("clv: \(why); p_alive, expected_purchases, expected_avg_value, clv, churn_risk and churn_band are null")
            let none = [Bool](repeating: false, count: n), zero = [Double](repeating: 0, count: n)
            for name in ["p_alive", "expected_purchases", "expected_avg_value", "clv", "churn_risk"] {
                table.append(Column(name, double: zero, validity: none))
            }
            table.append(Column("churn_band", strings: [String?](repeating: nil, count: n)))
        }
        guard let xs = f["clv_repeat_days"], let txs = f["clv_recency_days"], let ts = f["clv_age_days"], let ms = f["clv_repeat_value"] else {
            nullColumns("the clv feature family is off (stages.features.families.clv), so BG/NBD and Gamma-Gamma have nothing to fit")
            return nil
        }
        let unit = config.clv.timeUnit == "week" ? 7.0 : 1.0
        let buyers = (0..<f.rowCount).filter { xs.isValid($0) && ts.isValid($0) }
        guard buyers.count >= 2 else {
            nullColumns("\(buyers.count) customer\(buyers.count == 1 ? "" : "s") with a purchase; BG/NBD and Gamma-Gamma need at least 2")
            return nil
        }
        let histories = buyers.map { i in
            PurchaseHistory(x: xs.double(at: i)!, tx: (txs.double(at: i) ?? 0) / unit, T: ts.double(at: i)! / unit,
                            monetary: ms.double(at: i) ?? 0)
        }
        var summary = CalibrationSummary(customer: [], day: [], amount: [], calibrationEnd: 0, observationEnd: nil, unitDays: unit)
        summary.customers = buyers.map { f["customer_id"]!.string(at: $0) ?? "" }
        summary.histories = histories
        summary.holdout = histories.map { _ in 0 }
        // Net revenue over purchase days (x + 1 each) of the buyers: the expected order value without repeaters.
        if let mon = f["monetary"] {
            let days = buyers.reduce(0.0) { $0 + xs.double(at: $1)! + 1 }
            summary.purchaseDayMean = buyers.reduce(0.0) { $0 + (mon.double(at: $1) ?? 0) } / max(days, 1)
        }
        let fit = CLVFit(summary, horizonUnits: Double(config.clv.expectedPurchasesDays) / unit, months: config.clv.horizonMonths,
                         monthlyDiscount: config.clv.discountRate, unitsPerMonth: config.clv.timeUnit == "week" ? 4.345 : 30)
        var alive = [Double](repeating: 0, count: n), purchases = alive, value = alive, clv = alive
        var valid = [Bool](repeating: false, count: n)
        var nonFinite = 0
        for (k, i) in buyers.enumerated() {
            (alive[i], purchases[i], value[i], clv[i]) =
                (fit.probabilityAlive[k], fit.expectedPurchases[k], fit.expectedAverageValue[k], fit.clv[k])
            // Never NaN or infinity in the warehouse (SQLite would store NaN as NULL anyway, and charts sum these).
            valid[i] = alive[i].isFinite && purchases[i].isFinite && value[i].isFinite && clv[i].isFinite
            if !valid[i] { nonFinite += 1 }
        }
        if nonFinite > 0 { warnings.append("\(nonFinite) customers' CLV could not be computed from the fitted models (a value was not finite); they have no CLV") }
        let b = config.churnBands
        table.append(Column("p_alive", double: alive, validity: valid))
        table.append(Column("expected_purchases", double: purchases, validity: valid))
        table.append(Column("expected_avg_value", double: value, validity: valid))
        table.append(Column("clv", double: clv, validity: valid))
        table.append(Column("churn_risk", double: alive.map { 1 - $0 }, validity: valid))
        table.append(Column("churn_band", strings: (0..<n).map { i in
            guard valid[i] else { return nil }
            let risk = 1 - alive[i]
            return risk < b.low ? "low" : (risk < b.high ? "medium" : "high")
        }))
        return fit
    }

    /// Value score, strategic-match score and the quadrant (strategic, profit, potential, ordinary).
    static func quadrant(_ f: Table, _ q: Configuration.Quadrant, _ table: inout Table) -> [String] {
        var warnings: [String] = []
        let n = f.rowCount
        func score(_ weights: KeyedList<Double>, _ what: String) -> [Double] {
            var total = [Double](repeating: 0, count: n)
            for (name, w) in weights {
                guard let c = table[name] ?? f[name] else {
                    warnings.append("quadrant: \(what) feature \(name) is not available; left out")
                    continue
                }
                let present = (0..<n).compactMap { c.double(at: $0) }
                guard !present.isEmpty else { continue }
                let mean = present.reduce(0, +) / Double(present.count)
                var sd = (present.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(present.count)).squareRoot()
                // A spread at rounding level is none: a degenerate fit's CLV of 0 and 2.4e-14 standardised to z = 2.2
                // and made one customer of six "profit".
                let largest = present.reduce(0) { max($0, abs($1)) }
                if sd <= 1e-9 * max(1, largest) { sd = 0 }
                for i in 0..<n {
                    let z = sd > 0 ? ((c.double(at: i) ?? mean) - mean) / sd : 0  // missing: the mean (z = 0)
                    total[i] += w * z
                }
            }
            return total
        }
        let value = score(q.value, "value"), match = score(q.match, "match")
        // High means above the threshold quantile (linear interpolation, as numpy). Ties at it are low: with more
        // than half the customers never buying, the median is their shared score, and ">=" made every one of
        // them high-value ("strategic" prospects).
        let vc = Quantiles.linear(value.sorted(), q.threshold), mc = Quantiles.linear(match.sorted(), q.threshold)
        table.append(Column("value_score", double: value))
        table.append(Column("match_score", double: match))
        table.append(Column("quadrant", strings: (0..<n).map { i in
            switch (value[i] > vc, match[i] > mc) {
            case (true, true): "strategic"
            case (true, false): "profit"
            case (false, true): "potential"
            case (false, false): "ordinary"
            }
        }))
        return warnings
    }

    /// Lifecycle stage by declared rules, first match wins:
    /// `prospect` (no purchase), `churned` (silent longer than at_risk_days), `new` (first purchase
    /// within new_days), `reactivated` (bought within active_days, after a silence of more than active_days:
    /// `interval_last_days`, the gap the latest completed order ended), `at_risk` (silent longer than
    /// active_days, or P(alive) below at_risk_p_alive, or silent longer than interval_factor × the customer's own
    /// mean interval), `loyal` (at least loyal_min_orders orders), else `active`.
    ///
    /// Every rule reads this snapshot's features only, so a snapshot's stages do not depend on which other
    /// snapshots were computed before it. (`reactivated` used to read the previous snapshot's stage: loading
    /// 06-30 before backfilling 06-15 gave 06-30 other stages than loading them in date order.)
    /// - Returns: a warning when `reactivated` cannot be told (the timing family is off).
    static func lifecycle(_ f: Table, _ lc: Configuration.Lifecycle, _ table: inout Table) -> String? {
        let n = table.rowCount
        let rec = table["recency_days"]!, freq = table["frequency"]!
        let tenure = f["tenure_days"], interval = f["interval_mean_days"], alive = table["p_alive"]
        let lastGap = f["interval_last_days"]
        let stages: [String] = (0..<n).map { i in
            guard (freq.double(at: i) ?? 0) >= 1, let recency = rec.double(at: i) else { return "prospect" }
            if recency > Double(lc.atRiskDays) { return "churned" }
            if let age = tenure?.double(at: i), age <= Double(lc.newDays) { return "new" }
            if recency <= Double(lc.activeDays), let gap = lastGap?.double(at: i), gap > Double(lc.activeDays) {
                return "reactivated"
            }
            if recency > Double(lc.activeDays) { return "at_risk" }
            if let p = alive?.double(at: i), p < lc.atRiskPAlive { return "at_risk" }
            if let gap = interval?.double(at: i), gap > 0, recency > lc.intervalFactor * gap { return "at_risk" }
            return (freq.double(at: i) ?? 0) >= Double(lc.loyalMinOrders) ? "loyal" : "active"
        }
        table.append(Column("lifecycle_stage", strings: stages))
        return lastGap == nil && n > 0 ? "lifecycle: reactivated needs the feature interval_last_days (the timing family); nobody is reactivated" : nil
    }

    /// Loyalty tier on the window's spend and orders, and whether the customer would drop below it at the
    /// next review: spend older than (window − review) days ages out by then, so the remaining spend is read
    /// from the largest feature window not longer than window − review (exact when that window exists).
    static func tiers(_ f: Table, _ t: Configuration.Tiers, _ table: inout Table) -> [String] {
        guard !t.levels.isEmpty, let revenue = f["revenue_sum_\(t.windowDays)d"], let orders = f["orders_count_\(t.windowDays)d"] else {
            return ["tiers: features revenue_sum_\(t.windowDays)d and orders_count_\(t.windowDays)d are needed (add \(t.windowDays) to stages.features.windows); no tiers assigned"]
        }
        let remaining = t.windowDays - t.reviewDays
        let windows = f.columnNames.compactMap { name -> Int? in
            guard name.hasPrefix("revenue_sum_"), name.hasSuffix("d") else { return nil }
            return Int(name.dropFirst("revenue_sum_".count).dropLast())
        }.filter { $0 <= remaining }
        var warnings: [String] = []
        let shorter = windows.max()
        if shorter != remaining {
            warnings.append("tiers: no \(remaining)-day feature window; tier-drop risk uses the \(shorter.map { "\($0)-day" } ?? "empty") window instead")
        }
        let keepRevenue = shorter.flatMap { f["revenue_sum_\($0)d"] }, keepOrders = shorter.flatMap { f["orders_count_\($0)d"] }
        func tier(_ rev: Double, _ n: Double) -> Int? { t.levels.firstIndex { rev >= $0.minRevenue && n >= Double($0.minOrders) } }
        var names: [String?] = [], atRisk: [Int64] = []
        for i in 0..<f.rowCount {
            let now = tier(revenue.double(at: i) ?? 0, orders.double(at: i) ?? 0)
            names.append(now.map { t.levels[$0].name })
            let later = tier(keepRevenue?.double(at: i) ?? 0, keepOrders?.double(at: i) ?? 0)
            atRisk.append(now != nil && (later == nil || later! > now!) ? 1 : 0)
        }
        table.append(Column("tier", strings: names))
        table.append(Column("tier_at_risk", .bool, int64: atRisk))
        return warnings
    }
}

import CVMCore
import TestSupport
import Testing
import Value

struct QuantileScoreTests {
    @Test func equalValuesGetEqualScores() {
        let values: [Double] = [1, 1, 1, 1, 1, 1, 2, 3, 4, 5]
        let s = ValueStage.quantileScores(values, bins: 5)
        #expect(Set(s[0..<6]).count == 1)
        // The six ones' mid-rank percentile is 3/10: score 2 (counting only the values below gave them 1).
        #expect(s == [2, 2, 2, 2, 2, 2, 4, 4, 5, 5])
    }

    /// All equal: the middle score, for any number of buyers (it was 1: everyone "Hibernating"). Fewer buyers than
    /// bins: the best still gets the top score (with three it got 4).
    @Test func tiesScoreInTheMiddleAndFewBuyersReachTheTop() {
        for n in [1, 2, 4, 37] { #expect(ValueStage.quantileScores(Array(repeating: 10, count: n), bins: 5) == Array(repeating: 3, count: n)) }
        #expect(ValueStage.quantileScores([300, 200, 100], bins: 5) == [5, 3, 1])
        #expect(ValueStage.quantileScores([2, 1], bins: 5) == [4, 2])
        #expect(ValueStage.quantileScores([7, 7, 7], bins: 4) == [3, 3, 3])
    }

    @Test func scoresAreMonotoneAndUseEveryBinOnDistinctValues() {
        let values = (0..<100).map { Double($0) }.shuffled(using: &Self.rng)
        let s = ValueStage.quantileScores(values, bins: 5)
        for (v, score) in zip(values, s) { #expect(score == 1 + Int(v) / 20) }
    }
    nonisolated(unsafe) static var rng = SeededRNG(seed: 3)
}

struct SegmentGridTests {
    @Test func theGridIsTotalAndMatchesTheReferenceTable() {
        let reference: [String: String] = [
            "51": "New Customers", "52": "Potential Loyalists", "53": "Potential Loyalists", "54": "Champions", "55": "Champions",
            "41": "Promising", "42": "Potential Loyalists", "43": "Potential Loyalists", "44": "Loyal Customers", "45": "Loyal Customers",
            "31": "About To Sleep", "32": "About To Sleep", "33": "Need Attention", "34": "Loyal Customers", "35": "Loyal Customers",
            "21": "Hibernating", "22": "Hibernating", "23": "At Risk", "24": "At Risk", "25": "Can't Lose Them",
            "11": "Hibernating", "12": "Hibernating", "13": "At Risk", "14": "At Risk", "15": "Can't Lose Them",
        ]
        for r in 1...5 { for f in 1...5 { #expect(ValueStage.segment(r: r, f: f) == reference["\(r)\(f)"]) } }
        #expect(Set(reference.values).count == 10)
    }
}

struct ValueStageTests {
    func features() -> Table {
        // 10 buyers with rising spend and falling recency, plus one customer without orders.
        let n = 11
        return Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("recency_days", .int, int64: (0..<n).map { Int64(400 - $0 * 40) }, validity: (0..<n).map { $0 < 10 }),
            Column("frequency", .int, int64: (0..<n).map { $0 < 10 ? Int64($0 + 1) : 0 }),
            Column("monetary", double: (0..<n).map { $0 < 10 ? Double(($0 + 1) * 100) : 0 }),
            Column("tenure_days", .int, int64: (0..<n).map { _ in 500 }, validity: (0..<n).map { $0 < 10 }),
        ])
    }

    @Test func scoresSegmentsAndLifecycle() throws {
        let v = try ValueStage.run(features: features(), asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: Configuration()).customerValue
        #expect(v.rowCount == 11)
        #expect(v["r_score"]?.int64Values == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0])
        #expect(v["f_score"]?.int64Values == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0])
        #expect(v["rfm_code"]?.string(at: 9) == "555")
        #expect(v["rfm_segment"]?.string(at: 9) == "Champions")
        #expect(v["rfm_segment"]?.string(at: 0) == "Hibernating")
        #expect(v["rfm_segment"]?.string(at: 10) == "No Purchases")
        // recency 400 → churned, 160 → at_risk, 40 with 10 orders → loyal, 80 with 9 → loyal, none → prospect.
        #expect(v["lifecycle_stage"]?.string(at: 0) == "churned")
        #expect(v["lifecycle_stage"]?.string(at: 6) == "at_risk")
        #expect(v["lifecycle_stage"]?.string(at: 9) == "loyal")
        #expect(v["lifecycle_stage"]?.string(at: 10) == "prospect")
        #expect(v["revenue_rank"]?.int64(at: 9) == 1)
        // Top 20% of the 10 buyers = 2 customers by revenue (of all 11 customers it was 3: the one who never
        // bought counted).
        #expect(v["pareto_top20"]?.int64Values == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0])
    }

    @Test func paretoSharesAndGiniMatchAnOracle() throws {
        let revenue: [Double] = [500, 300, 100, 50, 30, 10, 5, 3, 1, 1]
        // Customers who never bought, or whose returns cancel their purchases, are not in the figures.
        let t = Table(name: "customer_value", columns: [Column("monetary", double: [0, 0] + revenue + [-20, 0])])
        let p = ValueStage.paretoSummary(t)
        func metric(_ name: String) -> Double { (0..<p.rowCount).first { p["metric"]!.string(at: $0) == name }.flatMap { p["value"]!.double(at: $0) }! }
        let total = revenue.reduce(0, +)
        #expect(approxEqual(metric("top1_revenue_share"), 500 / total))   // ceil(10 × 1%) = 1 customer
        #expect(approxEqual(metric("top10_revenue_share"), 500 / total))
        let lorenz = ValueStage.lorenz(t)
        #expect(lorenz.rowCount == 101)
        #expect(lorenz["revenue_share"]!.doubleValues[10] == 500 / total)
        #expect(lorenz["revenue_share"]!.doubleValues[100] == 1)
        #expect(approxEqual(metric("top20_revenue_share"), 800 / total))
        #expect(approxEqual(metric("top50_revenue_share"), 980 / total))
        // Oracle: Gini = Σ_i Σ_j |x_i - x_j| / (2 n² mean).
        var pairs = 0.0
        for a in revenue { for b in revenue { pairs += abs(a - b) } }
        let gini = pairs / (2 * Double(revenue.count * revenue.count) * (total / Double(revenue.count)))
        #expect(approxEqual(metric("gini"), gini, rel: 1e-12))
        #expect(metric("customers") == 14 && metric("buyers") == 10 && metric("revenue") == total)
    }

    @Test func missingRFMFeaturesAreAConfigError() {
        let t = Table(name: "customer_features", columns: [Column("customer_id", strings: ["C1"])])
        #expect(throws: CVMFailure.self) { try ValueStage.run(features: t, asOf: CivilDate(year: 2026, month: 1, day: 1), configuration: Configuration()) }
    }
}

struct QuadrantAndChurnTests {
    @Test func quadrantsFollowTheDeclaredScoresAndMedianSplit() throws {
        // monetary high/high/low/low × aov high/low/high/low.
        let f = Table(name: "customer_features", columns: [
            Column("customer_id", strings: ["S", "P", "O", "X"]),
            Column("recency_days", .int, int64: [1, 2, 3, 4]),
            Column("frequency", .int, int64: [3, 3, 1, 1]),
            Column("monetary", double: [900, 800, 10, 20]),
            Column("aov_all", double: [300, 20, 250, 15]),
        ])
        var config = Configuration()
        config.quadrant.value = KeyedList([(key: "monetary", value: 1)])
        config.quadrant.match = KeyedList([(key: "aov_all", value: 1)])
        let out = try ValueStage.run(features: f, asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: config)
        let q = out.customerValue["quadrant"]!
        #expect((0..<4).map { q.string(at: $0)! } == ["strategic", "profit", "potential", "ordinary"])
        // A feature that does not exist is reported, not fatal.
        config.quadrant.match = KeyedList([(key: "no_such_feature", value: 1)])
        let out2 = try ValueStage.run(features: f, asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: config)
        #expect(out2.warnings.contains { $0.contains("no_such_feature") })
    }

    /// Most customers never bought (a young shop): their shared score is the median, and they are low on both
    /// axes, not "strategic" (ties at the threshold counted as high).
    @Test func customersTiedAtTheMedianAreLow() throws {
        let ids = ["A", "B", "C", "D", "E", "F", "G"]
        let f = Table(name: "customer_features", columns: [
            Column("customer_id", strings: ids),
            Column("recency_days", .int, int64: [1, 2, 0, 0, 0, 0, 0], validity: [true, true, false, false, false, false, false]),
            Column("frequency", .int, int64: [3, 1, 0, 0, 0, 0, 0]),
            Column("monetary", double: [900, 50, 0, 0, 0, 0, 0]),
            Column("aov_all", double: [300, 50, 0, 0, 0, 0, 0], validity: [true, true, false, false, false, false, false]),
        ])
        var config = Configuration()
        config.quadrant.value = KeyedList([(key: "monetary", value: 1)])
        config.quadrant.match = KeyedList([(key: "aov_all", value: 1)])
        let out = try ValueStage.run(features: f, asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: config)
        let q = out.customerValue["quadrant"]!
        // B's order value (50) is below the mean the prospects' missing one is read as (175): profit, not strategic.
        #expect((0..<7).map { q.string(at: $0)! } == ["strategic", "profit", "ordinary", "ordinary", "ordinary", "ordinary", "ordinary"])
    }

    /// A spread at rounding level is no spread: a degenerate fit's CLV of 0 for five customers and 2.4e-14 for one
    /// gave that one z = 2.2 and the quadrant "profit" (with equal spend everywhere).
    @Test func roundingNoiseIsNotASpread() throws {
        let ids = ["A", "B", "C", "D", "E", "F"]
        let f = Table(name: "customer_features", columns: [
            Column("customer_id", strings: ids),
            Column("recency_days", .int, int64: [5, 5, 5, 5, 5, 5]),
            Column("frequency", .int, int64: [1, 1, 1, 1, 1, 1]),
            Column("monetary", double: [20, 20, 20, 20, 20, 20]),
            Column("noise", double: [2.43e-14, 0, 0, 0, 0, 0]),
        ])
        var config = Configuration()
        config.quadrant.value = KeyedList([(key: "noise", value: 1)])
        config.quadrant.match = KeyedList([(key: "monetary", value: 1)])
        let out = try ValueStage.run(features: f, asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: config)
        #expect(out.customerValue["value_score"]!.doubleValues == [0, 0, 0, 0, 0, 0])
        #expect(Set((0..<6).map { out.customerValue["quadrant"]!.string(at: $0)! }) == ["ordinary"])
    }

    @Test func clvColumnsAndChurnBandsFromTheCLVFeatures() throws {
        // Histories drawn from a BG/NBD-like process: customers with many recent purchases and lapsed ones.
        var rng = SeededRNG(seed: 4)
        let n = 600
        var x: [Int64] = [], tx: [Int64] = [], age: [Int64] = [], value: [Double] = []
        for i in 0..<n {
            let T = Int64(100 + rng.next() % 300)
            let active = i % 3 != 0
            let repeats = active ? Int64(rng.next() % 12) : Int64(rng.next() % 3)
            let last = repeats == 0 ? 0 : (active ? T - Int64(rng.next() % 20) : Int64(rng.next() % UInt64(T / 3)))
            x.append(repeats); tx.append(last); age.append(T)
            value.append(repeats == 0 ? 0 : 20 + 80 * rng.nextDouble() * (1 + Double(i % 5)))
        }
        let f = Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("recency_days", .int, int64: zip(age, tx).map { (a: Int64, t: Int64) -> Int64 in a - t }),
            Column("frequency", .int, int64: x.map { $0 + 1 }),
            Column("monetary", double: value),
            Column("clv_repeat_days", .int, int64: x), Column("clv_recency_days", .int, int64: tx),
            Column("clv_age_days", .int, int64: age), Column("clv_repeat_value", double: value),
        ])
        let out = try ValueStage.run(features: f, asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: Configuration())
        let cv = out.customerValue
        #expect(out.models.rowCount == 9)
        let alive = cv["p_alive"]!, risk = cv["churn_risk"]!, band = cv["churn_band"]!, clv = cv["clv"]!
        for i in 0..<n {
            let p = alive.double(at: i)!
            #expect(p >= 0 && p <= 1)
            #expect(approxEqual(risk.double(at: i)!, 1 - p))
            let expected = 1 - p < 0.3 ? "low" : (1 - p < 0.7 ? "medium" : "high")
            #expect(band.string(at: i) == expected)
            #expect(clv.double(at: i)! >= 0)
            if x[i] == 0 { #expect(p == 1) }
        }
        // Lapsed customers (every third) are less likely alive than recent repeaters on average.
        let lapsed: [Double] = stride(from: 0, to: n, by: 3).filter { x[$0] > 0 }.map { alive.double(at: $0)! }
        let recent: [Double] = (0..<n).filter { $0 % 3 != 0 && x[$0] > 0 }.map { alive.double(at: $0)! }
        let lapsedMean: Double = lapsed.reduce(0, +) / Double(lapsed.count)
        let recentMean: Double = recent.reduce(0, +) / Double(recent.count)
        #expect(lapsedMean < recentMean)
    }
}

struct RuleTests {
    let asOf = CivilDate(year: 2026, month: 6, day: 30)

    /// Hand-built customers, one per lifecycle rule.
    func customers() -> Table {
        // id, recency, orders, tenure, mean interval, revenue 365d, orders 365d, revenue 180d, orders 180d, last interval
        let rows: [(String, Int64?, Int64, Int64?, Double?, Double, Int64, Double, Int64, Double?)] = [
            ("prospect", nil, 0, nil, nil, 0, 0, 0, 0, nil),
            ("churned", 400, 3, 800, 100, 0, 0, 0, 0, 100),
            ("new", 5, 1, 10, nil, 40, 1, 40, 1, nil),
            ("reactivated", 20, 4, 600, 50, 300, 2, 300, 2, 95),
            ("at_risk_silent", 120, 6, 700, 20, 900, 6, 0, 0, 20),
            ("at_risk_interval", 60, 6, 700, 10, 900, 6, 500, 3, 10),
            ("loyal", 10, 9, 500, 20, 2500, 9, 2400, 8, 20),
            ("active", 10, 2, 300, 40, 600, 3, 100, 1, 90),
        ]
        func ints(_ k: KeyPath<(String, Int64?, Int64, Int64?, Double?, Double, Int64, Double, Int64, Double?), Int64?>) -> ([Int64], [Bool]) {
            (rows.map { $0[keyPath: k] ?? 0 }, rows.map { $0[keyPath: k] != nil })
        }
        let (rec, recValid) = ints(\.1), (ten, tenValid) = ints(\.3)
        return Table(name: "customer_features", columns: [
            Column("customer_id", strings: rows.map(\.0)),
            Column("recency_days", .int, int64: rec, validity: recValid),
            Column("frequency", .int, int64: rows.map(\.2)),
            Column("monetary", double: rows.map(\.5)),
            Column("tenure_days", .int, int64: ten, validity: tenValid),
            Column("interval_mean_days", double: rows.map { $0.4 ?? 0 }, validity: rows.map { $0.4 != nil }),
            Column("revenue_sum_365d", double: rows.map(\.5)), Column("orders_count_365d", .int, int64: rows.map(\.6)),
            Column("revenue_sum_180d", double: rows.map(\.7)), Column("orders_count_180d", .int, int64: rows.map(\.8)),
            Column("interval_last_days", double: rows.map { $0.9 ?? 0 }, validity: rows.map { $0.9 != nil }),
        ])
    }

    @Test func lifecycleStagesFollowTheRulesOneByOne() throws {
        let out = try ValueStage.run(features: customers(), asOf: asOf, configuration: Configuration())
        let v = out.customerValue
        let ids = (0..<v.rowCount).map { v["customer_id"]!.string(at: $0)! }
        let stages = (0..<v.rowCount).map { v["lifecycle_stage"]!.string(at: $0)! }
        for (id, stage) in zip(ids, stages) {
            let expected = id.hasPrefix("at_risk") ? "at_risk" : id
            #expect(stage == expected, "\(id)")
        }
        // Reactivated is read from this snapshot alone: the silence before the latest order (95 days) was longer than
        // active_days (90); "active" bought after 90 days, not more. Without the feature nobody is, with a warning.
        #expect(!out.warnings.contains { $0.hasPrefix("lifecycle") })
        let all = customers()
        let withoutGap = Table(name: all.name, columns: all.columns.filter { $0.name != "interval_last_days" })
        let plain = try ValueStage.run(features: withoutGap, asOf: asOf, configuration: Configuration())
        #expect(plain.customerValue["lifecycle_stage"]!.string(at: 3) == "active")
        #expect(plain.warnings.contains("lifecycle: reactivated needs the feature interval_last_days (the timing family); nobody is reactivated"))
    }

    /// Without clv features (or with fewer than two buyers) the CLV columns stay, all null, with a warning: a
    /// small snapshot's customer_value has the same columns as any other (they used to vanish silently).
    @Test func clvColumnsStayNullWhenThereIsNothingToFit() throws {
        let out = try ValueStage.run(features: customers(), asOf: asOf, configuration: Configuration())
        let v = out.customerValue
        for name in ["p_alive", "expected_purchases", "expected_avg_value", "clv", "churn_risk", "churn_band"] {
            let c = try #require(v[name], "\(name) missing")
            #expect((0..<v.rowCount).allSatisfy { !c.isValid($0) }, "\(name)")
        }
        #expect(out.warnings.contains { $0.hasPrefix("clv: the clv feature family is off") }, "\(out.warnings)")
    }

    @Test func tiersAndTheRiskOfDroppingAtTheNextReview() throws {
        let v = try ValueStage.run(features: customers(), asOf: asOf, configuration: Configuration()).customerValue
        let tier = (0..<v.rowCount).map { v["tier"]!.string(at: $0) }
        let risk = v["tier_at_risk"]!.int64Values
        #expect(tier == [nil, nil, "bronze", "bronze", "silver", "silver", "gold", "silver"])
        // at_risk_silent keeps nothing after 185 days; loyal keeps gold; active would drop from silver to bronze.
        #expect(risk == [0, 0, 0, 0, 1, 0, 0, 1])
    }

    @Test func declaredSegmentsMatchInOrderWithAFallback() throws {
        var config = Configuration()
        config.rfm.segments = [Configuration.SegmentRule(name: "Best", r: 4...5, f: 4...5), Configuration.SegmentRule(name: "Recent", r: 4...5)]
        config.rfm.fallback = "Rest"
        let f = Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<10).map { "C\($0)" }),
            Column("recency_days", .int, int64: (0..<10).map { Int64(100 - $0 * 10) }),
            Column("frequency", .int, int64: (0..<10).map { Int64($0 % 5 + 1) }),
            Column("monetary", double: (0..<10).map { Double($0) }),
        ])
        let v = try ValueStage.run(features: f, asOf: asOf, configuration: config).customerValue
        for i in 0..<10 {
            let r = v["r_score"]!.int64(at: i)!, fs = v["f_score"]!.int64(at: i)!
            let expected = r >= 4 && fs >= 4 ? "Best" : (r >= 4 ? "Recent" : "Rest")
            #expect(v["rfm_segment"]!.string(at: i) == expected)
        }
    }

    @Test func rulesThatCanNeverMatchAreFound() {
        var rfm = Configuration.RFM()
        rfm.segments = [Configuration.SegmentRule(name: "Recent", r: 4...5), Configuration.SegmentRule(name: "Best", r: 5...5, f: 5...5),
                        Configuration.SegmentRule(name: "Impossible", m: 6...7), Configuration.SegmentRule(name: "Rest")]
        let found = rfm.unreachableRules()
        #expect(found.map(\.0) == [1, 2])
        #expect(found[0].1 == "segment \"Best\" can never match: earlier rules take every score it covers")
        #expect(found[1].1 == "segment \"Impossible\" can never match: its score ranges are outside 1...5")
    }
}

/// Spend at or below zero (discounts above prices) gives no negative expected order value, and so no negative CLV.
struct NonNegativeValueTests {
    @Test func netSpendBelowZeroCountsAsZero() {
        let g = GammaGamma(p: 6.25, q: 3.74, gamma: 15.44)
        let negative = PurchaseHistory(x: 3, tx: 20, T: 30, monetary: -40)
        let zero = PurchaseHistory(x: 3, tx: 20, T: 30, monetary: 0)
        #expect(g.expectedAverageValue(negative) == g.expectedAverageValue(zero))
        #expect(g.expectedAverageValue(negative) > 0)
        // lifetimes' conditional_expected_average_profit for m = 20, x = 3 with these parameters: unchanged.
        let positive = PurchaseHistory(x: 3, tx: 20, T: 30, monetary: 20)
        #expect(abs(g.expectedAverageValue(positive) - (15.44 + 3 * 20) * 6.25 / (6.25 * 3 + 3.74 - 1)) < 1e-12)
    }
}

/// With fewer or more score levels than 5, the default grid still reaches its corners: the best recency and
/// frequency are Champions (with 3 levels the top score mapped to 4, so nobody ever was).
struct RFMGridTests {
    @Test(arguments: [2, 3, 4, 5, 7, 10])
    func theTopScoresAreChampionsAndTheBottomHibernatingForAnyBins(bins: Int) throws {
        let n = 40
        let f = Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("recency_days", .int, int64: (0..<n).map { Int64($0) }),            // C0 most recent
            Column("frequency", .int, int64: (0..<n).map { Int64(n - $0) }),           // C0 most frequent
            Column("monetary", double: (0..<n).map { Double(n - $0) * 10 }),
        ])
        var config = Configuration()
        config.rfm.bins = bins
        let v = try ValueStage.run(features: f, asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: config).customerValue
        #expect(v["rfm_segment"]!.string(at: 0) == "Champions", "bins \(bins)")
        #expect(v["rfm_segment"]!.string(at: n - 1) == "Hibernating", "bins \(bins)")
    }
}

/// The Gamma-Gamma fit finds the maximum where the unit start alone does not.
struct GammaGammaFitTests {
    /// Where spend barely varies the fit is degenerate and order values are the customers' observed means: a
    /// repeater whose repeat purchases were free has a mean of 0, not the population's (free-sample customers had a
    /// CLV above paying ones).
    @Test func freeRepeatersExpectNothingWhenTheFitIsDegenerate() {
        var customer: [String] = [], day: [Int64] = [], amount: [Double] = []
        for (id, days, value) in [("free", 0...4, 0.0), ("paid", 0...4, 40), ("paid2", 0...3, 40), ("once", 0...0, 30)] {
            for d in days { customer.append(id); day.append(Int64(d * 10)); amount.append(value) }
        }
        let summary = CalibrationSummary(customer: customer, day: day, amount: amount, calibrationEnd: 60, observationEnd: nil, unitDays: 1)
        let m = CLVFit(summary, horizonUnits: 30, months: 12, monthlyDiscount: 0.01, unitsPerMonth: 30)
        #expect(m.fallbackWarning != nil)
        #expect(m.expectedAverageValue[0] == 0 && m.expectedAverageValue[1] == 40)
        #expect(m.clv[0] == 0 && m.clv[1] > 0)
    }

    /// A test user's shop: 121 repeat customers' (x, mean repeat spend). From the unit start alone Nelder-Mead settled
    /// at p 2.5e7, q 1.7, γ 2.7e-6 (log-likelihood -633.5), which read as degenerate: CLVs fell back to observed means
    /// (one customer's CLV 3,064 instead of about 1,149). scipy's L-BFGS-B from several starts: p 2.1907, q 5.3159,
    /// γ 142.61, log-likelihood -608.8178.
    @Test func findsTheMaximumOfAShopWhereTheUnitStartFails() {
        let repeaters: [(Double, Double)] = [
            (1, 115.14), (1, 1250.00), (1, 13.92), (1, 136.66), (1, 14.67), (1, 15.85), (1, 156.28), (1, 18.69),
            (1, 19.08), (1, 2.95), (1, 20.08), (1, 20.20), (1, 22.00), (1, 22.02), (1, 230.75), (1, 24.76), (1,
            25.10), (1, 28.20), (1, 30.00), (1, 30.00), (1, 30.00), (1, 30.00), (1, 31.92), (1, 32.82), (1,
            34.69), (1, 35.24), (1, 36.22), (1, 37.15), (1, 37.81), (1, 38.70), (1, 38.98), (1, 40.20), (1,
            43.08), (1, 44.85), (1, 45.22), (1, 50.56), (1, 52.04), (1, 60.00), (1, 61.49), (1, 62.46), (1,
            65.48), (1, 65.59), (1, 7.08), (1, 73.07), (1, 73.10), (1, 74.42), (1, 74.42), (1, 80.18), (1,
            89.45), (1, 89.95), (1, 92.86), (2, 100.00), (2, 115.29), (2, 154.80), (2, 161.73), (2, 27.39), (2,
            28.52), (2, 29.89), (2, 30.00), (2, 45.70), (2, 48.57), (2, 49.18), (2, 65.22), (2, 75.08), (2,
            83.65), (2, 84.01), (2, 94.59), (2, 96.23), (3, 10.00), (3, 111.94), (3, 111.97), (3, 28.37), (3,
            29.09), (3, 30.00), (3, 34.86), (3, 47.67), (3, 55.26), (3, 57.05), (3, 57.83), (3, 59.57), (3,
            94.72), (3, 97.15), (4, 110.36), (4, 110.37), (4, 124.01), (4, 148.93), (4, 225.00), (4, 28.73), (4,
            39.09), (4, 43.39), (4, 47.71), (4, 75.81), (4, 76.98), (4, 90.47), (4, 97.36), (4, 98.08), (5,
            32.25), (5, 48.35), (5, 57.69), (5, 59.13), (5, 68.80), (6, 145.95), (6, 42.65), (6, 65.81), (7,
            51.97), (7, 85.07), (8, 59.95), (8, 64.67), (8, 66.18), (9, 25.21), (9, 59.69), (10, 67.99), (10,
            74.26), (11, 117.71), (12, 121.93), (12, 59.53), (12, 90.10), (12, 99.95), (13, 31.14), (15, 51.55),
            (21, 91.06)
        ]
        let fit = GammaGamma.fit(repeaters.map { PurchaseHistory(x: $0.0, tx: 1, T: 2, monetary: $0.1) })
        #expect(abs(fit.logLikelihood - -608.8178) < 1e-3, "\(fit.model), ll \(fit.logLikelihood)")
        #expect(abs(fit.model.p - 2.1907) < 0.01 && abs(fit.model.q - 5.3159) < 0.02 && abs(fit.model.gamma - 142.61) < 0.5, "\(fit.model)")
        #expect(fit.converged)
    }
}

/// A shop where nobody has bought twice has no spend model, but its customers' orders have a value: the mean
/// purchase day (it was 0). Their CLV stays BG/NBD's: with no repeat purchase seen, few or none expected.
struct OneTimeBuyersTests {
    @Test func expectedOrderValueFallsBackToTheMeanPurchaseDay() throws {
        let n = 4
        let f = Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("recency_days", .int, int64: [0, 3, 10, 40]),
            Column("frequency", .int, int64: [1, 1, 1, 1]),
            Column("monetary", double: [10, 10, 30, 30]),
            Column("clv_repeat_days", .int, int64: [0, 0, 0, 0]),
            Column("clv_recency_days", .int, int64: [0, 0, 0, 0]),
            Column("clv_age_days", .int, int64: [0, 3, 10, 40]),
            Column("clv_repeat_value", double: [0, 0, 0, 0]),
        ])
        let out = try ValueStage.run(features: f, asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: Configuration())
        let v = out.customerValue
        for i in 0..<n {
            #expect(v["expected_avg_value"]!.double(at: i) == 20, "customer \(i)")
            #expect((v["clv"]!.double(at: i) ?? -1) >= 0, "customer \(i)")
        }
    }
}

/// `customerValueColumns` (what campaign conditions are checked against) is what the value stage builds.
struct CustomerValueColumnsTests {
    @Test(arguments: [true, false])
    func theDeclaredColumnsAreTheTablesColumns(clv: Bool) throws {
        let n = 6
        let f = Table(name: "customer_features", columns: [
            Column("customer_id", strings: (0..<n).map { "C\($0)" }),
            Column("recency_days", .int, int64: [1, 5, 20, 60, 200, 400]),
            Column("frequency", .int, int64: [5, 3, 2, 1, 2, 1]),
            Column("monetary", double: [500, 300, 120, 40, 90, 30]),
            Column("revenue_sum_365d", double: [500, 300, 120, 40, 90, 0]),
            Column("orders_count_365d", .int, int64: [5, 3, 2, 1, 2, 0]),
            Column("clv_repeat_days", .int, int64: [4, 2, 1, 0, 1, 0]),
            Column("clv_recency_days", .int, int64: [300, 200, 100, 0, 150, 0]),
            Column("clv_age_days", .int, int64: [301, 205, 120, 60, 350, 400]),
            Column("clv_repeat_value", double: [100, 100, 60, 0, 45, 0]),
        ])
        var config = Configuration()
        config.clv.enabled = clv
        let v = try ValueStage.run(features: f, asOf: CivilDate(year: 2026, month: 6, day: 30), configuration: config).customerValue
        #expect(v.columnNames == config.customerValueColumns)
        for column in v.columnNames {
            guard let known = config.vocabulary(of: column) else { continue }
            for i in 0..<n { if let s = v[column]!.formatted(at: i) as String?, !s.isEmpty { #expect(known.contains(s), "\(column): \(s)") } }
        }
    }
}

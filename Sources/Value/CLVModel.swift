public import CVMCore
#if canImport(Glibc)
import Glibc
#endif

/// Per-customer calibration and holdout summary of a transaction log, as the published work builds it:
/// transactions of one customer on one calendar day are one purchase occasion (their values summed).
public struct CalibrationSummary: Sendable {
    public var customers: [String]
    public var histories: [PurchaseHistory]
    /// Purchase days in the holdout (calibration end, observation end].
    public var holdout: [Double]
    /// Mean value of a purchase day over all customers' calibration days, first ones included: the expected
    /// order value when no customer has a repeat purchase to fit Gamma-Gamma on.
    public var purchaseDayMean: Double = 0

    /// - Parameters:
    ///   - customer, day, amount: one entry per transaction (day = days since epoch).
    ///   - calibrationEnd: inclusive last day of the calibration period.
    ///   - observationEnd: inclusive last day of the holdout; nil for none.
    ///   - unitDays: 7 for weeks (days / 7, not whole weeks), 1 for days.
    /// Customers whose first purchase is after the calibration end are left out (not yet in the cohort).
    public init(customer: [String], day: [Int64], amount: [Double], calibrationEnd: Int64, observationEnd: Int64?, unitDays: Double) {
        var index: [String: Int] = [:]
        var days: [[Int64: Double]] = []
        var names: [String] = []
        for i in customer.indices {
            let k: Int
            if let e = index[customer[i]] { k = e } else {
                k = names.count
                index[customer[i]] = k
                names.append(customer[i])
                days.append([:])
            }
            days[k][day[i], default: 0] += amount[i]
        }
        var outNames: [String] = [], histories: [PurchaseHistory] = [], holdout: [Double] = []
        var total = 0.0, purchaseDays = 0
        // Deterministic order: by customer id (numeric ids compare numerically).
        let order = names.indices.sorted {
            if let a = Int(names[$0]), let b = Int(names[$1]) { return a < b }
            return names[$0] < names[$1]
        }
        for k in order {
            let byDay = days[k]
            let calibration = byDay.keys.filter { $0 <= calibrationEnd }.sorted()
            guard let first = calibration.first, let last = calibration.last else { continue }
            let repeats = calibration.dropFirst()
            total += calibration.reduce(0) { $0 + byDay[$1]! }
            purchaseDays += calibration.count
            let monetary = repeats.isEmpty ? 0 : repeats.reduce(0) { $0 + byDay[$1]! } / Double(repeats.count)
            outNames.append(names[k])
            histories.append(PurchaseHistory(x: Double(repeats.count), tx: Double(last - first) / unitDays,
                                             T: Double(calibrationEnd - first) / unitDays, monetary: monetary))
            let hold = observationEnd.map { end in byDay.keys.filter { $0 > calibrationEnd && $0 <= end }.count } ?? 0
            holdout.append(Double(hold))
        }
        (customers, self.histories, self.holdout) = (outNames, histories, holdout)
        purchaseDayMean = purchaseDays > 0 ? total / Double(purchaseDays) : 0
    }
}

/// Both models fitted, with per-customer predictions.
public struct CLVFit: Sendable {
    public var bgnbd: FitResult<BGNBD>
    public var gammaGamma: FitResult<GammaGamma>
    public var summary: CalibrationSummary
    public var probabilityAlive: [Double]
    public var expectedPurchases: [Double]
    public var expectedAverageValue: [Double]
    public var clv: [Double]

    /// Fits BG/NBD and Gamma-Gamma and predicts, for each customer, over `horizonUnits` (expected purchases)
    /// and `months` (discounted CLV at `monthlyDiscount`, `unitsPerMonth` time units a month).
    public init(_ summary: CalibrationSummary, horizonUnits: Double, months: Int, monthlyDiscount: Double, unitsPerMonth: Double) {
        self.summary = summary
        bgnbd = BGNBD.fit(summary.histories)
        gammaGamma = GammaGamma.fit(summary.histories)
        let (m, g) = (bgnbd.model, gammaGamma.model)
        probabilityAlive = summary.histories.map(m.probabilityAlive)
        // Never below zero (rounding left -1.8e-15 for customers almost surely gone).
        expectedPurchases = summary.histories.map { max(0, m.expectedPurchases($0, within: horizonUnits)) }
        // A degenerate spend model (q ≤ 1: no finite population mean; or a parameter run off to an extreme,
        // which happens when spend barely varies between customers) would give meaningless values:
        // fall back to each customer's observed mean, and the repeaters' mean for the rest (without repeaters, the
        // mean purchase day: it was 0, so a shop of one-time buyers had no CLV at all).
        let degenerate = g.q <= 1 || [g.p, g.q, g.gamma].contains { !$0.isFinite || abs(log($0)) > 15 }
        if degenerate {
            let repeaters = summary.histories.filter { $0.x > 0 && $0.monetary > 0 }
            let mean = repeaters.isEmpty ? max(0, summary.purchaseDayMean) : repeaters.reduce(0) { $0 + $1.monetary } / Double(repeaters.count)
            // A repeater whose repeat purchases were free (or netted below zero) has an observed mean of 0: taking the
            // population's put free-sample customers above paying ones in CLV and the campaign lists.
            expectedAverageValue = summary.histories.map { $0.x > 0 ? max(0, $0.monetary) : mean }
            fallbackWarning = "the Gamma-Gamma fit is degenerate (p \(g.p), q \(g.q), v \(g.gamma)); expected order values use observed means instead"
        } else {
            expectedAverageValue = summary.histories.map(g.expectedAverageValue)
        }
        clv = zip(summary.histories, expectedAverageValue).map { h, value in
            max(0, customerLifetimeValue(h, bgnbd: m, averageValue: value, months: months, monthlyDiscount: monthlyDiscount,
                                         unitsPerMonth: unitsPerMonth))
        }
    }

    /// Set when expected order values fell back to observed means.
    public var fallbackWarning: String?

    public var warnings: [String] { bgnbd.warnings + gammaGamma.warnings + (fallbackWarning.map { [$0] } ?? []) }
}

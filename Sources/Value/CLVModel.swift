public import CVMCore

/// Per-customer calibration and holdout summary of a transaction log, as the published work builds it:
/// transactions of one customer on one calendar day are one purchase occasion (their values summed).
public struct CalibrationSummary: Sendable {
    public var customers: [String]
    public var histories: [PurchaseHistory]
    /// Purchase days in the holdout (calibration end, observation end].
    public var holdout: [Double]

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
            let monetary = repeats.isEmpty ? 0 : repeats.reduce(0) { $0 + byDay[$1]! } / Double(repeats.count)
            outNames.append(names[k])
            histories.append(PurchaseHistory(x: Double(repeats.count), tx: Double(last - first) / unitDays,
                                             T: Double(calibrationEnd - first) / unitDays, monetary: monetary))
            let hold = observationEnd.map { end in byDay.keys.filter { $0 > calibrationEnd && $0 <= end }.count } ?? 0
            holdout.append(Double(hold))
        }
        (customers, self.histories, self.holdout) = (outNames, histories, holdout)
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
        expectedPurchases = summary.histories.map { m.expectedPurchases($0, within: horizonUnits) }
        expectedAverageValue = summary.histories.map(g.expectedAverageValue)
        clv = zip(summary.histories, expectedAverageValue).map { h, value in
            customerLifetimeValue(h, bgnbd: m, averageValue: value, months: months, monthlyDiscount: monthlyDiscount,
                                  unitsPerMonth: unitsPerMonth)
        }
    }

    public var warnings: [String] { bgnbd.warnings + gammaGamma.warnings }
}

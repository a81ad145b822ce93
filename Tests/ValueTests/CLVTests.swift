import CVMCore
import Foundation
import TestSupport
import Testing
import Value

/// The CDNOW 1/10 sample as the published work summarises it (weeks, calibration to 1997-09-30).
func cdnowSummary() throws -> CalibrationSummary {
    let text = try String(contentsOfFile: Repo.path("fixtures/cdnow/CDNOW_sample.txt"), encoding: .utf8)
    var customer: [String] = [], day: [Int64] = [], amount: [Double] = []
    for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
        let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
        guard f.count == 5, let d = Int(f[2]), let a = Double(f[4]) else { continue }
        customer.append(String(Int(f[1])!))
        day.append(CivilDate(year: d / 10000, month: d / 100 % 100, day: d % 100).daysSinceEpoch)
        amount.append(a)
    }
    return CalibrationSummary(customer: customer, day: day, amount: amount,
                              calibrationEnd: CivilDate(year: 1997, month: 9, day: 30).daysSinceEpoch,
                              observationEnd: CivilDate(year: 1998, month: 6, day: 30).daysSinceEpoch, unitDays: 7)
}

struct BGNBDFormulaTests {
    // CLV_REFERENCE.md 3.6: fixed rounded parameters, optimizer-independent values.
    let m = BGNBD(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)

    @Test(arguments: [
        (0.0, 0.0, 38.86, -0.5547132764, 1.0, 0.1950980520),
        (1, 1.71, 38.86, -4.4690932750, 0.2121009854, 0.2031869871),
        (2, 30.43, 38.86, -9.4586063071, 0.7265785701, 1.2260281748),
        (2, 5, 38.86, -7.6879485552, 0.1236789227, 0.2086957282),
        (5, 20, 30, -16.3099290936, 0.5725657706, 2.6248099703),
    ])
    func matchesThePublishedFormulaValues(x: Double, tx: Double, T: Double, ll: Double, alive: Double, e39: Double) {
        let h = PurchaseHistory(x: x, tx: tx, T: T)
        #expect(approxEqual(m.logLikelihood(h), ll, rel: 1e-9))
        #expect(approxEqual(m.probabilityAlive(h), alive, rel: 1e-9))
        #expect(approxEqual(m.expectedPurchases(h, within: 39), e39, rel: 1e-9))
    }

    @Test func staysFiniteForExtremeHistories() {
        let alive = m.probabilityAlive(PurchaseHistory(x: 26, tx: 10, T: 31))
        #expect(alive > 0 && alive < 1e-6 && alive.isFinite)
        let e = BGNBD(r: 0.25, alpha: 4, a: 0.8, b: 2.5).expectedPurchases(PurchaseHistory(x: 1000, tx: 1, T: 50), within: 10)
        #expect(e.isFinite && e >= 0)
    }
}

struct CDNOWFitTests {
    @Test func theSummaryMatchesThePublishedDataFacts() throws {
        let s = try cdnowSummary()
        #expect(s.histories.count == 2357)
        #expect(s.histories.reduce(0) { $0 + $1.x } == 2457)
        #expect(s.histories.filter { $0.x > 0 }.count == 946)
        #expect(s.holdout.reduce(0, +) == 1882)
        #expect(s.histories[0].T == 272.0 / 7)
    }

    @Test func fitsReproducePublishedParametersAndPerCustomerValues() throws {
        let s = try cdnowSummary()
        let fit = CLVFit(s, horizonUnits: 39, months: 12, monthlyDiscount: 0.01, unitsPerMonth: 4.345)
        let b = fit.bgnbd.model, g = fit.gammaGamma.model
        // Derived-data MLE (CLV_REFERENCE.md 3.1, 3.3): 1e-4 relative; published values within 1%.
        #expect(approxEqual(b.r, 0.2425945, rel: 1e-4))
        #expect(approxEqual(b.alpha, 4.4136027, rel: 1e-4))
        #expect(approxEqual(b.a, 0.7929218, rel: 1e-4))
        #expect(approxEqual(b.b, 2.4259057, rel: 1e-4))
        #expect(abs(fit.bgnbd.logLikelihood - -9582.429207) < 1e-4)
        #expect(approxEqual(g.p, 6.2495723, rel: 1e-4))
        #expect(approxEqual(g.q, 3.7442247, rel: 1e-4))
        #expect(approxEqual(g.gamma, 15.4435210, rel: 1e-4))
        #expect(abs(fit.bgnbd.model.r - 0.243) / 0.243 < 0.01 && abs(g.p - 6.25) / 6.25 < 0.01)
        #expect(fit.warnings.isEmpty)
        // The holdout: the sum of conditional expectations against 1,882 actual.
        #expect(abs(fit.expectedPurchases.reduce(0, +) - 1653.4087) < 0.01)
        // Every customer against lifetimes' values.
        let rows = try String(contentsOfFile: Repo.path("fixtures/cdnow/expected.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(rows.count == 2357)
        var worst = (alive: 0.0, e39: 0.0, value: 0.0, clv: 0.0)
        for (i, row) in rows.enumerated() {
            let f = row.split(separator: ",").map { Double($0)! }
            #expect(s.customers[i] == String(Int(f[0])))
            worst.alive = max(worst.alive, abs(fit.probabilityAlive[i] - f[6]))
            worst.e39 = max(worst.e39, abs(fit.expectedPurchases[i] - f[7]))
            worst.value = max(worst.value, abs(fit.expectedAverageValue[i] - f[8]) / f[8])
            worst.clv = max(worst.clv, abs(fit.clv[i] - f[9]) / max(f[9], 1e-9))
        }
        #expect(worst.alive < 1e-4, "P(alive) max abs error \(worst.alive)")
        #expect(worst.e39 < 1e-4, "E[Y(39)] max abs error \(worst.e39)")
        #expect(worst.value < 1e-4, "E[M] max rel error \(worst.value)")
        #expect(worst.clv < 1e-4, "CLV max rel error \(worst.clv)")
    }
}

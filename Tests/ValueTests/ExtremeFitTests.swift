import Foundation
import Testing
@testable import Value

/// BG/NBD expectations when a fit runs a and b to huge values (a shop whose customers all drop out alike):
/// Euler's series overflows there, and the published series gives the same number.
struct ExtremeFitTests {
    @Test func thePublishedSeriesEqualsEulersWhereBothWork() {
        let m = BGNBD(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
        for (x, T, t) in [(0.0, 38.86, 39.0), (2, 38.86, 39), (5, 30, 52), (1, 10, 4)] {
            let z = t / (m.alpha + T + t)
            let f = hypergeometric2F1(m.a + m.b - 1 - m.r, m.a - 1, m.a + m.b + x - 1, z)
            let euler = -expm1((m.a - 1) * log1p(-z) + log(f))
            #expect(abs(m.originalFormBracket(x: x, z: z) - euler) <= 1e-12 * abs(euler), "x \(x), T \(T), t \(t)")
        }
    }

    @Test func hugeDropoutParametersGiveFiniteExpectations() {
        // Measured on a Shopify-shaped export: every customer's CLV was NaN and the report crashed.
        let huge = BGNBD(r: 21.77, alpha: 139.05, a: 24_036_024.5, b: 153_881_974.1)
        // The same dropout probability a / (a + b) with a thousand times less spread: nearly the same expectations.
        let large = BGNBD(r: 21.77, alpha: 139.05, a: 24_036.0245, b: 153_881.9741)
        for (x, tx, T) in [(0.0, 0.0, 20.0), (3, 30, 50), (9, 40, 52)] {
            let h = PurchaseHistory(x: x, tx: tx, T: T)
            let e = huge.expectedPurchases(h, within: 13)
            #expect(e.isFinite && e > 0, "x \(x): \(e)")
            #expect(abs(e - large.expectedPurchases(h, within: 13)) <= 1e-3 * e, "x \(x)")
            let clv = customerLifetimeValue(h, bgnbd: huge, averageValue: 50, months: 12, monthlyDiscount: 0.01, unitsPerMonth: 4.345)
            #expect(clv.isFinite && clv > 0)
        }
    }
}

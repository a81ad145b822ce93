import CVMCore
#if canImport(Glibc)
import Glibc
#endif

/// One customer's purchase history in the BG/NBD notation.
public struct PurchaseHistory: Sendable, Equatable {
    /// Repeat purchase occasions (distinct purchase days after the first).
    public var x: Double
    /// Time of the last purchase, measured from the first (in the model's time unit).
    public var tx: Double
    /// Age: time from the first purchase to the end of calibration.
    public var T: Double
    /// Mean value of the repeat purchase occasions (0 when x = 0).
    public var monetary: Double

    public init(x: Double, tx: Double, T: Double, monetary: Double = 0) {
        (self.x, self.tx, self.T, self.monetary) = (x, tx, T, monetary)
    }
}

@inline(__always) func logAddExp(_ a: Double, _ b: Double) -> Double {
    let m = max(a, b)
    return m + log1p(exp(-abs(a - b)))
}

/// Gauss's hypergeometric series ₂F₁(a, b; c; z) for 0 ≤ z < 1 and c > 0.
///
/// Terms are added until one is below 1e-16 of the sum (at most 100,000 terms);
/// used in the Euler-transformed form where the series is short and cancellation-free
/// (CLV_REFERENCE.md 5.3). Relative precision about 1e-15 for the parameters that form produces.
public func hypergeometric2F1(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
    var term = 1.0, sum = 1.0, n = 0.0
    while n < 100_000 {
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        sum += term
        if abs(term) <= 1e-16 * abs(sum) { break }
        n += 1
    }
    return sum
}

/// The BG/NBD model (Fader, Hardie & Lee 2005): buy-till-you-die purchase counts.
///
/// All likelihoods are evaluated in log space; P(alive) as a logistic of a log ratio; the
/// conditional expectation through Euler's transformation of ₂F₁ (CLV_REFERENCE.md 5.1-5.3).
public struct BGNBD: Sendable, Equatable {
    public var r: Double
    public var alpha: Double
    public var a: Double
    public var b: Double

    public init(r: Double, alpha: Double, a: Double, b: Double) { (self.r, self.alpha, self.a, self.b) = (r, alpha, a, b) }

    /// ln L of one customer (FHL 2005 eq. 6).
    public func logLikelihood(_ h: PurchaseHistory) -> Double {
        let (x, tx, T) = (h.x, h.tx, h.T)
        let a1 = lgamma(r + x) - lgamma(r) + r * log(alpha)
        let a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x)
        let a3 = -(r + x) * log(alpha + T)
        if x > 0 {
            let a4 = log(a) - log(b + x - 1) - (r + x) * log(alpha + tx)
            return a1 + a2 + logAddExp(a3, a4)
        }
        return a1 + a2 + a3
    }

    /// Probability that the customer is still active at the end of calibration.
    public func probabilityAlive(_ h: PurchaseHistory) -> Double {
        guard h.x > 0 else { return 1 }
        let u = log(a / (b + h.x - 1)) + (r + h.x) * log((alpha + h.T) / (alpha + h.tx))
        return 1 / (1 + exp(u))
    }

    /// Expected purchases in the next `t` time units given the history (FHL 2005 eq. 10).
    public func expectedPurchases(_ h: PurchaseHistory, within t: Double) -> Double {
        guard t > 0 else { return 0 }
        let x = h.x
        let z = t / (alpha + h.T + t)
        let f = hypergeometric2F1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        // With a + b + x − 1 < 0 (x = 0 and a + b < 1) the series may sum to a negative value:
        // then the log form is undefined and the direct product is used.
        var bracket = f > 0 ? -expm1((a - 1) * log1p(-z) + log(f)) : 1 - exp((a - 1) * log1p(-z)) * f
        if !bracket.isFinite {
            // When a fit runs a and b to huge values (dropout the same for everyone; a Shopify export measured
            // a = 2.4e7, b = 1.5e8) Euler's series overflows: its terms grow like (a z)^n / n! first. The original
            // form, 1 − (1 − z)^(r+x) ₂F₁(r + x, b + x; a + b + x − 1; z), is the same number, and its terms are
            // positive and shrink by about z b / (a + b) there.
            bracket = originalFormBracket(x: x, z: z)
        }
        return probabilityAlive(h) * (a + b + x - 1) / (a - 1) * bracket
    }

    /// The bracket of FHL 2005 eq. 10 by the series as published (see `expectedPurchases`).
    func originalFormBracket(x: Double, z: Double) -> Double {
        -expm1((r + x) * log1p(-z) + log(hypergeometric2F1(r + x, b + x, a + b + x - 1, z)))
    }

    /// Total log-likelihood.
    public func logLikelihood(_ data: [PurchaseHistory]) -> Double { data.reduce(0) { $0 + logLikelihood($1) } }

    /// Maximum-likelihood fit on log-parameters with Nelder-Mead and restarts.
    ///
    /// The likelihood is evaluated on grouped data (written by hand because the fit is the value
    /// stage's hot loop): terms that depend only on x are computed once per distinct x, and customers
    /// with identical (x, t_x, T) once per group, so millions of customers cost what their distinct
    /// histories cost. Summation order is fixed: the result does not depend on the thread count.
    public static func fit(_ data: [PurchaseHistory]) -> FitResult<BGNBD> {
        let grouped = GroupedHistories(data)
        let objective: ([Double]) -> Double = { p in
            let ll = grouped.logLikelihood(r: exp(p[0]), alpha: exp(p[1]), a: exp(p[2]), b: exp(p[3]))
            return ll.isFinite ? -ll : .infinity
        }
        // Two starts: the unit point and one scaled to the data (alpha near the customers' mean age, where the
        // likelihood's ridge lies when ages run to hundreds of days); the better optimum wins.
        let meanAge = data.isEmpty ? 1 : data.reduce(0) { $0 + $1.T } / Double(data.count)
        let (best, value, converged, evaluations) = NelderMead.minimize(objective, starts: [[0, 0, 0, 0], [0, log(max(meanAge, 1e-3)), 0, 0]])
        let model = BGNBD(r: exp(best[0]), alpha: exp(best[1]), a: exp(best[2]), b: exp(best[3]))
        var warnings: [String] = []
        let repeaters = data.filter { $0.x > 0 }.count
        if repeaters < 20 { warnings.append("only \(repeaters) repeat customers: the BG/NBD fit is unreliable") }
        if best.contains(where: { abs($0) > 15 }) { warnings.append("a BG/NBD parameter ran to an extreme value (\(model)); the model may not fit this data") }
        if !converged { warnings.append("the BG/NBD optimiser did not converge") }
        return FitResult(model: model, logLikelihood: -value, converged: converged, evaluations: evaluations, warnings: warnings)
    }
}

/// Purchase histories grouped for fast BG/NBD likelihoods.
struct GroupedHistories: Sendable {
    /// Distinct x values and how many customers have each.
    var xs: [Double] = [], xCounts: [Double] = []
    /// Distinct (x, t_x, T) among repeaters, with counts.
    var rx: [Double] = [], rtx: [Double] = [], rT: [Double] = [], rCount: [Double] = []
    /// Distinct T among customers without repeats, with counts.
    var zT: [Double] = [], zCount: [Double] = []
    /// Distinct values of the repeaters' T and t_x together, and of their x; each triple's index into them. A
    /// likelihood takes log(alpha + v) once per distinct day value and log(b + x - 1) once per distinct x
    /// instead of once per triple (histories are in whole days: M's tens of thousands of triples hold a few
    /// hundred distinct days). The logs are the same numbers, so the fit is the same.
    var days: [Double] = [], tIndex: [Int32] = [], txIndex: [Int32] = []
    var repeatXs: [Double] = [], xIndex: [Int32] = []

    init(_ data: [PurchaseHistory]) {
        var byX: [Double: Double] = [:], byTriple: [[Double]: Double] = [:], byT: [Double: Double] = [:]
        for h in data {
            byX[h.x, default: 0] += 1
            if h.x > 0 { byTriple[[h.x, h.tx, h.T], default: 0] += 1 } else { byT[h.T, default: 0] += 1 }
        }
        for (x, n) in byX.sorted(by: { $0.key < $1.key }) { xs.append(x); xCounts.append(n) }
        for (k, n) in byTriple.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            rx.append(k[0]); rtx.append(k[1]); rT.append(k[2]); rCount.append(n)
        }
        for (t, n) in byT.sorted(by: { $0.key < $1.key }) { zT.append(t); zCount.append(n) }
        days = Array(Set(rT + rtx)).sorted()
        repeatXs = Array(Set(rx)).sorted()
        let dayAt = Dictionary(uniqueKeysWithValues: days.enumerated().map { ($1, Int32($0)) })
        let xAt = Dictionary(uniqueKeysWithValues: repeatXs.enumerated().map { ($1, Int32($0)) })
        tIndex = rT.map { dayAt[$0]! }
        txIndex = rtx.map { dayAt[$0]! }
        xIndex = rx.map { xAt[$0]! }
    }

    func logLikelihood(r: Double, alpha: Double, a: Double, b: Double) -> Double {
        var ll = 0.0
        let base = -lgamma(r) + r * log(alpha) + lgamma(a + b) - lgamma(b)
        for k in xs.indices {
            let x = xs[k]
            ll += xCounts[k] * (base + lgamma(r + x) + lgamma(b + x) - lgamma(a + b + x))
        }
        for k in zT.indices { ll -= zCount[k] * r * log(alpha + zT[k]) }
        let logA = log(a)
        let logAlphaPlus = days.map { log(alpha + $0) }
        let logBX = repeatXs.map { log(b + $0 - 1) }
        for k in rx.indices {
            let x = rx[k]
            let a3 = -(r + x) * logAlphaPlus[Int(tIndex[k])]
            let a4 = logA - logBX[Int(xIndex[k])] - (r + x) * logAlphaPlus[Int(txIndex[k])]
            ll += rCount[k] * logAddExp(a3, a4)
        }
        return ll
    }
}

/// The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013), fitted on repeat customers.
public struct GammaGamma: Sendable, Equatable {
    public var p: Double
    public var q: Double
    /// γ (lifetimes calls it `v`).
    public var gamma: Double

    public init(p: Double, q: Double, gamma: Double) { (self.p, self.q, self.gamma) = (p, q, gamma) }

    public func logLikelihood(_ h: PurchaseHistory) -> Double {
        let (x, m) = (h.x, h.monetary)
        return lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * log(gamma) + (p * x - 1) * log(m) + p * x * log(x)
            - (p * x + q) * log(gamma + x * m)
    }

    /// Population mean spend γp/(q−1) (requires q > 1).
    public var populationMean: Double { gamma * p / (q - 1) }

    /// E[M | x, m̄]: a weighted mean of the population mean and the customer's own mean.
    public func expectedAverageValue(_ h: PurchaseHistory) -> Double {
        guard h.x > 0 else { return populationMean }
        // Spend is positive in the model: a net repeat spend at or below zero (discounts above prices, returns
        // netted out) counts as zero, so the value is never negative (it gave CLVs below zero).
        return (gamma + h.x * max(0, h.monetary)) * p / (p * h.x + q - 1)
    }

    /// Fits on repeat customers with positive spend (others carry no information about spend).
    public static func fit(_ data: [PurchaseHistory]) -> FitResult<GammaGamma> {
        let repeaters = data.filter { $0.x > 0 && $0.monetary > 0 }
        let xs = repeaters.map(\.x), ms = repeaters.map(\.monetary)
        // Written by hand because the fit is evaluated hundreds of times: the terms that depend on x alone
        // (two lgammas, ln x, and the sum of ln m̄ over the customers with that x) are computed once per distinct x,
        // so a customer costs one log per evaluation instead of two lgammas and a log (M: 60 k repeaters, a few
        // dozen distinct x). Fixed summation order: the result does not depend on the thread count.
        var byX: [Double: (count: Double, sumLogM: Double)] = [:]
        for i in xs.indices { byX[xs[i], default: (0, 0)].count += 1; byX[xs[i]]!.sumLogM += log(ms[i]) }
        let groups = byX.sorted { $0.key < $1.key }
        let gx = groups.map(\.key), gCount = groups.map(\.value.count), gSumLogM = groups.map(\.value.sumLogM)
        let gLogX = gx.map { log($0) }
        let objective: ([Double]) -> Double = { v in
            let (p, q, g) = (exp(v[0]), exp(v[1]), exp(v[2]))
            var ll = 0.0
            let base = -lgamma(q) + q * log(g)
            for k in gx.indices {
                let px = p * gx[k]
                ll += gCount[k] * (base + lgamma(px + q) - lgamma(px) + px * gLogX[k]) + (px - 1) * gSumLogM[k]
            }
            for i in xs.indices { ll -= (p * xs[i] + q) * log(g + xs[i] * ms[i]) }
            return ll.isFinite ? -ll : .infinity
        }
        // Several starts: from the unit point alone Nelder-Mead can settle where p runs off to 1e7 and γ to 1e-6 (a
        // test user's shop: log-likelihood -633.5 against -608.8 at p 2.2, q 5.3, γ 143), which then reads as a
        // degenerate fit. The others put the population mean γp/(q-1) at the repeaters' mean spend, with little
        // and with much spread between customers; the best optimum wins (ties: the first).
        let meanSpend = ms.isEmpty ? 1 : max(ms.reduce(0, +) / Double(ms.count), 1e-9)
        let starts: [[Double]] = [[0, 0, 0], [0, log(3), log(2 * meanSpend)], [log(5), log(5), log(0.8 * meanSpend)], [log(2), log(1.5), log(0.25 * meanSpend)]]
        let (best, value, converged, evaluations) = NelderMead.minimize(objective, starts: starts)
        let model = GammaGamma(p: exp(best[0]), q: exp(best[1]), gamma: exp(best[2]))
        var warnings: [String] = []
        if repeaters.count < 20 { warnings.append("only \(repeaters.count) repeat customers with spend: the Gamma-Gamma fit is unreliable") }
        if model.q <= 1 { warnings.append("Gamma-Gamma q = \(model.q) ≤ 1: the population mean spend is undefined") }
        if !converged { warnings.append("the Gamma-Gamma optimiser did not converge") }
        return FitResult(model: model, logLikelihood: -value, converged: converged, evaluations: evaluations, warnings: warnings)
    }
}

/// A fitted model with its diagnostics.
public struct FitResult<Model: Sendable>: Sendable {
    public var model: Model
    public var logLikelihood: Double
    public var converged: Bool
    public var evaluations: Int
    public var warnings: [String]
}

/// Discounted customer lifetime value as lifetimes computes it (CLV_REFERENCE.md 5.6):
/// Σ_{k=1..H} E[M] · (E[Y(k·f)] − E[Y((k−1)·f)]) / (1 + d)^k, f = time units per month.
public func customerLifetimeValue(_ h: PurchaseHistory, bgnbd: BGNBD, averageValue: Double, months: Int,
                                  monthlyDiscount: Double, unitsPerMonth: Double) -> Double {
    var clv = 0.0, previous = 0.0
    for k in 1...max(1, months) {
        let e = bgnbd.expectedPurchases(h, within: Double(k) * unitsPerMonth)
        clv += averageValue * (e - previous) / pow(1 + monthlyDiscount, Double(k))
        previous = e
    }
    return clv
}

/// Derivative-free minimisation (Nelder-Mead with scipy's coefficients), restarted from the
/// optimum until a restart no longer improves, so a collapsed simplex cannot stop it early.
enum NelderMead {
    /// Several starts: each is screened with a short run (`screening` evaluations), and `minimize` goes on from the
    /// best point found (the lowest value; ties: the earlier start). Evaluations are summed. Running every start to
    /// the end doubled the value stage on M (2.3 s to 4.5 s); with the screening it takes 3.2 s against 2.7 s from
    /// the unit start alone (2 runs each), and reaches the same optimum there (log-likelihoods equal to 1e-12).
    static func minimize(_ f: ([Double]) -> Double, starts: [[Double]], screening: Int = 300) -> (x: [Double], value: Double, converged: Bool, evaluations: Int) {
        guard starts.count > 1 else { return minimize(f, start: starts[0]) }
        var best: (x: [Double], value: Double)? = nil
        var evaluations = 0
        for start in starts {
            let r = run(f, start: start, xatol: 1e-9, fatol: 1e-14, maxEvaluations: screening)
            evaluations += r.evaluations
            if best == nil || r.value < best!.value { best = (r.x, r.value) }
        }
        let r = minimize(f, start: best!.x)
        return (r.x, r.value, r.converged, evaluations + r.evaluations)
    }

    static func minimize(_ f: ([Double]) -> Double, start: [Double], xatol: Double = 1e-9, fatol: Double = 1e-14,
                         maxEvaluations: Int = 10_000) -> (x: [Double], value: Double, converged: Bool, evaluations: Int) {
        var x = start, fx = f(start), evaluations = 1, converged = false
        for _ in 0..<10 {
            let r = run(f, start: x, xatol: xatol, fatol: fatol, maxEvaluations: maxEvaluations)
            evaluations += r.evaluations
            let improved = fx - r.value > 1e-10 * max(1, abs(fx))
            if r.value <= fx { (x, fx) = (r.x, r.value) }
            // Converged when a fresh simplex around the optimum finds nothing better.
            if !improved { converged = true; break }
        }
        return (x, fx, converged, evaluations)
    }

    static func run(_ f: ([Double]) -> Double, start: [Double], xatol: Double, fatol: Double,
                    maxEvaluations: Int) -> (x: [Double], value: Double, converged: Bool, evaluations: Int) {
        let n = start.count
        var simplex = [start]
        for i in 0..<n {
            var p = start
            p[i] = p[i] != 0 ? p[i] * 1.05 : 0.00025
            simplex.append(p)
        }
        var values = simplex.map(f)
        var evaluations = n + 1
        while evaluations < maxEvaluations {
            let order = values.indices.sorted { values[$0] < values[$1] }
            simplex = order.map { simplex[$0] }
            values = order.map { values[$0] }
            let spread = simplex.dropFirst().map { p in zip(p, simplex[0]).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
            if spread <= xatol && (values.last! - values[0]) <= fatol * max(1, abs(values[0])) {
                return (simplex[0], values[0], true, evaluations)
            }
            var centroid = [Double](repeating: 0, count: n)
            for p in simplex.dropLast() { for i in 0..<n { centroid[i] += p[i] / Double(n) } }
            let worst = simplex[n]
            func along(_ t: Double) -> [Double] { (0..<n).map { centroid[$0] + t * (worst[$0] - centroid[$0]) } }
            let xr = along(-1)
            let fr = f(xr)
            evaluations += 1
            if fr < values[0] {
                let xe = along(-2)
                let fe = f(xe)
                evaluations += 1
                if fe < fr { (simplex[n], values[n]) = (xe, fe) } else { (simplex[n], values[n]) = (xr, fr) }
            } else if fr < values[n - 1] {
                (simplex[n], values[n]) = (xr, fr)
            } else {
                let outside = fr < values[n]
                let xc = along(outside ? -0.5 : 0.5)
                let fc = f(xc)
                evaluations += 1
                if fc <= (outside ? fr : values[n]) {
                    (simplex[n], values[n]) = (xc, fc)
                } else {
                    for k in 1...n {
                        simplex[k] = (0..<n).map { simplex[0][$0] + 0.5 * (simplex[k][$0] - simplex[0][$0]) }
                        values[k] = f(simplex[k])
                    }
                    evaluations += n
                }
            }
        }
        let best = values.indices.min { values[$0] < values[$1] }!
        return (simplex[best], values[best], false, evaluations)
    }
}

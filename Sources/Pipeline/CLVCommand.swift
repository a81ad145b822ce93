import Foundation
public import CVMCore
import Extract
import Value

/// `cvm clv`: fits BG/NBD and Gamma-Gamma on any transaction log and predicts per customer.
public struct CLVRequest: Sendable {
    public var transactions: String
    public var customer: String
    public var date: String
    public var amount: String
    public var dateFormat: String?
    public var delimiter: String
    public var header: Bool
    public var calibrationEnd: CivilDate
    public var observationEnd: CivilDate?
    /// `week` (days / 7, as the published work) or `day`.
    public var timeUnit: String
    public var horizonMonths: Int
    public var discountRate: Double
    public var out: String?
    public var threads: Int

    public init(transactions: String, customer: String, date: String, amount: String, dateFormat: String?, delimiter: String,
                header: Bool, calibrationEnd: CivilDate, observationEnd: CivilDate?, timeUnit: String, horizonMonths: Int,
                discountRate: Double, out: String?, threads: Int) {
        (self.transactions, self.customer, self.date, self.amount, self.dateFormat) = (transactions, customer, date, amount, dateFormat)
        (self.delimiter, self.header, self.calibrationEnd, self.observationEnd) = (delimiter, header, calibrationEnd, observationEnd)
        (self.timeUnit, self.horizonMonths, self.discountRate, self.out, self.threads) = (timeUnit, horizonMonths, discountRate, out, threads)
    }
}

public enum CLVCommand {
    /// Returns the one-line JSON result; warnings and rejected rows go to `warn`.
    /// - Throws: `CVMFailure` (64 usage, 66 input, 74 output) with a message saying what to do.
    public static func run(_ req: CLVRequest, warn: (String) -> Void) throws -> String {
        guard ["week", "day"].contains(req.timeUnit) else {
            throw CVMFailure(.usage, "error: --time-unit must be week or day, found \(req.timeUnit)")
        }
        if let end = req.observationEnd, end <= req.calibrationEnd {
            throw CVMFailure(.usage, "error: --observation-end \(end) must be after --calibration-end \(req.calibrationEnd)")
        }
        if !req.header {
            for (name, v) in [("--customer", req.customer), ("--date", req.date), ("--amount", req.amount)] where Int(v) == nil {
                throw CVMFailure(.usage, "error: \(name) \"\(v)\": without a header, columns are 1-based positions")
            }
        }
        guard FileManager.default.fileExists(atPath: req.transactions) else {
            throw CVMFailure(.noInput, "\(req.transactions): error: no such file; check the path")
        }
        var source = SourceSpec(name: "transactions", files: [req.transactions], columns: [
            ("customer", ColumnDecl(.string, from: req.customer, required: true)),
            ("date", ColumnDecl(.date, from: req.date, format: req.dateFormat)),
            ("amount", ColumnDecl(.double, from: req.amount)),
        ])
        source.header = req.header
        source.delimiter = req.delimiter
        if let f = req.dateFormat, TimeFormat(f) == nil {
            throw CVMFailure(.usage, "error: --date-format \"\(f)\" is not supported (use fields yyyy, MM, dd)")
        }
        let extracted = try Extractor.extract(source, files: [req.transactions], threads: req.threads)
        for r in extracted.rejects.prefix(5) { warn("\(r.file):\(r.line): warning: row skipped (\(r.rule)): \(r.reason)") }
        if extracted.rejects.count > 5 { warn("warning: \(extracted.rejects.count) rows skipped in all") }
        let t = extracted.table
        let c = t["customer"]!, d = t["date"]!, a = t["amount"]!
        let rows = (0..<t.rowCount).filter { c.isValid($0) && d.isValid($0) }
        let summary = CalibrationSummary(
            customer: rows.map { c.string(at: $0)! }, day: rows.map { d.int64(at: $0)! }, amount: rows.map { a.double(at: $0) ?? 0 },
            calibrationEnd: req.calibrationEnd.daysSinceEpoch, observationEnd: req.observationEnd?.daysSinceEpoch,
            unitDays: req.timeUnit == "week" ? 7 : 1)
        guard !summary.histories.isEmpty else {
            throw CVMFailure(.noInput, "\(req.transactions): error: no customer made a purchase on or before \(req.calibrationEnd)")
        }
        let unit = req.timeUnit == "week" ? 7.0 : 1.0
        let unitsPerMonth = req.timeUnit == "week" ? 4.345 : 30.0
        let holdoutUnits = req.observationEnd.map { Double($0.daysSinceEpoch - req.calibrationEnd.daysSinceEpoch) / unit }
        let fit = CLVFit(summary, horizonUnits: holdoutUnits ?? Double(req.horizonMonths) * unitsPerMonth, months: req.horizonMonths,
                         monthlyDiscount: req.discountRate, unitsPerMonth: unitsPerMonth)
        for w in fit.warnings { warn("warning: \(w)") }
        if let out = req.out {
            var csv = "customer_id,frequency,recency,T,monetary,frequency_holdout,p_alive,expected_purchases,expected_avg_value,clv\n"
            for i in summary.histories.indices {
                let h = summary.histories[i]
                csv += [summary.customers[i], formatDouble(h.x), "\(h.tx)", "\(h.T)", "\(h.monetary)", formatDouble(summary.holdout[i]),
                        "\(fit.probabilityAlive[i])", "\(fit.expectedPurchases[i])", "\(fit.expectedAverageValue[i])", "\(fit.clv[i])"]
                    .joined(separator: ",") + "\n"
            }
            do { try csv.write(toFile: out, atomically: true, encoding: .utf8) } catch {
                throw CVMFailure(.ioError, "\(out): error: cannot write: \(error.localizedDescription)")
            }
        }
        let b = fit.bgnbd.model, g = fit.gammaGamma.model
        var json = "{\"customers\":\(summary.histories.count),\"repeat_customers\":\(summary.histories.filter { $0.x > 0 }.count)"
        json += ",\"bgnbd\":{\"r\":\(b.r),\"alpha\":\(b.alpha),\"a\":\(b.a),\"b\":\(b.b),\"log_likelihood\":\(fit.bgnbd.logLikelihood)}"
        json += ",\"gamma_gamma\":{\"p\":\(g.p),\"q\":\(g.q),\"v\":\(g.gamma)}"
        if req.observationEnd != nil {
            json += ",\"holdout\":{\"predicted_repeat_transactions\":\(fit.expectedPurchases.reduce(0, +)),\"actual_repeat_transactions\":\(formatDouble(summary.holdout.reduce(0, +)))}"
        }
        return json + "}"
    }
}

import CVMCore
import Foundation
@testable import Report
import TestSupport
import Testing

func sampleSummary(status: String = "succeeded") -> RunSummary {
    RunSummary(
        pipeline: "demo", runID: "r1", asOf: "2026-06-30", status: status, exitCode: status == "succeeded" ? 0 : 65,
        startedAt: "2026-07-01T02:00:00Z", endedAt: "2026-07-01T02:00:05Z", durationSeconds: 5.25, configHash: "abc",
        threads: 2,
        stages: [StageSummary(name: "extract", status: "succeeded", durationSeconds: 1.5, rowsIn: 100, rowsOut: 98, rowsRejected: 2)],
        sources: [SourceSummary(name: "orders", files: 3, bytes: 2048, rowsRead: 100, rowsAccepted: 98, rowsRejected: 2,
                                rejectsByRule: [RuleCount(rule: "parse", count: 2)])],
        kpis: [KPI(name: "revenue", value: 1234567.891, unit: "currency"), KPI(name: "top20_revenue_share", value: 0.7405, unit: nil)],
        warehouse: "/data/cvm.sqlite", message: nil)
}

func customerValue(_ segments: [String]) -> Table {
    let n = segments.count
    return Table(name: "customer_value", columns: [
        Column("customer_id", strings: (0..<n).map { "C\($0)" }),
        Column("monetary", double: (0..<n).map { Double(($0 + 1) * ($0 + 1)) }),
        Column("r_score", .int, int64: (0..<n).map { Int64($0 % 5 + 1) }),
        Column("f_score", .int, int64: (0..<n).map { Int64(($0 / 5) % 5 + 1) }),
        Column("rfm_segment", strings: segments),
        Column("lifecycle_stage", strings: (0..<n).map { $0 % 2 == 0 ? "active" : "churned" }),
    ])
}

struct FormatTests {
    @Test func numbersAreFormattedForPeople() {
        #expect(Format.money(1234567.891) == "1,234,567.89")
        #expect(Format.money(-5.5) == "-5.50")
        // A value that is not a number never crashes the report.
        #expect(Format.money(.nan) == "n/a")
        #expect(Format.money(-.infinity) == "n/a")
        #expect(Format.percent(.nan) == "n/a")
        #expect(Format.thousands(999) == "999")
        #expect(Format.thousands(1000) == "1,000")
        #expect(Format.percent(0.2345) == "23.5%")
        #expect(Format.percent(1) == "100.0%")
    }
}

struct SchedulerOutputTests {
    @Test func summaryJSONRoundTripsAndIsStable() throws {
        let s = sampleSummary()
        let a = try ReportWriter.summaryJSON(s), b = try ReportWriter.summaryJSON(s)
        #expect(a == b)
        #expect(try JSONDecoder().decode(RunSummary.self, from: Data(a.utf8)) == s)
        #expect(a.contains("\"asOf\" : \"2026-06-30\""))
    }

    @Test func metricsFollowTheTextfileCollectorConvention() {
        let m = ReportWriter.prometheusMetrics(sampleSummary(), lastSuccessTimestamp: nil)
        let expected = """
        # HELP cvm_run_duration_seconds Wall-clock duration of the last cvm run.
        # TYPE cvm_run_duration_seconds gauge
        cvm_run_duration_seconds{pipeline="demo"} 5.25
        # HELP cvm_run_status 1 when the last run succeeded, 0 when it failed.
        # TYPE cvm_run_status gauge
        cvm_run_status{pipeline="demo"} 1
        # HELP cvm_run_exit_code Exit code of the last run (sysexits).
        # TYPE cvm_run_exit_code gauge
        cvm_run_exit_code{pipeline="demo"} 0
        # HELP cvm_stage_duration_seconds Duration of each stage in the last run.
        # TYPE cvm_stage_duration_seconds gauge
        cvm_stage_duration_seconds{pipeline="demo",stage="extract"} 1.5
        # HELP cvm_rows_total Rows read per source in the last run, by outcome.
        # TYPE cvm_rows_total gauge
        cvm_rows_total{pipeline="demo",source="orders",outcome="accepted"} 98
        cvm_rows_total{pipeline="demo",source="orders",outcome="rejected"} 2
        # HELP cvm_last_success_timestamp_seconds End time of the last successful run (Unix seconds).
        # TYPE cvm_last_success_timestamp_seconds gauge
        cvm_last_success_timestamp_seconds{pipeline="demo"} 1782871205

        """
        #expect(m == expected)
    }

    @Test func aFailedRunCarriesTheLastSuccessTime() throws {
        let dir = try makeTemporaryDirectory("report")
        _ = try ReportWriter.write(ReportInputs(summary: sampleSummary(), customerValue: nil, clusterProfiles: nil, quarantine: nil,
                                                paretoSummary: nil, dataQuality: nil), to: dir)
        _ = try ReportWriter.write(ReportInputs(summary: sampleSummary(status: "failed"), customerValue: nil, clusterProfiles: nil,
                                                quarantine: nil, paretoSummary: nil, dataQuality: nil), to: dir)
        let m = try String(contentsOfFile: "\(dir)/metrics.prom", encoding: .utf8)
        #expect(m.contains("cvm_run_status{pipeline=\"demo\"} 0"))
        #expect(m.contains("cvm_last_success_timestamp_seconds{pipeline=\"demo\"} 1782871205"))
    }

    @Test func labelValuesAreEscaped() {
        var s = sampleSummary()
        s.pipeline = "a\"b\\c"
        #expect(ReportWriter.prometheusMetrics(s, lastSuccessTimestamp: nil).contains("pipeline=\"a\\\"b\\\\c\""))
    }
}

struct HTMLReportTests {
    @Test func everyChartIsAnSVGWithASizeAndDataTextIsEscaped() throws {
        let dir = try makeTemporaryDirectory("report")
        let hostile = "<script>alert(1)</script>"
        let cv = customerValue((0..<40).map { $0 % 3 == 0 ? hostile : "Champions" })
        let q = QuarantineRecord.table([QuarantineRecord(source: "orders", file: "/x/o.csv.gz", line: 7, column: 2, rule: "parse",
                                                         reason: "qty: \"<b>\" is not an integer", raw: "")])
        let files = try ReportWriter.write(ReportInputs(summary: sampleSummary(), customerValue: cv, clusterProfiles: nil, quarantine: q,
                                                        paretoSummary: nil, dataQuality: nil), to: dir)
        #expect(files.count == 3)
        let html = try String(contentsOfFile: "\(dir)/index.html", encoding: .utf8)
        #expect(!html.contains(hostile))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("\"<b>\"") && html.contains("&lt;b&gt;"))
        #expect(html.contains("o.csv.gz:7"))
        #expect(html.contains("1,234,567.89"))
        let svgs = html.components(separatedBy: "<svg ").dropFirst()
        #expect(svgs.count == 4)  // Lorenz, RFM grid, segments, lifecycle
        for svg in svgs {
            let width = svg.components(separatedBy: "width=\"").dropFirst().first?.prefix { $0.isNumber } ?? ""
            #expect((Int(width) ?? 0) > 0)
        }
        #expect(!html.contains("http://") && !html.contains("https://"))  // self-contained
    }

    @Test func theLorenzCurveIsMonotoneAndEndsAtOne() {
        let pts = Charts.lorenzPoints([5, 1, 0, 3, 3, 10, 2])
        #expect(pts.first! == (0, 0))
        #expect(pts.last!.0 == 1 && approxEqual(pts.last!.1, 1))
        for k in 1..<pts.count { #expect(pts[k].0 >= pts[k - 1].0 && pts[k].1 >= pts[k - 1].1) }
        #expect(approxEqual(pts[1].1, 10.0 / 24))
    }

    /// Each list's heading and table tags come with its rows (they did not render: rows came out with no table).
    @Test func listsHaveTheirHeadingsAndTables() throws {
        let q = QuarantineRecord.table([QuarantineRecord(source: "orders", file: "/x/o.csv.gz", line: 7, column: 2, rule: "parse",
                                                         reason: "bad quantity", raw: "")])
        let dq = Table(name: "data_quality", columns: [
            Column("source", strings: ["orders"]), Column("column", strings: ["quantity"]), Column("type", strings: ["int"]),
            Column("null_share", double: [0]), Column("distinct", .int, int64: [3]),
            Column("min", strings: ["1"]), Column("p50", strings: ["2"]), Column("max", strings: ["9"]),
        ])
        let base = customerValue(Array(repeating: "Champions", count: 12))
        let cv = Table(name: base.name, columns: base.columns + [Column("clv", double: (0..<12).map { Double($0) * 10 })])
        let html = try ReportWriter.renderHTML(ReportInputs(summary: sampleSummary(), customerValue: cv, clusterProfiles: nil,
                                                            quarantine: q, paretoSummary: nil, dataQuality: dq))
        for heading in ["Top customers by CLV", "Rejected rows: examples", "Data quality profile"] {
            #expect(html.contains("<h2>\(heading)</h2>"), "\(heading)")
        }
        #expect(html.contains("<th>min</th><th>median</th><th>max</th></tr></thead><tbody>"))
        #expect(html.contains("<td>orders</td><td>quantity</td><td>int</td><td class=\"num\">0.0%</td><td class=\"num\">3</td><td>1</td><td>2</td><td>9</td></tr>"))
        // As many tables open as close.
        #expect(html.components(separatedBy: "<table>").count == html.components(separatedBy: "</table>").count)
    }

    /// A CLV that was not computed is not 0.00 with P(alive) 0.0% ("certainly churned"): without any CLV the table
    /// is left out, and a missing value reads n/a.
    @Test func missingCLVIsNotZero() throws {
        let base = customerValue(["Champions", "Loyal"])
        func html(_ clv: [Double], _ valid: [Bool]) throws -> String {
            let cv = Table(name: base.name, columns: base.columns + [
                Column("clv", double: clv, validity: valid), Column("p_alive", double: clv, validity: valid),
            ])
            return try ReportWriter.renderHTML(ReportInputs(summary: sampleSummary(), customerValue: cv, clusterProfiles: nil,
                                                            quarantine: nil, paretoSummary: nil, dataQuality: nil))
        }
        #expect(try !html([0, 0], [false, false]).contains("Top customers by CLV"))
        let some = try html([120, 0], [true, false])
        #expect(some.contains("<td><code>C1</code></td><td>Loyal</td><td>churned</td><td class=\"num\">n/a</td><td class=\"num\">n/a</td>"), "\(some)")
    }

    @Test func degradesWhenTablesAreAbsent() throws {
        let html = try ReportWriter.renderHTML(ReportInputs(summary: sampleSummary(), customerValue: nil, clusterProfiles: nil,
                                                            quarantine: nil, paretoSummary: nil, dataQuality: nil))
        #expect(html.contains("<h1>Customer value report: demo</h1>"))
        #expect(!html.contains("<svg"))
        #expect(!html.contains("Data quality profile") && !html.contains("Top customers by CLV"))
    }
}

import Foundation
import TestSupport
import Testing

/// `cvm validate --sample N`: the first rows of every source read and checked like a run, without a warehouse.
struct ValidateSampleTests {
    /// Order statuses that no `features.statuses` list names (they would count as completed) are shown with their
    /// line counts: Shopify's, without the config's lists.
    @Test func theSampleNamesUnlistedStatuses() throws {
        let dir = try makeTemporaryDirectory("validate-statuses")
        let config = try makePipelineConfig("shopify", in: dir)
        let listed = try runCVM(["validate", config, "--sample", "100"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(!listed.stdout.contains("status values"))
        var text = try String(contentsOfFile: config, encoding: .utf8)
        let start = try #require(text.range(of: "    statuses:\n"))
        let end = try #require(text.range(of: "    event_types:", range: start.upperBound..<text.endIndex))
        text.removeSubrange(start.lowerBound..<end.lowerBound)
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let r = try runCVM(["validate", config, "--sample", "100"])
        #expect(r.status == 0, "\(r.stderr)")
        // paid is completed and refunded returned by default; voided and partially_refunded are in no list.
        #expect(r.stdout.contains("  status values no stages.features.statuses list names (counted as completed): partially_refunded (2), voided (1)\n"), "\(r.stdout)")
    }

    @Test func theSampleCountsRejectsPerRuleWithAnExample() throws {
        let dir = try makeTemporaryDirectory("validate-sample")
        let config = try makePipelineConfig("europe", in: dir)
        let r = try runCVM(["validate", config, "--sample", "100"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("sample: customers: 4 rows from 1 file: 4 kept, 0 rejected"))
        #expect(lines.contains("sample: orders: 7 rows from 1 file: 5 kept, 2 rejected"))
        #expect(lines.contains { $0.hasPrefix("  parse: 2 (e.g. ") && $0.contains("bestellungen.csv.gz:8:8: unit_price: \"1.5\"") })
        // The first kept rows as typed values: Berlin wall-clock times in UTC, the decimal comma read, personal
        // columns masked.
        #expect(lines.contains("  row bestellungen.csv.gz:3: order_id=B-1001, line_no=1, customer_id=K-001, ordered_at=2026-06-02T07:15:00Z, sku=A-7, category=Küche, quantity=1, unit_price=1234.50, discount=0.00, status=abgeschlossen"), "\(r.stdout)")
        #expect(lines.contains("  row kunden.csv:4: customer_id=K-002, name=Zoë Béranger, email=(pseudonymised), signup_date=2026-02-11, country=FR, newsletter=false"))
        #expect(lines.filter { $0.hasPrefix("  row ") }.count == 4)
        let none = try runCVM(["validate", config, "--sample", "100", "--preview", "0"])
        #expect(!none.stdout.contains("  row "))
        // Nothing is written: no warehouse, no artifacts.
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/cvm.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/artifacts"))
        // A prefix: the first 3 orders only.
        let three = try runCVM(["validate", config, "--sample", "3"])
        #expect(three.stdout.contains("sample: orders: 3 rows from 1 file: 3 kept, 0 rejected"), "\(three.stdout)")
    }

    @Test func aSampleAboveTheErrorBudgetExits65() throws {
        let dir = try makeTemporaryDirectory("validate-sample-budget")
        let config = try makePipelineConfig("europe", in: dir)
        let strict = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "max_reject_rate: 0.5", with: "max_reject_rate: 0.1")
        try strict.write(toFile: config, atomically: true, encoding: .utf8)
        let r = try runCVM(["validate", config, "--sample", "100"])
        #expect(r.status == 65)
        #expect(r.stdout.contains("sample: orders: 7 rows from 1 file: 5 kept, 2 rejected (28.6%, above max_reject_rate 0.1)"), "\(r.stdout)")
    }

    @Test func aMisnamedHeaderIsAFileErrorOrAnEmptyColumn() throws {
        let dir = try makeTemporaryDirectory("validate-sample-header")
        let config = try makePipelineConfig("europe", in: dir)
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "from: Rabatt", with: "from: Nachlass").write(toFile: config, atomically: true, encoding: .utf8)
        let r = try runCVM(["validate", config, "--sample", "100"])
        #expect(r.status == 66)
        #expect(r.stdout.contains("sample: orders: file error: ") && r.stdout.contains("the header lacks column \"Nachlass\""), "\(r.stdout)")
        // With missing_columns: null the column reads as null, and the sample says so.
        try text.replacingOccurrences(of: "from: Rabatt", with: "from: Nachlass")
            .replacingOccurrences(of: "    comment: \"#\"", with: "    comment: \"#\"\n    missing_columns: null")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let null = try runCVM(["validate", config, "--sample", "100"])
        #expect(null.status == 0, "\(null.stdout) \(null.stderr)")
        #expect(null.stdout.contains("  no value in the sample: discount"), "\(null.stdout)")
    }

    @Test func aNegativeSampleIsAUsageError() throws {
        let dir = try makeTemporaryDirectory("validate-sample-usage")
        let config = try makePipelineConfig("europe", in: dir)
        let r = try runCVM(["validate", config, "--sample", "-1"])
        #expect(r.status == 64)
    }
}

struct EmptySnapshotTests {
    @Test func anAsOfBeforeEveryOrderIsADataErrorNamingTheAsOf() throws {
        let dir = try makeTemporaryDirectory("e2e-empty-snapshot")
        let config = try makePipelineConfig("europe", in: dir)
        let r = try runCVM(["run", config, "--as-of", "2025-01-01"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("customer_features has no customers for this snapshot"), "\(r.stderr)")
    }
}

struct ExcludeTests {
    @Test func excludedFilesAreNotRead() throws {
        let dir = try makeTemporaryDirectory("e2e-exclude")
        let config = try makePipelineConfig("europe", in: dir)
        // A second orders file that must not be read: a summary with another header.
        let data = "\(dir)/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repo.path("fixtures/europe/bestellungen.csv.gz"), toPath: "\(data)/bestellungen.csv.gz")
        try Data("not,an,orders,file\n".utf8).write(to: URL(fileURLWithPath: "\(data)/summary.csv.gz"))
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text = text.replacingOccurrences(of: Repo.path("fixtures") + "/europe/*.csv.gz", with: "\(data)/*.csv.gz")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let failing = try runCVM(["validate", config, "--sample", "10"])
        #expect(failing.status == 66, "\(failing.stdout)")
        try text.replacingOccurrences(of: "    comment: \"#\"", with: "    comment: \"#\"\n    exclude: \"**/summary*\"")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try runCVM(["validate", config, "--sample", "10"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("(2 sources, 2 input files)"))
        try text.replacingOccurrences(of: "    comment: \"#\"", with: "    comment: \"#\"\n    exclude: \"data/*.gz\"")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let all = try runCVM(["validate", config])
        #expect(all.status == 78)
        #expect(all.stderr.contains("sources.orders.exclude: excludes every file that files matches (2); nothing would be read"), "\(all.stderr)")
    }
}

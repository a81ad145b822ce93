import Foundation
import TestSupport
import Testing

/// RFC 4180 records of a CSV text (quoted fields may hold commas, quotes and newlines).
func csvRecords(_ text: String) -> [[String]] {
    var records: [[String]] = [], field = "", record: [String] = []
    var quoted = false, i = text.startIndex
    while i < text.endIndex {
        let c = text[i]
        if quoted {
            if c == "\"" {
                let next = text.index(after: i)
                if next < text.endIndex && text[next] == "\"" { field.append("\""); i = next } else { quoted = false }
            } else { field.append(c) }
        } else if c == "\"" { quoted = true
        } else if c == "," { record.append(field); field = ""
        } else if c == "\n" { record.append(field); records.append(record); (record, field) = ([], "")
        } else if c != "\r" { field.append(c) }
        i = text.index(after: i)
    }
    if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
    return records
}

/// The bad-data corpus (fixtures/bad/data, made by make_corpus.py): each defect class gives exactly
/// the outcome its manifest states: exit code, accepted rows, quarantined rows per rule and reason.
struct DefectCorpusTests {
    struct Case: Sendable, CustomStringConvertible {
        var file: String, policy: String, exit: Int32, accepted: Int?, quarantine: [String: Int], reason: String?, notes: [String]?
        var description: String { "\(file) (\(policy))" }
    }

    static let cases: [Case] = {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: Repo.path("fixtures/bad/data/manifest.json"))),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let list = json["cases"] as? [[String: Any]] else { return [] }
        return list.map { c in
            Case(file: c["file"] as! String, policy: c["policy"] as? String ?? "fail", exit: Int32(c["exit"] as! Int),
                 accepted: c["accepted"] as? Int, quarantine: c["quarantine"] as? [String: Int] ?? [:], reason: c["reason"] as? String,
                 notes: c["notes"] as? [String])
        }
    }()

    @Test func theManifestCoversEveryFile() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Repo.path("fixtures/bad/data"))
            .filter { $0.hasSuffix(".csv") || $0.hasSuffix(".gz") }.filter { $0 != "customers.csv" }
        #expect(Set(files) == Set(Self.cases.map(\.file)))
        #expect(Self.cases.count >= 18)
    }

    @Test(arguments: DefectCorpusTests.cases)
    func eachDefectHasItsExactOutcome(_ c: Case) throws {
        let dir = try makeTemporaryDirectory("corpus")
        var text = try String(contentsOfFile: Repo.path("fixtures/bad/data/template.yaml"), encoding: .utf8)
        for (a, b) in [("FOLDER", Repo.path("fixtures/bad/data")), ("FILE", c.file), ("POLICY", c.policy), ("WAREHOUSE", dir)] {
            text = text.replacingOccurrences(of: a, with: b)
        }
        try text.write(toFile: "\(dir)/pipeline.yaml", atomically: true, encoding: .utf8)
        let run = try runCVM(["run", "\(dir)/pipeline.yaml", "--until", "clean"])
        #expect(run.status == c.exit, "\(run.stderr)")
        if c.exit != 0 {
            if let reason = c.reason { #expect(run.stderr.contains(reason) && run.stderr.contains(c.file), "\(run.stderr)") }
            return
        }
        let stg = try runCVM(["export", "\(dir)/pipeline.yaml", "--table", "stg_orders"])
        let rows = csvRecords(stg.stdout).dropFirst()
        #expect(rows.count == c.accepted, "accepted rows")
        let q = try runCVM(["export", "\(dir)/pipeline.yaml", "--table", "quarantine"])
        let records = csvRecords(q.stdout)
        let header = records.first ?? []
        let ruleAt = try #require(header.firstIndex(of: "rule")), reasonAt = try #require(header.firstIndex(of: "reason"))
        let sourceAt = try #require(header.firstIndex(of: "source"))
        let mine = records.dropFirst().filter { $0[sourceAt] == "orders" }
        #expect(Dictionary(grouping: mine, by: { $0[ruleAt] }).mapValues(\.count) == c.quarantine)
        if let reason = c.reason { #expect(mine.allSatisfy { $0[reasonAt].contains(reason) }, "\(mine.map { $0[reasonAt] })") }
        if let notes = c.notes, let at = csvRecords(stg.stdout).first?.firstIndex(of: "note") {
            #expect(rows.map { $0[at] } == notes)
        }
        // Row accounting in the run ledger, in rows: read = kept + rejected, for extract and for clean. A file
        // rejected whole is one quarantine record standing for the rows read from it before the error
        // (extract_files.rows_rejected); every other record is one row.
        let wh = "\(dir)/cvm.sqlite"
        let files = csvRecords(try runCVM(["export", "\(dir)/pipeline.yaml", "--table", "extract_files"]).stdout)
        let fileHeader = files.first ?? []
        let droppedAt = try #require(fileHeader.firstIndex(of: "rows_rejected")), whyAt = try #require(fileHeader.firstIndex(of: "rejected_reason"))
        let dropped = files.dropFirst().filter { !$0[whyAt].isEmpty }.reduce(0) { $0 + Int($1[droppedAt])! }
        let rowRecords = records.dropFirst().filter { $0[ruleAt] != "file" }.count
        for stage in ["extract", "clean"] {
            let rowsIn = try #require(try scalar(wh, "SELECT rows_in FROM cvm_run_stages WHERE stage = '\(stage)'", as: Int.self))
            let rowsOut = try #require(try scalar(wh, "SELECT rows_out FROM cvm_run_stages WHERE stage = '\(stage)'", as: Int.self))
            let rejected = try #require(try scalar(wh, "SELECT rows_rejected FROM cvm_run_stages WHERE stage = '\(stage)'", as: Int.self))
            #expect(rowsIn == rowsOut + rejected, "\(stage): \(rowsIn) read, \(rowsOut) kept, \(rejected) rejected")
            if stage == "clean" { #expect(rejected == rowRecords + dropped, "clean: \(rejected) rejected, \(rowRecords) row records, \(dropped) rows in rejected files") }
        }
        if c.quarantine["file"] != nil, c.file == "truncated.csv.gz" { #expect(dropped > 0, "rows read before the truncation") }
    }
}

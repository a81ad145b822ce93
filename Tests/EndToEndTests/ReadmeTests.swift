import Foundation
import GRDB
import TestSupport
import Testing

/// The SQL the README shows analysts runs on a demo warehouse with two snapshots.
struct ReadmeSQLTests {
    @Test func everySQLBlockInTheReadmeRuns() throws {
        let readme = try String(contentsOfFile: Repo.path("README.md"), encoding: .utf8)
        let blocks = readme.components(separatedBy: "```sql\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        #expect(blocks.count >= 2)
        let dir = try makeTemporaryDirectory("e2e-readme")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config, "--as-of", "2026-05-31"]).status == 0)
        #expect(try runCVM(["run", config]).status == 0)
        let db = try DatabaseQueue(path: "\(dir)/cvm.sqlite")
        var statements = 0
        for block in blocks {
            let text = block.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }.joined(separator: "\n")
            for sql in text.components(separatedBy: ";") where !sql.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                statements += 1
                do {
                    let rows = try db.read { try Row.fetchAll($0, sql: sql) }
                    _ = rows
                } catch {
                    Issue.record("README query failed: \(error)\n\(sql)")
                }
            }
        }
        #expect(statements >= 11)
    }
}

/// Every YAML block of the README that holds a `campaigns:` section is a valid config once added to the demo
/// pipeline (the default campaigns' block failed: a plain value in `where` was refused).
struct ReadmeYAMLTests {
    @Test func theReadmeCampaignBlocksAreValidConfig() throws {
        let readme = try String(contentsOfFile: Repo.path("README.md"), encoding: .utf8)
        let blocks = readme.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
            .filter { $0.hasPrefix("campaigns:") }
        #expect(!blocks.isEmpty)
        for block in blocks {
            let dir = try makeTemporaryDirectory("readme-yaml")
            let config = try makeDemoConfig(in: dir)
            var text = try String(contentsOfFile: config, encoding: .utf8)
            text = text.components(separatedBy: "\ncampaigns:")[0] + "\n" + block
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let r = try runCVM(["validate", config])
            #expect(r.status == 0, "\(r.stderr)\n\(block)")
        }
    }
}

import CVMCore
import Pipeline
import Foundation
import GRDB
import TestSupport
import Testing

/// The whole pipeline on the demo fixtures, through the real `cvm` binary.
@Suite(.serialized)
struct EndToEndTests {
    @Test func fullRunLoadsEveryDemoCustomer() throws {
        let dir = try makeTemporaryDirectory("e2e-full")
        let config = try makeDemoConfig(in: dir)
        let r = try runCVM(["run", config, "--threads", "2"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let wh = "\(dir)/cvm.sqlite"
        let customers = try #require(try scalar(wh, "SELECT COUNT(*) FROM dim_customer", as: Int.self))
        #expect(customers > 100)
        // Every demo customer has features, a segment and scores in the snapshot.
        #expect(try scalar(wh, "SELECT COUNT(DISTINCT customer_id) FROM customer_features", as: Int.self) == customers)
        #expect(try scalar(wh, "SELECT COUNT(DISTINCT customer_id) FROM customer_value", as: Int.self) == customers)
        #expect(try scalar(wh, "SELECT COUNT(DISTINCT customer_id) FROM cluster_assignments", as: Int.self) == customers)
        #expect(try scalar(wh, "SELECT COUNT(*) FROM customer_value WHERE rfm_segment IS NULL", as: Int.self) == 0)
        // The run ledger holds the run with all seven stages.
        #expect(try scalar(wh, "SELECT status FROM cvm_runs", as: String.self) == "succeeded")
        #expect(try scalar(wh, "SELECT COUNT(*) FROM cvm_run_stages WHERE status = 'succeeded'", as: Int.self) == 7)
        // Row accounting: every order line read is either staged or quarantined.
        let read = try #require(try scalar(wh, "SELECT rows_in FROM cvm_run_stages WHERE stage = 'clean'", as: Int.self))
        let out = try #require(try scalar(wh, "SELECT rows_out FROM cvm_run_stages WHERE stage = 'clean'", as: Int.self))
        let rejected = try #require(try scalar(wh, "SELECT rows_rejected FROM cvm_run_stages WHERE stage = 'clean'", as: Int.self))
        #expect(read == out + rejected)
        #expect(try scalar(wh, "SELECT COUNT(*) FROM quarantine", as: Int.self) == rejected)
        // The stage detail (sessions, values nulled by on_invalid: null) is in the ledger as JSON.
        let detail = try #require(try scalar(wh, "SELECT detail FROM cvm_run_stages WHERE stage = 'clean'", as: String.self))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: String])
        #expect(Int(parsed["sessions"] ?? "") ?? 0 > 0, "\(detail)")
        // Personal data does not reach the warehouse in clear text.
        #expect(try scalar(wh, "SELECT COUNT(*) FROM dim_customer WHERE email LIKE '%@%'", as: Int.self) == 0)
        // The report and the scheduler files exist.
        for f in ["index.html", "summary.json", "metrics.prom"] {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/report/\(f)"), "\(f) missing")
        }
        #expect(r.stdout.contains("warehouse: \(wh)"))
    }

    @Test func onlyFeaturesRerunsFromPersistedInputsAndLeavesOtherOutputsUntouched() throws {
        let dir = try makeTemporaryDirectory("e2e-only")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config]).status == 0)
        let artifacts = "\(dir)/artifacts/2026-06-30"
        let before = try snapshotFiles(artifacts)
        let warehouseBefore = try dumpWarehouse("\(dir)/cvm.sqlite")
        // Without the extract outputs the features stage must still run: it reads clean's artifacts.
        try FileManager.default.removeItem(atPath: "\(artifacts)/extract")
        let r = try runCVM(["run", config, "--only", "features"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let after = try snapshotFiles(artifacts)
        for (path, bytes) in before where !path.hasPrefix("extract/") && !path.hasPrefix("features/") {
            #expect(after[path] == bytes, "\(path) changed")
        }
        // The features were rewritten by the new run (its manifest names another run id) with the same values.
        let oldManifest = try #require(before["features/customer_features/manifest.json"])
        let newManifest = try #require(after["features/customer_features/manifest.json"])
        #expect(oldManifest != newManifest)
        for (path, bytes) in before where path.hasPrefix("features/") && !path.hasSuffix("manifest.json") {
            #expect(after[path] == bytes, "\(path) differs after rerun")
        }
        #expect(try dumpWarehouse("\(dir)/cvm.sqlite") == warehouseBefore)
        // Without clean's outputs, --only features says what to run first (exit 66).
        try FileManager.default.removeItem(atPath: "\(artifacts)/clean")
        let missing = try runCVM(["run", config, "--only", "features"])
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("--until clean"))
    }

    @Test func sameInputsGiveTheSameWarehouseForOneAndTwoThreads() throws {
        let a = try makeTemporaryDirectory("e2e-t1"), b = try makeTemporaryDirectory("e2e-t2")
        #expect(try runCVM(["run", try makeDemoConfig(in: a), "--threads", "1"]).status == 0)
        #expect(try runCVM(["run", try makeDemoConfig(in: b), "--threads", "2"]).status == 0)
        let da = try dumpWarehouse("\(a)/cvm.sqlite"), db = try dumpWarehouse("\(b)/cvm.sqlite")
        #expect(da.keys.sorted() == db.keys.sorted())
        for (table, rows) in da {
            #expect(rows == db[table], "table \(table) differs between --threads 1 and 2")
        }
    }

    @Test func killDuringLoadLeavesThePreviousSnapshotIntact() throws {
        let dir = try makeTemporaryDirectory("e2e-kill")
        let config = try makeDemoConfig(in: dir)
        let wh = "\(dir)/cvm.sqlite"
        #expect(try runCVM(["run", config]).status == 0)
        let before = try dumpWarehouse(wh)
        // Rerun the same as-of, held open inside the load transaction, and kill it there.
        let p = try startCVM(["run", config, "--log-format", "json"], environment: ["CVM_FAULT_PAUSE_IN_LOAD": "60"])
        let deadline = Date().addingTimeInterval(120)
        var log = ""
        let handle = p.stderrPipe.fileHandleForReading
        while Date() < deadline, !log.contains("\"stage\":\"load\""), p.process.isRunning {
            log += String(decoding: handle.availableData, as: UTF8.self)
        }
        #expect(log.contains("\"stage\":\"load\""), "load never started: \(log)")
        Thread.sleep(forTimeInterval: 1.0)  // inside the transaction: the first table is written, nothing committed
        kill(p.process.processIdentifier, SIGKILL)
        p.process.waitUntilExit()
        #expect(p.process.terminationReason == .uncaughtSignal)
        #expect(try scalar(wh, "PRAGMA integrity_check", as: String.self) == "ok")
        #expect(try dumpWarehouse(wh) == before)
        // A rerun completes and gives the same warehouse.
        #expect(try runCVM(["run", config]).status == 0)
        #expect(try dumpWarehouse(wh) == before)
    }

    /// SIGTERM or SIGINT ends a run at once with 128 + the signal, recorded in the ledger as interrupted (it stayed
    /// "running" for ever); the warehouse keeps its previous snapshot.
    @Test(arguments: [SIGTERM, SIGINT])
    func aStoppedRunIsRecordedAsInterrupted(signal: Int32) throws {
        let dir = try makeTemporaryDirectory("e2e-stop")
        let config = try makeDemoConfig(in: dir)
        let wh = "\(dir)/cvm.sqlite"
        #expect(try runCVM(["run", config]).status == 0)
        let before = try dumpWarehouse(wh)
        let p = try startCVM(["run", config, "--log-format", "json"], environment: ["CVM_FAULT_PAUSE_AT_STAGE": "features:60"])
        let deadline = Date().addingTimeInterval(120)
        var log = ""
        while Date() < deadline, !log.contains("\"stage\":\"features\""), p.process.isRunning {
            log += String(decoding: p.stderrPipe.fileHandleForReading.availableData, as: UTF8.self)
        }
        kill(p.process.processIdentifier, signal)
        p.process.waitUntilExit()
        #expect(p.process.terminationStatus == 128 + signal)
        let row = try DatabaseQueue(path: wh).read { try Row.fetchOne($0, sql: "SELECT status, exit_code, message FROM cvm_runs ORDER BY rowid DESC LIMIT 1") }
        #expect(row?["status"] as String? == "interrupted")
        #expect(row?["exit_code"] as Int? == Int(128 + signal))
        #expect((row?["message"] as String?)?.hasPrefix("stopped by SIG") == true)
        #expect(try dumpWarehouse(wh) == before)
    }

    @Test func secondRunOnTheSameWarehouseIsRefusedWithExit75() throws {
        let dir = try makeTemporaryDirectory("e2e-lock")
        let config = try makeDemoConfig(in: dir)
        let first = try startCVM(["run", config, "--log-format", "json"], environment: ["CVM_FAULT_PAUSE_IN_LOAD": "60"])
        defer { kill(first.process.processIdentifier, SIGKILL); first.process.waitUntilExit() }
        var log = ""
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !log.contains("\"stage\":\"load\""), first.process.isRunning {
            log += String(decoding: first.stderrPipe.fileHandleForReading.availableData, as: UTF8.self)
        }
        let second = try runCVM(["run", config])
        #expect(second.status == 75)
        #expect(second.stderr.contains("another cvm run holds the lock"))
        #expect(second.stderr.contains("try again later"))
    }

    /// A backfill for an earlier as-of date on today's files gives exactly the features that date would have had
    /// (the run on only the files that existed then).
    @Test func backfilledFeaturesArePointInTimeCorrect() throws {
        let asOf = "2026-06-15"
        let full = try makeTemporaryDirectory("e2e-pit-full"), past = try makeTemporaryDirectory("e2e-pit-past")
        // The shop as it was on 2026-06-15: files up to that day (orders daily, events hourly).
        let data = "\(past)/data"
        let fm = FileManager.default
        let demo = Repo.path("fixtures/demo")
        for rel in try fm.subpathsOfDirectory(atPath: demo) where rel.hasSuffix(".csv.gz") {
            let day = rel.contains("orders-") ? String(rel.suffix(17).prefix(10)) : (rel.hasPrefix("events/") ? String(rel.dropFirst(7).prefix(10)) : "")
            if !day.isEmpty && day > asOf { continue }
            let target = "\(data)/\(rel)"
            try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: target, withDestinationPath: "\(demo)/\(rel)")
        }
        let fullConfig = try makeDemoConfig(in: full)
        var text = try String(contentsOfFile: try makeDemoConfig(in: past), encoding: .utf8)
        text = text.replacingOccurrences(of: demo + "/", with: data + "/")
        try text.write(toFile: "\(past)/pipeline.yaml", atomically: true, encoding: .utf8)
        #expect(try runCVM(["run", fullConfig, "--as-of", asOf, "--until", "features"]).status == 0)
        #expect(try runCVM(["run", "\(past)/pipeline.yaml", "--as-of", asOf, "--until", "features"]).status == 0)
        let a = try runCVM(["export", fullConfig, "--as-of", asOf, "--table", "customer_features"])
        let b = try runCVM(["export", "\(past)/pipeline.yaml", "--as-of", asOf, "--table", "customer_features"])
        #expect(a.status == 0 && b.status == 0)
        #expect(a.stdout.split(separator: "\n").count > 300)
        #expect(a.stdout == b.stdout, "features differ between the backfill and the run on the files of the day")
    }

    @Test func theFeatureCatalogPrintsAsTableCSVAndJSON() throws {
        let dir = try makeTemporaryDirectory("e2e-cat")
        let config = try makeDemoConfig(in: dir)
        let missing = try runCVM(["features", config])
        #expect(missing.status == 66)
        #expect(try runCVM(["run", config, "--until", "features"]).status == 0)
        let csv = try runCVM(["features", config, "--format", "csv"])
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first == "name,family,description,type,window_days,unit,source_columns,fill")
        #expect(lines.count > 250)
        #expect(lines.contains { $0.hasPrefix("revenue_sum_90d,orders,") })
        let json = try runCVM(["features", config, "--format", "json"])
        let first = try #require(json.stdout.split(separator: "\n").first)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(obj["name"] as? String == "recency_days")
        let table = try runCVM(["features", config])
        #expect(table.stdout.hasPrefix("name"))
        #expect(table.stdout.hasSuffix("\(lines.count - 1) features\n"))
        #expect(try runCVM(["features", config, "--format", "xml"]).status == 64)
    }

    @Test func usageErrorsExit64() throws {
        let bad = try runCVM(["run", "pipelines/demo.yaml", "--as-of", "2026-02-30"])
        #expect(bad.status == 64)
        #expect(bad.stderr == "error: --as-of \"2026-02-30\" is not a valid date; write YYYY-MM-DD\n")
        #expect(try runCVM(["run", "pipelines/demo.yaml", "--only", "features", "--from", "clean"]).status == 64)
        #expect(try runCVM(["run", "pipelines/demo.yaml", "--threads", "0"]).status == 64)
        // Values that crashed a command (exit 132) or were taken silently: each is a usage error naming the option.
        for (args, option) in [(["export", "pipelines/demo.yaml", "--table", "quarantine", "--limit=-1"], "--limit"),
                               (["generate", "--seed", "1", "--out", "/nonexistent/x", "--days", "0"], "--days"),
                               (["generate", "--seed", "1", "--out", "/nonexistent/x", "--customers=-5"], "--customers"),
                               (["generate", "--seed", "1", "--out", "/nonexistent/x", "--threads=-2"], "--threads"),
                               (["runs", "--warehouse", "x.sqlite", "--limit", "0"], "--limit"),
                               (["kmeans", "--input", "x.csv", "--k", "2", "--threads=-1"], "--threads"),
                               (["clv", "--transactions", "t.csv", "--customer", "c", "--date", "d", "--amount", "a",
                                 "--calibration-end", "2026-01-01", "--discount-rate", "nan"], "--discount-rate"),
                               (["clv", "--transactions", "t.csv", "--customer", "c", "--date", "d", "--amount", "a",
                                 "--calibration-end", "2026-01-01", "--horizon-months=-3"], "--horizon-months")] {
            let r = try runCVM(args)
            #expect(r.status == 64 && r.stderr.hasPrefix("Error: \(option) must be"), "\(args): \(r.status) \(r.stderr)")
        }
        // Logging JSON lines, a usage error is a JSON line too (it was plain text).
        let json = try runCVM(["run", "pipelines/demo.yaml", "--threads", "0", "--log-format", "json"])
        let obj = try JSONSerialization.jsonObject(with: Data(json.stderr.utf8)) as? [String: Any]
        #expect(json.status == 64 && obj?["exit_code"] as? Int == 64 && (obj?["msg"] as? String ?? "").contains("--threads must be at least 1"), "\(json.stderr)")
        #expect(try runCVM(["run", "--help", "--log-format", "json"]).status == 0)
        let file = try makeTemporaryDirectory("e2e-gen") + "/a-file"
        try Data().write(to: URL(fileURLWithPath: file))
        let onFile = try runCVM(["generate", "--preset", "demo", "--seed", "1", "--out", file])
        #expect(onFile.status == 74 && onFile.stderr == "\(file): error: --out names a file, not a folder; choose a folder (it is created when missing)\n")
        let missing = try runCVM(["validate", "pipelines/nope.yaml"])
        #expect(missing.status == 66)
        #expect(missing.stderr == "pipelines/nope.yaml: error: no such config file; check the path\n")
    }

    /// What a killed run leaves (its ledger row "running", a stage folder half built, a stage folder moved aside
    /// between the two renames of a commit) is tidied by the next run, which holds the lock.
    @Test func theNextRunTidiesWhatAKilledRunLeft() throws {
        let dir = try makeTemporaryDirectory("e2e-killed")
        let config = try makeDemoConfig(in: dir)
        let first = try runCVM(["run", config, "--until", "value"])
        try #require(first.status == 0, "\(first.stderr)")
        let day = "\(dir)/artifacts/2026-06-30", fm = FileManager.default
        try fm.createDirectory(atPath: "\(day)/clean.tmp-20260101T000000Z-0000dead/x", withIntermediateDirectories: true)
        try fm.moveItem(atPath: "\(day)/features", toPath: "\(day)/features.old-20260101T000000Z-0000dead-1a2b3c4d")
        let db = try DatabaseQueue(path: "\(dir)/cvm.sqlite")
        try db.write { try $0.execute(sql: "INSERT INTO cvm_runs (run_id, pipeline, config_hash, as_of, started_at, status, threads) VALUES ('20260101T000000Z-0000dead', 'demo', 'x', '2026-06-30', '2026-01-01T00:00:00Z', 'running', 2)") }
        try db.close()
        let next = try runCVM(["run", config, "--only", "value"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("marked interrupted in the ledger"), "\(next.stderr)")
        #expect(try fm.contentsOfDirectory(atPath: day).sorted() == ["clean", "cluster", "extract", "features", "value"])
        let status = try DatabaseQueue(path: "\(dir)/cvm.sqlite").read {
            try String.fetchOne($0, sql: "SELECT status FROM cvm_runs WHERE run_id = '20260101T000000Z-0000dead'")
        }
        #expect(status == "interrupted")
        #expect(try runCVM(["runs", "--warehouse", "\(dir)/cvm.sqlite"]).stdout.contains("interrupted"))
    }

    @Test func aMissingPseudonymKeyRefusesTheRunWithExit78() throws {
        let dir = try makeTemporaryDirectory("e2e-key")
        let config = try makeDemoConfig(in: dir)
        let r = try runCVM(["run", config], environment: ["CVM_PSEUDONYM_KEY": ""])
        #expect(r.status == 78)
        #expect(r.stderr.contains("privacy.key_env: the environment variable CVM_PSEUDONYM_KEY is not set"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/cvm.sqlite"))  // refused before any work
    }

    /// The key is needed only for columns that reach the warehouse: a shop whose sources declare no `email` runs
    /// without one (the default list names `email`); a name listed in the config that no source declares is warned about.
    @Test func aShopWithoutPersonalColumnsRunsWithoutAKey() throws {
        let dir = try makeTemporaryDirectory("e2e-nokey")
        let config = try makePipelineConfig("europe", in: dir)
        let text = try String(contentsOfFile: config, encoding: .utf8)
        let withoutEmail = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("email: {type") }
        #expect(withoutEmail.count == text.split(separator: "\n", omittingEmptySubsequences: false).count - 1)
        try withoutEmail.joined(separator: "\n").write(toFile: config, atomically: true, encoding: .utf8)
        let r = try runCVM(["run", config], environment: ["CVM_PSEUDONYM_KEY": ""])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderr.contains("privacy.pseudonymize: no source declares a column \"email\""))
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM dim_customer", as: Int.self) == 4)
    }

    /// Extract queues each source's raw table for writing as soon as it is read; when a later source fails, the
    /// parts already queued are dropped: the stage's older artifacts stay whole and no partial folder is left.
    @Test func aSourceFailingAfterOthersWereQueuedLeavesTheOlderExtractWhole() throws {
        let dir = try makeTemporaryDirectory("e2e-extract-parts")
        let events = "\(dir)/events"
        try FileManager.default.copyItem(atPath: Repo.path("fixtures/demo/events"), toPath: events)
        let config = try makeDemoConfig(in: dir, edits: [(Repo.path("fixtures") + "/demo/events/", events + "/")])
        let first = try runCVM(["run", config, "--until", "extract"])
        #expect(first.status == 0, "stderr: \(first.stderr)")
        let day = "\(dir)/artifacts/2026-06-30"
        let before = try snapshotFiles("\(day)/extract")
        #expect(before["raw_customers/manifest.json"] != nil && before["raw_orders/manifest.json"] != nil)
        // The last events file cut short (a truncated gzip), read after customers and orders were queued.
        let last = try #require(try FileManager.default.subpathsOfDirectory(atPath: events).filter { $0.hasSuffix(".gz") }.sorted().last)
        let url = URL(fileURLWithPath: "\(events)/\(last)")
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count / 2).write(to: url)
        let r = try runCVM(["run", config, "--until", "extract"])
        #expect(r.status == 66, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(last), "\(r.stderr)")
        #expect(try snapshotFiles("\(day)/extract") == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: day) == ["extract"])
    }

    /// A snapshot's values do not depend on which other snapshots were computed before it: 06-30 after 06-15 and
    /// 06-30 alone give the same customer_value (lifecycle stages included; `reactivated` used to read the previous
    /// snapshot, so a backfill order changed it).
    @Test func aSnapshotIsTheSameWhateverWasComputedBeforeIt() throws {
        var exports: [String] = []
        for days in [["2026-06-15", "2026-06-30"], ["2026-06-30"]] {
            let dir = try makeTemporaryDirectory("e2e-order")
            let config = try makeDemoConfig(in: dir)
            for day in days {
                let r = try runCVM(["run", config, "--as-of", day, "--until", "value"])
                #expect(r.status == 0, "\(r.stderr)")
            }
            let e = try runCVM(["export", config, "--table", "customer_value", "--as-of", "2026-06-30"])
            #expect(e.status == 0)
            exports.append(e.stdout)
        }
        #expect(exports[0] == exports[1])
        #expect(exports[0].contains(",reactivated,"))
    }

    /// Clean rerun alone reads extract's persisted tables only when they match the config: a column declared
    /// since, or one whose type changed, asks for a new extract (its rules were skipped without a word).
    /// `--only report` with no value stage for the as-of date is a missing input (exit 66), and leaves the report
    /// folder alone (it wrote an empty report over the last one).
    @Test func onlyReportWithoutAValueStageExits66() throws {
        let dir = try makeTemporaryDirectory("e2e-only-report")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config, "--until", "clean"]).status == 0)
        let r = try runCVM(["run", config, "--only", "report"])
        #expect(r.status == 66, "\(r.stderr)")
        #expect(r.stderr.contains("no persisted table customer_value from stage value"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/report/index.html"))
    }

    @Test func cleanFromPersistedExtractOfAnotherConfigExits66() throws {
        let dir = try makeTemporaryDirectory("e2e-stale-extract")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config, "--until", "extract"]).status == 0)
        let original = try String(contentsOfFile: config, encoding: .utf8)
        try original.replacingOccurrences(of: "quantity: {type: int", with: "quantity: {type: decimal")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try runCVM(["run", config, "--from", "clean", "--until", "clean"])
        #expect(r.status == 66, "\(r.stderr)")
        #expect(r.stderr.contains("error: the extract outputs for as-of 2026-06-30 were built with other settings than the config has now: sources.orders.columns.quantity.type (int there, decimal now); run again from extract"), "\(r.stderr)")
        // Outputs of a cvm that recorded no settings are still checked by their columns' types.
        try FileManager.default.removeItem(atPath: "\(dir)/artifacts/2026-06-30/extract/SETTINGS")
        let older = try runCVM(["run", config, "--from", "clean", "--until", "clean"])
        #expect(older.status == 66 && older.stderr.contains("error: sources.orders: the persisted extract of orders for as-of 2026-06-30 was made with another config (quantity is int there, decimal in the config)"), "\(older.stderr)")
        // With the config it was made with, clean runs from it.
        try original.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try runCVM(["run", config, "--from", "clean", "--until", "clean"]).status == 0)
    }

    @Test func exceedingTheRejectBudgetExits65AndKeepsTheQuarantine() throws {
        let dir = try makeTemporaryDirectory("e2e-budget")
        let config = try makeDemoConfig(in: dir, edits: [("max_reject_rate: 0.05", "max_reject_rate: 0.0001")])
        let r = try runCVM(["run", config])
        #expect(r.status == 65, "stderr: \(r.stderr)")
        #expect(r.stderr.contains("sources.orders.max_reject_rate"))
        // Printed once: the stage's log line says it failed and with what code (it repeated the message).
        #expect(r.stderr.components(separatedBy: "is not a valid timestamp").count == 2, "\(r.stderr)")
        #expect(r.stderr.contains("[clean] failed exit_code=65"), "\(r.stderr)")
        // The top failing rules, most rows first, each with an example file, line and reason.
        #expect(r.stderr.contains("(28 of 5912; parse 15, e.g. orders-"), "\(r.stderr)")
        #expect(r.stderr.contains("is not a valid timestamp"))
        // With the example line as read.
        #expect(r.stderr.contains("(format iso8601) in \"O"), "\(r.stderr)")
        // The quarantine is inspectable after the failure.
        let q = try runCVM(["export", config, "--table", "quarantine", "--limit", "3"])
        #expect(q.status == 0)
        #expect(q.stdout.hasPrefix("source,file,line,column,rule,reason,raw\n"))
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT status FROM cvm_runs", as: String.self) == "failed")
        // The failed clean's counts are in the ledger (they were zeros), and they add up.
        let counts = try #require(try scalar("\(dir)/cvm.sqlite", "SELECT rows_in || ' ' || rows_out || ' ' || rows_rejected FROM cvm_run_stages WHERE stage = 'clean' AND status = 'failed'", as: String.self))
        let n = counts.split(separator: " ").compactMap { Int($0) }
        #expect(n.count == 3 && n[0] > 0 && n[0] == n[1] + n[2] && n[2] >= 28, "\(counts)")
        #expect(q.stderr.contains("note: quarantine is from a run whose clean stage failed its data-quality checks"), "\(q.stderr)")
        // A stage rerun alone does not go on from the failed clean's tables (it did: the snapshot was loaded).
        for selection in [["--only", "features"], ["--from", "features"]] {
            let later = try runCVM(["run", config] + selection)
            #expect(later.status == 65, "\(selection): \(later.stderr)")
            #expect(later.stderr.contains("error: the clean outputs for as-of 2026-06-30 come from a run that failed its data-quality checks"), "\(later.stderr)")
        }
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT count(*) FROM cvm_runs WHERE status = 'succeeded'", as: Int.self) == 0)
        // Logging JSON lines, the error is a JSON line too (it was a plain-text line after the log).
        let json = try runCVM(["run", config, "--until", "clean", "--log-format", "json"])
        #expect(json.status == 65)
        let lines = json.stderr.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) is [String: Any] }, "\(json.stderr)")
        let last = try #require(try JSONSerialization.jsonObject(with: Data((lines.last ?? "").utf8)) as? [String: Any])
        #expect(last["exit_code"] as? Int == 65 && (last["msg"] as? String ?? "").contains("sources.orders.max_reject_rate"), "\(last)")
        // With the budget met, the run from clean on clears the mark.
        let fixed = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "max_reject_rate: 0.0001", with: "max_reject_rate: 0.05")
        try fixed.write(toFile: config, atomically: true, encoding: .utf8)
        let again = try runCVM(["run", config, "--from", "clean", "--until", "features"])
        #expect(again.status == 0, "\(again.stderr)")
    }

    /// Another connection holding the warehouse in a write transaction past the busy timeout (10 s) is exit 75,
    /// try again later, naming the cause (it was 74, "check free space and permissions").
    @Test func aWarehouseLockedByAnotherConnectionExits75() throws {
        let dir = try makeTemporaryDirectory("e2e-busy")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config, "--until", "extract"]).status == 0)
        let db = try DatabaseQueue(path: "\(dir)/cvm.sqlite")
        var r: ProcessResult?
        try db.inTransaction(.immediate) { _ in
            r = try runCVM(["run", config, "--until", "extract"])
            return .rollback
        }
        let run = try #require(r)
        #expect(run.status == 75, "\(run.stderr)")
        #expect(run.stderr.contains("the warehouse is locked by another connection"), "\(run.stderr)")
    }

    /// A stage run alone does not combine outputs of different runs: after clean ran again, `--only load` loaded the
    /// new clean tables with the old features, clusters and scores under one run id. It now names the stage to run
    /// from (exit 66); running from there agrees again.
    @Test func stagesRunAloneDoNotMixOutputsOfDifferentRuns() throws {
        let dir = try makeTemporaryDirectory("e2e-lineage")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config]).status == 0)
        #expect(try runCVM(["run", config, "--only", "load"]).status == 0)   // the same line of runs: fine
        #expect(try runCVM(["run", config, "--until", "clean"]).status == 0)
        for selection in [["--only", "load"], ["--from", "cluster"]] {
            let r = try runCVM(["run", config] + selection)
            #expect(r.status == 66, "\(selection): \(r.stderr)")
            #expect(r.stderr.contains("error: the features outputs for as-of 2026-06-30 were built from the clean outputs of run "), "\(selection): \(r.stderr)")
            #expect(r.stderr.contains("--from features"), "\(r.stderr)")
        }
        // The report reads no features, but its scores were built from the old ones (it passed).
        let report = try runCVM(["run", config, "--only", "report"])
        #expect(report.status == 66 && report.stderr.contains("--from features"), "\(report.stderr)")
        #expect(try runCVM(["run", config, "--from", "features"]).status == 0)
        #expect(try runCVM(["run", config, "--only", "load"]).status == 0)
        // features alone, then value alone (value reads features only: fine), then the load: the clusters it loads
        // were built from the earlier features.
        #expect(try runCVM(["run", config, "--only", "features"]).status == 0)
        #expect(try runCVM(["run", config, "--only", "value"]).status == 0)
        let load = try runCVM(["run", config, "--only", "load"])
        #expect(load.status == 66 && load.stderr.contains("the cluster outputs for as-of 2026-06-30 were built from the features outputs of run "), "\(load.stderr)")
    }

    /// A stage run alone refuses outputs built with settings the config has changed since (`StageSettings`): a
    /// `divide_by: 100` added after extract left `--from clean` reading amounts a hundred times too big, a tighter
    /// `max` left `--from features` building on rows the rule now rejects. Budgets and layout change no table.
    @Test func stagesRunAloneRefuseOutputsBuiltWithOtherSettings() throws {
        let dir = try makeTemporaryDirectory("e2e-settings")
        let price = "unit_price: {type: decimal, scale: 2, required: true, min: 0}"
        let quantity = "quantity: {type: int, required: true, min: 1, max: 1000}"
        var config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config]).status == 0)
        // An extract setting: clean, and every stage after it, would read the old amounts.
        config = try makeDemoConfig(in: dir, edits: [(price, "unit_price: {type: decimal, scale: 2, required: true, min: 0, divide_by: 100}")])
        for selection in [["--from", "clean"], ["--from", "features"], ["--only", "report"]] {
            let r = try runCVM(["run", config] + selection)
            #expect(r.status == 66, "\(selection): \(r.stderr)")
            #expect(r.stderr.contains("error: the extract outputs for as-of 2026-06-30 were built with other settings than the config has now: sources.orders.columns.unit_price.divide_by (not set there, 100 now); run again from extract"), "\(selection): \(r.stderr)")
        }
        // A clean rule: extract's outputs still serve; clean's do not.
        config = try makeDemoConfig(in: dir, edits: [(quantity, "quantity: {type: int, required: true, min: 1, max: 100}")])
        let rule = try runCVM(["run", config, "--from", "features"])
        #expect(rule.status == 66 && rule.stderr.contains("the clean outputs for as-of 2026-06-30 were built with other settings than the config has now: sources.orders.columns.quantity.max (1000 there, 100 now); run again from clean so they follow the config (cvm run \(config) --from clean)"), "\(rule.stderr)")
        #expect(try runCVM(["run", config, "--from", "clean"]).status == 0)
        // The report reads the clusters only where there are some: refused outputs were left out of it (a missing
        // section, exit 0) before.
        config = try makeDemoConfig(in: dir, edits: [(quantity, "quantity: {type: int, required: true, min: 1, max: 100}"), ("seed: 42", "seed: 43")])
        let seed = try runCVM(["run", config, "--only", "report"])
        #expect(seed.status == 66 && seed.stderr.contains("the cluster outputs for as-of 2026-06-30 were built with other settings than the config has now: seed (42 there, 43 now)"), "\(seed.stderr)")
        // A budget, and the same settings written in block style, change nothing that was built.
        config = try makeDemoConfig(in: dir, edits: [(quantity, "quantity:\n        type: int\n        required: true\n        min: 1\n        max: 100"),
                                                     ("max_reject_rate: 0.05", "max_reject_rate: 0.2")])
        let same = try runCVM(["run", config, "--from", "features"])
        #expect(same.status == 0, "\(same.stderr)")
        // The refusal comes before anything runs: `--from value` after a clustering's k changed rebuilt the scores,
        // then refused at the load.
        let valueRun = try ArtifactStore(root: "\(dir)/artifacts").writerRunID(stage: "value", asOf: CivilDate(year: 2026, month: 6, day: 30))
        config = try makeDemoConfig(in: dir, edits: [(quantity, "quantity: {type: int, required: true, min: 1, max: 100}"), ("k: 4", "k: 3")])
        let early = try runCVM(["run", config, "--from", "value"])
        #expect(early.status == 66 && early.stderr.contains("the cluster outputs for as-of 2026-06-30 were built with other settings than the config has now: stages.cluster.clusterings.value.k (4 there, 3 now)"), "\(early.stderr)")
        #expect(try ArtifactStore(root: "\(dir)/artifacts").writerRunID(stage: "value", asOf: CivilDate(year: 2026, month: 6, day: 30)) == valueRun)
        // A column's map is tried in order: reordering it is a change; a one-item list is its item.
        config = try makeDemoConfig(in: dir, edits: [(quantity, "quantity: {type: int, required: true, min: 1, max: 100}"),
                                                     ("cancelled], lowercase: true}", "cancelled], lowercase: true, map: {\"c.*\": cancelled, \".*\": completed}}")])
        #expect(try runCVM(["run", config, "--from", "clean"]).status == 0)
        let swapped = try makeDemoConfig(in: dir, edits: [(quantity, "quantity: {type: int, required: true, min: 1, max: 100}"),
                                                         ("cancelled], lowercase: true}", "cancelled], lowercase: true, map: {\".*\": completed, \"c.*\": cancelled}}")])
        let order = try runCVM(["run", swapped, "--from", "features"])
        #expect(order.status == 66 && order.stderr.contains("sources.orders.columns.status.map ({c.*: cancelled, .*: completed} there, {.*: completed, c.*: cancelled} now); run again from clean"), "\(order.stderr)")
        let listed = try makeDemoConfig(in: dir, edits: [(quantity, "quantity: {type: int, required: true, min: 1, max: 100}"),
                                                        ("cancelled], lowercase: true}", "cancelled], lowercase: True, map: {\"c.*\": cancelled, \".*\": completed}}"),
                                                        ("key: event_id", "key: [event_id]")])
        let one = try runCVM(["run", listed, "--from", "features"])
        #expect(one.status == 0, "\(one.stderr)")
    }

    /// The ledger counts every value `on_invalid: null` nulled in a column, over all its rules: the detail kept only
    /// the last rule's count (1 where 3 were nulled).
    @Test func theLedgerCountsValuesNulledByEveryRule() throws {
        let dir = try makeTemporaryDirectory("e2e-nulled")
        let config = try makeDemoConfig(in: dir, edits: [("birth_year: {type: int, min: 1900, max: 2026, on_invalid: null}",
                                                          "birth_year: {type: int, min: 1970, max: 1990, on_invalid: null}")])
        let r = try runCVM(["run", config, "--until", "clean"])
        #expect(r.status == 0, "\(r.stderr)")
        // The log says each rule's count.
        var logged: [String: Int] = [:]
        for line in r.stderr.split(separator: "\n") where line.contains("nulled invalid values") && line.contains("column=birth_year") {
            let rule = line.components(separatedBy: "rule=").last!.split(separator: " ").first.map(String.init)!
            logged[rule] = Int(line.components(separatedBy: "values=").last!.split(separator: " ").first!)!
        }
        #expect(logged.keys.sorted() == ["max", "min"], "\(r.stderr)")
        let detail = try #require(try scalar("\(dir)/cvm.sqlite", "SELECT detail FROM cvm_run_stages WHERE stage = 'clean'", as: String.self))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any])
        #expect(json["nulled_customers_birth_year"] as? String == "\(logged.values.reduce(0, +))", "\(detail)")
    }

    /// Orders dated by day (`ordered_at: date`) get their `ordered_date` and their days in `dim_date` too: it held
    /// the as-of day only, and no order joined it.
    @Test func ordersDatedByDayJoinDimDate() throws {
        let dir = try makeTemporaryDirectory("e2e-date-orders")
        try "customer_id,order_id,ordered_at,amount\nC1,O1,2026-10-01,10.00\nC2,O2,2026-10-02,20.00\nC1,O3,2026-10-03,5.50\n"
            .write(toFile: "\(dir)/orders.csv", atomically: true, encoding: .utf8)
        try """
            pipeline: dates
            as_of: 2026-10-25
            warehouse: cvm.sqlite
            privacy: {pseudonymize: []}
            sources:
              orders:
                files: orders.csv
                columns:
                  customer_id: {type: string, required: true}
                  order_id: {type: string, required: true}
                  ordered_at: {type: date, required: true}
                  amount: {type: decimal, scale: 2}
            """.write(toFile: "\(dir)/p.yaml", atomically: true, encoding: .utf8)
        let r = try runCVM(["run", "\(dir)/p.yaml"])
        #expect(r.status == 0, "\(r.stderr)")
        let wh = "\(dir)/cvm.sqlite"
        #expect(try scalar(wh, "SELECT MIN(date) FROM dim_date", as: String.self) == "2026-10-01")
        #expect(try scalar(wh, "SELECT COUNT(*) FROM fact_order_line f JOIN dim_date d ON d.date = f.ordered_date", as: Int.self) == 3)
    }

    /// A config error a stage finds names the file, line and column of its key, as the config check's errors do.
    @Test func configErrorsFoundByAStageNameTheirLine() throws {
        let dir = try makeTemporaryDirectory("e2e-located")
        let config = try makeDemoConfig(in: dir, edits: [("discount_share_all]", "discount_share_all, no_such_feature]")])
        let r = try runCVM(["run", config])
        #expect(r.status == 78, "\(r.stderr)")
        let line = try #require(try String(contentsOfFile: config, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("no_such_feature") }) + 1
        #expect(r.stderr.contains("\(config):\(line):"), "\(r.stderr)")
        #expect(r.stderr.contains(": error: stages.cluster.clusterings.archetypes.features: no feature matches \"no_such_feature\""), "\(r.stderr)")
    }

    /// A snapshot holds what was known at the end of its as-of day: a backfill's fact_order_line held the later
    /// orders too (and dim_customer later sign-ups), so its facts did not reconcile with its customer_value.
    @Test func aBackfillSnapshotHoldsNothingAfterItsDay() throws {
        let dir = try makeTemporaryDirectory("e2e-backfill-cut")
        let config = try makeDemoConfig(in: dir)
        let r = try runCVM(["run", config, "--as-of", "2026-05-31"])
        #expect(r.status == 0, "\(r.stderr)")
        let wh = "\(dir)/cvm.sqlite"
        #expect(try scalar(wh, "SELECT COUNT(*) FROM fact_order_line WHERE as_of = '2026-05-31' AND ordered_at >= '2026-06-01'", as: Int.self) == 0)
        #expect(try scalar(wh, "SELECT COUNT(*) FROM dim_customer WHERE as_of = '2026-05-31' AND signup_date > '2026-05-31'", as: Int.self) == 0)
        #expect(try scalar(wh, "SELECT MAX(date) FROM dim_date", as: String.self) ?? "" <= "2026-05-31")
        // The rows left out are counted in the load's ledger detail, and are in the later snapshot.
        let detail = try #require(try scalar(wh, "SELECT detail FROM cvm_run_stages WHERE stage = 'load'", as: String.self))
        let later = try #require((try JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: String])?["fact_order_line.after_as_of"].flatMap { Int($0) })
        #expect(later > 0)
        let loaded = try #require(try scalar(wh, "SELECT COUNT(*) FROM fact_order_line WHERE as_of = '2026-05-31'", as: Int.self))
        #expect(try runCVM(["run", config]).status == 0)
        let june = try #require(try scalar(wh, "SELECT COUNT(*) FROM fact_order_line WHERE as_of = '2026-06-30'", as: Int.self))
        #expect(june >= loaded + later)
    }

    /// fact_order_line carries each order's day in the features' zone, the day the features count it on, for joins
    /// to dim_date (the UTC text put a New York evening order on the next day).
    @Test func orderLinesCarryTheirLocalDay() throws {
        let dir = try makeTemporaryDirectory("e2e-local-day")
        let config = try makeDemoConfig(in: dir, edits: [("    windows: [7, 30, 90, 180, 365]", "    windows: [7, 30, 90, 180, 365]\n    zone: America/New_York")])
        let r = try runCVM(["run", config, "--until", "load"])
        #expect(r.status == 0, "\(r.stderr)")
        let wh = "\(dir)/cvm.sqlite"
        // New York is 4 or 5 hours behind UTC: a UTC time before 04:00 is always the previous local day.
        #expect(try scalar(wh, "SELECT COUNT(*) FROM fact_order_line WHERE ordered_date <> date(ordered_at, '-4 hours') AND ordered_date <> date(ordered_at, '-5 hours')", as: Int.self) == 0)
        #expect(try scalar(wh, "SELECT COUNT(*) FROM fact_order_line WHERE time(ordered_at) < '04:00:00' AND ordered_date = date(ordered_at)", as: Int.self) == 0)
        #expect(try scalar(wh, "SELECT COUNT(*) FROM fact_order_line WHERE time(ordered_at) < '04:00:00'", as: Int.self) ?? 0 > 0)
        #expect(try scalar(wh, "SELECT COUNT(*) FROM fact_order_line f JOIN dim_date d ON d.date = f.ordered_date", as: Int.self)
                == (try scalar(wh, "SELECT COUNT(*) FROM fact_order_line", as: Int.self)))
        // dim_date runs from the first order's local day to the snapshot, not a UTC day past it.
        #expect(try scalar(wh, "SELECT MIN(date) FROM dim_date", as: String.self) == (try scalar(wh, "SELECT MIN(ordered_date) FROM fact_order_line", as: String.self)))
        #expect(try scalar(wh, "SELECT MAX(date) FROM dim_date", as: String.self) == "2026-06-30")
    }

    /// A file rejected whole under `on_file_error: quarantine-file` is a warning naming it (it was a quarantine row and
    /// a count only), and the extract's ledger detail counts it.
    @Test func aFileRejectedWholeIsWarnedAbout() throws {
        let dir = try makeTemporaryDirectory("e2e-file-rejected")
        let orders = "\(dir)/orders"
        try FileManager.default.copyItem(atPath: Repo.path("fixtures/demo/orders"), toPath: orders)
        let victim = "\(orders)/2026/06/orders-2026-06-29.csv.gz"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: victim))
        let config = try makeDemoConfig(in: dir, edits: [("    files: \(Repo.path("fixtures"))/demo/orders/**/*.csv.gz", "    files: \(orders)/**/*.csv.gz\n    on_file_error: quarantine-file")])
        let r = try runCVM(["run", config, "--until", "extract"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning[extract] rejected a whole file (on_file_error: quarantine-file); its rows are not in this snapshot"), "\(r.stderr)")
        #expect(r.stderr.contains("file=\(victim)"), "\(r.stderr)")
        let detail = try #require(try scalar("\(dir)/cvm.sqlite", "SELECT detail FROM cvm_run_stages WHERE stage = 'extract'", as: String.self))
        #expect(detail.contains("\"orders.files_rejected\":\"1\""), "\(detail)")
    }

    /// A backfill writes its report beside the live one: the live folder stays the latest snapshot's (a backfill
    /// replaced its report, campaign lists and metrics, and its success hid a failed night from alerting).
    @Test func aBackfillsReportGoesBesideTheLiveOne() throws {
        let dir = try makeTemporaryDirectory("e2e-backfill-report")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config]).status == 0)
        func asOf(_ folder: String) throws -> String? {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/summary.json"))
            return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["asOf"] as? String
        }
        let live = try String(contentsOfFile: "\(dir)/report/campaigns/vip_early_access.csv", encoding: .utf8)
        let r = try runCVM(["run", config, "--as-of", "2026-05-31"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("report:    \(dir)/report/backfill/2026-05-31/index.html"), "\(r.stdout)")
        #expect(try asOf("\(dir)/report") == "2026-06-30")
        #expect(try asOf("\(dir)/report/backfill/2026-05-31") == "2026-05-31")
        #expect(try String(contentsOfFile: "\(dir)/report/campaigns/vip_early_access.csv", encoding: .utf8) == live)
    }

    /// A run that fails at clean after a good run writes summary.json with its own figures only: the KPIs of the
    /// earlier run's value stage (400 customers, its revenue) were shown as the failed run's.
    @Test func aFailedRunsSummaryHasNoEarlierRunsKPIs() throws {
        let dir = try makeTemporaryDirectory("e2e-failed-summary")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config]).status == 0)
        func kpis() throws -> [String] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/report/summary.json"))
            let obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            return ((obj["kpis"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
        }
        #expect(try kpis().contains("customers"))
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "max_reject_rate: 0.05", with: "max_reject_rate: 0.0001")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try runCVM(["run", config]).status == 65)
        #expect(try kpis() == ["rows_rejected"])
    }

    @Test("bad configs exit 78 with their exact message", arguments: BadConfigs.names)
    func badConfigExits78(name: String) throws {
        let r = try runCVM(["validate", "fixtures/bad/config/\(name).yaml"])
        #expect(r.status == 78)
        let expected = try String(contentsOfFile: Repo.path("fixtures/bad/config/\(name).expected"), encoding: .utf8)
        #expect(r.stderr == expected)
    }

    @Test func checkDetectsADifferenceAndExits65() throws {
        let dir = try makeTemporaryDirectory("e2e-check")
        let config = try makeDemoConfig(in: dir)
        let expect = "\(dir)/expect.yaml"
        #expect(try runCVM(["check", config, "--expect", expect, "--update"]).status == 0)
        #expect(try runCVM(["check", config, "--expect", expect]).status == 0)
        var text = try String(contentsOfFile: expect, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("  customer_value: ") })
        text = text.replacingOccurrences(of: String(line), with: "  customer_value: 1")
        try text.write(toFile: expect, atomically: true, encoding: .utf8)
        let r = try runCVM(["check", config, "--expect", expect])
        #expect(r.status == 65)
        #expect(r.stderr.contains("tables.customer_value: 1 → "))
    }

    /// The expectations pin their as-of date: a config without `as_of` is checked for it, not for yesterday (whose
    /// freshness check failed the CI gate).
    @Test func checkRunsForTheExpectationsDate() throws {
        let dir = try makeTemporaryDirectory("e2e-check-date")
        let pinned = try makeDemoConfig(in: dir)
        let expect = "\(dir)/expect.yaml"
        #expect(try runCVM(["check", pinned, "--expect", expect, "--update"]).status == 0)
        #expect(try String(contentsOfFile: expect, encoding: .utf8).contains("\nas_of: 2026-06-30\n"))
        let floating = try makeDemoConfig(in: dir, edits: [("as_of: 2026-06-30\n", "")])
        let r = try runCVM(["check", floating, "--expect", expect])
        #expect(r.status == 0, "\(r.stderr)")
    }
}

/// `cvm clv` on the CDNOW sample reproduces the published fits and the holdout comparison.
struct CLVCommandTests {
    @Test func fitsTheCDNOWSampleFromTheCommandLine() throws {
        let out = try makeTemporaryDirectory("clv") + "/customers.csv"
        let r = try runCVM(["clv", "--transactions", "fixtures/cdnow/CDNOW_sample.txt", "--customer", "2", "--date", "3",
                            "--amount", "5", "--date-format", "yyyyMMdd", "--delimiter", "whitespace", "--no-header",
                            "--calibration-end", "1997-09-30", "--observation-end", "1998-06-30", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["customers"] as? Int == 2357)
        #expect(json["repeat_customers"] as? Int == 946)
        let b = try #require(json["bgnbd"] as? [String: Double]), g = try #require(json["gamma_gamma"] as? [String: Double])
        let h = try #require(json["holdout"] as? [String: Double])
        for (k, v) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] { #expect(abs(b[k]! - v) / v < 0.01, "\(k)") }
        for (k, v) in [("p", 6.25), ("q", 3.74), ("v", 15.44)] { #expect(abs(g[k]! - v) / v < 0.01, "\(k)") }
        #expect(abs(h["predicted_repeat_transactions"]! - 1653.4) < 0.05)
        #expect(h["actual_repeat_transactions"] == 1882)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2358)
    }

    @Test func badArgumentsAreUsageErrors() throws {
        let r = try runCVM(["clv", "--transactions", "fixtures/cdnow/CDNOW_sample.txt", "--customer", "id", "--date", "3",
                            "--amount", "5", "--no-header", "--calibration-end", "1997-09-30"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("without a header, columns are 1-based positions"))
    }
}

struct KMeansCommandTests {
    @Test func clustersAnyNumericCSVAndMatchesScikitLearn() throws {
        let dir = try makeTemporaryDirectory("km")
        let r = try runCVM(["kmeans", "--input", "fixtures/kmeans/points.csv", "--k", "5", "--init", "fixtures/kmeans/init.csv",
                            "--threads", "2", "--labels", "\(dir)/labels.csv", "--centroids", "\(dir)/centroids.csv"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let ref = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Repo.path("fixtures/kmeans/sklearn.json")))) as? [String: Any])
        #expect(approxEqual(json["inertia"] as! Double, ref["inertia"] as! Double, rel: 1e-6))
        #expect(json["iterations"] as? Int == ref["iterations"] as? Int)
        #expect(json["algorithm"] as? String == "lloyd")
        #expect((json["seconds"] as? Double ?? -1) >= 0)
        #expect(try String(contentsOfFile: "\(dir)/labels.csv", encoding: .utf8).split(separator: "\n").count == 2001)
        #expect(try String(contentsOfFile: "\(dir)/centroids.csv", encoding: .utf8).hasPrefix("x0,x1,x2,x3,x4,x5\n"))
    }

    @Test(arguments: ["hamerly", "elkan"])
    func acceleratedAlgorithmsGiveTheSameFit(_ algorithm: String) throws {
        let r = try runCVM(["kmeans", "--input", "fixtures/kmeans/points.csv", "--k", "5", "--init", "fixtures/kmeans/init.csv",
                            "--algorithm", algorithm])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let ref = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Repo.path("fixtures/kmeans/sklearn.json")))) as? [String: Any])
        #expect(approxEqual(json["inertia"] as! Double, ref["inertia"] as! Double, rel: 1e-6))
        #expect(json["algorithm"] as? String == algorithm)
    }

    @Test func anUnknownAlgorithmIsAUsageError() throws {
        let r = try runCVM(["kmeans", "--input", "fixtures/kmeans/points.csv", "--k", "5", "--algorithm", "yinyang"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("expected one of auto, lloyd, hamerly, elkan"))
    }

    @Test func nonNumericCellsAreInputErrorsWithTheirPosition() throws {
        let dir = try makeTemporaryDirectory("km")
        try "a,b\n1,2\n3,x\n".write(toFile: "\(dir)/bad.csv", atomically: true, encoding: .utf8)
        let r = try runCVM(["kmeans", "--input", "\(dir)/bad.csv", "--k", "1"])
        #expect(r.status == 66)
        #expect(r.stderr.contains("bad.csv:3:2: error: b: \"x\" is not a number"))
    }
}

enum BadConfigs {
    static let names: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: Repo.path("fixtures/bad/config"))) ?? [])
        .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
}

/// Every file below `dir`, by relative path, with its bytes.
func snapshotFiles(_ dir: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let base = URL(fileURLWithPath: dir)
    guard let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else { return out }
    for case let url as URL in e where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
        let rel = String(url.path.dropFirst(base.path.count + 1))
        out[rel] = try Data(contentsOf: url)
    }
    return out
}

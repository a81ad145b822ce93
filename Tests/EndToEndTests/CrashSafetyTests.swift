import CVMCore
import Foundation
import GRDB
import TestSupport
import Testing

/// SIGKILL at 20 seeded random moments of a run (extract through load): every time the warehouse
/// passes `PRAGMA integrity_check`, the previous snapshot is intact, and a rerun gives exactly the
/// warehouse of a run that was never interrupted.
struct CrashSafetyTests {
    func copyTree(_ from: String, _ to: String) throws {
        try? FileManager.default.removeItem(atPath: to)
        try FileManager.default.copyItem(atPath: from, toPath: to)
    }

    @Test func killedRunsLeaveTheWarehouseIntactAndRerunsConverge() throws {
        // The starting state: the May snapshot loaded. The reference: June loaded on top, uninterrupted.
        let base = try makeTemporaryDirectory("crash-base")
        let config = try makeDemoConfig(in: base)
        #expect(try runCVM(["run", config, "--as-of", "2026-05-31"]).status == 0)
        let may = try dumpWarehouse("\(base)/cvm.sqlite")
        let reference = try makeTemporaryDirectory("crash-ref")
        try copyTree(base, reference + "/w")
        let refConfig = "\(reference)/w/pipeline.yaml"
        try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: base, with: "\(reference)/w")
            .write(toFile: refConfig, atomically: true, encoding: .utf8)
        let t0 = Date()
        #expect(try runCVM(["run", refConfig]).status == 0)
        let duration = Date().timeIntervalSince(t0)
        let june = try dumpWarehouse("\(reference)/w/cvm.sqlite")
        #expect(june != may)

        var rng = SeededRNG(seed: 20261130)
        var killed = 0
        for k in 0..<20 {
            let dir = try makeTemporaryDirectory("crash-\(k)")
            let cfg = "\(dir)/w/pipeline.yaml"
            let wh = "\(dir)/w/cvm.sqlite"
            // Seeded moments over the whole run, from process start to just before it would finish. The reference
            // run's duration is one sample of a machine shared with other tests: a run that finished before its
            // moment is started again from the May state with half the delay (at most three times), so the kills
            // land inside runs however fast this one goes.
            var delay = rng.nextDouble() * duration * 0.95
            for attempt in 0..<3 {
                try copyTree(base, dir + "/w")
                try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: base, with: "\(dir)/w")
                    .write(toFile: cfg, atomically: true, encoding: .utf8)
                let p = try startCVM(["run", cfg])
                Thread.sleep(forTimeInterval: delay)
                let running = p.process.isRunning
                if running { kill(p.process.processIdentifier, SIGKILL) }
                p.process.waitUntilExit()
                if running { killed += 1; break }
                // Finished first: it must have committed June whole.
                #expect(try dumpWarehouse(wh) == june, "run \(k), attempt \(attempt), finished before its kill and differs")
                delay /= 2
            }
            #expect(try scalar(wh, "PRAGMA integrity_check", as: String.self) == "ok", "kill \(k) at \(delay) s")
            let after = try dumpWarehouse(wh)
            // Either the June load committed as a whole or nothing of it is visible.
            #expect(after == may || after == june, "kill \(k) at \(delay) s left a partial snapshot")
            let rerun = try runCVM(["run", cfg])
            #expect(rerun.status == 0, "rerun after kill \(k): \(rerun.stderr)")
            #expect(try dumpWarehouse(wh) == june, "rerun after kill \(k) at \(delay) s differs from the uninterrupted run")
        }
        #expect(killed >= 15, "only \(killed) of 20 runs were still running when killed")
    }
}

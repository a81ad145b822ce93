import CVMCore
import Foundation
import TestSupport
import Testing

/// A small tmpfs for one test: a disk that fills up or turns read-only on demand.
/// Needs root (mount(8)); `make test` runs as root here, elsewhere these tests are skipped.
enum SmallDisk {
    static func sh(_ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    static let available: Bool = {
        guard getuid() == 0, let dir = try? makeTemporaryDirectory("probe-disk") else { return false }
        guard sh(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]) == 0 else { return false }
        return sh(["umount", dir]) == 0
    }()

    static func mount(_ dir: String, size: String) throws {
        guard sh(["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir]) == 0 else { throw CVMFailure(.internal, "mount \(dir)") }
    }
    static func remount(_ dir: String, _ options: String) throws {
        guard sh(["mount", "-o", "remount,\(options)", dir]) == 0 else { throw CVMFailure(.internal, "remount \(dir) \(options)") }
    }
    static func unmount(_ dir: String) { _ = sh(["umount", dir]) }

    /// Bytes used under `dir`.
    static func used(_ dir: String) -> Int {
        var st = statvfs()
        guard statvfs(dir, &st) == 0 else { return 0 }
        return Int(st.f_blocks - st.f_bfree) * Int(st.f_frsize)
    }
}

@Suite(.serialized) struct StorageFailureTests {
    /// The May snapshot in a warehouse on its own small disk; artifacts and report on the normal disk.
    /// Returns the config, the disk and the June reference dump (an uninterrupted run elsewhere).
    func setUp(_ name: String) throws -> (config: String, disk: String, may: [String: [String]], june: [String: [String]]) {
        let reference = try makeTemporaryDirectory("\(name)-ref")
        let refConfig = try makeDemoConfig(in: reference)
        #expect(try runCVM(["run", refConfig, "--as-of", "2026-05-31"]).status == 0)
        #expect(try runCVM(["run", refConfig]).status == 0)
        let june = try dumpWarehouse("\(reference)/cvm.sqlite")

        let disk = try makeTemporaryDirectory("\(name)-disk")
        try SmallDisk.mount(disk, size: "64m")
        let other = try makeTemporaryDirectory("\(name)-files")
        let config = try makeDemoConfig(in: disk, edits: [("report: \(disk)/report", "report: \(other)/report\nartifacts: \(other)/artifacts")])
        // The config itself lives on the normal disk too.
        let moved = "\(other)/pipeline.yaml"
        try FileManager.default.moveItem(atPath: config, toPath: moved)
        #expect(try runCVM(["run", moved, "--as-of", "2026-05-31"]).status == 0)
        let may = try dumpWarehouse("\(disk)/cvm.sqlite")
        return (moved, disk, may, june)
    }

    @Test(.enabled(if: SmallDisk.available, "needs root and mount(8) for a small tmpfs"))
    func aFullDiskFailsTheLoadWithExit74AndLeavesNoPartialSnapshot() throws {
        let (config, disk, may, june) = try setUp("full")
        defer { SmallDisk.unmount(disk) }
        // Leave 256 KiB free: the June load needs several MiB.
        try SmallDisk.remount(disk, "size=\(SmallDisk.used(disk) / 1024 + 256)k")
        let failed = try runCVM(["run", config])
        #expect(failed.status == 74, "\(failed.stderr)")
        #expect(failed.stderr.contains("\(disk)/cvm.sqlite: error: warehouse error: database or disk is full; check free space"))
        try SmallDisk.remount(disk, "size=64m")
        #expect(try scalar("\(disk)/cvm.sqlite", "PRAGMA integrity_check", as: String.self) == "ok")
        #expect(try dumpWarehouse("\(disk)/cvm.sqlite") == may, "a partial June snapshot is visible")
        // (The ledger row of the failed run cannot be written to a full disk either.)
        // With room again, a rerun gives what an uninterrupted run gives.
        #expect(try runCVM(["run", config]).status == 0)
        #expect(try dumpWarehouse("\(disk)/cvm.sqlite") == june)
    }

    @Test(.enabled(if: SmallDisk.available, "needs root and mount(8) for a small tmpfs"))
    func aReadOnlyWarehouseFailsFastWithExit74AndKeepsItsSnapshot() throws {
        let (config, disk, may, june) = try setUp("ro")
        defer { SmallDisk.unmount(disk) }
        try SmallDisk.remount(disk, "ro")
        let failed = try runCVM(["run", config])
        #expect(failed.status == 74, "\(failed.stderr)")
        #expect(failed.stderr.contains("Read-only file system; check that the warehouse folder is writable"))
        // It failed before any stage ran.
        #expect(!failed.stderr.contains("[extract] started"))
        try SmallDisk.remount(disk, "rw")
        #expect(try scalar("\(disk)/cvm.sqlite", "PRAGMA integrity_check", as: String.self) == "ok")
        #expect(try dumpWarehouse("\(disk)/cvm.sqlite") == may)
        #expect(try runCVM(["run", config]).status == 0)
        #expect(try dumpWarehouse("\(disk)/cvm.sqlite") == june)
    }

    /// Artifacts (after extract's) are written in the background while the later stages run; a write that fails
    /// (the artifact disk is full) fails the run with exit 74 naming the folder, and the load that was already under
    /// way is rolled back.
    @Test(.enabled(if: SmallDisk.available, "needs root and mount(8) for a small tmpfs"))
    func aFailedArtifactWriteFailsTheRunWithExit74AndRollsTheLoadBack() throws {
        let dir = try makeTemporaryDirectory("artifact-disk-run")
        let disk = try makeTemporaryDirectory("artifact-disk")
        try SmallDisk.mount(disk, size: "64m")
        defer { SmallDisk.unmount(disk) }
        let config = try makeDemoConfig(in: dir, edits: [("report: \(dir)/report", "report: \(dir)/report\nartifacts: \(disk)/artifacts")])
        #expect(try runCVM(["run", config, "--as-of", "2026-05-31"]).status == 0)
        let may = try dumpWarehouse("\(dir)/cvm.sqlite")
        // Room for June's extract artifacts (1.4 MB in 4 KiB blocks on the demo data), not for clean's as well
        // (1.5 MB more).
        try SmallDisk.remount(disk, "size=\(SmallDisk.used(disk) / 1024 + 2100)k")
        let failed = try runCVM(["run", config])
        #expect(failed.status == 74, "\(failed.stderr)")
        #expect(failed.stderr.contains("\(disk)/artifacts/2026-06-30/clean: error: cannot write artifacts"), "\(failed.stderr)")
        // The stages after clean ran while its artifacts were being written; the load waited for them before
        // committing and rolled back.
        #expect(failed.stderr.contains("[features] done"))
        #expect(failed.stderr.contains("[load] failed"))
        #expect(try dumpWarehouse("\(dir)/cvm.sqlite") == may, "a June snapshot is visible")
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT status FROM cvm_runs ORDER BY started_at DESC, rowid DESC LIMIT 1", as: String.self) == "failed")
        // With room again, the run goes through.
        try SmallDisk.remount(disk, "size=64m")
        #expect(try runCVM(["run", config]).status == 0)
        #expect(try scalar("\(dir)/cvm.sqlite", "SELECT COUNT(*) FROM customer_value WHERE as_of = '2026-06-30'", as: Int.self)! > 0)
    }
}

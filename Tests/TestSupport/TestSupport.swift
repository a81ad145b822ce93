import Foundation
public import CVMCore

/// Paths into the repository, found from this file's location so tests work from any
/// working directory and `RECORD_GOLDEN=1` runs can rewrite goldens in the tree.
public enum Repo {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    public static var fixtures: String { path("fixtures") }
    public static var isRecording: Bool { ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" }
}

/// A fresh temporary directory inside this test process's own folder (`TestDirectories.root`), which is
/// removed when the process exits; set `CVM_KEEP_TEST_DIRS=1` to keep it for inspection.
public func makeTemporaryDirectory(_ prefix: String = "cvm-test") throws -> String {
    let dir = URL(fileURLWithPath: TestDirectories.root).appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.path
}

/// One folder per test process for every temporary directory its tests make. The suite writes
/// gigabytes of warehouses and artifacts per run; left behind, they filled this machine's disk
/// (59 GB of /tmp after a few days of test runs).
public enum TestDirectories {
    static let prefix = "cvm-tests-"
    /// `<tmp>/cvm-tests-<pid>`, created on first use together with the exit handler that removes it.
    /// Folders of test processes that are gone (killed before their exit handler ran) are swept then.
    public static let root: String = {
        let tmp = FileManager.default.temporaryDirectory.path
        sweepDeadProcesses(in: tmp)
        let path = "\(tmp)/\(prefix)\(getpid())"
        try? FileManager.default.removeItem(atPath: path)  // a reused pid's leftovers
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        if ProcessInfo.processInfo.environment["CVM_KEEP_TEST_DIRS"] != "1" {
            atexit { try? FileManager.default.removeItem(atPath: TestDirectories.root) }
        }
        return path
    }()

    /// Removes `cvm-tests-<pid>` folders whose process no longer exists.
    static func sweepDeadProcesses(in tmp: String) {
        guard ProcessInfo.processInfo.environment["CVM_KEEP_TEST_DIRS"] != "1",
              let names = try? FileManager.default.contentsOfDirectory(atPath: tmp) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: "\(tmp)/\(name)") }
        }
    }
}

/// Relative-tolerance comparison for floats (never behind `Equatable`).
public func approxEqual(_ a: Double, _ b: Double, rel: Double = 1e-9, abs absTol: Double = 1e-12) -> Bool {
    if a == b { return true }
    if a.isNaN && b.isNaN { return true }
    return Swift.abs(a - b) <= max(absTol, rel * max(Swift.abs(a), Swift.abs(b)))
}

/// Compares `actual` with the golden file at `fixtures/<relative>`; with RECORD_GOLDEN=1 rewrites it.
/// Returns nil when equal, otherwise a short description of the first difference.
public func checkGolden(_ actual: String, _ relative: String) throws -> String? {
    let path = Repo.path("fixtures/" + relative)
    if Repo.isRecording {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try actual.write(toFile: path, atomically: true, encoding: .utf8)
        return nil
    }
    guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
        return "golden \(relative) is missing; run with RECORD_GOLDEN=1 to create it"
    }
    if expected == actual { return nil }
    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
    let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
    for i in 0..<max(e.count, a.count) {
        let el = i < e.count ? String(e[i]) : "<end>"
        let al = i < a.count ? String(a[i]) : "<end>"
        if el != al { return "golden \(relative) line \(i + 1):\n  expected: \(el)\n  actual:   \(al)" }
    }
    return "golden \(relative) differs"
}

/// A small table builder for tests.
public func makeTable(_ name: String, _ columns: Column...) -> Table { Table(name: name, columns: columns) }

import CVMCore
import Foundation
import GRDB
import TestSupport

/// The debug `cvm` binary built by `swift build --build-tests` (make test builds it first).
/// The binary under test: `CVM_TEST_BINARY` (make sanitize points it at the sanitized build), else the debug build.
let cvmBinary = ProcessInfo.processInfo.environment["CVM_TEST_BINARY"] ?? Repo.path(".build/debug/cvm")

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `cvm` with `arguments`, from the repository root, and waits for it.
@discardableResult
func runCVM(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    let p = try startCVM(arguments, environment: environment)
    // Both pipes are drained at once: read one after the other, a child that fills the second (64 KB of log
    // or a sanitizer's report) before closing the first would block forever.
    let errBox = ReadBox()
    let reading = DispatchGroup()
    DispatchQueue.global().async(group: reading) { errBox.data = p.stderrPipe.fileHandleForReading.readDataToEndOfFile() }
    let out = p.stdoutPipe.fileHandleForReading.readDataToEndOfFile()
    reading.wait()
    let err = errBox.data
    p.process.waitUntilExit()
    return ProcessResult(status: p.process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self))
}

/// One pipe's bytes, filled by the thread that drains it (read after that thread is waited for).
final class ReadBox: @unchecked Sendable {
    var data = Data()
}

struct RunningProcess {
    var process: Process
    var stdoutPipe: Pipe
    var stderrPipe: Pipe
}

func startCVM(_ arguments: [String], environment: [String: String] = [:]) throws -> RunningProcess {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: cvmBinary)
    p.arguments = arguments
    p.currentDirectoryURL = Repo.root
    var env = ProcessInfo.processInfo.environment
    env["CVM_PSEUDONYM_KEY"] = "end-to-end-test-key"
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    return RunningProcess(process: p, stdoutPipe: out, stderrPipe: err)
}

/// A copy of the demo config writing into `dir` (absolute input paths), with optional text edits.
func makeDemoConfig(in dir: String, edits: [(String, String)] = []) throws -> String {
    var text = try String(contentsOfFile: Repo.path("pipelines/demo.yaml"), encoding: .utf8)
    text = text.replacingOccurrences(of: "../fixtures/", with: Repo.path("fixtures") + "/")
    text = text.replacingOccurrences(of: "warehouse: ../out/demo/cvm.sqlite", with: "warehouse: \(dir)/cvm.sqlite")
    text = text.replacingOccurrences(of: "report: ../out/demo/report", with: "report: \(dir)/report")
    for (a, b) in edits {
        precondition(text.contains(a), "demo.yaml no longer contains \(a)")
        text = text.replacingOccurrences(of: a, with: b)
    }
    let path = "\(dir)/pipeline.yaml"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A copy of `pipelines/<name>.yaml` writing into `dir` (absolute input paths).
func makePipelineConfig(_ name: String, in dir: String) throws -> String {
    var text = try String(contentsOfFile: Repo.path("pipelines/\(name).yaml"), encoding: .utf8)
    text = text.replacingOccurrences(of: "../fixtures/", with: Repo.path("fixtures") + "/")
    text = text.replacingOccurrences(of: "../out/\(name)/", with: "\(dir)/")
    let path = "\(dir)/pipeline.yaml"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Every data table of the warehouse as sorted text rows, without run ids: for bitwise comparisons.
func dumpWarehouse(_ path: String) throws -> [String: [String]] {
    let db = try DatabaseQueue(path: path)
    return try db.read { db in
        var out: [String: [String]] = [:]
        let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'cvm_%' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name")
        for t in tables {
            let cols = try db.columns(in: t).map(\.name).filter { $0 != "run_id" }
            let list = cols.map { "quote(\"\($0)\")" }.joined(separator: " || ',' || ")
            out[t] = try String.fetchAll(db, sql: "SELECT \(list) FROM \"\(t)\"").sorted()
        }
        return out
    }
}

func scalar<T: DatabaseValueConvertible>(_ path: String, _ sql: String, as: T.Type = T.self) throws -> T? {
    try DatabaseQueue(path: path).read { try T.fetchOne($0, sql: sql) }
}

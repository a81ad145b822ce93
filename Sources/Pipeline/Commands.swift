import Foundation
import CVMCore
import Generate
import Warehouse

/// `cvm runs`: the run ledger as a table.
public func listRuns(warehouse path: String, limit: Int) throws -> String {
    guard FileManager.default.fileExists(atPath: path) else {
        throw CVMFailure(.noInput, "\(path): error: no such warehouse; run a pipeline first")
    }
    let w = try Warehouse(path: path)
    defer { try? w.close() }
    var out = ""
    for run in try w.runs(limit: limit) {
        out += "\(run.runID)  as-of \(run.asOf)  \(run.status)  pipeline \(run.pipeline)  started \(run.startedAt)"
        if let end = run.endedAt { out += "  ended \(end)" }
        if let code = run.exitCode, code != 0 { out += "  exit \(code)" }
        out += "\n"
        for s in try w.stages(runID: run.runID) {
            out += "    \(s.stage.padding(toLength: 9, withPad: " ", startingAt: 0)) \(s.status.padding(toLength: 9, withPad: " ", startingAt: 0)) \(String(format: "%8.3f", s.durationSeconds))s  in \(s.rowsIn)  out \(s.rowsOut)  rejected \(s.rowsRejected)"
            out += (s.detail.map { "  \($0)" } ?? "") + "\n"
        }
    }
    return out.isEmpty ? "no runs recorded in \(path)\n" : out
}


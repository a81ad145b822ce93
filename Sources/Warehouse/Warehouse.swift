// The Warehouse stage module. See DESIGN.md.
import CVMCore
// TEMPORARY placeholder (main only) until the warehouse branch lands.
public struct RunRecord: Sendable { public init(runID: String, pipeline: String, configHash: String, asOf: CivilDate, startedAt: String, endedAt: String?, status: String, exitCode: Int?, threads: Int, message: String?) {} }
public struct StageRecord: Sendable { public var stage = ""; public var status = ""; public var durationSeconds = 0.0; public var rowsIn = 0; public var rowsOut = 0; public var rowsRejected = 0
  public init(runID: String, stage: String, status: String, startedAt: String, durationSeconds: Double, rowsIn: Int, rowsOut: Int, rowsRejected: Int, message: String?) {} }
public final class Warehouse: @unchecked Sendable {
  public init(path: String) throws {}
  public func recordRunStart(_ r: RunRecord) throws {}
  public func recordStage(_ r: StageRecord) throws {}
  public func recordRunEnd(runID: String, endedAt: String, status: String, exitCode: Int, message: String?) throws {}
  public func close() throws {}
}

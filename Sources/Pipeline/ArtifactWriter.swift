import Foundation
import CVMCore

/// Writes each stage's artifacts on one background thread while the later stages run.
///
/// Artifacts are read again only when a stage is rerun alone (`--only`, `--from`), yet writing them held up every
/// run: on M, clean writes 1.5 GB in 5-6 s (2.3 s of write calls, the rest encoding dictionaries and checksums).
/// Now a stage hands its tables over and the next stage starts at once.
///
/// - Jobs run one at a time in the order the stages published them (the running stage keeps the cores).
/// - A job holds each column only until that column is written (`ArtifactTables`), so a table a later stage
///   drops (clean drops the raw tables) stays in memory only while its columns wait for the disk.
/// - The load waits for every job before it commits (a failed write must not leave a new warehouse snapshot
///   behind), the run before it ends; both fail with the first write error (exit 74, naming the folder).
public final class ArtifactWriter: @unchecked Sendable {
    /// One stage's finished write: how long it took and how long the run stood waiting for it.
    public struct Written: Sendable {
        public let stage: String
        public let seconds: Double
        public let waitedSeconds: Double
    }

    private let queue = DispatchQueue(label: "cvm.artifact-writer", qos: .userInitiated)
    private let lock = NSLock()
    /// Guarded by `lock`.
    private var failures: [any Error] = []
    private var done: [(stage: String, seconds: Double, finished: UInt64)] = []
    /// When each stage's first unreported part started.
    private var partStarted: [String: UInt64] = [:]

    public init() {}

    /// Queues `write` (one stage's artifacts, or a part of them) behind the writes queued before it.
    /// `reports`: whether its end is reported by `wait` (a stage's earlier parts are not: its last part reports
    /// the stage, with the seconds since its first part started).
    public func submit(stage: String, reports: Bool = true, _ write: @escaping @Sendable () throws -> Void) {
        queue.async { [self] in
            let t0 = DispatchTime.now().uptimeNanoseconds
            var failure: (any Error)?
            do { try write() } catch { failure = error }
            let t1 = DispatchTime.now().uptimeNanoseconds
            lock.withLock {
                let began = partStarted.removeValue(forKey: stage) ?? t0
                if !reports && failure == nil { partStarted[stage] = began }
                if let failure { failures.append(failure) } else if reports { done.append((stage, Double(t1 - began) / 1e9, t1)) }
            }
        }
    }

    /// Waits until every queued write has finished; returns the stages written since the last call, in order.
    /// - Throws: the first write that failed since the last call (the later failures, of the same disk most
    /// likely, are dropped with it).
    public func wait() throws -> [Written] {
        let start = DispatchTime.now().uptimeNanoseconds
        queue.sync {}  // a serial queue: every job queued before this one has run
        return try lock.withLock {
            if let first = failures.first {
                failures = []
                done = []
                throw first
            }
            defer { done = [] }
            return done.map { Written(stage: $0.stage, seconds: $0.seconds, waitedSeconds: $0.finished > start ? Double($0.finished - start) / 1e9 : 0) }
        }
    }
}

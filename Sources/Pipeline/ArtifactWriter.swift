import Foundation
import CVMCore

/// Writes each stage's artifacts on one background thread while the later stages run.
///
/// Artifacts are read again only when a stage is rerun alone (`--only`, `--from`), yet writing them held up every
/// run: on M, extract and clean write 2.7 GB, 8-9 s of a 28 s `--until clean` run spent waiting for the disk with
/// both cores idle. Now a stage hands its tables over and the next stage starts at once.
///
/// - Jobs run one at a time in the order the stages published them (the disk is the limit, and the running stage
///   keeps both cores).
/// - A job holds its tables until they are written, so a table a later stage drops (clean drops the raw tables)
///   stays in memory a little longer.
/// - The run waits for every job before the load (a failed write must not leave a new warehouse snapshot behind)
///   and before it ends, and fails with the first write error (exit 74, naming the folder).
public final class ArtifactWriter: @unchecked Sendable {
    /// One stage's finished write: how long it took and how long the run stood waiting for it.
    public struct Written: Sendable {
        public let stage: String
        public let seconds: Double
        public let waitedSeconds: Double
    }

    private let queue = DispatchQueue(label: "cvm.artifact-writer", qos: .userInitiated)
    private let lock = NSLock()

    public init() {}
    /// Guarded by `lock`.
    private var failures: [any Error] = []
    private var done: [(stage: String, seconds: Double, finished: UInt64)] = []

    /// Queues `write` (one stage's artifacts) behind the writes queued before it.
    public func submit(stage: String, _ write: @escaping @Sendable () throws -> Void) {
        queue.async { [self] in
            let t0 = DispatchTime.now().uptimeNanoseconds
            var failure: (any Error)?
            do { try write() } catch { failure = error }
            let t1 = DispatchTime.now().uptimeNanoseconds
            lock.withLock {
                if let failure { failures.append(failure) } else { done.append((stage, Double(t1 - t0) / 1e9, t1)) }
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

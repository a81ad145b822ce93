import Foundation
import Pipeline
import Testing

/// The background writer of stages' artifacts: jobs run one at a time in the order they were queued, `wait`
/// returns each finished stage once, and a failure is thrown once.
struct ArtifactWriterTests {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [String] = []
        func add(_ s: String) { lock.withLock { events.append(s) } }
        var all: [String] { lock.withLock { events } }
    }

    @Test func jobsRunOneAtATimeInTheOrderTheyWereQueued() throws {
        let writer = ArtifactWriter()
        let log = Log()
        // The first job is the slowest: a writer running jobs side by side would finish it last.
        for (stage, pause) in [("extract", 0.15), ("clean", 0.05), ("features", 0.0)] {
            writer.submit(stage: stage) {
                log.add("start \(stage)")
                Thread.sleep(forTimeInterval: pause)
                log.add("end \(stage)")
            }
        }
        let written = try writer.wait()
        #expect(written.map(\.stage) == ["extract", "clean", "features"])
        #expect(log.all == ["start extract", "end extract", "start clean", "end clean", "start features", "end features"])
        #expect(written[0].seconds >= 0.15)
        #expect(written.allSatisfy { $0.waitedSeconds >= 0 && $0.waitedSeconds <= 5 })
        // Each stage is reported once.
        #expect(try writer.wait().isEmpty)
    }

    struct DiskFull: Error {}

    @Test func aFailedWriteIsThrownOnceAndLaterJobsStillRun() throws {
        let writer = ArtifactWriter()
        let log = Log()
        writer.submit(stage: "extract") { throw DiskFull() }
        writer.submit(stage: "clean") { log.add("clean") }
        #expect(throws: DiskFull.self) { try writer.wait() }
        #expect(log.all == ["clean"])
        #expect(try writer.wait().isEmpty)
        writer.submit(stage: "features") {}
        #expect(try writer.wait().map(\.stage) == ["features"])
    }
}

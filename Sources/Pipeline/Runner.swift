import Foundation
public import CVMCore
public import Logging
import Warehouse
import Report

/// Options for one run, from the command line.
public struct RunOptions: Sendable {
    public var asOf: CivilDate?
    public var selection: StageSelection
    /// Worker threads; nil uses the config's `threads`, else one per core.
    public var threads: Int?
    /// Overrides for `cvm check` (scratch outputs).
    public var warehouseOverride: String?
    public var artifactsOverride: String?
    public var reportOverride: String?

    public init(asOf: CivilDate? = nil, selection: StageSelection = StageSelection(), threads: Int? = nil) {
        self.asOf = asOf
        self.selection = selection
        self.threads = threads
    }
}

/// What a stage did, for the run ledger, logs and the report.
public struct StageStats: Sendable {
    public var rowsIn = 0
    public var rowsOut = 0
    public var rowsRejected = 0
    public var detail: [String: String] = [:]
    public init() {}
}

/// The result of a run.
public struct RunOutcome: Sendable {
    public var runID: String
    public var asOf: CivilDate
    public var status: String
    public var exitStatus: ExitStatus
    public var stages: [StageRecord]
    /// The stages that ran successfully, in order.
    public var ranStages: [StageName]
    public var warehouse: String
    public var reportDirectory: String
    public var error: String?
}

/// Resolves the as-of date: the command line, else the config's `as_of`, else yesterday (UTC).
public func resolveAsOf(_ option: CivilDate?, _ config: PipelineConfig, now: Date = Date()) -> CivilDate {
    if let option { return option }
    if let s = config.asOf, let d = CivilDate(iso: s) { return d }
    let today = Int64((now.timeIntervalSince1970 / 86_400).rounded(.down))
    return CivilDate(daysSinceEpoch: today - 1)
}

/// Runs the selected stages in order, persisting every stage's outputs as
/// artifacts and recording the run in the warehouse ledger.
///
/// Stages read their inputs from tables produced earlier in the same run, or —
/// when a run starts later in the graph (`--only`, `--from`) — from the
/// persisted artifacts of the latest successful run of the producing stage for
/// the same as-of date.
public final class PipelineRunner {
    public let loaded: LoadedConfig
    public let options: RunOptions
    public let asOf: CivilDate
    public let threads: Int
    public let runID: String
    let logger: Logger
    let progress: ProgressLine?
    let artifacts: ArtifactStore
    let plan: Plan
    let warehousePath: String
    /// The report folder; a backfill's is `<report>/backfill/<as-of>` (`run`).
    var reportPath: String
    /// Tables produced in this run, by name.
    var tables: [String: Table] = [:]
    /// Lineage (`ArtifactStore.inputsFile`): the run whose outputs of each stage this run uses (its own for the
    /// stages it runs), what each stage read from were built from, and what the stage running now has read.
    var origins: [StageName: String] = [:]
    var lineages: [StageName: [String: String]] = [:]
    var readsThisStage: [String: String] = [:]
    /// Persisted outputs built with settings the config has changed since (`StageSettings`), per stage.
    var settingChanges: [StageName: [String]] = [:]
    var stageRecords: [StageRecord] = []
    var stageStats: [StageName: StageStats] = [:]
    let startedAt = Date()
    /// Stages' artifacts, written in the background while the later stages run.
    let writer = ArtifactWriter()

    public init(_ loaded: LoadedConfig, options: RunOptions, logger: Logger, progress: ProgressLine? = nil) {
        var loaded = loaded
        if let w = options.warehouseOverride { loaded.config.warehouse = w }
        if let a = options.artifactsOverride { loaded.config.artifacts = a }
        if let r = options.reportOverride { loaded.config.report = r }
        self.loaded = loaded
        self.options = options
        self.logger = logger
        self.progress = progress
        asOf = resolveAsOf(options.asOf, loaded.config)
        let configured = options.threads ?? loaded.config.threads ?? 0
        threads = configured > 0 ? configured : availableCores
        runID = PipelineRunner.makeRunID()
        artifacts = ArtifactStore(root: loaded.artifactsPath)
        plan = Plan(loaded, asOf: asOf)
        warehousePath = loaded.warehousePath
        reportPath = loaded.reportPath
    }

    /// A stage's detail as a JSON object with sorted keys, or nil when it has none.
    func detailJSON(_ stats: StageStats) -> String? {
        guard !stats.detail.isEmpty,
              let data = try? JSONSerialization.data(withJSONObject: stats.detail.mapValues { "\($0)" }, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func makeRunID() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var rng = SystemRandomNumberGenerator()
        // Eight hex digits always (a leading zero was dropped: ids of 7 and 8 characters).
        let hex = String(UInt32.random(in: 0...UInt32.max, using: &rng), radix: 16)
        let suffix = String(repeating: "0", count: 8 - hex.count) + hex
        return "\(f.string(from: Date()))-\(suffix)"
    }

    /// Runs the pipeline. Always records the run's end in the ledger when the warehouse could be opened.
    /// - Throws: the failing stage's error (a `CVMError` carries the exit status).
    public func run() throws -> RunOutcome {
        let selected = try options.selection.stages()
        // Refuse to start, before any work, when personal data could not be pseudonymised.
        if selected.contains(.load) { _ = try pseudonymKey(loaded) }
        if selected.contains(.report), loaded.config.campaigns.ids == .pseudonymized { _ = try pseudonymKey(loaded, required: true) }
        let lock = try RunLock(warehouse: warehousePath)
        defer { withExtendedLifetime(lock) {} }
        let warehouse = try Warehouse(path: warehousePath)
        defer { try? warehouse.close() }
        let started = isoNow()
        // Runs that died (killed, stopped) left their ledger row "running" and their folders being built: this run
        // holds the lock, so none of them is still going.
        let interrupted = try warehouse.markInterruptedRuns(by: runID, at: started)
        // SIGINT and SIGTERM (a scheduler's timeout, Ctrl-C) end the run at once with 128 + the signal, after
        // recording it as interrupted (nothing partial is visible: folders swap in whole, the load is one transaction).
        let stops = PipelineRunner.handleStops(warehouse: warehousePath, runID: runID, logger: logger)
        defer {
            for s in stops { s.cancel() }
            for sig in [SIGINT, SIGTERM] { signal(sig, SIG_DFL) }  // what follows the run (cvm check's comparison) stops as usual
        }
        let tidied = artifacts.recoverInterrupted()
        // A backfill (the warehouse holds a later snapshot) writes its report, summary, metrics and campaign lists
        // beside the live ones, not over them: the live folder stays the latest snapshot's, and its metrics keep
        // saying whether the last nightly run failed (a backfill's success hid a failed night from alerting).
        if let later = try warehouse.latestSnapshot(of: "customer_value", before: CivilDate(year: 9999, month: 12, day: 31)), asOf < later {
            reportPath = loaded.reportPath + "/backfill/\(asOf)"
        }
        try warehouse.recordRunStart(RunRecord(
            runID: runID, pipeline: loaded.config.pipeline, configHash: loaded.configHash, asOf: asOf,
            startedAt: started, endedAt: nil, status: "running", exitCode: nil, threads: threads, message: nil))
        logger.info("run \(runID) started", metadata: [
            "pipeline": "\(loaded.config.pipeline)", "as_of": "\(asOf)", "threads": "\(threads)",
            "stages": "\(selected.map(\.rawValue).joined(separator: ","))",
        ])
        for w in loaded.warnings { logger.warning("\(w.description)") }
        if reportPath != loaded.reportPath, selected.contains(.report) {
            logger.info("a backfill: the warehouse holds a later snapshot, so this run's report goes beside the live one",
                        metadata: ["path": "\(reportPath)"])
        }
        if !interrupted.isEmpty {
            logger.warning("earlier runs ended without recording it (killed or stopped); marked interrupted in the ledger",
                           metadata: ["runs": "\(interrupted.joined(separator: ","))"])
        }
        if !tidied.removed.isEmpty || !tidied.restored.isEmpty {
            let what = "removed folders interrupted runs left in the artifacts"
                + (tidied.restored.isEmpty ? "" : "; put back stage folders an interrupted commit had moved aside")
            logger.warning("\(what)",
                           metadata: ["removed": "\(tidied.removed.count)", "restored": "\(tidied.restored.joined(separator: ","))"])
        }

        var failure: (any Error)?
        for stage in selected {
            let t0 = Date()
            progress?.begin(stage: stage.rawValue)
            var log = logger
            log[metadataKey: "stage"] = "\(stage.rawValue)"
            log.info("started")
            readsThisStage = [:]
            if let pause = ProcessInfo.processInfo.environment["CVM_FAULT_PAUSE_AT_STAGE"], pause.hasPrefix(stage.rawValue + ":"),
               let s = Double(pause.dropFirst(stage.rawValue.count + 1)) {
                // Fault injection for the signal tests: hold the run at the start of this stage.
                Thread.sleep(forTimeInterval: s)
            }
            do {
                if stage == selected.first { try preflight(selected) }
                let stats = try execute(stage, warehouse: warehouse, selected: selected, logger: log)
                progress?.end()
                let seconds = Date().timeIntervalSince(t0)
                stageStats[stage] = stats
                let record = StageRecord(runID: runID, stage: stage.rawValue, status: "succeeded", startedAt: isoString(t0),
                                         durationSeconds: seconds, rowsIn: stats.rowsIn, rowsOut: stats.rowsOut,
                                         rowsRejected: stats.rowsRejected, message: nil, detail: detailJSON(stats))
                stageRecords.append(record)
                try warehouse.recordStage(record)
                var md: Logger.Metadata = [
                    "seconds": "\(String(format: "%.3f", seconds))", "rows_in": "\(stats.rowsIn)",
                    "rows_out": "\(stats.rowsOut)", "rejected": "\(stats.rowsRejected)",
                ]
                for (k, v) in stats.detail { md[k] = "\(v)" }
                log.info("done", metadata: md)
            } catch let thrown {
                let error = loaded.located(thrown)
                progress?.end()
                let seconds = Date().timeIntervalSince(t0)
                // A stage that failed its checks after counting (clean over its budget) left its counts.
                let counted = stageStats[stage]
                let record = StageRecord(runID: runID, stage: stage.rawValue, status: "failed", startedAt: isoString(t0),
                                         durationSeconds: seconds, rowsIn: counted?.rowsIn ?? 0, rowsOut: counted?.rowsOut ?? 0,
                                         rowsRejected: counted?.rowsRejected ?? 0, message: "\(error)", detail: counted.flatMap(detailJSON))
                stageRecords.append(record)
                try? warehouse.recordStage(record)
                // The error itself is printed once, at the end (compiler style, or a JSON line): here only that the
                // stage failed and with what code (the message was printed twice, here and at the end).
                log.error("failed", metadata: ["exit_code": "\(exitStatus(for: error).rawValue)"])
                failure = error
                break
            }
        }
        do {
            try awaitArtifacts(logger)
        } catch {
            logger.error("failed: \(firstLine(error))")
            if failure == nil { failure = error }
        }
        ArtifactStore.waitForRemovals()
        let status = failure == nil ? "succeeded" : "failed"
        let exit = failure.map(exitStatus(for:)) ?? .ok
        try? warehouse.recordRunEnd(runID: runID, endedAt: isoNow(), status: status, exitCode: Int(exit.rawValue),
                                    message: failure.map { "\($0)" })
        if failure != nil { writeSchedulerFiles(status: status, exit: exit, warehouse: warehouse, message: failure.map { "\($0)" }) }
        logger.info("run \(runID) \(status)", metadata: [
            "seconds": "\(String(format: "%.3f", Date().timeIntervalSince(startedAt)))", "warehouse": "\(warehousePath)",
        ])
        if let failure { throw failure }
        return RunOutcome(runID: runID, asOf: asOf, status: status, exitStatus: exit, stages: stageRecords,
                          ranStages: selected,
                          warehouse: warehousePath, reportDirectory: reportPath, error: nil)
    }

    /// Handlers for SIGINT and SIGTERM for the length of a run: log, record the run as interrupted, exit 128 + signal.
    static func handleStops(warehouse: String, runID: String, logger: Logger) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                logger.error("stopped by \(sig == SIGINT ? "SIGINT" : "SIGTERM"); the run is recorded as interrupted", metadata: ["exit_code": "\(128 + sig)"])
                Warehouse.recordStopped(path: warehouse, runID: runID, signal: sig, at: isoNow())
                exit(128 + sig)
            }
            source.resume()
            return source
        }
    }

    /// A table by reference: produced earlier in this run, or read from the producing stage's artifacts.
    func input(_ ref: TableRef) throws -> Table {
        if let t = tables[ref.table] { noteRead(ref.stage); return t }
        try awaitArtifacts(logger)
        try refuseFailedChecks(ref.stage)
        try checkLineage(ref.stage)
        let t = try artifacts.read(stage: ref.stage.rawValue, table: ref.table, asOf: asOf, threads: threads)
        tables[ref.table] = t
        return t
    }

    /// A table with at least `columns` (the whole table when this run holds it); a projected read is not
    /// kept, so a later stage that needs other columns reads them.
    func input(_ ref: TableRef, columns: Set<String>) throws -> Table {
        if let t = tables[ref.table] { noteRead(ref.stage); return t }
        try awaitArtifacts(logger)
        try refuseFailedChecks(ref.stage)
        try checkLineage(ref.stage)
        return try artifacts.read(stage: ref.stage.rawValue, table: ref.table, asOf: asOf, columns: columns, threads: threads)
    }

    /// The stage running now read outputs of `stage` (this run's, or the persisted ones `checkLineage` took).
    func noteRead(_ stage: StageName) {
        readsThisStage[stage.rawValue] = origins[stage] ?? runID
    }

    /// Persisted outputs a stage run alone combines must come from one line of runs: each was built from the outputs
    /// of the others that are in use (a `--only load` after `--until clean` loaded new clean tables with features,
    /// clusters and scores of the old ones, under one run id). Folders without a record (older cvm) pass.
    /// - Throws: `CVMFailure` (exit 66) naming the stage to run from.
    func checkLineage(_ stage: StageName) throws {
        try verifyPersisted(stage)
        noteRead(stage)
    }

    /// Before the first stage runs: the persisted outputs the selected stages will read are checked (failed checks,
    /// settings changed since, lines of runs), so a refusal comes before anything is rewritten (`--from value` after
    /// a clustering's `k` changed rebuilt the scores, then refused at the load).
    func preflight(_ selected: [StageName]) throws {
        let plan = Plan(loaded, asOf: asOf)
        let upstream = Set(selected.flatMap { plan.stage($0).inputs.map(\.stage) }).subtracting(selected)
        for s in upstream.sorted() where artifacts.tableNames(stage: s.rawValue, asOf: asOf) != nil {
            try refuseFailedChecks(s)
            try verifyPersisted(s)
        }
    }

    /// The walk of `checkLineage`, without noting a read.
    func verifyPersisted(_ stage: StageName) throws {
        // The stage and, through the records, every stage its outputs were built from, read by this run or not: the
        // report reads no features, but the scores it shows must be built from the features there are, and those
        // from the clean tables there are.
        var pending = [stage]
        while let s = pending.popLast() {
            guard origins[s] == nil else { continue }
            origins[s] = artifacts.writerRunID(stage: s.rawValue, asOf: asOf)
            lineages[s] = artifacts.inputs(stage: s.rawValue, asOf: asOf)
            pending += (lineages[s] ?? [:]).keys.sorted().compactMap { StageName(rawValue: $0) }
            // Built with the config as it was: a setting of the stage changed since, its outputs say something else.
            if let recorded = artifacts.settings(stage: s.rawValue, asOf: asOf) {
                let diff = StageSettings.changes(recorded: recorded, now: StageSettings.of(s, in: loaded.settings))
                if !diff.isEmpty { settingChanges[s] = diff }
            } else if origins[s] != nil {
                // Made by a cvm that recorded no settings: read, as before, but said.
                logger.warning("the \(s.rawValue) outputs for as-of \(asOf) record no config settings (an older cvm made them), so a config changed since is not noticed; run from \(s.rawValue) to record them")
            }
        }
        if let (first, diff) = settingChanges.min(by: { $0.key < $1.key }) {
            let listed = diff.joined(separator: "; ")
            throw CVMFailure(.noInput, "\(loaded.path): error: the \(first.rawValue) outputs for as-of \(asOf) were built with other settings than the config has now: \(listed); run again from \(first.rawValue) so they follow the config (cvm run \(loaded.path) --from \(first.rawValue))")
        }
        for (built, used) in lineages.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for (name, run) in used.sorted(by: { $0.key < $1.key }) {
                guard let upstream = StageName(rawValue: name), let now = origins[upstream], now != run else { continue }
                throw CVMFailure(.noInput, "\(loaded.path): error: the \(built.rawValue) outputs for as-of \(asOf) were built from the \(name) outputs of run \(run), but the \(name) outputs in use are run \(now)'s (\(name) ran again since); run again from \(built.rawValue) so they agree (cvm run \(loaded.path) --from \(built.rawValue))")
            }
        }
    }

    /// A stage rerun alone (`--only`, `--from`) does not go on from outputs whose run failed its data-quality
    /// checks: they are kept for inspection (the quarantine), not for use. Exit 65, as the failed run.
    func refuseFailedChecks(_ stage: StageName) throws {
        guard let why = artifacts.failedChecks(stage: stage.rawValue, asOf: asOf) else { return }
        var first = why.split(separator: "\n").first.map(String.init) ?? why
        first = first.replacingOccurrences(of: "\(loaded.path): error: ", with: "")
        throw CVMFailure(.dataQuality, "\(loaded.path): error: the \(stage.rawValue) outputs for as-of \(asOf) come from a run that failed its data-quality checks (\(first)); fix the data or the budget and run again from that stage (cvm run \(loaded.path) --from \(stage.rawValue))")
    }

    /// A table this run produced or its stage persisted, nil when neither; unlike `optionalInput`, outputs that are
    /// there but refused (other runs' lines, changed settings, failed checks) throw rather than go missing.
    func inputIfPresent(_ ref: TableRef) throws -> Table? {
        if let t = tables[ref.table] { noteRead(ref.stage); return t }
        guard artifacts.tableNames(stage: ref.stage.rawValue, asOf: asOf)?.contains(ref.table) == true else { return nil }
        return try input(ref)
    }

    /// A table, nil when it cannot be had for any reason (the run summary and `cvm check`, after the run).
    func optionalInput(_ ref: TableRef) -> Table? {
        if let t = tables[ref.table] { return t }
        return try? input(ref)
    }

    /// Keeps a stage's outputs for the later stages in this run and queues them to be persisted as its artifacts
    /// (`ArtifactWriter`: written in the background, one worker, while the next stages run).
    /// `writers`: workers for the write's columns; by default 1, which leaves the cores to the stages running
    /// meanwhile, but the run's threads for the run's last stage (nothing runs meanwhile: the run only waits, and
    /// two writes in flight keep this machine's disk busy where one left it idle half the time: 250 against
    /// 500 MB/s). A stage that waits for its own write at once passes the run's threads.
    /// `after`: the part of the stage's tables queued earlier (`publishPart`); the stage's folder, with both parts,
    /// is swapped in once these are written.
    /// `failedChecks`: why the stage's data-quality checks failed; its folder is swapped in marked so.
    func publish(_ outputs: [Table], stage: StageName, writers: Int? = nil, after part: StageWrite? = nil, failedChecks: String? = nil) {
        let writers = writers ?? ((try? options.selection.stages())?.last == stage ? threads : 1)
        let staged = part ?? artifacts.beginWrite(stage: stage.rawValue, asOf: asOf, runID: runID, configHash: loaded.configHash)
        staged.failedChecks = failedChecks
        staged.inputs = readsThisStage
        staged.settings = StageSettings.of(stage, in: loaded.settings)
        origins[stage] = runID
        lineages[stage] = readsThisStage
        // The job holds the columns only until each is written (`ArtifactTables`), not the tables whole.
        let (store, handed) = (artifacts, ArtifactTables(outputs))
        writer.submit(stage: stage.rawValue) {
            try store.write(handed, into: staged, threads: writers)
            try store.commit(staged)
        }
        for t in outputs { tables[t.name] = t }
    }

    /// Queues a part of a stage's artifacts (the first, or the next of `staged`), written (one worker) while the
    /// stage computes the rest; the stage then passes the returned write to `publish` with the rest. Its tables are
    /// kept for the later stages.
    func publishPart(_ outputs: [Table], stage: StageName, into staged: StageWrite? = nil) -> StageWrite {
        let staged = staged ?? artifacts.beginWrite(stage: stage.rawValue, asOf: asOf, runID: runID, configHash: loaded.configHash)
        let (store, handed) = (artifacts, ArtifactTables(outputs))
        // Not reported as a write of its own: `publish`'s job reports the stage's.
        writer.submit(stage: stage.rawValue, reports: false) { try store.write(handed, into: staged) }
        for t in outputs { tables[t.name] = t }
        return staged
    }

    /// Drops a part queued by `publishPart` when its stage fails before it publishes the rest (nothing is swapped in).
    func discardPart(_ staged: StageWrite) {
        let store = artifacts
        writer.submit(stage: staged.stage, reports: false) { store.discard(staged) }
    }

    /// Waits for the artifacts queued so far and logs each stage's write (`artifacts written`: its seconds, and how
    /// long the run stood waiting for it).
    /// - Throws: the first write that failed (`CVMFailure`, exit 74, naming the stage's artifact folder).
    func awaitArtifacts(_ logger: Logger) throws {
        try PipelineRunner.awaitArtifacts(writer, logger)
    }

    static func awaitArtifacts(_ writer: ArtifactWriter, _ logger: Logger) throws {
        for w in try writer.wait() {
            var log = logger
            log[metadataKey: "stage"] = "\(w.stage)"
            log.info("artifacts written", metadata: [
                "seconds": "\(String(format: "%.3f", w.seconds))", "waited_seconds": "\(String(format: "%.3f", w.waitedSeconds))",
            ])
        }
    }
}

func isoString(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: date)
}

/// The exit status for any error: a `CVMError`'s own, else 70 (internal).
public func exitStatus(for error: any Error) -> ExitStatus {
    (error as? any CVMError)?.exitStatus ?? .internal
}

func firstLine(_ error: any Error) -> String {
    let s = "\(error)"
    return s.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? s
}

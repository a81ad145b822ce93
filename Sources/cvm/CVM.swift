import ArgumentParser
import CVMCore
import Foundation
import Logging
import Pipeline

/// `cvm`: the command line. Parses arguments, calls Pipeline, maps errors to exit codes. No logic here.
@main
struct CVM: ParsableCommand {
    static func main() {
        AllocatorPolicy.prepareProcess()
        let args = Array(CommandLine.arguments.dropFirst())
        // Logging JSON lines, a usage error (a bad option value) is a JSON line too, as every other error is
        // (`guarded`): it was ArgumentParser's plain text.
        let json = args.contains("--log-format=json") || zip(args, args.dropFirst()).contains { $0 == "--log-format" && $1 == "json" }
        guard json else { main(nil); return }
        do {
            var command = try parseAsRoot(args)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            // Help and version (exit 0), and errors `guarded` already printed (an `ExitCode`), as usual.
            if code == .success || error is ExitCode { exit(withError: error) }
            let ts = ISO8601DateFormatter().string(from: Date())
            let fields: [String: Any] = ["level": "error", "logger": "cvm", "msg": message(for: error), "exit_code": Int(code.rawValue), "ts": ts]
            let line = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data(message(for: error).utf8)
            FileHandle.standardError.write(line + Data("\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "cvm",
        abstract: "Online customer value management: a nightly batch pipeline from order and click logs to a SQLite warehouse.",
        discussion: """
        Exit codes (BSD sysexits):
          0  ok                              66  an input is missing or unreadable
          1  a stage failed                  70  internal error
          64 usage error                     74  I/O error writing outputs
          65 data-quality budget exceeded    75  another run holds the lock (try later)
             or cvm check found differences  78  config error
                                             130/143  stopped by SIGINT/SIGTERM
        """,
        version: "0.1.0",
        subcommands: [Run.self, Plan.self, Validate.self, Runs.self, Report.self, Generate.self, Check.self, Export.self, Features.self, CLV.self, KMeansFit.self]
    )
}

/// What the process holds until it exits (see `Run.run`).
nonisolated(unsafe) var keptUntilExit: AnyObject?

/// Runs `body`, printing any error once, compiler style, and exiting with its sysexits code. With `json` (a run
/// logging JSON lines) the error is one more JSON line on standard error, so a reader of the log never meets a
/// plain-text line: `{"level":"error","msg":<the message>,"exit_code":<code>,"ts":...}`.
func guarded(json: Bool = false, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        let code = exitStatus(for: error).rawValue
        if json {
            let ts = ISO8601DateFormatter().string(from: Date())
            let line = (try? JSONSerialization.data(withJSONObject: ["level": "error", "logger": "cvm", "msg": "\(error)", "exit_code": Int(code), "ts": ts],
                                                    options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("\(error)".utf8)
            FileHandle.standardError.write(line + Data("\n".utf8))
        } else {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
        }
        throw ExitCode(code)
    }
}

/// A `YYYY-MM-DD` option value, or a usage error (exit 64) naming the option.
func parseDay(_ text: String, option: String) throws -> CivilDate {
    guard let d = CivilDate(iso: text) else {
        throw CVMFailure(.usage, "error: \(option) \"\(text)\" is not a valid date; write YYYY-MM-DD")
    }
    return d
}

struct StageOptions: ParsableArguments {
    @Option(help: "The snapshot date, YYYY-MM-DD (default: the config's as_of, else yesterday UTC).")
    var asOf: String?

    @Option(help: "Run only this stage, from the persisted inputs of the latest successful run for the as-of date.")
    var only: StageName?

    @Option(help: "Run this stage and every stage after it.")
    var from: StageName?

    @Option(help: "Stop after this stage.")
    var until: StageName?

    func parsedAsOf() throws -> CivilDate? { try asOf.map { try parseDay($0, option: "--as-of") } }

    var selection: StageSelection { StageSelection(only: only, from: from, until: until) }
}

extension StageName: ExpressibleByArgument {
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

extension LogFormat: ExpressibleByArgument {}

func makeLogger(_ format: LogFormat, progress: ProgressLine?) -> Logger {
    Logger(label: "cvm") { label in CVMLogHandler(label: label, format: format, progress: progress) }
}

extension CVM {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the pipeline (all stages, or a selection) and load the snapshot for the as-of date.")

        @Argument(help: "The pipeline config (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var config: String

        @OptionGroup var stages: StageOptions

        @Option(help: "Worker threads (default: the config's threads, else one per core).")
        var threads: Int?

        @Option(help: "Log format: text or json (JSON lines).")
        var logFormat: LogFormat = .text

        func validate() throws {
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        func run() throws {
            try guarded(json: logFormat == .json) {
                let loaded = try ConfigLoader.load(path: config)
                let progress = logFormat == .text ? ProgressLine.makeIfTerminal() : nil
                let logger = makeLogger(logFormat, progress: progress)
                var options = RunOptions(asOf: try stages.parsedAsOf(), selection: stages.selection, threads: threads)
                options.threads = threads
                let runner = PipelineRunner(loaded, options: options, logger: logger, progress: progress)
                // The process ends right after the run: its tables (M: 2-3 GB in millions of values, an id column's
                // dictionary alone holds 16 M strings) are left to the kernel instead of being freed one by one
                // (about a second on M). Under LeakSanitizer they are freed as usual: held in a global, part of them
                // was still reported as leaked (`make sanitize-address`), and the report filled the tests' pipes.
                if dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__lsan_do_leak_check") == nil { keptUntilExit = runner }
                let outcome = try runner.run()
                print("run \(outcome.runID) \(outcome.status) (as-of \(outcome.asOf))")
                print("warehouse: \(outcome.warehouse)")
                if outcome.ranStages.contains(.report) {
                    print("report:    \(outcome.reportDirectory)/index.html")
                }
            }
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the stages, their inputs and outputs, and what a run would read and write.")

        @Argument(help: "The pipeline config (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var config: String

        @OptionGroup var stages: StageOptions

        func run() throws {
            try guarded {
                let loaded = try ConfigLoader.load(path: config)
                let asOf = resolveAsOf(try stages.parsedAsOf(), loaded.config)
                let plan = Pipeline.Plan(loaded, asOf: asOf)
                print(plan.describe(selected: try stages.selection.stages(), loaded: loaded, asOf: asOf), terminator: "")
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the config and that its inputs exist, without running.")

        @Argument(help: "The pipeline config (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var config: String

        @Option(help: "Also read, type and check the first N rows of every source (0: only the config).")
        var sample: Int = 0

        @Option(help: "The as-of date for window rules in the sample, YYYY-MM-DD (default: the config's as_of, else yesterday UTC).")
        var asOf: String?

        @Option(help: "With --sample, print this many kept rows of each source as typed values (timestamps in UTC).")
        var preview: Int = 2

        func run() throws {
            var status = ExitStatus.ok
            try guarded {
                guard sample >= 0 else { throw CVMFailure(.usage, "error: --sample must be 0 or more, found \(sample)") }
                guard preview >= 0 else { throw CVMFailure(.usage, "error: --preview must be 0 or more, found \(preview)") }
                let day = try asOf.map { try parseDay($0, option: "--as-of") }
                let loaded = try ConfigLoader.load(path: config)
                for w in loaded.warnings { FileHandle.standardError.write(Data("\(w)\n".utf8)) }
                let files = loaded.files.values.reduce(0) { $0 + $1.count }
                print("\(config): ok (\(loaded.config.sources.count) source\(loaded.config.sources.count == 1 ? "" : "s"), \(files) input file\(files == 1 ? "" : "s"))")
                if sample > 0 {
                    let report = sampleSources(loaded, rows: sample, asOf: resolveAsOf(day, loaded.config), preview: preview)
                    print(report.text, terminator: "")
                    status = report.exitStatus
                }
            }
            if status != .ok { throw ExitCode(status.rawValue) }
        }
    }

    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List past runs: id, as-of, status, duration, rows in/out/rejected per stage.")

        @Option(help: "The warehouse (SQLite file).", completion: .file(extensions: ["sqlite", "db"]))
        var warehouse: String

        @Option(help: "How many runs to list, newest first.")
        var limit: Int = 20

        func validate() throws {
            if limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        func run() throws {
            try guarded { print(try listRuns(warehouse: warehouse, limit: limit), terminator: "") }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the report, summary.json, metrics.prom and campaign lists of a past run from the warehouse.")

        @Option(help: "The warehouse (SQLite file).", completion: .file(extensions: ["sqlite", "db"]))
        var warehouse: String

        @Option(name: .customLong("run"), help: "The run id (see cvm runs); default: the latest succeeded run.")
        var runID: String?

        @Option(help: "Output folder.", completion: .directory)
        var out: String

        @Option(help: "A pipeline config for its campaign settings and source names (default: the built-in campaigns).",
                completion: .file(extensions: ["yaml", "yml"]))
        var config: String?

        func run() throws {
            try guarded {
                let loaded = try config.map { try ConfigLoader.load(path: $0, checkFiles: false) }
                let files = try ReportCommand.run(warehouse: warehouse, runID: runID, out: out, config: loaded)
                for f in files { print(f) }
            }
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a realistic synthetic shop (customers, daily orders, hourly clickstream) as gzip CSV.")

        @Option(help: "Size preset: demo, S, M or L.")
        var preset: String = "S"

        @Option(help: "Number of customers (overrides the preset).")
        var customers: Int?

        @Option(help: "Days of order history (overrides the preset).")
        var days: Int?

        @Option(help: "Random seed; the same seed gives byte-identical files.")
        var seed: UInt64

        @Option(help: "Output folder.", completion: .directory)
        var out: String

        @Option(help: "Worker threads (default: one per core).")
        var threads: Int?

        func validate() throws {
            if let customers, customers < 1 { throw ValidationError("--customers must be at least 1") }
            if let days, !(1...36_525).contains(days) { throw ValidationError("--days must be between 1 and 36525") }
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        func run() throws {
            try guarded {
                let summary = try generateShop(preset: preset, customers: customers, days: days, seed: seed, out: out,
                                               threads: threads ?? availableCores)
                print(summary)
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the pipeline into a scratch warehouse and compare its key outputs with an expectations file.",
            discussion: "Exits 65 with a readable diff when they differ; --update rewrites the expectations.")

        @Argument(help: "The pipeline config (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var config: String

        @Option(help: "The expectations file (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var expect: String

        @Flag(help: "Rewrite the expectations file from this run.")
        var update = false

        @Option(help: "The snapshot date (default: the config's as_of).")
        var asOf: String?

        @Option(help: "Worker threads.")
        var threads: Int?

        func validate() throws {
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        func run() throws {
            try guarded {
                let loaded = try ConfigLoader.load(path: config)
                let asOfDate = try asOf.map { try parseDay($0, option: "--as-of") }
                let result = try ExpectationCheck.run(loaded, expectations: expect, update: update, asOf: asOfDate,
                                                      threads: threads, logger: makeLogger(.text, progress: nil))
                print(result)
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print or export a persisted table (any stage's artifact) as CSV.")

        @Argument(help: "The pipeline config (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var config: String

        @Option(help: "The table, e.g. quarantine, stg_orders, customer_features.")
        var table: String

        @Option(help: "The snapshot date (default: the config's as_of, else yesterday UTC).")
        var asOf: String?

        @Option(help: "Write to this file instead of standard output.")
        var out: String?

        @Option(help: "At most this many rows.")
        var limit: Int?

        func validate() throws {
            if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more") }
        }

        func run() throws {
            try guarded {
                let loaded = try ConfigLoader.load(path: config, checkFiles: false)
                let date = try asOf.map { try parseDay($0, option: "--as-of") }
                try exportTable(loaded, table: table, asOf: resolveAsOf(date, loaded.config), to: out, limit: limit)
            }
        }
    }

    struct CLV: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clv",
            abstract: "Fit BG/NBD and Gamma-Gamma on any transaction log; print one JSON line, optionally per-customer CSV.",
            discussion: "Transactions of one customer on one day count as one purchase occasion, as in the published work.")

        @Option(help: "The transaction file (CSV, gzip or plain).", completion: .file())
        var transactions: String
        @Option(help: "Customer id column (header name, or 1-based position with --no-header).")
        var customer: String
        @Option(help: "Date column.")
        var date: String
        @Option(help: "Amount column.")
        var amount: String
        @Option(help: "Date format: iso8601 (default) or a pattern such as yyyyMMdd.")
        var dateFormat: String?
        @Option(help: "Delimiter: \",\", \"\\t\", \";\", \"|\" or whitespace.")
        var delimiter: String = ","
        @Flag(inversion: .prefixedNo, help: "Whether the file has a header row.")
        var header = true
        @Option(help: "Last day of the calibration period (YYYY-MM-DD).")
        var calibrationEnd: String
        @Option(help: "Last day of the holdout period; adds a holdout comparison.")
        var observationEnd: String?
        @Option(help: "Model time unit: week or day.")
        var timeUnit: String = "week"
        @Option(help: "CLV horizon in months.")
        var horizonMonths: Int = 12
        @Option(help: "Monthly discount rate.")
        var discountRate: Double = 0.01
        @Option(help: "Write per-customer values to this CSV.")
        var out: String?
        @Option(help: "Worker threads (default: one per core).")
        var threads: Int?

        /// The same bounds as the config's `stages.value.clv`.
        func validate() throws {
            if !(1...120).contains(horizonMonths) { throw ValidationError("--horizon-months must be between 1 and 120") }
            if !(discountRate >= 0 && discountRate < 1) { throw ValidationError("--discount-rate must be at least 0 and below 1 (a monthly rate, e.g. 0.01)") }
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        func run() throws {
            try guarded {
                let request = CLVRequest(
                    transactions: transactions, customer: customer, date: date, amount: amount, dateFormat: dateFormat,
                    delimiter: delimiter, header: header, calibrationEnd: try parseDay(calibrationEnd, option: "--calibration-end"),
                    observationEnd: try observationEnd.map { try parseDay($0, option: "--observation-end") }, timeUnit: timeUnit,
                    horizonMonths: horizonMonths, discountRate: discountRate, out: out, threads: threads ?? availableCores)
                print(try CLVCommand.run(request) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
            }
        }
    }

    struct KMeansFit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kmeans",
            abstract: "k-means on any CSV with a header row and numeric columns; prints one JSON line.",
            discussion: "seconds is the fit time without reading the file. Results are identical for any --threads.")

        @Option(help: "The input CSV (header row, numeric columns; gzip or plain).", completion: .file())
        var input: String
        @Option(help: "Number of clusters.")
        var k: Int
        @Option(name: .customLong("init"), help: "Initial centroids: a CSV with the same header and k rows (default: k-means++).")
        var initial: String?
        @Option(help: "auto, lloyd, hamerly or elkan (all exact: same labels and inertia; auto picks by size and dimension).")
        var algorithm: String = "auto"
        @Option(help: "Maximum Lloyd iterations per run.")
        var maxIter: Int = 300
        @Option(help: "Convergence tolerance, relative to the mean feature variance (as scikit-learn).")
        var tol: Double = 1e-4
        @Option(help: "Restarts (k-means++ only); the lowest inertia wins.")
        var nInit: Int = 1
        @Option(help: "Random seed.")
        var seed: UInt64 = 0
        @Option(help: "Worker threads (default: one per core).")
        var threads: Int?
        @Option(help: "Write row,label to this CSV.")
        var labels: String?
        @Option(help: "Write the centroids to this CSV.")
        var centroids: String?

        func validate() throws {
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        func run() throws {
            try guarded {
                print(try KMeansCommand.run(KMeansRequest(
                    input: input, k: k, initial: initial, algorithm: algorithm, maxIterations: maxIter, tolerance: tol,
                    nInit: nInit, seed: seed, threads: threads ?? availableCores, labels: labels, centroids: centroids)))
            }
        }
    }

    struct Features: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the feature catalog of a snapshot: name, family, description, type, window, unit.")

        @Argument(help: "The pipeline config (YAML).", completion: .file(extensions: ["yaml", "yml"]))
        var config: String
        @Option(help: "The snapshot date (default: the config's as_of, else yesterday UTC).")
        var asOf: String?
        @Option(help: "table, csv or json (JSON lines).")
        var format: String = "table"

        func run() throws {
            try guarded {
                let loaded = try ConfigLoader.load(path: config, checkFiles: false)
                let date = resolveAsOf(try asOf.map { try parseDay($0, option: "--as-of") }, loaded.config)
                print(try featureCatalogText(loaded, asOf: date, format: format), terminator: "")
            }
        }
    }
}

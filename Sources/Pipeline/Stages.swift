import Foundation
import CVMCore
import Logging
import Extract
import Clean
import Features
import Cluster
import Value
import Warehouse
import Report

/// The body of each stage: read declared inputs, call the stage module, publish outputs.
extension PipelineRunner {
    func execute(_ stage: StageName, warehouse: Warehouse, selected: [StageName], logger: Logger) throws -> StageStats {
        switch stage {
        case .extract: return try runExtract(logger)
        case .clean: return try runClean(logger)
        case .features: return try runFeatures(logger)
        case .cluster: return try runCluster(warehouse, logger)
        case .value: return try runValue(logger)
        case .load: return try runLoad(warehouse, logger)
        case .report: return try runReport(warehouse, logger)
        }
    }

    // MARK: extract

    func runExtract(_ logger: Logger) throws -> StageStats {
        var stats = StageStats()
        var rejects: [QuarantineRecord] = []
        var reports: [(String, FileReport)] = []
        // Each source's raw table is queued for writing as soon as it is read, so the disk writes the small
        // sources while the big one is read, and the big one first while clean runs.
        var part: StageWrite?
        var published = false
        defer { if !published, let part { discardPart(part) } }
        progress?.expect(units: loaded.files.values.reduce(0) { $0 + $1.count })
        let line = progress
        for (name, source) in loaded.config.sources {
            let files = loaded.files[name] ?? []
            let result = try Extractor.extract(source, files: files, threads: threads) { files, rows in line?.advance(units: files, rows: rows) }
            AllocatorPolicy.releaseFreeMemory()
            var table = result.table
            table.name = "raw_\(name)"
            rejects += result.rejects
            reports += result.files.map { (name, $0) }
            let read = result.files.reduce(0) { $0 + $1.rowsRead }
            // Rows, not records: a file rejected whole (`on_file_error: quarantine-file`) is one quarantine record
            // for the rows read from it before the error, which are dropped with it.
            let rejectedRows = read - table.rowCount
            stats.rowsIn += read
            stats.rowsOut += table.rowCount
            stats.rowsRejected += rejectedRows
            let bytes = result.files.reduce(Int64(0)) { $0 + $1.bytes }
            stats.detail["\(name).files"] = "\(files.count)"
            stats.detail["\(name).bytes"] = "\(bytes)"
            var metadata: Logger.Metadata = [
                "files": "\(files.count)", "rows": "\(read)", "accepted": "\(table.rowCount)",
                "rejected": "\(rejectedRows)", "bytes": "\(bytes)",
                "read_seconds": "\(String(format: "%.3f", result.readSeconds))",
                "merge_seconds": "\(String(format: "%.3f", result.mergeSeconds))",
            ]
            let skipped = result.files.reduce(0) { $0 + $1.linesSkipped }
            if skipped > 0 { metadata["lines_skipped"] = "\(skipped)" }
            logger.info("read \(name)", metadata: metadata)
            // A file rejected whole is said as such (it was only a quarantine row and a count: a truncated day of
            // orders went missing from the snapshot without a word).
            let rejectedFiles = result.files.filter { $0.rejectedReason != nil }
            for f in rejectedFiles {
                logger.warning("rejected a whole file (on_file_error: quarantine-file); its rows are not in this snapshot", metadata: [
                    "source": "\(name)", "file": "\(f.path)", "rows_read": "\(f.rowsRead)", "reason": "\(f.rejectedReason ?? "")",
                ])
            }
            if !rejectedFiles.isEmpty { stats.detail["\(name).files_rejected"] = "\(rejectedFiles.count)" }
            for x in result.nulled {
                logger.warning("nulled values that do not parse (on_invalid: null)", metadata: [
                    "source": "\(name)", "column": "\(x.column)", "rule": "parse", "values": "\(x.count)", "example": "\(x.example)",
                ])
                stats.detail["nulled_\(name)_\(x.column)"] = "\(x.count)"
            }
            part = publishPart([table], stage: .extract, into: part)
        }
        let files = Table(name: "extract_files", columns: [
            Column("source", strings: reports.map { $0.0 }),
            Column("path", strings: reports.map { $0.1.path }),
            Column("compressed_bytes", .int, int64: reports.map { $0.1.compressedBytes }),
            Column("bytes", .int, int64: reports.map { $0.1.bytes }),
            Column("rows_read", .int, int64: reports.map { Int64($0.1.rowsRead) }),
            Column("rows_accepted", .int, int64: reports.map { Int64($0.1.rowsAccepted) }),
            Column("rows_rejected", .int, int64: reports.map { Int64($0.1.rowsRejected) }),
            Column("rejected_reason", strings: reports.map { $0.1.rejectedReason }),
            Column("lines_skipped", .int, int64: reports.map { Int64($0.1.linesSkipped) }),
        ], rowCount: reports.count)
        // Written while clean runs: the write lets each raw column go once it is on disk (`ArtifactTables`), the
        // raw tables in the order read, so clean's gather, which frees the raw columns, finds them written.
        publish([files, QuarantineRecord.table(rejects, name: "extract_rejects")], stage: .extract, after: part)
        published = true
        return stats
    }

    // MARK: clean

    func runClean(_ logger: Logger) throws -> StageStats {
        var stats = StageStats()
        let sources = loaded.config.sources.entries.map(\.value)
        let order = try Cleaner.referenceOrder(sources)
        var cleaned: [String: Table] = [:]
        var quarantine = QuarantineRecord.records(from: try input(TableRef(stage: .extract, table: "extract_rejects")))
        // Rows extract set aside per source: one per quarantine record (whatever its rule), except a file rejected
        // whole, whose record stands for the rows read from it before the error (`extract_files.rows_rejected`).
        var extractRejectedRows: [String: Int] = [:], rowsOfRejectedFiles: [String: Int] = [:]
        for r in quarantine where r.rule != "file" { extractRejectedRows[r.source, default: 0] += 1 }
        let files = try input(TableRef(stage: .extract, table: "extract_files"))
        if let source = files["source"], let dropped = files["rows_rejected"], let reason = files["rejected_reason"] {
            for i in 0..<files.rowCount where reason.isValid(i) {
                rowsOfRejectedFiles[source.string(at: i) ?? "", default: 0] += Int(dropped.int64Values[i])
            }
        }
        for (name, rows) in rowsOfRejectedFiles { extractRejectedRows[name, default: 0] += rows }
        var budgetProblems: [String] = []
        var profiles: [Table] = []
        /// Rows of a source's cleaned table before placeholders for unknown ids were added to it.
        var rowsBeforePlaceholders: [String: Int] = [:]
        // Where the stage's time goes (seconds, in its log line): the rules, the profiles, the sessions, writing.
        var clock = PhaseClock()
        for name in order {
            guard let source = loaded.config.sources[name] else { continue }
            let persisted = tables["raw_\(name)"] == nil
            let raw = try input(TableRef(stage: .extract, table: "raw_\(name)"))
            if persisted { try checkExtracted(raw, against: source) }
            // Only this stage reads raw tables: released once cleaned, so the later stages' peak memory does not hold them.
            tables["raw_\(name)"] = nil
            var refs: [String: Column] = [:], refRules: [String: ColumnDecl] = [:]
            for (_, target) in source.references {
                let parts = target.split(separator: ".").map(String.init)
                if parts.count == 2, let col = cleaned[parts[0]]?[parts[1]] { refs[target] = col }
                if parts.count == 2, let decl = loaded.config.sources[parts[0]]?.columns[parts[1]] { refRules[target] = decl }
            }
            let rawRows = raw.rowCount
            clock.start()
            // Handed over: clean releases the raw columns as it gathers the kept rows.
            let result = Cleaner.clean(source, table: consume raw, references: refs, threads: threads,
                                       asOf: (asOf.daysSinceEpoch, loaded.config.stages.features.clock), referenceRules: refRules)
            clock.stop("rules", into: &stats)
            var table = result.table
            table.name = "stg_\(name)"
            cleaned[name] = table
            quarantine += result.quarantine
            let extractRejected = extractRejectedRows[name] ?? 0
            let rowsSeen = rawRows + extractRejected
            let rejected = result.quarantine.count + extractRejected
            stats.rowsIn += rowsSeen
            stats.rowsOut += table.rowCount
            stats.rowsRejected += rejected
            // Per source in the stage's detail (`SourceAccounting`), so the summary and a report rebuilt from the
            // warehouse's ledger have them.
            SourceAccounting.record(source: name, read: rowsSeen, kept: table.rowCount, rejected: rejected, into: &stats.detail)
            let rate = rowsSeen == 0 ? 0 : Double(rejected) / Double(rowsSeen)
            logger.info("cleaned \(name)", metadata: [
                "rows": "\(rowsSeen)", "accepted": "\(table.rowCount)", "rejected": "\(rejected)",
                "reject_rate": "\(String(format: "%.4f", rate))",
            ])
            if rate > source.maxRejectRate {
                // The top failing rules, most rows first, each with its first example.
                // Files rejected whole count the rows dropped with them.
                let fileRows = rowsOfRejectedFiles[name] ?? 0
                func weight(_ rule: String, _ records: Int) -> Int { rule == "file" ? fileRows : records }
                let byRule = Dictionary(grouping: quarantine.filter { $0.source == name }, by: \.rule)
                    .sorted { (weight($0.key, $0.value.count), $1.key) > (weight($1.key, $1.value.count), $0.key) }.prefix(3)
                    .map { rule, rows in
                        // The example's line as read (its first 120 bytes), unless raw text is not kept.
                        let line = rows[0].raw.isEmpty ? "" : " in \"\(prefixUTF8(rows[0].raw, bytes: 120))\(rows[0].raw.utf8.count > 120 ? "…" : "")\""
                        let count = rule == "file" ? "\(fileRows) rows in \(rows.count) file\(rows.count == 1 ? "" : "s")" : "\(rows.count)"
                        return "\(rule) \(count), e.g. \(URL(fileURLWithPath: rows[0].file).lastPathComponent):\(rows[0].line): \(rows[0].reason)\(line)"
                    }
                    .joined(separator: "; ")
                budgetProblems.append("\(loaded.path): error: sources.\(name).max_reject_rate: \(String(format: "%.2f", rate * 100))% of \(name) rows were rejected (\(rejected) of \(rowsSeen); \(byRule)), more than the budget of \(String(format: "%.2f", source.maxRejectRate * 100))%; inspect the quarantine (cvm export \(loaded.path) --table quarantine) and fix the data or raise the budget")
            }
            for x in result.nulled {
                logger.warning("nulled invalid values (on_invalid: null)", metadata: [
                    "source": "\(name)", "column": "\(x.column)", "rule": "\(x.rule)", "values": "\(x.count)", "example": "\(x.example)",
                ])
            }
            // Per column, summed over its rules (each rule's count replaced the one before: 1 where 3 were nulled).
            for (column, count) in Dictionary(result.nulled.map { ($0.column, $0.count) }, uniquingKeysWith: +) {
                stats.detail["nulled_\(name)_\(column)"] = "\(count)"
            }
            for u in result.unknownReferences {
                let target = String(u.target.split(separator: ".").first ?? "")
                var metadata: Logger.Metadata = [
                    "source": "\(name)", "column": "\(u.column)", "target": "\(u.target)", "rows": "\(u.rows)",
                    "ids": "\(u.ids.count)", "example": "\(u.ids.first ?? "")", "on_unknown": "\(u.policy.rawValue)",
                ]
                stats.detail["unknown_\(name)_\(u.column)"] = "\(u.rows)"
                // A placeholder row per unknown id joins the referenced source's cleaned table, so every kept row
                // has its customer (sources cleaned later, and the features, see them).
                if u.policy == .placeholder, let referenced = cleaned[target],
                   let extra = u.placeholders(matching: referenced, source: name) {
                    if rowsBeforePlaceholders[target] == nil { rowsBeforePlaceholders[target] = referenced.rowCount }
                    cleaned[target] = Table.concatenating([referenced, extra], name: referenced.name)
                    stats.detail["placeholders_\(target)"] = "\(cleaned[target]!.rowCount - rowsBeforePlaceholders[target]!)"
                    metadata["placeholders_added"] = "\(extra.rowCount)"
                }
                logger.warning("kept rows whose reference is unknown", metadata: metadata)
            }
            if let stale = Cleaner.staleness(source, table: table, cutoff: loaded.config.stages.features.cutoffUTC(asOf: asOf)) {
                budgetProblems.append("\(loaded.path): error: \(stale)")
            }
        }
        // The cleaned tables are final once every source is in (placeholders may have joined a referenced source):
        // written while the profiles and sessions are computed. Not the sessions' events when visitors are
        // stitched to customers (their customer ids may change below).
        let stitching = loaded.config.stages.clean.sessions?.visitor != nil ? sessionsSource(loaded.config.stages.clean) : nil
        let early = sources.filter { $0.name != stitching }.compactMap { cleaned[$0.name] }
        let part = publishPart(early, stage: .clean)
        var published = false
        defer { if !published { discardPart(part) } }
        // Profiles once every source is in, in config order.
        clock.start()
        // Personal columns show no values in the profile (it reaches the warehouse and the report).
        let personal = Set(loaded.config.privacy.pseudonymize)
        for name in order {
            guard var table = cleaned[name] else { continue }
            // The source's own rows: placeholder rows (ids only) read as rows of nulls (4 customers, an email null
            // share of 0.75, where the file had one customer and no null email).
            if let own = rowsBeforePlaceholders[name] { table = table.gathering(Array(0..<own), threads: threads) }
            profiles.append(Cleaner.profile(table, source: name, threads: threads, masked: personal))
        }
        clock.stop("profile", into: &stats)
        var outputs = sources.filter { $0.name == stitching }.compactMap { cleaned[$0.name] }
        if let sessionSource = sessionsSource(loaded.config.stages.clean), let events = cleaned[sessionSource] {
            // Sessions belong to the snapshot: events after the as-of day are left out (point-in-time).
            clock.start()
            let (sessions, stitched, stitchedCount) = try Sessionizer.sessionizeStitching(
                events, loaded.config.stages.clean.sessions!, zone: loaded.config.stages.features.zone,
                threads: threads, before: loaded.config.stages.features.cutoffUTC(asOf: asOf))
            clock.stop("sessions", into: &stats)
            if let stitched, let k = outputs.firstIndex(where: { $0.name == stitched.name }) {
                // Anonymous events a login stitched to a customer carry that customer in stg_events (the features
                // count them); the number is in the stage's detail.
                stats.detail["events_stitched"] = "\(stitchedCount)"
                outputs[k] = stitched
            }
            outputs.append(sessions)
            stats.detail["sessions"] = "\(sessions.rowCount)"
        }
        outputs.append(QuarantineRecord.table(quarantine, name: "quarantine"))
        outputs.append(Table.concatenating(profiles, name: "data_quality"))
        // Published even when the budget failed, so the quarantine can be exported; marked so later stages refuse it.
        let failed = budgetProblems.isEmpty ? nil : budgetProblems.joined(separator: "\n")
        publish(outputs, stage: .clean, after: part, failedChecks: failed)
        published = true
        if let failed {
            stageStats[.clean] = stats  // the ledger records what was counted
            throw CVMFailure(.dataQuality, failed)
        }
        return stats
    }

    /// Clean run from persisted extract outputs (`--from clean`, `--only clean`) reads them as the config now
    /// declares the source: a column declared since, or with another type or scale, would be skipped or read
    /// wrongly without a word (its rules never run). Exit 66, as for a missing artifact.
    func checkExtracted(_ raw: Table, against source: SourceSpec) throws {
        var problems: [String] = []
        for (name, decl) in source.columns {
            guard let c = raw[name] else { problems.append("column \(name) is not in it"); continue }
            if c.type != decl.type { problems.append("\(name) is \(c.type.rawValue) there, \(decl.type.rawValue) in the config") }
            else if decl.type == .decimal, c.spec.scale != decl.scale { problems.append("\(name) has scale \(c.spec.scale) there, \(decl.scale) in the config") }
        }
        guard !problems.isEmpty else { return }
        throw CVMFailure(.noInput, "\(loaded.path): error: sources.\(source.name): the persisted extract of \(source.name) for as-of \(asOf) was made with another config (\(problems.prefix(3).joined(separator: "; "))\(problems.count > 3 ? "; …" : "")); run from extract again (cvm run \(loaded.path) --from extract)")
    }

    // MARK: features

    func runFeatures(_ logger: Logger) throws -> StageStats {
        let roles = FeatureRoles(loaded.config)
        let read = FeatureInputs.columnsRead
        let t0 = DispatchTime.now().uptimeNanoseconds
        // The inputs are built in place and handed over (`consuming`): the builder drops them once its context
        // holds what it needs, before the feature columns are allocated.
        var inputs = FeatureInputs(orders: try input(TableRef(stage: .clean, table: "stg_\(roles.orders)"), columns: read.orders))
        inputs.events = try roles.events.map { try input(TableRef(stage: .clean, table: "stg_\($0)"), columns: read.events) }
        inputs.sessions = try roles.sessions.map { _ in try input(TableRef(stage: .clean, table: "stg_sessions"), columns: read.sessions) }
        inputs.customers = try roles.customers.map { try input(TableRef(stage: .clean, table: "stg_\($0)"), columns: read.customers) }
        let rowsIn = inputs.orders.rowCount + (inputs.events?.rowCount ?? 0) + (inputs.sessions?.rowCount ?? 0) + (inputs.customers?.rowCount ?? 0)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let result = try FeatureBuilder.build(inputs, asOf: asOf, configuration: featuresConfiguration(loaded.config), threads: threads)
        publish([result.features, result.catalog], stage: .features)
        for w in result.warnings { logger.warning("\(w)") }
        var stats = StageStats()
        // Where the stage's time went (seconds), in the log line: reading inputs, the builder's phases, writing.
        func seconds(_ a: UInt64, _ b: UInt64) -> String { String(format: "%.3f", Double(b - a) / 1e9) }
        stats.detail["read_seconds"] = seconds(t0, t1)
        for (phase, s) in result.phaseSeconds { stats.detail["\(phase)_seconds"] = String(format: "%.3f", s) }
        stats.rowsIn = rowsIn
        stats.rowsOut = result.features.rowCount
        stats.detail["features"] = "\(result.features.columns.count - 1)"
        return stats
    }

    // MARK: cluster

    func runCluster(_ warehouse: Warehouse, _ logger: Logger) throws -> StageStats {
        let features = try input(TableRef(stage: .features, table: "customer_features"))
        // `assign` mode: the stored model (scaling, centroids, names) from the warehouse.
        var models: [String: ClusterModel] = [:]
        for (name, cfg) in loaded.config.stages.cluster.clusterings where cfg.mode == .assign {
            let key = "stages.cluster.clusterings.\(name)"
            let day: CivilDate
            if let fixed = cfg.modelAsOf {
                day = fixed
            } else if let latest = try warehouse.latestSnapshot(of: "cluster_profiles", where: "clustering", equals: name, before: asOf) {
                day = latest
            } else {
                throw CVMFailure(.noInput, "\(warehouse.path): error: \(key).mode: assign needs a stored model of clustering \(name) from a snapshot before \(asOf), and there is none; run once with mode: fit")
            }
            func read(_ table: String, _ columns: [(String, ColumnType)]) throws -> Table {
                try warehouse.readSnapshot(table, asOf: day, where: "clustering", equals: name, columns: [("clustering", .string)] + columns)
            }
            let scaling = try read("cluster_scaling", [("feature", .string), ("transform", .string), ("center", .double), ("scale", .double),
                                                       ("imputed_value", .double), ("winsor_low", .double), ("winsor_high", .double)])
            let centroids = try read("cluster_centroids", [("cluster", .int), ("feature", .string), ("value", .double)])
            let profiles = try read("cluster_profiles", [("cluster", .int), ("name", .string)])
            do {
                models[name] = try ClusterModel(clustering: name, asOf: day.description, scaling: scaling, centroids: centroids, profiles: profiles)
            } catch let e as CVMFailure {
                throw CVMFailure(e.exitStatus, "\(warehouse.path): \(e.message) (\(key).model_as_of)")
            }
            logger.info("cluster \(name): assigning to the stored model of \(day)")
        }
        let out = try ClusterStage.run(features: features, configuration: loaded.config.stages.cluster,
                                       seed: loaded.config.seed, threads: threads, models: models, asOf: asOf.description)
        for w in out.warnings { logger.warning("\(w)") }
        publish([out.assignments, out.centroids, out.scaling, out.profiles, out.selection, out.crossing], stage: .cluster)
        var stats = StageStats()
        stats.rowsIn = features.rowCount
        stats.rowsOut = out.assignments.rowCount
        return stats
    }

    // MARK: value

    func runValue(_ logger: Logger) throws -> StageStats {
        let features = try input(TableRef(stage: .features, table: "customer_features"))
        let out = try ValueStage.run(features: features, asOf: asOf, configuration: loaded.config.stages.value)
        for w in out.warnings { logger.warning("\(w)") }
        publish([out.customerValue, out.paretoSummary, out.models, out.lorenz], stage: .value)
        var stats = StageStats()
        stats.rowsIn = features.rowCount
        stats.rowsOut = out.customerValue.rowCount
        return stats
    }

    // MARK: load

    func runLoad(_ warehouse: Warehouse, _ logger: Logger) throws -> StageStats {
        var tables: [Table] = []
        var stats = StageStats()
        // A snapshot holds what was known at the end of its as-of day (in the features' zone), as its sessions and
        // features do: order lines, events and customers after it are left to the snapshots of their own days (a
        // backfill's fact_order_line held a month of later orders, dim_customer later sign-ups).
        let roles = FeatureRoles(loaded.config)
        let clock = LocalClock(loaded.config.stages.features.zone) ?? LocalClock("UTC")!
        let cutoff = clock.endOfDayUTC(asOf.daysSinceEpoch)
        let timeColumns = [(roles.orders, "ordered_at"), (roles.events, "occurred_at"), (roles.customers, "signup_date")]
            .compactMap { source, column in source.map { ("stg_\($0)", column) } }
        for ref in Plan.warehouseTables(loaded) {
            var t = try input(ref)
            if let (_, column) = timeColumns.first(where: { $0.0 == ref.table }), let c = t[column], c.type == .timestamp || c.type == .date {
                let limit = c.type == .date ? asOf.daysSinceEpoch : cutoff - 1
                func kept(_ r: Int) -> Bool { c.int64(at: r).map { $0 <= limit } ?? true }
                // Nightly runs have nothing after their day: the row list is built only when something is left out.
                if !(0..<t.rowCount).allSatisfy(kept) {
                    let keep = (0..<t.rowCount).filter(kept)
                    let later = t.rowCount - keep.count
                    t = t.gathering(keep, threads: threads)
                    stats.detail["\(Plan.warehouseName(ref, loaded)).after_as_of"] = "\(later)"
                    logger.info("left rows after the as-of day to later snapshots", metadata: [
                        "table": "\(Plan.warehouseName(ref, loaded))", "column": "\(column)", "rows": "\(later)"])
                }
            }
            // The order's day in the shop's zone (`features.zone`), the day the features count it on: joined to
            // dim_date, the UTC text of ordered_at put a late-evening order in New York on the next day.
            if ref.table == "stg_\(roles.orders)", let at = t["ordered_at"], t["ordered_date"] == nil {
                // A date-typed ordered_at is its own day (without the column, dim_date held the as-of day only).
                let days = at.type == .timestamp ? clock.local(at.int64Values).map { floorDiv($0, microsPerDay) } : at.int64Values
                t.append(Column("ordered_date", .date, int64: days, validity: at.validity))
            }
            t.name = Plan.warehouseName(ref, loaded)
            tables.append(t)
        }
        var options = LoadOptions()
        options.pseudonymize = loaded.config.privacy.pseudonymize
        // The sessions' visitor_id holds the events' visitor column, or the customer id of an event without one:
        // pseudonymised when either is (a customer browsing without a cookie left the raw id beside its pseudonym).
        if let visitor = loaded.config.stages.clean.sessions?.visitor,
           options.pseudonymize.contains(visitor) || options.pseudonymize.contains("customer_id"),
           !options.pseudonymize.contains("visitor_id") {
            options.pseudonymize.append("visitor_id")
        }
        options.key = try pseudonymKey(loaded)
        options.threads = threads
        options.exclusive = loaded.config.stages.load.exclusive
        // The load makes the run's results visible: it commits only once every earlier stage's artifacts are on
        // disk (they are written in the background meanwhile); a failed write rolls the load back.
        let (writer, log) = (writer, self.logger)
        options.beforeCommit = { try PipelineRunner.awaitArtifacts(writer, log) }
        if let pause = ProcessInfo.processInfo.environment["CVM_FAULT_PAUSE_IN_LOAD"], let s = Double(pause) {
            // Fault injection for the crash-safety tests: hold the load transaction open.
            options.pauseInsideTransaction = s
        }
        let report = try warehouse.loadSnapshot(asOf: asOf, runID: runID, tables: tables, options: options)
        for (table, seconds) in report.tableSeconds {
            let n = report.rows[table] ?? 0
            let width = tables.first { $0.name == table }?.columns.count ?? 0
            logger.info("loaded \(table)", metadata: ["rows": "\(n)", "columns": "\(width + 2)", "seconds": "\(String(format: "%.6f", seconds))",
                                                      "insert_seconds": "\(String(format: "%.6f", report.insertSeconds[table] ?? 0))",
                                                      "rows_per_second": "\(seconds > 0 ? Int(Double(n) / seconds) : 0)"])
        }
        logger.info("rebuilt derived tables and views", metadata: ["seconds": "\(report.derivedSeconds)", "journal": "\(report.journal)"])
        stats.rowsIn = tables.reduce(0) { $0 + $1.rowCount }
        stats.rowsOut = report.rows.values.reduce(0, +)
        stats.detail["tables"] = "\(tables.count)"
        return stats
    }

    // MARK: report

    func runReport(_ warehouse: Warehouse, _ logger: Logger) throws -> StageStats {
        // The report is about a snapshot's customers: without them (`--only report` before value ever ran for the
        // as-of date) it would overwrite the last report with an empty one. Exit 66, as for any missing input.
        let customerValue = try input(TableRef(stage: .value, table: "customer_value"))
        let summary = makeSummary(status: "succeeded", exit: .ok, message: nil)
        var inputs = ReportInputs(
            summary: summary,
            customerValue: customerValue,
            clusterProfiles: try inputIfPresent(TableRef(stage: .cluster, table: "cluster_profiles")),
            quarantine: try inputIfPresent(TableRef(stage: .clean, table: "quarantine")),
            paretoSummary: try inputIfPresent(TableRef(stage: .value, table: "pareto_summary")),
            dataQuality: try inputIfPresent(TableRef(stage: .clean, table: "data_quality")))
        inputs.clusterSelection = try inputIfPresent(TableRef(stage: .cluster, table: "cluster_selection"))
        inputs.clusterCentroids = try inputIfPresent(TableRef(stage: .cluster, table: "cluster_centroids"))
        inputs.orders = try inputIfPresent(TableRef(stage: .clean, table: "stg_\(FeatureRoles(loaded.config).orders)"))
        inputs.previousCustomerValue = artifacts.previousAsOf(before: asOf, stage: StageName.value.rawValue, table: "customer_value")
            .flatMap { try? artifacts.read(stage: StageName.value.rawValue, table: "customer_value", asOf: $0) }
        inputs.campaigns = loaded.config.campaigns
        if loaded.config.campaigns.ids == .pseudonymized {
            let key = try pseudonymKey(loaded, required: true)
            inputs.pseudonym = Warehouse.pseudonymizer(key: key)
        }
        let files = try ReportWriter.write(inputs, to: reportPath)
        logger.info("wrote report", metadata: ["path": "\(reportPath)/index.html"])
        var stats = StageStats()
        stats.rowsOut = files.count
        return stats
    }

    /// On failure, still leave summary.json and metrics.prom for schedulers.
    func writeSchedulerFiles(status: String, exit: ExitStatus, warehouse: Warehouse, message: String?) {
        let summary = makeSummary(status: status, exit: exit, message: message)
        let inputs = ReportInputs(summary: summary, customerValue: nil, clusterProfiles: nil, quarantine: nil,
                                  paretoSummary: nil, dataQuality: nil)
        _ = try? ReportWriter.write(inputs, to: reportPath)
    }
}

/// The features stage's settings, with the event types to count taken from the events source's `event_type` enum
/// when `features.event_types` is not given (the builder otherwise takes the data's most frequent types).
public func featuresConfiguration(_ config: PipelineConfig) -> FeaturesConfiguration {
    var c = config.stages.features
    if c.eventTypes == nil, let events = FeatureRoles(config).events,
       let decl = config.sources[events]?.columns["event_type"], decl.type == .enum, let values = decl.values, !values.isEmpty {
        c.eventTypes = values
    }
    return c
}

/// The `privacy.pseudonymize` columns that some source declares (the others never reach the warehouse).
func pseudonymizedColumns(_ config: PipelineConfig) -> [String] {
    let declared = Set(config.sources.flatMap { $0.value.columns.keys })
    return config.privacy.pseudonymize.filter(declared.contains)
}

/// The pseudonymisation key from the environment variable the config names.
/// - Throws: `CVMFailure` (exit 78) when columns are to be pseudonymised and the variable is unset or empty.
func pseudonymKey(_ loaded: LoadedConfig, required: Bool = false) throws -> String {
    let privacy = loaded.config.privacy
    // Only columns some source declares reach the warehouse: a shop without emails needs no key for the default list.
    var what = pseudonymizedColumns(loaded.config)
    if loaded.config.campaigns.ids == .pseudonymized { what.append("campaign customer ids") }
    guard !what.isEmpty || required else { return "" }
    guard let key = ProcessInfo.processInfo.environment[privacy.keyEnv], !key.isEmpty else {
        throw CVMFailure(.config, "\(loaded.path): error: privacy.key_env: the environment variable \(privacy.keyEnv) is not set; it keys the HMAC that pseudonymises \(what.joined(separator: ", ")). Set it to a secret kept outside the config, e.g. export \(privacy.keyEnv)=$(openssl rand -hex 32), and keep it stable so pseudonyms stay comparable across runs")
    }
    return key
}

/// Adds up wall seconds per phase into a stage's log detail (`<phase>_seconds`).
struct PhaseClock {
    private var t0: UInt64 = 0
    private var totals: [String: Double] = [:]

    mutating func start() { t0 = DispatchTime.now().uptimeNanoseconds }

    mutating func stop(_ phase: String, into stats: inout StageStats) {
        totals[phase, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        stats.detail["\(phase)_seconds"] = String(format: "%.3f", totals[phase]!)
    }
}

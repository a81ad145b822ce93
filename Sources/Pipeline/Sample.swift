import CVMCore
import Clean
import Extract
import Features
import Foundation

/// What `cvm validate --sample N` found: the first N rows of every source read, typed and checked like a run
/// would, so a config for new data can be tried in seconds before the nightly run meets the whole files.
public struct SampleReport: Sendable {
    public var text: String
    /// `ok`; `dataQuality` (65) when a source's sample rejects more than its `max_reject_rate`; `noInput` (66) when
    /// a file cannot be read (corrupt, wrong header) and its source's `on_file_error` is `fail`.
    public var exitStatus: ExitStatus
}

/// Reads and checks the first `rows` rows of each source (in file order) with the config's column and row rules.
///
/// Not sampled, because a prefix cannot judge them: references (they need every row of the referenced source),
/// freshness (the newest row may be further on) and duplicates across the rest of the files.
/// - Parameter preview: how many kept rows of each source to print as typed values (timestamps in UTC, decimals
///   as numbers), so a wrong `timezone`, `format` or `decimal_separator` shows before it skews a snapshot.
public func sampleSources(_ loaded: LoadedConfig, rows: Int, asOf: CivilDate, preview: Int = 2) -> SampleReport {
    var lines: [String] = []
    var status = ExitStatus.ok
    let personal = Set(loaded.config.privacy.pseudonymize)
    for (name, source) in loaded.config.sources {
        let files = loaded.files[name] ?? []
        let sampled: ExtractResult
        do {
            sampled = try Extractor.sample(source, files: files, rows: rows)
        } catch {
            lines.append("sample: \(name): file error: \(error)")
            if source.onFileError == .fail { status = .noInput }
            continue
        }
        let read = sampled.files.reduce(0) { $0 + $1.rowsRead }
        let usedFiles = sampled.files.count
        let raw = sampled.table
        let allNull = raw.columns.filter { c in
            source.columns[c.name] != nil && raw.rowCount > 0 && (c.validity.map { !$0.contains(true) } ?? false)
        }.map(\.name)
        let cleaned = Cleaner.clean(source, table: raw, references: [:], threads: 1, asOf: (asOf.daysSinceEpoch, loaded.config.stages.features.clock))
        let rejects = sampled.rejects + cleaned.quarantine
        let rate = read == 0 ? 0 : Double(rejects.count) / Double(read)
        var head = "sample: \(name): \(read) row\(read == 1 ? "" : "s") from \(usedFiles) file\(usedFiles == 1 ? "" : "s"): "
            + "\(cleaned.table.rowCount) kept, \(rejects.count) rejected"
        if rate > source.maxRejectRate {
            head += String(format: " (%.1f%%, above max_reject_rate %@)", rate * 100, formatDouble(source.maxRejectRate))
            if status == .ok { status = .dataQuality }
        }
        lines.append(head)
        let kept = cleaned.table
        let file = kept[Provenance.file], line = kept[Provenance.line]
        for i in 0..<min(preview, kept.rowCount) {
            let values = kept.columns.filter { !$0.name.hasPrefix("_") }
                .map { c in
                    // Personal columns stay out of terminals and CI logs, as they stay out of the warehouse.
                    let shown = !c.isValid(i) ? "null" : personal.contains(c.name) ? "(pseudonymised)" : c.formatted(at: i)
                    return "\(c.name)=\(shown)"
                }.joined(separator: ", ")
            lines.append("  row \(URL(fileURLWithPath: file?.string(at: i) ?? "").lastPathComponent):\(line?.int64(at: i) ?? 0): \(values)")
        }
        var byRule: [String: [QuarantineRecord]] = [:]
        for r in rejects { byRule[r.rule, default: []].append(r) }
        for (rule, records) in byRule.sorted(by: { ($0.value.count, $1.key) > ($1.value.count, $0.key) }) {
            let first = records.min { ($0.file, $0.line) < ($1.file, $1.line) }!
            let place = "\(first.file):\(first.line)" + (first.column.map { ":\($0)" } ?? "")
            lines.append("  \(rule): \(records.count) (e.g. \(place): \(first.reason))")
        }
        if name == FeatureRoles(loaded.config).orders, let s = cleaned.table["status"] {
            // Statuses the features would count as completed without a list naming them.
            let unlisted = loaded.config.stages.features.statuses.unlisted(in: s)
            if !unlisted.isEmpty {
                lines.append("  status values no stages.features.statuses list names (counted as completed): "
                             + unlisted.map { "\($0.value) (\($0.lines))" }.joined(separator: ", "))
            }
        }
        for n in sampled.nulled {
            lines.append("  \(n.column) set to null (parse, on_invalid: null): \(n.count) (e.g. \(n.example))")
        }
        for n in cleaned.nulled {
            lines.append("  \(n.column) set to null (\(n.rule), on_invalid: null): \(n.count) (e.g. \(n.example))")
        }
        if !allNull.isEmpty {
            lines.append("  no value in the sample: \(allNull.joined(separator: ", ")) (a misnamed header column read as null? check from:)")
        }
    }
    lines.append("not sampled: references, freshness and duplicates beyond the sample (a run checks them on every row)")
    return SampleReport(text: lines.joined(separator: "\n") + "\n", exitStatus: status)
}

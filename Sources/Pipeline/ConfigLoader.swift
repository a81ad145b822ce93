import Foundation
public import CVMCore
import Cluster
import Extract
import Value
import Report

/// A config that decoded and passed every check, with its paths resolved.
public struct LoadedConfig: Sendable {
    public var config: PipelineConfig
    /// The config file as given on the command line (used in messages).
    public var path: String
    /// The folder relative paths resolve against.
    public var baseDirectory: String
    /// FNV-1a 64 of the config bytes, hex: identifies the config in the run ledger and artifact manifests.
    public var configHash: String
    /// Concrete input files per source, sorted; the deterministic read order.
    public var files: [String: [String]]
    public var warnings: [Diagnostic]
    /// Every setting the file writes, by key path (`ConfigDecoder.settings`).
    public var settings: [String: String] = [:]
    /// Where each key path is written (`ConfigDecoder.positions`), for config errors found by a stage.
    public var positions: [String: SourcePosition] = [:]

    /// A config error a stage found (`error: <key path>: …`) with the file, line and column of that key, as the
    /// config check's errors have (the key alone was printed: the run had gone through several stages by then).
    public func located(_ error: any Error) -> any Error {
        guard let f = error as? CVMFailure, f.exitStatus == .config, f.message.hasPrefix("error: ") else { return error }
        // The key path the message starts with (`stages.cluster.clusterings.value.features: …`, `stages.value needs …`).
        var key = String(f.message.dropFirst("error: ".count).prefix { $0.isLetter || $0.isNumber || "_.-[]".contains($0) })
        while !key.isEmpty {
            if let p = positions[key] { return CVMFailure(.config, "\(p.path):\(p.line):\(p.column): \(f.message)") }
            guard let cut = key.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            key = String(key[..<cut])
        }
        return error
    }

    public var warehousePath: String { resolve(config.warehouse) }
    public var artifactsPath: String {
        config.artifacts.map(resolve) ?? (URL(fileURLWithPath: warehousePath).deletingLastPathComponent().appendingPathComponent("artifacts").path)
    }
    public var reportPath: String {
        config.report.map(resolve) ?? (URL(fileURLWithPath: warehousePath).deletingLastPathComponent().appendingPathComponent("report").path)
    }

    /// Makes a config-relative path absolute (absolute paths stay as they are).
    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardized.path }
        return URL(fileURLWithPath: baseDirectory).appendingPathComponent(path).standardized.path
    }

    public func source(_ name: String) -> SourceSpec? { config.sources[name] }
}

/// Loads a pipeline config: YAML → `PipelineConfig` → semantic checks, reporting
/// every problem at once (exit 78) with file, line, column and key path.
public enum ConfigLoader {
    /// Canonical columns later stages read, per role: (name, allowed types, required). An optional column of another
    /// type would be misread (a birth date's days as a year, text amounts as no money): it is a config error too.
    static let featureColumns: [String: [(String, [ColumnType], Bool)]] = {
        let id: [ColumnType] = [.string, .enum, .int], text: [ColumnType] = [.string, .enum], number: [ColumnType] = [.int, .decimal, .double]
        return [
            "orders": [
                ("customer_id", id, true), ("order_id", id, true), ("ordered_at", [.timestamp, .date], true),
                ("quantity", number, false), ("unit_price", number, false), ("amount", number, false), ("discount", number, false),
                ("status", text, false), ("sku", id, false), ("category", text, false),
            ],
            "events": [
                ("customer_id", id, true), ("occurred_at", [.timestamp], true), ("event_type", text, true),
                ("sku", id, false), ("category", text, false), ("device", text, false), ("referrer", text, false),
            ],
            "customers": [
                ("customer_id", id, true), ("signup_date", [.date], false), ("birth_year", [.int], false),
                ("country", text, false), ("channel", text, false),
            ],
        ]
    }()

    /// - Parameters:
    ///   - path: the config file (relative to the current directory or absolute).
    ///   - checkFiles: whether globs must match files (off for `cvm plan` on another machine).
    /// - Throws: `DiagnosticsError` (exit 78) listing every problem; `CVMFailure` (exit 66) when the file is missing.
    public static func load(path: String, checkFiles: Bool = true) throws -> LoadedConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw CVMFailure(.noInput, "\(path): error: \(exists ? "cannot read the config file" : "no such config file"); check the path")
        }
        return try load(data: data, path: path, checkFiles: checkFiles)
    }

    /// Loads config bytes as if read from `path` (relative paths resolve against its folder).
    /// - Throws: `DiagnosticsError` or `CVMFailure` (exit 78) for a bad config.
    public static func load(data: Data, path: String, checkFiles: Bool = true) throws -> LoadedConfig {
        guard let text = String(data: data, encoding: .utf8) else {
            throw CVMFailure(.config, "\(path):1:1: error: the config is not valid UTF-8 text")
        }
        let decoder = ConfigDecoder(path: path)
        // Decode what can be decoded, then check it too: all errors are reported at once.
        guard let config = decoder.decodePartially(PipelineConfig.self, fromYAML: text) else {
            throw DiagnosticsError(.config, decoder.diagnostics)
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().standardized.path
        var loaded = LoadedConfig(config: config, path: path, baseDirectory: base.isEmpty ? "." : base,
                                  configHash: fnv1aHex(data), files: [:], warnings: [])
        loaded.settings = decoder.settings
        loaded.positions = decoder.positions
        check(&loaded, decoder, checkFiles: checkFiles)
        let errors = decoder.diagnostics.filter { $0.severity == .error }
        if !errors.isEmpty { throw DiagnosticsError(.config, decoder.diagnostics) }
        loaded.warnings = decoder.diagnostics.filter { $0.severity != .error }
        return loaded
    }

    // MARK: - Semantic checks

    static func check(_ loaded: inout LoadedConfig, _ d: ConfigDecoder, checkFiles: Bool) {
        let c = loaded.config
        if !c.pipeline.isEmpty, !isName(c.pipeline) {
            d.error("pipeline", "\"\(c.pipeline)\" is not a valid name; use letters, digits, '_' and '-'")
        }
        if let asOf = c.asOf, CivilDate(iso: asOf) == nil {
            d.error("as_of", "\"\(asOf)\" is not a valid date; write YYYY-MM-DD")
        }
        if let t = c.threads, t < 0 { d.error("threads", "must be 0 (one per core) or more, found \(t)") }
        checkPaths(c, d)
        // Not when a source was left out for an error of its own (a bad check): that error says what to fix.
        if c.sources.isEmpty, d.wasPresent("sources"), !d.diagnostics.contains(where: { $0.key == "sources" || $0.key.hasPrefix("sources.") }) {
            d.error("sources", "declare at least one source (orders are required by the features stage)")
        }
        let names = c.sources.keys
        for (name, source) in c.sources {
            checkSource(name, source, sourceNames: names, all: c.sources, d)
            if checkFiles {
                var files: [String] = []
                for (i, glob) in source.files.enumerated() {
                    let key = filesKey(name, source, i, d)
                    do {
                        let matched = try expandGlob(glob, baseDirectory: loaded.baseDirectory)
                        if matched.isEmpty {
                            let relative = glob.hasPrefix("/") ? "" : " (paths are relative to the config's folder \(displayFolder(loaded.path)))"
                            d.error(key, "\"\(glob)\" matches no file\(relative); check the path or generate the data")
                        }
                        files += matched
                    } catch {
                        d.error(key, "cannot expand \"\(glob)\": \(error)")
                    }
                }
                var excluded: Set<String> = []
                for glob in source.exclude {
                    do { excluded.formUnion(try expandGlob(glob, baseDirectory: loaded.baseDirectory)) } catch {
                        d.error("sources.\(name).exclude", "cannot expand \"\(glob)\": \(error)")
                    }
                }
                let kept = Set(files).subtracting(excluded)
                if !files.isEmpty && kept.isEmpty {
                    d.error("sources.\(name).exclude", "excludes every file that files matches (\(Set(files).count)); nothing would be read")
                }
                loaded.files[name] = uniqueFiles(kept.sorted(by: pathPrecedes))
                // A named pipe, socket or device is not read (a file error when the run meets it): said here too, so
                // `cvm validate` shows it.
                for path in loaded.files[name] ?? [] {
                    var st = stat()
                    if stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
                        d.warning("sources.\(name).files", "\(path) is not a regular file (a named pipe, socket or device); the run rejects it as a file error: exclude it (sources.\(name).exclude)")
                    }
                }
            }
        }
        if !c.sources.isEmpty { checkStages(c, d) }
        if let root = c.dataRoot { confine(loaded, root: root, d) }
        for (i, why) in c.stages.value.rfm.unreachableRules() { d.warning("stages.value.rfm.segments[\(i)]", why) }
        checkCampaigns(c, d)
        if c.privacy.listed, !c.sources.isEmpty {
            let declared = Set(pseudonymizedColumns(c))
            for name in c.privacy.pseudonymize where !declared.contains(name) {
                d.warning("privacy.pseudonymize", "no source declares a column \"\(name)\", so nothing is pseudonymised under that name; use the column's name under sources.<name>.columns (not its header)")
            }
        }
    }

    /// Output paths and globs: an empty warehouse path, one that ends in "/" (SQLite created a file named like the
    /// folder), and `${VAR}` or `$VAR` (not expanded: a folder of that literal name was created) are config errors.
    static func checkPaths(_ c: PipelineConfig, _ d: ConfigDecoder) {
        var paths: [(String, String)] = [("warehouse", c.warehouse)]
        if let a = c.artifacts { paths.append(("artifacts", a)) }
        if let r = c.report { paths.append(("report", r)) }
        if let r = c.dataRoot { paths.append(("data_root", r)) }
        for (name, s) in c.sources { for glob in s.files { paths.append(("sources.\(name).files", glob)) } }
        if c.warehouse.trimmingCharacters(in: .whitespaces).isEmpty, d.wasPresent("warehouse") {
            d.error("warehouse", "is empty; name the SQLite file, e.g. out/shop.sqlite")
        } else if c.warehouse.hasSuffix("/") {
            d.error("warehouse", "\"\(c.warehouse)\" names a folder; name the SQLite file in it, e.g. \(c.warehouse)cvm.sqlite")
        }
        for (key, path) in paths where path.range(of: #"\$\{[A-Za-z_]|\$[A-Z][A-Z0-9_]*(/|$)"#, options: .regularExpression) != nil {
            d.error(key, "\"\(path)\": environment variables are not expanded in paths; write the path out, or generate the config")
        }
    }

    /// Campaign conditions name columns of `customer_value` and, for its labelled columns, values they can hold: a
    /// misspelt column or value gave an empty list without a word.
    static func checkCampaigns(_ c: PipelineConfig, _ d: ConfigDecoder) {
        let value = c.stages.value
        let columns = value.customerValueColumns
        // The default campaigns were not written by the user: a value they select that the config's own segments
        // or tiers never give is a warning (set campaigns.actions), not an error.
        let written = d.wasPresent("campaigns.actions")
        let flags: Set<String> = ["pareto_top20", "tier_at_risk"]   // matched as 1/0 or true/false, any case
        for (name, action) in c.campaigns.actions {
            for (column, condition) in action.conditions {
                let key = written ? "campaigns.actions.\(name).where.\(column)" : "stages.value"
                guard columns.contains(column) else {
                    let near = suggestion(for: column, among: columns) ?? columns.first { $0.hasPrefix(column) }
                    d.error(key, "customer_value has no column \"\(column)\"" + (near.map { "; did you mean \"\($0)\"?" } ?? "")
                                 + " (its columns: \(columns.joined(separator: ", ")))")
                    continue
                }
                guard let known = value.vocabulary(of: column) else { continue }
                switch condition {
                case .oneOf(let values):
                    let never = values.filter { !known.contains(flags.contains(column) ? $0.lowercased() : $0) }
                    if !written, let v = never.first {
                        d.warning(key, "the default campaign \(name) selects \(column) \(v), which this config never gives, so its list stays empty; declare campaigns.actions for your \(column == "tier" ? "tiers" : "segments")")
                        continue
                    }
                    for v in never {
                        let near = suggestion(for: v, among: known)
                        d.error(key, "\"\(v)\" is never a value of \(column)" + (near.map { "; did you mean \"\($0)\"?" } ?? "")
                                     + " (its values: \(known.joined(separator: ", ")))")
                    }
                case .range where !flags.contains(column):
                    // A label has no number: a range never matches.
                    d.error(key, "\(column) holds labels, not numbers; list the values instead of {min:, max:}")
                case .range:
                    break
                }
            }
        }
    }

    /// With `data_root`, refuses globs and outputs that leave it: `..` components, absolute paths elsewhere,
    /// and files or folders reached through symbolic links that point outside.
    static func confine(_ loaded: LoadedConfig, root: String, _ d: ConfigDecoder) {
        let c = loaded.config
        let rootPath = loaded.resolve(root)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: rootPath, isDirectory: &isDirectory), isDirectory.boolValue else {
            d.error("data_root", "\"\(root)\" is not an existing folder (\(rootPath)); create it or fix the path")
            return
        }
        let realRoot = canonicalPath(rootPath)
        func inside(_ p: String) -> Bool { p == realRoot || p.hasPrefix(realRoot.hasSuffix("/") ? realRoot : realRoot + "/") }
        @discardableResult func check(_ key: String, _ path: String, what: String) -> Bool {
            let resolved = loaded.resolve(path)
            let real = canonicalPath(resolved)
            if !inside(real) {
                let via = real != resolved ? " (through a symbolic link, to \(real))" : ""
                d.error(key, "\(what) \"\(path)\" is outside data_root \"\(root)\"\(via); keep it under the data root")
                return false
            }
            return true
        }
        for (name, source) in c.sources {
            for (i, glob) in source.files.enumerated() {
                let key = filesKey(name, source, i, d)
                // The glob's fixed folder part must be inside; then every file it matched.
                let parts = glob.split(separator: "/", omittingEmptySubsequences: false)
                let fixedCount = parts.prefix { !$0.contains(where: { "*?[".contains($0) }) }.count
                if parts.dropFirst(fixedCount).contains("..") {
                    d.error(key, "\"\(glob)\" has \"..\" after a wildcard; with data_root set, write the folder part first (e.g. data/*/x.csv)")
                    continue
                }
                let fixed = parts.prefix(fixedCount).joined(separator: "/")
                guard check(key, fixed.isEmpty ? "." : fixed, what: "the glob's folder") else { continue }
                for file in loaded.files[name] ?? [] {
                    let real = canonicalPath(file)
                    if !inside(real) {
                        d.error(key, "\"\(glob)\" matches \(file), which resolves to \(real) (through a symbolic link), outside data_root \(realRoot); remove the link or copy the file in")
                    }
                }
            }
        }
        // Default artifacts and report folders sit next to the warehouse: judged only when it is inside.
        let warehouseInside = check("warehouse", c.warehouse, what: "the warehouse")
        if let a = c.artifacts { check("artifacts", a, what: "the artifacts folder") } else if warehouseInside {
            check("warehouse", loaded.artifactsPath, what: "the artifacts folder (next to the warehouse)")
        }
        if let r = c.report { check("report", r, what: "the report folder") } else if warehouseInside {
            check("warehouse", loaded.reportPath, what: "the report folder (next to the warehouse)")
        }
    }

    /// The key path of glob `i` of a source: `files` when written as one scalar, else `files[i]`.
    static func filesKey(_ name: String, _ source: SourceSpec, _ i: Int, _ d: ConfigDecoder) -> String {
        source.files.count == 1 && d.positions["sources.\(name).files[0]"] == nil ? "sources.\(name).files" : "sources.\(name).files[\(i)]"
    }

    static func checkSource(_ name: String, _ s: SourceSpec, sourceNames: [String], all: KeyedList<SourceSpec>, _ d: ConfigDecoder) {
        let p = "sources.\(name)"
        if !isName(name) { d.error(p, "\"\(name)\" is not a valid source name; use letters, digits and '_'") }
        if s.files.isEmpty { d.error("\(p).files", "list at least one file or glob") }
        if s.delimiter != "whitespace" && !(isSymbol(s.delimiter) && s.delimiter != "\"" && s.delimiter != "'") {
            d.error("\(p).delimiter", "unsupported delimiter \"\(s.delimiter)\" (expected one ASCII character such as \",\", \"\\t\", \";\", \"|\", \"^\", or whitespace)")
        } else if s.delimiter.utf8.first == s.quote?.utf8.first {
            d.error("\(p).delimiter", "is the quote character too (\"\(s.delimiter)\"); set quote to another character or none")
        }
        if !isValidTimeZone(s.timezone) {
            d.error("\(p).timezone", "unknown time zone \"\(s.timezone)\" (expected UTC, an offset such as +08:00, or an IANA name such as Europe/Berlin)")
        }
        if !(0...1).contains(s.maxRejectRate) {
            d.error("\(p).max_reject_rate", "must be a share between 0 and 1, found \(formatDouble(s.maxRejectRate))")
        }
        if s.maxLineBytes < 1024 || s.maxLineBytes > 1 << 31 {
            d.error("\(p).max_line_bytes", "must be between 1024 and 2147483648 bytes, found \(s.maxLineBytes)")
        }
        let lineLimit = (1024...(1 << 31)).contains(s.maxLineBytes) ? s.maxLineBytes : 1 << 31
        if s.maxFieldBytes < 1 || s.maxFieldBytes > lineLimit {
            d.error("\(p).max_field_bytes", "must be between 1 and max_line_bytes (\(lineLimit)), found \(s.maxFieldBytes)")
        }
        if ![".", ","].contains(s.decimalSeparator) {
            d.error("\(p).decimal_separator", "must be \".\" or \",\", found \"\(s.decimalSeparator)\"")
        }
        if let t = s.thousandsSeparator {
            if t.isEmpty || t.utf8.count > 4 || t.contains(where: { $0.isNumber || "+-eE".contains($0) }) {
                d.error("\(p).thousands_separator", "must be one to four bytes of non-digit text such as \",\", \".\", \" \" or \"'\", found \"\(t)\"")
            } else if t == s.decimalSeparator {
                d.error("\(p).thousands_separator", "is the decimal separator too (\"\(t)\"); set decimal_separator to the other mark")
            }
        }
        let delimiterByte: UInt8? = s.delimiter == "whitespace" ? nil : s.delimiter.utf8.first
        for (key, value) in [("quote", s.quote), ("escape", s.escape)] {
            guard let v = value else { continue }
            if !isSymbol(v) {
                d.error("\(p).\(key)", "must be one ASCII punctuation character (such as \"\\\"\", \"'\" or \"\\\\\")\(key == "quote" ? " or none" : ""), found \"\(v)\"")
            } else if v.utf8.first == delimiterByte {
                d.error("\(p).\(key)", "is the delimiter too (\"\(v)\")")
            }
        }
        if s.escape != nil {
            if s.quote == nil { d.error("\(p).escape", "applies inside quoted fields; it needs a quote (quote is none)") }
            else if s.escape == s.quote { d.error("\(p).escape", "equals the quote: doubled quotes are already read (leave escape out)") }
        }
        if let c = s.comment, c.isEmpty || c.utf8.count > 16 || c.hasPrefix(" ") {
            d.error("\(p).comment", "must be 1 to 16 bytes not starting with a space (such as \"#\"), found \"\(c)\"")
        }
        if !(0...(1 << 20)).contains(s.maxRawBytes) {
            d.error("\(p).max_raw_bytes", "must be between 0 (keep no raw text) and 1048576, found \(s.maxRawBytes)")
        }
        if !(0...1_000_000).contains(s.skipLines) {
            d.error("\(p).skip_lines", "must be between 0 and 1000000, found \(s.skipLines)")
        }
        if !(s.maxExpansionRatio >= 2) {
            d.error("\(p).max_expansion_ratio", "must be 2 or more (CSV usually inflates 3 to 20 times), found \(formatDouble(s.maxExpansionRatio))")
        }
        if s.columns.isEmpty, d.positions["\(p).columns"] != nil {
            d.error("\(p).columns", "declare at least one column")
        }
        let declared = s.columns.keys
        for (col, decl) in s.columns {
            let cp = "\(p).columns.\(col)"
            // A value the column declares (or its pattern takes) that null_values reads as null is never that value:
            // with the default list, Namibia's country code NA became null.
            let nulls = s.nullValues.filter { !$0.isEmpty }
            let pattern = decl.pattern.flatMap { try? wholeValueRegex($0) }
            let taken = nulls.filter { n in (decl.values?.contains(n) ?? false) || (pattern.map { matches($0, n) } ?? false) }
            if !taken.isEmpty {
                d.warning(cp, "\(taken.map { "\"\($0)\"" }.joined(separator: ", ")) \(taken.count == 1 ? "is" : "are") in null_values, so \(taken.count == 1 ? "it is" : "they are") read as null, never as a value of \(col) (NA is Namibia's country code); set \(p).null_values without \(taken.count == 1 ? "it" : "them")")
            }
            if !isName(col) { d.error(cp, "\"\(col)\" is not a valid column name; use letters, digits and '_' (map the file's header with from:)") }
            if decl.type == .enum, decl.values?.isEmpty ?? true {
                d.error("\(cp).values", "enum columns need a non-empty list of allowed values")
            }
            if decl.type != .enum, decl.values != nil {
                d.error("\(cp).values", "only enum columns take values; declare type: enum or remove values")
            }
            if let key = decl.fillDown {
                if key == col {
                    d.error("\(cp).fill_down", "names the column itself; name the column that groups the rows (e.g. the order id)")
                } else if let k = s.columns[key] {
                    if k.type == .double { d.error("\(cp).fill_down", "\(key) is a double column; group by a text, integer or date column") }
                } else {
                    d.error("\(cp).fill_down", "unknown column \"\(key)\" (expected one of \(declared.joined(separator: ", ")))")
                }
            }
            if !decl.map.isEmpty, ![.string, .enum].contains(decl.type) {
                d.error("\(cp).map", "map applies to string and enum columns, not \(decl.type)")
            }
            if decl.type == .decimal, !(0...18).contains(decl.scale) {
                d.error("\(cp).scale", "must be between 0 and 18, found \(decl.scale)")
            }
            if let lo = decl.min, let hi = decl.max, lo > hi {
                d.error("\(cp).min", "min \(formatDouble(lo)) is greater than max \(formatDouble(hi))")
            } else if let lo = decl.min, let hi = decl.max, lo == hi, decl.minExclusive || decl.maxExclusive {
                d.error("\(cp).min", "min and max are both \(formatDouble(lo)) and one of them is exclusive: no value can pass")
            }
            if decl.window != nil, ![.date, .timestamp].contains(decl.type) {
                d.error("\(cp).window", "window applies to date and timestamp columns, not \(decl.type)")
            }
            if decl.minExclusive, decl.min == nil { d.error("\(cp).min_exclusive", "min_exclusive needs a min") }
            if decl.maxExclusive, decl.max == nil { d.error("\(cp).max_exclusive", "max_exclusive needs a max") }
            if (decl.min != nil || decl.max != nil), ![.int, .double, .decimal].contains(decl.type) {
                d.error(decl.min != nil ? "\(cp).min" : "\(cp).max", "min and max apply to int, double and decimal columns, not \(decl.type)")
            }
            if !decl.formats.isEmpty {
                if ![.date, .timestamp].contains(decl.type) {
                    d.error("\(cp).format", "format applies to date and timestamp columns, not \(decl.type)")
                } else {
                    for (k, f) in decl.formats.enumerated() {
                        if let problem = checkTimeFormat(f, type: decl.type) {
                            d.error(decl.formats.count > 1 ? "\(cp).format[\(k)]" : "\(cp).format", problem)
                        }
                    }
                }
            }
            if let divisor = decl.divideBy {
                if ![.decimal, .double].contains(decl.type) {
                    d.error("\(cp).divide_by", "divide_by applies to decimal and double columns, not \(decl.type)")
                } else if let k = decl.divideByDigits {
                    if decl.type == .decimal && k > decl.scale {
                        d.error("\(cp).divide_by", "divide_by \(divisor) needs scale \(k) or more to keep every digit (scale is \(decl.scale))")
                    }
                } else {
                    d.error("\(cp).divide_by", "must be a power of ten from 10 to 1000000000 (100 for cents), found \(divisor)")
                }
            }
            if decl.strip.contains(where: \.isEmpty) { d.error("\(cp).strip", "an empty text cannot be stripped; list texts such as \"$\" or \"%\"") }
            if decl.trueValues != nil || decl.falseValues != nil {
                if decl.type != .bool {
                    d.error(decl.trueValues != nil ? "\(cp).true_values" : "\(cp).false_values", "true_values and false_values apply to bool columns, not \(decl.type)")
                } else if decl.trueValues == nil || decl.falseValues == nil {
                    d.error(decl.trueValues == nil ? "\(cp).true_values" : "\(cp).false_values", "give both true_values and false_values")
                } else {
                    let t = Set(decl.trueValues!.map { $0.lowercased() }), f = Set(decl.falseValues!.map { $0.lowercased() })
                    if let both = t.intersection(f).sorted().first {
                        d.error("\(cp).false_values", "\"\(both)\" is listed as true and as false")
                    }
                    if t.isEmpty || f.isEmpty { d.error("\(cp).true_values", "list at least one text each for true and false") }
                }
            }
            if !s.header, let from = decl.from, Int(from) == nil || Int(from)! < 1 {
                d.error("\(cp).from", "with header: false, from is a 1-based column position, found \"\(from)\"")
            }
        }
        for (i, k) in s.key.enumerated() where !declared.contains(k) && !d.wasPresent("\(p).columns.\(k)") {
            let key = s.key.count == 1 && d.positions["\(p).key[0]"] == nil ? "\(p).key" : "\(p).key[\(i)]"
            d.error(key, "column \"\(k)\" is not declared in \(p).columns (declared: \(declared.joined(separator: ", ")))")
        }
        for (col, target) in s.references {
            let rp = "\(p).references.\(col)"
            if !declared.contains(col) && !d.wasPresent("\(p).columns.\(col)") {
                d.error(rp, "column \"\(col)\" is not declared in \(p).columns (declared: \(declared.joined(separator: ", ")))")
            }
            let parts = target.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else {
                d.error(rp, "expected source.column, found \"\(target)\"")
                continue
            }
            guard let other = all[parts[0]] else {
                if d.wasPresent("sources.\(parts[0])") { continue }  // declared, but had errors of its own
                var m = "unknown source \"\(parts[0])\""
                if let s = suggestion(for: parts[0], among: sourceNames) { m += "; did you mean \"\(s)\"?" }
                d.error(rp, m + " (expected one of \(sourceNames.joined(separator: ", ")))")
                continue
            }
            if other.columns[parts[1]] == nil {
                d.error(rp, "source \(parts[0]) has no column \"\(parts[1])\" (declared: \(other.columns.keys.joined(separator: ", ")))")
            }
            if parts[0] == name { d.error(rp, "a source cannot reference itself") }
            // References compare ids as text (dictionary values): a number column would never be checked.
            for (side, t) in [("\(name).\(col)", s.columns[col]?.type), ("\(parts[0]).\(parts[1])", other.columns[parts[1]]?.type)] {
                if let t, ![.string, .enum].contains(t) {
                    d.error(rp, "references compare ids as text: declare \(side) as string, not \(t) (ids such as 00123 keep their zeros)")
                    break
                }
            }
            if s.unknownReferences[col] == .placeholder {
                // (Its type is checked above with every reference's.)
                if other.key != [parts[1]] {
                    d.error("\(rp).on_unknown", "placeholder rows need \(parts[1]) to be the key of \(parts[0]) (its key: \(other.key.isEmpty ? "none" : other.key.joined(separator: ", "))); set sources.\(parts[0]).key: \(parts[1]), or use keep")
                }
            }
        }
    }

    static func checkStages(_ c: PipelineConfig, _ d: ConfigDecoder) {
        let names = c.sources.keys
        func sourceRef(_ key: String, _ value: String?, role: String) {
            guard let value else { return }
            guard let source = c.sources[value] else {
                if d.wasPresent("sources.\(value)") { return }  // declared, but had errors of its own
                var m = "unknown source \"\(value)\""
                if let s = suggestion(for: value, among: names) { m += "; did you mean \"\(s)\"?" }
                d.error(key, m + " (expected one of \(names.joined(separator: ", ")))")
                return
            }
            for (col, types, required) in featureColumns[role] ?? [] {
                guard let decl = source.columns[col] else {
                    // Declared, but had errors of its own (reported at the column).
                    if required && !d.wasPresent("sources.\(value).columns.\(col)") {
                        d.error("sources.\(value).columns", "the \(role) role needs a column \"\(col)\" (\(types.map(\.rawValue).joined(separator: " or "))); declare it and map your file's header with from:")
                    }
                    continue
                }
                if !types.contains(decl.type) {
                    d.error("sources.\(value).columns.\(col).type", "the \(role) role needs \(col) as \(types.map(\.rawValue).joined(separator: " or ")), found \(decl.type)")
                }
            }
            // Both declared: the features take unit_price (× quantity) and never read amount, so say which counts.
            if role == "orders", source.columns["unit_price"] != nil, source.columns["amount"] != nil {
                d.warning("sources.\(value).columns.amount", "the orders declare both unit_price and amount; revenue is quantity × unit_price and amount is not read by the features (keep one, or check both are mapped to the right headers)")
            }
            if role == "orders", source.columns["unit_price"] == nil, source.columns["amount"] == nil,
               !d.wasPresent("sources.\(value).columns.unit_price"), !d.wasPresent("sources.\(value).columns.amount") {
                d.error("sources.\(value).columns", "the orders role needs a money column: unit_price (with quantity) or amount; declare one and map your header with from:")
            }
        }
        let f = c.stages.features
        sourceRef("stages.features.orders", featuresOrders(f), role: "orders")
        sourceRef("stages.features.events", featuresEvents(f), role: "events")
        sourceRef("stages.features.customers", featuresCustomers(f), role: "customers")
        // Listed event types the events' enum cannot hold give features that are always 0: most likely a typo.
        if let name = featuresEvents(f), let decl = c.sources[name]?.columns["event_type"], decl.type == .enum, let values = decl.values {
            let allowed = Set(values)
            for (key, list) in featuresEventTypeLists(f) where d.wasPresent("stages.features.\(key)") {
                let missing = list.filter { !allowed.contains($0) }
                if !missing.isEmpty {
                    d.warning("stages.features.\(key)", "\(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") not among sources.\(name).columns.event_type.values, so \(missing.count == 1 ? "its count is" : "their counts are") always 0")
                }
            }
        }
        sourceRef("stages.clean.sessions.source", sessionsSource(c.stages.clean), role: "events")
        if let name = sessionsSource(c.stages.clean), let source = c.sources[name] {
            // Sessions group by the customer id as text (the events role allows int ids; sessions do not).
            if let decl = source.columns["customer_id"], decl.type != .string, decl.type != .enum {
                d.error("sources.\(name).columns.customer_id.type", "the sessions (stages.clean.sessions) need customer_id as string or enum, found \(decl.type.rawValue); declare it type: string (ids are compared as text)")
            }
            for (key, column) in sessionsNamedColumns(c.stages.clean) {
                guard let decl = source.columns[column] else {
                    d.error("stages.clean.sessions.\(key)", "source \(name) has no column \"\(column)\" (declared: \(source.columns.keys.joined(separator: ", "))); declare it and map your file's header with from:")
                    continue
                }
                if key != "product", decl.type != .string, decl.type != .enum {
                    d.error("stages.clean.sessions.\(key)", "column \(column) is \(decl.type.rawValue); the sessions' \(key) must be a string or enum column")
                }
            }
            // A listed event type an enum column never holds leaves its count at 0 in every session, without a word.
            if let decl = source.columns["event_type"], decl.type == .enum, let allowed = decl.values, !allowed.isEmpty {
                for (key, list) in sessionsEventTypeLists(c.stages.clean) where d.wasPresent("stages.clean.sessions.event_types.\(key)") {
                    let missing = list.filter { !allowed.contains($0) }
                    if !missing.isEmpty {
                        d.warning("stages.clean.sessions.event_types.\(key)", "\(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") not among sources.\(name).columns.event_type.values, so no event counts under \(missing.count == 1 ? "it" : "them"): the sessions' \(key) count stays 0 for those")
                    }
                }
            }
        }
        for (name, clustering) in c.stages.cluster.clusterings {
            if let problem = clustering.initialProblem { d.error("stages.cluster.clusterings.\(name).init", problem) }
        }
    }

    // MARK: - Helpers

    static func isName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(48...57).contains(first) else { return false }
        return s.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 45 }
    }

    /// One ASCII byte that is neither a letter, a digit, a space nor a line end: what may delimit, quote or escape.
    static func isSymbol(_ s: String) -> Bool {
        s.utf8.count == 1 && !(s.first!.isLetter || s.first!.isNumber || s == " " || s == "\n" || s == "\r")
    }

    /// The zone names `LocalClock` reads (the one parser every stage uses).
    static func isValidTimeZone(_ tz: String) -> Bool { LocalClock(tz) != nil }

    /// Nil when `format` is a supported date/timestamp format, else what is wrong (`TimeFormat.compile`).
    static func checkTimeFormat(_ format: String, type: ColumnType) -> String? {
        switch TimeFormat.compile(format) {
        case .failure(let e): return e.message
        case .success(let f):
            return type == .date && f.isTimestampOnly ? "\(format) applies to timestamps; dates use iso8601 or a pattern such as yyyy-MM-dd" : nil
        }
    }
}

/// FNV-1a 64-bit hash as 16 hex digits. Identifies configs; not a security hash.
public func fnv1aHex(_ data: Data) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in data { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    let s = String(h, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// `path` with symbolic links resolved; for a path that does not exist yet, its nearest existing
/// ancestor resolved plus the rest, so an output inside a linked folder is judged by where it would land.
func canonicalPath(_ path: String) -> String {
    var head = URL(fileURLWithPath: path).standardized.path
    var tail: [String] = []
    while true {
        if let r = realpath(head, nil) {
            defer { free(r) }
            let base = String(cString: r)
            return tail.isEmpty ? base : (base == "/" ? "" : base) + "/" + tail.reversed().joined(separator: "/")
        }
        let url = URL(fileURLWithPath: head)
        let parent = url.deletingLastPathComponent().path
        if parent == head || head == "/" { return path }
        tail.append(url.lastPathComponent)
        head = parent
    }
}

/// The config's folder as the user named it (relative stays relative), for messages.
func displayFolder(_ configPath: String) -> String {
    guard let cut = configPath.lastIndex(of: "/") else { return "." }
    let folder = String(configPath[..<cut])
    return folder.isEmpty ? "/" : folder
}

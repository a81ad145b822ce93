import Foundation
/// How one input source (orders, events, customers, ...) is read, typed and validated.
///
/// Declared under `sources.<name>` in a pipeline config; shared by Extract (reading
/// and typing) and Clean (validation rules), so both stages agree on one declaration.
///
/// Column names in the spec are **canonical** names used by later stages; `from`
/// maps them to the file's header name (or 1-based position when `header: false`).
public struct SourceSpec: Decodable, Sendable {
    public enum Format: String, ConfigEnum {
        case csv
        public static var noun: String { "format" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }
    /// What to do when a whole file is unreadable, corrupt or has the wrong header.
    public enum FileErrorPolicy: String, ConfigEnum {
        case fail
        case quarantineFile = "quarantine-file"
        public static var noun: String { "file error policy" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }
    /// Header columns not declared in `columns`.
    public enum ExtraColumnsPolicy: String, ConfigEnum {
        case ignore, error
        public static var noun: String { "extra columns policy" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }
    /// Declared columns missing from a file's header.
    public enum MissingColumnsPolicy: String, ConfigEnum {
        case error
        case null
        public static var noun: String { "missing columns policy" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }
    /// Which of several rows with the same key is kept.
    public enum DedupePolicy: String, ConfigEnum {
        case first, last
        public static var noun: String { "dedupe policy" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }

    /// The source's name (its key under `sources`).
    public var name: String = ""
    /// File globs, relative to the config file (`**` matches across folders).
    public var files: [String]
    /// Globs of files matched by `files` that are not read (temporary files, markers, summaries).
    public var exclude: [String] = []
    public var format: Format
    /// `","`, `"\t"`, `";"`, `"|"`, or `"whitespace"` (runs of spaces and tabs).
    public var delimiter: String
    public var header: Bool
    /// Time zone for timestamps without an offset: `UTC`, a fixed offset `+08:00`, or an IANA name.
    public var timezone: String
    public var onFileError: FileErrorPolicy
    public var extraColumns: ExtraColumnsPolicy
    public var missingColumns: MissingColumnsPolicy
    /// Field texts read as null (after trimming).
    public var nullValues: [String]
    public var columns: KeyedList<ColumnDecl>
    /// Columns that identify a row; duplicates are quarantined (rule `duplicate`).
    public var key: [String]
    public var dedupe: DedupePolicy
    /// Foreign keys: `column: other_source.column`; unmatched rows are quarantined (rule `reference`) unless the
    /// column's `on_unknown` policy (`unknownReferences`) says otherwise.
    public var references: KeyedList<String>
    /// What a row whose reference is not found does, per referencing column (absent: `reject`).
    public var unknownReferences: [String: UnknownReferencePolicy] = [:]

    /// `references.<column>.on_unknown`: an id the referenced source does not have.
    public enum UnknownReferencePolicy: String, ConfigEnum {
        /// The row is quarantined (rule `reference`).
        case reject
        /// The row is kept with its id; the count is logged and recorded.
        case keep
        /// The row is kept and the referenced source gains a placeholder row with that id (other columns null).
        case placeholder
        public static var noun: String { "on_unknown policy" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }

    /// One `references` entry: `other_source.column`, or `{to: other_source.column, on_unknown: keep}`.
    struct ReferenceEntry: Decodable, Sendable {
        var target: String
        var onUnknown: UnknownReferencePolicy = .reject
        enum CodingKeys: String, CodingKey, CaseIterable { case to, onUnknown = "on_unknown" }
        init(from decoder: any Decoder) throws {
            if ConfigNodeKind.isMapping(decoder) == true {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                target = try c.decode(String.self, forKey: .to)
                onUnknown = try c.decodeIfPresent(UnknownReferencePolicy.self, forKey: .onUnknown) ?? .reject
            } else {
                target = try decoder.singleValueContainer().decode(String.self)
            }
        }
    }
    /// Data-quality budget: the run fails with exit 65 when more than this share of rows is rejected.
    public var maxRejectRate: Double
    /// The newest row must be at most this old at the end of the as-of day.
    public var freshness: Freshness?
    /// Row checks across columns (rule `check`), e.g. `quantity * unit_price >= discount`.
    public var checks: [RowExpression] = []
    /// Among duplicates, order by this column (then input order) before keeping the first or last.
    public var dedupeBy: String?
    /// Conversion of money columns to one reporting currency.
    public var currency: CurrencyConversion?
    /// Longest record (line, or quoted lines) read into memory; a longer one is quarantined (rule `line_size`)
    /// and skipped to the next newline without being buffered, so memory stays bounded.
    public var maxLineBytes: Int = 16 << 20
    /// Longest field; a longer one rejects its row (rule `field_size`).
    public var maxFieldBytes: Int = 1 << 20
    /// A gzip file that inflates to more than this many times its compressed size is refused (a gzip bomb).
    /// Checked as the file streams, once 1 MiB has been inflated.
    public var maxExpansionRatio: Double = 200
    /// The raw text kept with a quarantined row, at most this many bytes (cut at a character boundary); 0 keeps none
    /// (quarantined lines may hold personal data).
    public var maxRawBytes: Int = 1024
    /// The decimal mark of numbers in the files: `.` (default) or `,` (then a `.` in a number is an error unless it
    /// is the thousands separator).
    public var decimalSeparator: String = "."
    /// Digit grouping in numbers (`,`, `.`, ` `, `'`, `_`, or any short non-digit text): removed where it separates
    /// groups of three digits; a misplaced one rejects the value. Nil: none allowed.
    public var thousandsSeparator: String?
    /// The files' text encoding: `utf-8` (default), `latin1` (ISO-8859-1) or `windows-1252`; the other two are
    /// converted to UTF-8 as they are read.
    public var encoding: TextEncoding = .utf8
    /// The quote character (`"` by default; `'`), or nil (`quote: none`): quotes are then ordinary text.
    public var quote: String? = "\""
    /// An escape character inside quoted fields (`\`): the character after it is taken as it is (`\"` is a quote).
    /// Nil (default): quotes are escaped by doubling them, per RFC 4180.
    public var escape: String?
    /// Lines starting with this text are comments and skipped (not rows; counted in the file report).
    public var comment: String?
    /// Lines skipped at the start of each file, before the header (a title or export notice).
    public var skipLines: Int = 0

    /// A file's text encoding (`sources.<name>.encoding`).
    public enum TextEncoding: String, ConfigEnum {
        case utf8 = "utf-8"
        case latin1
        case windows1252 = "windows-1252"
        public static var noun: String { "encoding" }
        public init(from decoder: any Decoder) throws {
            let word = try decoder.singleValueContainer().decode(String.self)
            switch word.lowercased() {
            case "utf-8", "utf8": self = .utf8
            case "latin1", "latin-1", "iso-8859-1", "iso8859-1": self = .latin1
            case "windows-1252", "cp1252": self = .windows1252
            default: self = try Self.decodeWord(from: decoder)
            }
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case files, format, delimiter, header, timezone
        case onFileError = "on_file_error", extraColumns = "extra_columns", missingColumns = "missing_columns"
        case nullValues = "null_values", columns, key, dedupe, references
        case maxRejectRate = "max_reject_rate", freshness, checks, dedupeBy = "dedupe_by", currency
        case maxLineBytes = "max_line_bytes", maxFieldBytes = "max_field_bytes", maxExpansionRatio = "max_expansion_ratio"
        case decimalSeparator = "decimal_separator", thousandsSeparator = "thousands_separator", encoding
        case quote, escape, comment, skipLines = "skip_lines", maxRawBytes = "max_raw_bytes", exclude
    }

    public init(name: String, files: [String], columns: [(String, ColumnDecl)]) {
        self.name = name
        self.files = files
        format = .csv
        delimiter = ","
        header = true
        timezone = "UTC"
        onFileError = .fail
        extraColumns = .ignore
        missingColumns = .error
        nullValues = ["", "NULL", "null", "NA", "N/A"]
        self.columns = KeyedList(columns.map { entry in
            var decl = entry.1
            decl.name = entry.0  // the canonical name is the key
            return (key: entry.0, value: decl)
        })
        key = []
        dedupe = .first
        references = KeyedList()
        maxRejectRate = 0.05
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: "", files: try c.decode(StringList.self, forKey: .files).values, columns: [])
        format = try c.decodeIfPresent(Format.self, forKey: .format) ?? format
        delimiter = try c.decodeIfPresent(String.self, forKey: .delimiter) ?? delimiter
        header = try c.decodeIfPresent(Bool.self, forKey: .header) ?? header
        timezone = try c.decodeIfPresent(String.self, forKey: .timezone) ?? timezone
        onFileError = try c.decodeIfPresent(FileErrorPolicy.self, forKey: .onFileError) ?? onFileError
        extraColumns = try c.decodeIfPresent(ExtraColumnsPolicy.self, forKey: .extraColumns) ?? extraColumns
        // YAML reads a bare `null` as the null value, so `missing_columns: null` (what the header error advises)
        // arrives as nil: that is the null policy, not the default.
        if c.contains(.missingColumns), try c.decodeNil(forKey: .missingColumns) {
            missingColumns = .null
        } else {
            missingColumns = try c.decodeIfPresent(MissingColumnsPolicy.self, forKey: .missingColumns) ?? missingColumns
        }
        nullValues = try c.decodeIfPresent([String].self, forKey: .nullValues) ?? nullValues
        columns = try c.decode(KeyedList<ColumnDecl>.self, forKey: .columns)
        for i in columns.entries.indices { columns.entries[i].value.name = columns.entries[i].key }
        key = try c.decodeIfPresent(StringList.self, forKey: .key)?.values ?? key
        dedupe = try c.decodeIfPresent(DedupePolicy.self, forKey: .dedupe) ?? dedupe
        if let entries = try c.decodeIfPresent(KeyedList<ReferenceEntry>.self, forKey: .references) {
            references = KeyedList(entries.entries.map { (key: $0.key, value: $0.value.target) })
            for e in entries.entries where e.value.onUnknown != .reject { unknownReferences[e.key] = e.value.onUnknown }
        }
        maxRejectRate = try c.decodeIfPresent(Double.self, forKey: .maxRejectRate) ?? maxRejectRate
        maxLineBytes = try c.decodeIfPresent(Int.self, forKey: .maxLineBytes) ?? maxLineBytes
        maxFieldBytes = try c.decodeIfPresent(Int.self, forKey: .maxFieldBytes) ?? maxFieldBytes
        maxExpansionRatio = try c.decodeIfPresent(Double.self, forKey: .maxExpansionRatio) ?? maxExpansionRatio
        decimalSeparator = try c.decodeIfPresent(String.self, forKey: .decimalSeparator) ?? decimalSeparator
        thousandsSeparator = try c.decodeIfPresent(String.self, forKey: .thousandsSeparator)
        encoding = try c.decodeIfPresent(TextEncoding.self, forKey: .encoding) ?? encoding
        if c.contains(.quote) {
            let q = try c.decodeIfPresent(String.self, forKey: .quote)
            quote = q == nil || q == "none" ? nil : q
        }
        escape = try c.decodeIfPresent(String.self, forKey: .escape)
        comment = try c.decodeIfPresent(String.self, forKey: .comment)
        skipLines = try c.decodeIfPresent(Int.self, forKey: .skipLines) ?? skipLines
        maxRawBytes = try c.decodeIfPresent(Int.self, forKey: .maxRawBytes) ?? maxRawBytes
        exclude = try c.decodeIfPresent(StringList.self, forKey: .exclude)?.values ?? []
        let names = columns.map(\.key)
        let textColumns = Set(columns.entries.filter { $0.value.type.storageKind == .string }.map(\.key))
        for (k, text) in (try c.decodeIfPresent(StringList.self, forKey: .checks)?.values ?? []).enumerated() {
            let times = Dictionary(uniqueKeysWithValues: columns.entries.filter { $0.value.type == .date || $0.value.type == .timestamp }.map { ($0.key, $0.value.type) })
            do { checks.append(try RowExpression(text, columns: names, text: textColumns, times: times)) } catch let e as ConfigValueError {
                throw ConfigValueError("checks[\(k)]: \(e.message)")
            }
        }
        dedupeBy = try c.decodeIfPresent(String.self, forKey: .dedupeBy)
        if let b = dedupeBy, columns[b] == nil {
            throw ConfigValueError("dedupe_by: unknown column \"\(b)\" (declared: \(names.joined(separator: ", ")))")
        }
        currency = try c.decodeIfPresent(CurrencyConversion.self, forKey: .currency)
        if let cc = currency {
            for col in [cc.column] + cc.amounts where columns[col] == nil {
                throw ConfigValueError("currency: unknown column \"\(col)\" (declared: \(names.joined(separator: ", ")))")
            }
            for col in cc.amounts where ![.decimal, .double].contains(columns[col]!.type) {
                throw ConfigValueError("currency.amounts: \(col) is \(columns[col]!.type.rawValue); only decimal and double columns hold money")
            }
        }
        freshness = try c.decodeIfPresent(Freshness.self, forKey: .freshness)
        if let f = freshness, columns[f.column] == nil {
            throw ConfigValueError("freshness.column: unknown column \"\(f.column)\" (declared: \(columns.map(\.key).joined(separator: ", ")))")
        }
        if let f = freshness, let t = columns[f.column]?.type, t != .date, t != .timestamp {
            // Every run failed as stale data (exit 65) instead.
            let times = columns.filter { $0.value.type == .date || $0.value.type == .timestamp }.map(\.key)
            throw ConfigValueError("freshness.column: \(f.column) is a \(t.rawValue) column; name a date or timestamp column"
                                   + (times.isEmpty ? "" : " (declared: \(times.joined(separator: ", ")))"))
        }
    }

    /// Keys of `sources.<name>` that only clean reads; every other key shapes extract's tables (or both stages',
    /// `sharedKeys`). A stage run alone compares what its inputs were built with by these (`StageSettings`).
    public static let cleanKeys: Set<String> = ["key", "dedupe", "dedupe_by", "references", "checks", "currency"]
    /// Keys both extract and clean read.
    public static let sharedKeys: Set<String> = ["max_raw_bytes"]
    /// Keys clean only checks its tables against (the run passes or fails; the tables are the same).
    public static let budgetKeys: Set<String> = ["max_reject_rate", "freshness"]
    /// Every key `sources.<name>` may have.
    public static var configKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    /// The typed schema of this source's table (canonical names, declaration order).
    public var schema: Schema {
        Schema(columns.entries.map { ColumnSpec($0.key, $0.value.type, scale: $0.value.scale, nullable: !$0.value.required) })
    }
}

/// One declared column: where it comes from, its type and its validation rules.
public struct ColumnDecl: Decodable, Sendable {
    /// Canonical name (the key under `columns`).
    public var name: String = ""
    /// Header name in the file (default: the canonical name), or a 1-based position when `header: false`.
    public var from: String?
    public var type: ColumnType
    /// Date/timestamp formats, tried in order: `iso8601` (default), `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`, `excel`, or a pattern
    /// such as `yyyy-MM-dd HH:mm:ss`, `yyyyMMdd`, `dd/MM/yyyy`, `M/d/yy h:mm a` (`format:` is one or a list).
    public var formats: [String] = []
    /// The first of `formats` (nil: `iso8601`).
    public var format: String? {
        get { formats.first }
        set { formats = newValue.map { [$0] } ?? [] }
    }
    /// Decimal places kept for `decimal` columns (fixed point).
    public var scale: Int
    /// Allowed values for `enum` columns.
    public var values: [String]?
    /// A null or empty value rejects the row (rule `required`).
    public var required: Bool
    /// Numeric bounds (rules `min`, `max`), inclusive unless `minExclusive` / `maxExclusive`.
    public var min: Double?
    public var max: Double?
    public var minExclusive: Bool
    public var maxExclusive: Bool
    /// Normalisations applied before validation.
    public var trim: Bool
    /// ASCII letters to lower (`lowercase`) or upper case (`uppercase`); at most one of the two.
    public var lowercase: Bool
    public var uppercase: Bool
    /// Dates and timestamps must fall in this window around the as-of day (rule `window`).
    public var window: AsOfWindow?
    /// Texts removed from the start and end of the field before typing (currency signs, units: `["$", "€", "%"]`).
    public var strip: [String] = []
    /// The file writes this column in units of 1/`divideBy` (a power of ten): `divide_by: 100` reads amounts in
    /// cents (`1250` is 12.50). Decimal and double columns; a decimal's `scale` must hold the digits.
    public var divideBy: Int?
    /// The texts a `bool` column reads as true and as false (any case); nil: true/false, yes/no, 1/0, t/f, y/n.
    public var trueValues: [String]?
    public var falseValues: [String]?
    /// A regular expression the whole value must match (rule `pattern`; string columns).
    public var pattern: String?
    /// `map`: values rewritten before validation: the first pattern matching the whole value gives its
    /// replacement (`$1` a group of the match); a value no pattern matches is kept. String and enum columns.
    public var map: [ValueMapping] = []
    /// `fill_down`: a null value takes the value of the nearest earlier row (in file and line order) with the same
    /// value in this column of the source, as exports that write an order's fields on its first line only need.
    public var fillDown: String?
    /// Bounds on the number of characters (rule `length`; string columns).
    public var minLength: Int?
    public var maxLength: Int?
    /// What an invalid value (enum, min, max, pattern, length; a parse failure unless required) does: reject the row (default) or become null
    /// (the row is kept; the count per column and rule is reported).
    public var onInvalid: InvalidPolicy

    public enum InvalidPolicy: String, ConfigEnum {
        case reject, null
        public static var noun: String { "on_invalid policy" }
        public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
    }

    /// Keys of a column that only clean reads (its rules and rewrites); the others shape extract's tables, and
    /// `sharedKeys` both (`SourceSpec.cleanKeys`).
    public static let cleanKeys: Set<String> = [
        "values", "min", "max", "min_exclusive", "max_exclusive", "window", "pattern", "map", "fill_down", "min_length", "max_length",
    ]
    /// Keys both extract (a value that does not parse: rejected or null) and clean (rules) read.
    public static let sharedKeys: Set<String> = ["required", "on_invalid"]
    /// Every key a column may have.
    public static var configKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case from, type, format, scale, values, required, min, max, trim, lowercase, uppercase, pattern
        case minExclusive = "min_exclusive", maxExclusive = "max_exclusive", window
        case minLength = "min_length", maxLength = "max_length", onInvalid = "on_invalid"
        case strip, trueValues = "true_values", falseValues = "false_values", divideBy = "divide_by", map
        case fillDown = "fill_down"
    }

    public init(_ type: ColumnType, from: String? = nil, format: String? = nil, scale: Int = 2, values: [String]? = nil,
                required: Bool = false, min: Double? = nil, max: Double? = nil) {
        self.type = type
        self.from = from
        formats = format.map { [$0] } ?? []
        self.scale = type == .decimal ? scale : 0
        self.values = values
        self.required = required
        self.min = min
        self.max = max
        minExclusive = false
        maxExclusive = false
        trim = true
        lowercase = false
        uppercase = false
        onInvalid = .reject
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(ColumnType.self, forKey: .type)
        self.init(type)
        from = try c.decodeIfPresent(String.self, forKey: .from)
        formats = try c.decodeIfPresent(StringList.self, forKey: .format)?.values ?? []
        if c.contains(.format), formats.isEmpty { throw ConfigValueError("format: give one format or a list of them") }
        scale = type == .decimal ? (try c.decodeIfPresent(Int.self, forKey: .scale) ?? 2) : 0
        // 64-bit fixed point: 18 decimals still leave ±9.22 units; more hold no value at all.
        if scale < 0 || scale > 18 { throw ConfigValueError("scale: \(scale) decimals; a decimal keeps 0 to 18 (money: 2; use type: double for more)") }
        values = try c.decodeIfPresent([String].self, forKey: .values)
        required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? false
        min = try c.decodeIfPresent(Double.self, forKey: .min)
        max = try c.decodeIfPresent(Double.self, forKey: .max)
        minExclusive = try c.decodeIfPresent(Bool.self, forKey: .minExclusive) ?? false
        maxExclusive = try c.decodeIfPresent(Bool.self, forKey: .maxExclusive) ?? false
        window = try c.decodeIfPresent(AsOfWindow.self, forKey: .window)
        strip = try c.decodeIfPresent(StringList.self, forKey: .strip)?.values ?? []
        divideBy = try c.decodeIfPresent(Int.self, forKey: .divideBy)
        trueValues = try c.decodeIfPresent(StringList.self, forKey: .trueValues)?.values
        falseValues = try c.decodeIfPresent(StringList.self, forKey: .falseValues)?.values
        trim = try c.decodeIfPresent(Bool.self, forKey: .trim) ?? true
        lowercase = try c.decodeIfPresent(Bool.self, forKey: .lowercase) ?? false
        uppercase = try c.decodeIfPresent(Bool.self, forKey: .uppercase) ?? false
        if lowercase && uppercase { throw ConfigValueError("lowercase and uppercase are both true; keep one") }
        // Values are matched after the case change: one written in the other case could never match (every row
        // holding it would be rejected).
        if lowercase || uppercase, let listed = values,
           let bad = listed.first(where: { v in v.unicodeScalars.contains { lowercase ? ("A"..."Z").contains($0) : ("a"..."z").contains($0) } }) {
            throw ConfigValueError("values: \"\(bad)\" can never match: \(lowercase ? "lowercase" : "uppercase"): true changes every value first; write the values in \(lowercase ? "lower" : "upper") case")
        }
        pattern = try c.decodeIfPresent(PatternText.self, forKey: .pattern)?.text
        fillDown = try c.decodeIfPresent(String.self, forKey: .fillDown)
        if let list = try c.decodeIfPresent(KeyedList<String>.self, forKey: .map) {
            if list.isEmpty { throw ConfigValueError("map: give pattern: value pairs, e.g. {\"C.*\": cancelled, \".*\": completed}") }
            map = try list.map { entry in
                do { return try ValueMapping(pattern: entry.key, value: entry.value) } catch {
                    throw ConfigValueError("map: \"\(entry.key)\" is not a valid regular expression")
                }
            }
        }
        minLength = try c.decodeIfPresent(Int.self, forKey: .minLength)
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
        if let lo = minLength, let hi = maxLength, lo > hi { throw ConfigValueError("min_length \(lo) is above max_length \(hi)") }
        // YAML reads a bare `null` as the null value, so `on_invalid: null` arrives as nil: that is the null policy.
        if c.contains(.onInvalid), try c.decodeNil(forKey: .onInvalid) {
            onInvalid = .null
        } else {
            onInvalid = try c.decodeIfPresent(InvalidPolicy.self, forKey: .onInvalid) ?? .reject
        }
    }

    /// The header name (or position) this column is read from.
    public var sourceName: String { from ?? name }
}

/// `window: {days_before: N, days_after: M}`: the days around the as-of day a date or timestamp may fall in.
///
/// The window ends `days_after` days after the end of the as-of day (in `stages.features.zone`; 0: at its end) and
/// starts `days_before` days before that end; either side may be left open. A timestamp must lie in
/// [start, end); a date's day must start in it.
public struct AsOfWindow: Decodable, Sendable, Equatable {
    public var daysBefore: Int?
    public var daysAfter: Int?

    enum CodingKeys: String, CodingKey, CaseIterable { case daysBefore = "days_before", daysAfter = "days_after" }

    public init(daysBefore: Int? = nil, daysAfter: Int? = nil) { (self.daysBefore, self.daysAfter) = (daysBefore, daysAfter) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        daysBefore = try c.decodeIfPresent(Int.self, forKey: .daysBefore)
        daysAfter = try c.decodeIfPresent(Int.self, forKey: .daysAfter)
        if daysBefore == nil && daysAfter == nil { throw ConfigValueError("give days_before, days_after or both") }
        for (key, v) in [("days_before", daysBefore), ("days_after", daysAfter)] {
            if let v, !(0...36_500).contains(v) { throw ConfigValueError("\(key) must be between 0 and 36500, found \(v)") }
        }
    }
}

/// A row set aside by Extract or Clean, with the reason, file and line. Nothing is silently lost.
public struct QuarantineRecord: Sendable, Hashable {
    public var source: String
    public var file: String
    public var line: Int
    /// 1-based field position, when the problem is in one field.
    public var column: Int?
    /// Rule name: `parse`, `field_count`, `required`, `min`, `max`, `enum`, `duplicate`, `reference`, `file`, ...
    public var rule: String
    public var reason: String
    /// The raw record text (truncated to 1 KiB).
    public var raw: String

    public init(source: String, file: String, line: Int, column: Int? = nil, rule: String, reason: String, raw: String) {
        (self.source, self.file, self.line, self.column, self.rule, self.reason, self.raw) = (source, file, line, column, rule, reason, raw)
    }
}

/// Provenance columns every extracted table carries, so later stages can name the
/// file and line of any row they reject.
public enum Provenance {
    /// Dictionary-encoded string column: the input file path (as given in the config's glob match).
    public static let file = "_file"
    /// Int column: the 1-based physical line where the record starts.
    public static let line = "_line"
}

/// One `map` entry of a column: values matching `pattern` as a whole become `value` (a template: `$1` is the
/// first group, `\\$` a dollar sign).
public struct ValueMapping: Sendable, Equatable {
    public let pattern: String
    public let value: String
    /// `pattern` anchored at both ends.
    public let regex: NSRegularExpression

    public init(pattern: String, value: String) throws {
        (self.pattern, self.value) = (pattern, value)
        regex = try wholeValueRegex(pattern)
    }

    public static func == (a: ValueMapping, b: ValueMapping) -> Bool { a.pattern == b.pattern && a.value == b.value }

    /// The value `text` is mapped to by the first of `mappings` whose pattern matches it, or nil when none does.
    public static func apply(_ mappings: [ValueMapping], to text: String) -> String? {
        let range = NSRange(text.startIndex..., in: text)
        for m in mappings {
            if let hit = m.regex.firstMatch(in: text, range: range) {
                return m.regex.replacementString(for: hit, in: text, offset: 0, template: m.value)
            }
        }
        return nil
    }
}

/// A regular expression, compiled where it is written so a bad one is reported at its line.
struct PatternText: Decodable {
    var text: String
    init(from decoder: any Decoder) throws {
        text = try decoder.singleValueContainer().decode(String.self)
        do { _ = try NSRegularExpression(pattern: text) } catch {
            throw ConfigValueError("pattern \"\(text)\" is not a valid regular expression")
        }
    }
}

/// Freshness check of a source (`freshness: {column: ordered_at, max_age_hours: 48}`): the newest
/// value must be at most that old at the end of the as-of day, or the run fails (exit 65).
public struct Freshness: Decodable, Sendable {
    public var column: String
    public var maxAgeHours: Double
    enum CodingKeys: String, CodingKey, CaseIterable { case column, maxAgeHours = "max_age_hours" }
    public init(column: String, maxAgeHours: Double) { (self.column, self.maxAgeHours) = (column, maxAgeHours) }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        column = try c.decode(String.self, forKey: .column)
        maxAgeHours = try c.decode(Double.self, forKey: .maxAgeHours)
        // At most 100 years of hours: larger ages overflowed the limit in microseconds (a crash, exit 132).
        if !(maxAgeHours > 0 && maxAgeHours <= 876_600) { throw ConfigValueError("max_age_hours must be above 0 and at most 876600 (100 years), found \(formatDouble(maxAgeHours))") }
    }
}

/// `currency: {column: currency, amounts: [unit_price, discount], to: EUR, rates: {USD: 0.92, GBP: 1.17}}`:
/// amounts in another currency are multiplied by its rate (units of `to` per unit); rows in a currency
/// without a rate are quarantined (rule `currency`).
public struct CurrencyConversion: Decodable, Sendable {
    public var column: String
    public var amounts: [String]
    public var to: String
    public var rates: [String: Double]
    enum CodingKeys: String, CodingKey, CaseIterable { case column, amounts, to, rates }
    public init(column: String, amounts: [String], to: String, rates: [String: Double]) {
        (self.column, self.amounts, self.to, self.rates) = (column, amounts, to, rates)
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        column = try c.decode(String.self, forKey: .column)
        amounts = try c.decode(StringList.self, forKey: .amounts).values
        to = try c.decode(String.self, forKey: .to)
        rates = try c.decodeIfPresent([String: Double].self, forKey: .rates) ?? [:]
        for (code, rate) in rates where !(rate > 0) || !rate.isFinite {
            throw ConfigValueError("currency.rates.\(code): a rate must be a positive number, found \(rate)")
        }
    }
    /// Units of `to` per unit of `code`; nil when unknown.
    public func rate(_ code: String) -> Double? { code == to ? 1 : rates[code] }
}

/// `pattern` (a `pattern` rule's, a `map` entry's) compiled to match a whole value: `\A…\z`, since `^…$` also matched
/// a value with a trailing line break ("FR\n" passed `[A-Z]{2}`).
public func wholeValueRegex(_ pattern: String) throws -> NSRegularExpression {
    try NSRegularExpression(pattern: "\\A(?:\(pattern))\\z")
}

/// Does `regex` match `value`?
public func matches(_ regex: NSRegularExpression, _ value: String) -> Bool {
    regex.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
}

/// `text` cut to at most `bytes` UTF-8 bytes at a character boundary (the raw text of quarantined rows).
public func prefixUTF8(_ text: String, bytes: Int) -> String {
    let utf8 = text.utf8
    guard utf8.count > bytes else { return text }
    var end = utf8.index(utf8.startIndex, offsetBy: max(0, bytes))
    // Back off continuation bytes (10xxxxxx) so no character is cut in half.
    while end > utf8.startIndex, (utf8[end] & 0xC0) == 0x80 { end = utf8.index(before: end) }
    return String(text[..<end])
}

extension ColumnDecl {
    /// log10 of `divideBy` when it is a power of ten from 10 to 10^9, else nil.
    public var divideByDigits: Int? {
        guard let d = divideBy else { return nil }
        var k = 0, x = 1
        while x < d && k < 9 { x *= 10; k += 1 }
        return x == d && k >= 1 ? k : nil
    }
}

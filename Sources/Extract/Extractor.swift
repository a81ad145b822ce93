import CVMCore
import CKernels
import Foundation

/// What was read from one input file.
public struct FileReport: Sendable, Equatable {
    public var path: String
    public var compressedBytes: Int64
    /// Uncompressed bytes.
    public var bytes: Int64
    public var rowsRead: Int
    public var rowsAccepted: Int
    public var rowsRejected: Int
    /// Set when the whole file was rejected (`on_file_error: quarantine-file`).
    public var rejectedReason: String?
    /// Comment lines and leading lines (`comment`, `skip_lines`) passed over; not rows.
    public var linesSkipped = 0
}

/// The typed rows of one source, what was set aside, and per-file accounting.
public struct ExtractResult: Sendable {
    /// `raw_<source>`: declared columns (canonical names, declared types) then `_file`, `_line`.
    public var table: Table
    public var rejects: [QuarantineRecord]
    public var files: [FileReport]
    /// Wall seconds spent reading and typing the files (in parallel) while appending them in file order, then
    /// finishing the table.
    public var readSeconds = 0.0
    public var mergeSeconds = 0.0
    /// Values that did not parse in columns with `on_invalid: null`: set to null, their rows kept. Per column (in
    /// declaration order), the count and the first example ("file:line: reason").
    public var nulled: [(column: String, count: Int, example: String)] = []
}

/// Adds up the parse failures nulled per column over a source's files, in file order (the first example wins).
struct NulledValues {
    private var order: [String] = []
    private var byColumn: [String: (count: Int, example: String)] = [:]

    mutating func add(_ part: FileExtractor.Part) { add(path: part.report.path, part.nulled) }

    mutating func add(path: String, _ nulled: [(column: String, count: Int, line: Int, reason: String)]) {
        for x in nulled {
            if let seen = byColumn[x.column] {
                byColumn[x.column] = (seen.count + x.count, seen.example)
            } else {
                order.append(x.column)
                byColumn[x.column] = (x.count, "\(path):\(x.line): \(x.reason)")
            }
        }
    }

    var list: [(column: String, count: Int, example: String)] { order.map { ($0, byColumn[$0]!.count, byColumn[$0]!.example) } }
}

/// A file-level input error (exit 66): unreadable file, corrupt gzip, header mismatch.
public struct ExtractError: CVMError, Equatable {
    public var message: String
    public var exitStatus: ExitStatus { .noInput }
    public var description: String { message }
}

/// Reads one source's files into a typed table (the extract stage).
public enum Extractor {
    /// Reads `files` (already sorted) in parallel, one file per task, and appends each file's rows to the
    /// table in file order as soon as the files before it are in, so the result is identical for any `threads`.
    ///
    /// Files are read ahead of the append by at most a few per worker: memory holds the growing table and
    /// those files, not every file's rows as well (on M that was 1 GB more; on this machine memory first
    /// touched costs about 1 s a GB), and the append (interning each file's strings into the source's
    /// dictionaries) overlaps the reading instead of following it.
    /// - Throws: `ExtractError` (exit 66) for a file-level problem when `on_file_error` is `fail`; the files
    ///   after it are not read.
    /// - Complexity: O(bytes); memory is the output table plus a few files' rows per worker.
    /// - Parameter progress: called from worker threads as files are read: files finished (1 after each file, 0 after
    ///   a chunk that does not end its file) and the rows read.
    ///
    /// With fewer files than threads, or a file of more than `ChunkedExtract.bigFileBytes`, the files are cut into
    /// chunks of about 4 MiB instead, read by all the workers (`ChunkedExtract`): a source that is one big file is
    /// not read on one thread, and a big file's rows are not held twice (as its part, then in the table). The
    /// result is the same either way. `chunkBytes` given: always in chunks of that size (tests).
    /// On M (2,160 files, 2 threads) reading whole files is about 8% faster than chunks (inflation runs in parallel
    /// and there are fewer parts to append), so it stays the way for many files of ordinary size.
    public static func extract(_ source: SourceSpec, files: [String], threads: Int, chunkBytes: Int? = nil,
                               progress: (@Sendable (_ files: Int, _ rows: Int) -> Void)? = nil) throws -> ExtractResult {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let expectedBytes = files.map { path -> Int64 in
            var st = stat()
            return stat(path, &st) == 0 ? Int64(st.st_size) : 0
        }
        var merge = SourceMerge(source: source, expectedBytes: expectedBytes.reduce(0, +))
        if chunkBytes != nil || (threads > 1 && files.count < threads) || (expectedBytes.max() ?? 0) > ChunkedExtract.bigFileBytes {
            ChunkedExtract.run(source, files: files, threads: threads, chunkBytes: chunkBytes ?? ChunkedExtract.defaultChunkBytes,
                               into: &merge, progress: progress)
        } else {
            orderedPipeline(count: files.count, threads: threads, window: 2 * threads) { i in
                let r = Result { try FileExtractor(source: source, path: files[i]).run() }
                progress?(1, (try? r.get())?.report.rowsRead ?? 0)
                return r
            } consume: { i, r in
                merge.add(file: files[i], r)
            }
        }
        if let failure = merge.failure { throw failure }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let table = merge.builder.finish(name: "raw_\(source.name)")
        let t2 = DispatchTime.now().uptimeNanoseconds
        return ExtractResult(table: table, rejects: merge.rejects, files: merge.reports,
                             readSeconds: Double(t1 - t0) / 1e9, mergeSeconds: Double(t2 - t1) / 1e9, nulled: merge.nulled.list)
    }

    /// The first `rows` records of a source, read from its files in order (`cvm validate --sample`): the same
    /// parsing, typing and quarantine as a run, on a prefix. A file-level error throws whatever `on_file_error` says,
    /// so the user sees it before the nightly run does.
    public static func sample(_ source: SourceSpec, files: [String], rows: Int) throws -> ExtractResult {
        var builder = TableBuilder(source: source, expectedBytes: 0)
        var rejects: [QuarantineRecord] = []
        var reports: [FileReport] = []
        var nulled = NulledValues()
        var left = rows
        for path in files where left > 0 {
            do {
                var part = try FileExtractor(source: source, path: path, rowLimit: left).run()
                left -= part.report.rowsRead
                rejects += part.rejects
                reports.append(part.report)
                nulled.add(part)
                part.rejects = []
                builder.append(part)
            } catch {
                throw ExtractError(message: "\(error)")
            }
        }
        return ExtractResult(table: builder.finish(name: "raw_\(source.name)"), rejects: rejects, files: reports, nulled: nulled.list)
    }

    /// Extracts in-memory bytes as if they were the file `name` (tests and fuzzing).
    /// - Parameter typesCommonRowsInC: false: every record takes the general path (the result must be the same).
    /// - Throws: `ExtractError` for a file-level problem, whatever `on_file_error` says.
    public static func extract(_ source: SourceSpec, bytes: [UInt8], name: String, typesCommonRowsInC: Bool = true) throws -> ExtractResult {
        do {
            let part = try FileExtractor(source: source, path: name, bytes: bytes, typesCommonRowsInC: typesCommonRowsInC).run()
            var builder = TableBuilder(source: source, expectedBytes: 0)
            let (rejects, report) = (part.rejects, part.report)
            var nulled = NulledValues()
            nulled.add(part)
            builder.append(part)
            return ExtractResult(table: builder.finish(name: "raw_\(source.name)"), rejects: rejects, files: [report], nulled: nulled.list)
        } catch {
            throw ExtractError(message: "\(error)")
        }
    }
}

/// A source's files folded into its table, rejects and reports in file order (the consumer of the extract).
struct SourceMerge {
    let source: SourceSpec
    var builder: TableBuilder
    var rejects: [QuarantineRecord] = []
    var reports: [FileReport] = []
    var nulled = NulledValues()
    /// Set when a file-level error stops the run (`on_file_error: fail`).
    var failure: ExtractError?

    init(source: SourceSpec, expectedBytes: Int64) {
        self.source = source
        builder = TableBuilder(source: source, expectedBytes: expectedBytes)
    }

    /// Adds a whole file's part, or its error. False when the run must stop.
    mutating func add(file: String, _ r: Result<FileExtractor.Part, any Error>) -> Bool {
        switch r {
        case .success(var part):
            rejects += part.rejects
            reports.append(part.report)
            nulled.add(part)
            part.rejects = []
            builder.append(part)
            return true
        case .failure(let error):
            return fileFailed(file, error)
        }
    }

    /// A file-level error: the run stops (`fail`), or the file is recorded as rejected with the rows read before
    /// the error. False when the run must stop.
    mutating func fileFailed(_ file: String, _ error: any Error) -> Bool {
        let message = "\(error)"
        if source.onFileError == .fail {
            failure = ExtractError(message: message + (message.contains("on_file_error") ? "" : "; or set sources.\(source.name).on_file_error: quarantine-file to skip the file"))
            return false
        }
        let rowsRead = (error as? PartialFileError)?.rowsRead ?? 0
        let line = (error as? PartialFileError)?.line ?? 0
        let reason = (error as? PartialFileError)?.underlying ?? message
        rejects.append(QuarantineRecord(source: source.name, file: file, line: line, rule: "file",
                                        reason: "file rejected: \(reason) (\(rowsRead) rows read before the error were dropped)", raw: ""))
        reports.append(FileReport(path: file, compressedBytes: 0, bytes: 0, rowsRead: rowsRead, rowsAccepted: 0,
                                  rowsRejected: rowsRead, rejectedReason: reason))
        return true
    }
}

/// A file-level error after some rows were read (they are dropped with the file).
struct PartialFileError: Error, CustomStringConvertible {
    var underlying: String
    var rowsRead: Int
    var line: Int
    var description: String { underlying }
}

/// Per-column typing state for one file.
struct ColumnReader {
    let decl: ColumnDecl
    let kind: ColumnStorage.Kind
    /// The first declared date/timestamp format, and the others tried in order when it does not match.
    let format: TimeFormat
    let otherFormats: [TimeFormat]
    // Copies of the declaration's plain fields: the per-field loop reads these, never `decl` (copying the
    // declaration retains and releases its five strings and arrays, about 5% of extract time).
    let type: ColumnType
    let scale: Int
    let trim: Bool
    /// The ASCII letters case mapping changes (`lowercase`: A-Z, `uppercase`: a-z), or nil.
    let caseRange: ClosedRange<UInt8>?
    /// A string or enum column without a case mapping: its values are interned as they are (read per field, so stored
    /// rather than computed from `kind` and `caseRange`).
    let plainText: Bool
    /// `on_invalid: null` on a column that is not required: a value that does not parse becomes null (row kept).
    let nullsUnparseable: Bool
    /// `strip`: texts removed from both ends before typing.
    let strip: [[UInt8]]
    /// log10 of `divide_by` (0: none).
    let divideDigits: Int
    /// `true_values` / `false_values` of a bool column, lowercased (nil: the built-in words).
    let boolWords: (true: [[UInt8]], false: [[UInt8]])?
    var ints: [Int64] = []
    var doubles: [Double] = []
    var codes: [Int32] = []
    /// Where the nulls are (indices into the values, ascending): the validity is made from them when the file is
    /// done, instead of a flag appended per field (most columns have no null, and the append was 8 a row).
    var nulls: [Int] = []
    /// Values nulled under `nullsUnparseable` (indices, ascending), and the reason of the first.
    var nulledRows: [Int] = []
    var nulledReason: String?
    /// The file's dictionary of a string column (a `distinct` one for the source's one-column key).
    let interner: FileInterner

    /// The values appended so far.
    var count: Int {
        switch kind {
        case .int64: ints.count
        case .double: doubles.count
        case .string: codes.count
        }
    }

    /// The validity of `rows` values: nil when none is null.
    func validity(rows: Int) -> [Bool]? {
        guard !nulls.isEmpty else { return nil }
        var v = [Bool](repeating: true, count: rows)
        for i in nulls { v[i] = false }
        return v
    }
}

/// Extracts one file. Not shared between threads.
final class FileExtractor {
    let source: SourceSpec
    let path: String
    let zone: ZoneConverter
    let nullValues: [[UInt8]]
    /// Bit k set when some null value is k bytes long.
    let nullLengths: UInt64
    let longNullValue: Bool
    /// In-memory input instead of the file at `path`.
    let bytes: [UInt8]?
    /// `decimal_separator` and `thousands_separator` when numbers are not plain (`1234.5`): fields are rewritten first.
    let numberFormat: NumberFormat?
    /// `numberFormat != nil`, as a plain flag for the per-field test (unwrapping the optional retains its array).
    let rewritesNumbers: Bool

    /// Stop after this many records (`Extractor.sample`); nil: the whole file.
    let rowLimit: Int?
    /// False: every record takes the general path (`FastRows`; the fuzz target reads each input both ways).
    let typesCommonRowsInC: Bool

    init(source: SourceSpec, path: String, bytes: [UInt8]? = nil, rowLimit: Int? = nil, typesCommonRowsInC: Bool = true) {
        self.source = source
        self.path = path
        self.bytes = bytes
        self.rowLimit = rowLimit
        self.typesCommonRowsInC = typesCommonRowsInC
        zone = ZoneConverter(source.timezone) ?? ZoneConverter("UTC")!
        nullValues = source.nullValues.map { Array($0.utf8) }
        nullLengths = nullValues.reduce(0) { $1.count < 64 ? $0 | 1 << UInt64($1.count) : $0 }
        longNullValue = nullValues.contains { $0.count >= 64 }
        numberFormat = source.decimalSeparator == "." && source.thousandsSeparator == nil ? nil
            : NumberFormat(decimal: source.decimalSeparator.utf8.first ?? 46, thousands: source.thousandsSeparator.map { Array($0.utf8) } ?? [])
        rewritesNumbers = numberFormat != nil
    }

    /// The dialect of `source`'s files (quote, escape, comments, leading lines, encoding).
    static func dialect(_ source: SourceSpec) -> CSVScanner.Dialect {
        var d = CSVScanner.Dialect()
        d.quote = source.quote?.utf8.first
        d.escape = source.escape?.utf8.first
        d.comment = source.comment.map { Array($0.utf8) }
        d.skipLines = source.skipLines
        switch source.encoding {
        case .utf8: d.transcoding = nil
        case .latin1: d.transcoding = .latin1
        case .windows1252: d.transcoding = .windows1252
        }
        return d
    }

    /// One file's typed rows. String columns keep the file's own dictionary as bytes: the merge interns
    /// them into the source's dictionary without a `String` per value (it was half the extract time of
    /// an id column with millions of distinct values).
    struct Part: Sendable {
        enum Values: Sendable {
            case int64([Int64])
            case double([Double])
            /// The file's codes, its dictionary and each value's hash (the merge does not hash them again).
            case codes([Int32], StringDictionary, [UInt64])
        }
        struct PartColumn: Sendable {
            var spec: ColumnSpec
            var values: Values
            var validity: [Bool]?
        }
        var columns: [PartColumn]
        var lines: [Int64]
        var rejects: [QuarantineRecord]
        var report: FileReport
        /// Per column with values nulled by `on_invalid: null`: how many, and the first one's line and reason.
        var nulled: [(column: String, count: Int, line: Int, reason: String)] = []
        /// The line of the last record the scanner read (a read error after it is reported there).
        var recordLine = 0
        var rows: Int { lines.count }
    }

    /// Where a file's declared columns are among its fields, from its header (or the positions `from:` gives).
    struct Layout: Sendable {
        /// Field index in the file for each declared column (-1: missing, all null).
        var fieldIndex: [Int] = []
        /// Fields a record must have (-1: no header, any count reaching `maxIndex`).
        var expectedFields = -1
        var headerNames: [String] = []
        var headerFirst: [UInt8] = []
        var maxIndex: Int { fieldIndex.max() ?? -1 }
    }

    /// A scanner over the whole file, streaming.
    private func scanner(_ reader: GzipReader) -> CSVScanner {
        let scanner = CSVScanner(reader: reader, delimiter: FileExtractor.delimiter(source), dialect: FileExtractor.dialect(source),
                                 chunkSize: min(1 << 16, source.maxLineBytes),
                                 maxRecordBytes: source.maxLineBytes)
        scanner.rawLimit = source.maxRawBytes
        return scanner
    }

    static func delimiter(_ source: SourceSpec) -> CSVScanner.Delimiter {
        source.delimiter == "whitespace" ? .whitespace : .byte(source.delimiter.utf8.first ?? 44)
    }

    /// A scanner over one chunk of the file (`ChunkedExtract`), already UTF-8.
    func scanner(chunk: [UInt8], start: CSVScanner.Start, softEnd: Bool) -> CSVScanner {
        let scanner = CSVScanner(bytes: chunk, path: path, start: start, softEnd: softEnd, delimiter: FileExtractor.delimiter(source),
                                 dialect: FileExtractor.dialect(source), maxRecordBytes: source.maxLineBytes)
        scanner.rawLimit = source.maxRawBytes
        return scanner
    }

    func run() throws -> Part {
        let reader: GzipReader
        let key = "sources.\(source.name).max_expansion_ratio"
        do {
            if let bytes {
                reader = try GzipReader(bytes: bytes, name: path, maxExpansionRatio: source.maxExpansionRatio, expansionKey: key)
            } else {
                reader = try GzipReader(path: path, maxExpansionRatio: source.maxExpansionRatio, expansionKey: key)
            }
        } catch { throw PartialFileError(underlying: "\(error)", rowsRead: 0, line: 0) }
        let scanner = scanner(reader)
        let layout: Layout
        do {
            layout = try self.layout(scanner)!
        } catch let e as InputFileError {
            throw PartialFileError(underlying: e.description, rowsRead: 0, line: scanner.recordLine)
        }
        var part = try rows(scanner, layout, limit: rowLimit ?? .max)
        part.report.compressedBytes = reader.compressedSize
        part.report.bytes = reader.uncompressedBytes
        return part
    }

    /// Reads the header with `scanner` (which is at the file's start) and matches the declared columns to it; or
    /// places them by position when the source has no header.
    /// - Returns: nil when a chunk's soft end came before the header's end.
    /// - Throws: `InputFileError` for an empty file or a header that does not fit the declaration.
    func layout(_ scanner: CSVScanner) throws -> Layout? {
        var layout = Layout()
        let decls = source.columns.entries.map(\.value)
        if source.header {
            switch try scanner.next() {
            case .record: break
            case .end:
                if scanner.exhausted { return nil }
                throw InputFileError(path: path, message: "the file is empty; expected a header line")
            case .malformed(let reason): throw InputFileError(path: path, message: "1:1: the header line is malformed: \(reason)")
            case .tooLong: throw InputFileError(path: path, message: "1:1: the header line is longer than sources.\(source.name).max_line_bytes (\(source.maxLineBytes)); is this a CSV file?")
            }
            let names = scanner.fields.map { f in
                scanner.withFieldBytes(f) { String(decoding: $0, as: UTF8.self) }.trimmingCharacters(in: .whitespaces)
            }
            layout.expectedFields = names.count
            layout.headerNames = names
            layout.headerFirst = Array((names.first ?? "").utf8)
            // Compressed with something other than gzip: said so, rather than taken for UTF-16 or a bad header.
            if let format = otherCompression(scanner.fields.first.map { f in scanner.withFieldBytes(f) { Array($0.prefix(6)) } } ?? []) {
                throw InputFileError(path: path, message: "1:1: the file is \(format) data, not gzip or text; decompress it, or recompress it with gzip")
            }
            // Every other byte NUL: UTF-16 text without its byte-order mark (with one it is converted).
            if names.contains(where: { $0.utf8.contains(0) }) {
                throw InputFileError(path: path, message: "1:1: the header holds NUL bytes: the file looks like UTF-16 without a byte-order mark; convert it to UTF-8 (iconv -f UTF-16LE -t UTF-8) or save it with a byte-order mark")
            }
            // A name given twice is ambiguous only when a declared column reads it (or every column must be
            // declared): exports with two undeclared "Name" columns are read.
            var seen: Set<String> = []
            let read = Set(decls.map(\.sourceName))
            for n in names where !seen.insert(n).inserted && (read.contains(n) || source.extraColumns == .error) {
                throw InputFileError(path: path, message: "1:1: the header names column \"\(n)\" twice; rename one of them")
            }
            for d in decls {
                if let i = names.firstIndex(of: d.sourceName) {
                    layout.fieldIndex.append(i)
                } else if source.missingColumns == .null {
                    layout.fieldIndex.append(-1)
                } else {
                    // A header name equal but for case, spaces and punctuation is most likely the one meant.
                    func folded(_ s: String) -> String { String(s.lowercased().filter { $0.isLetter || $0.isNumber }) }
                    let near = names.first { folded($0) == folded(d.sourceName) }
                    let hint = near.map { "; did you mean \"\($0)\"? (write from: \"\($0)\")" } ?? delimiterHint(names)
                    throw InputFileError(path: path, message: "1:1: the header lacks column \"\(d.sourceName)\" (declared as sources.\(source.name).columns.\(d.name))\(hint); found: \(names.joined(separator: ", ")); map it with from: or set missing_columns: null")
                }
            }
            if source.extraColumns == .error {
                let declared = Set(decls.map(\.sourceName))
                let extra = names.filter { !declared.contains($0) }
                if !extra.isEmpty {
                    throw InputFileError(path: path, message: "1:1: the header has undeclared columns \(extra.joined(separator: ", ")); declare them or set extra_columns: ignore")
                }
            }
        } else {
            var next = 0
            for d in decls {
                if let f = d.from, let p = Int(f) { layout.fieldIndex.append(p - 1); next = p } else { layout.fieldIndex.append(next); next += 1 }
            }
        }
        return layout
    }

    /// One reader per declared column, in declaration order: how its fields are typed and where they go.
    func makeReaders() -> [ColumnReader] {
        source.columns.entries.map(\.value).map { d in
            let distinct: Bool = d.type.storageKind == .string && source.key == [d.name]
            let interner = FileInterner(distinct: distinct)
            return ColumnReader(decl: d, kind: d.type.storageKind, format: TimeFormat(d.format) ?? .iso8601,
                         otherFormats: d.formats.dropFirst().compactMap { TimeFormat($0) },
                         type: d.type, scale: d.scale, trim: d.trim,
                         caseRange: d.lowercase ? 65...90 : d.uppercase ? 97...122 : nil,
                         plainText: d.type.storageKind == .string && !d.lowercase && !d.uppercase,
                         nullsUnparseable: d.onInvalid == .null && !d.required,
                         strip: d.strip.map { Array($0.utf8) }, divideDigits: d.divideByDigits ?? 0,
                         boolWords: d.trueValues.map { t in
                             (t.map { Array($0.lowercased().utf8) }, (d.falseValues ?? []).map { Array($0.lowercased().utf8) })
                         },
                         interner: interner)
        }
    }

    /// Types the records `scanner` gives (after the header) into a part: up to `limit` records, or to the end of
    /// the file or chunk. The part's report has the counts; its byte counts are the caller's to set.
    /// - Throws: `PartialFileError` for a file-level problem met on the way (an unterminated quote, a read error),
    ///   with the records read before it.
    func rows(_ scanner: CSVScanner, _ layout: Layout, limit: Int = .max) throws -> Part {
        var readers = makeReaders()
        var rejects: [QuarantineRecord] = []
        var lines: [Int64] = []
        var rowsRead = 0
        let fieldIndex = layout.fieldIndex, expectedFields = layout.expectedFields
        let headerNames = layout.headerNames, headerFirst = layout.headerFirst
        var repeatedHeaders = 0, emptyRecords = 0
        // The common rows are typed in C; the general path below reads every other record (and defines them all).
        let fast = typesCommonRowsInC ? FastRows(self, readers: readers, layout: layout) : nil
        // After the C code took nothing, the next few records go to the general path before it is asked again
        // (doubling up to 256 while it keeps taking nothing): a file of quoted rows costs it one look in 256.
        var fastMisses = 0, fastWait = 0
        do {
            let maxIndex = layout.maxIndex
            var scratch: [UInt8] = []
            while rowsRead < limit {
                if let fast {
                    if fastWait > 0 {
                        fastWait -= 1
                    } else {
                        let n = fast.run(scanner, &readers, &lines, limit: limit - rowsRead)
                        rowsRead += n
                        if n > 0 { fastMisses = 0 } else { fastMisses = min(fastMisses + 1, 8); fastWait = (1 << fastMisses) - 1 }
                        if rowsRead >= limit { break }
                    }
                }
                let outcome = try scanner.next()
                if outcome == .end { break }
                rowsRead += 1
                if case .tooLong(let bytes) = outcome {
                    rejects.append(QuarantineRecord(source: source.name, file: path, line: scanner.recordLine, rule: "line_size",
                                                    reason: "the line has no end within \(source.maxLineBytes) bytes (\(bytes) bytes skipped to the next newline: a missing newline or an unclosed quote?); fix the file or raise sources.\(source.name).max_line_bytes",
                                                    raw: scanner.recordText(limit: source.maxRawBytes)))
                    continue
                }
                if case .malformed(let reason) = outcome {
                    rejects.append(QuarantineRecord(source: source.name, file: path, line: scanner.recordLine, rule: "parse",
                                                    reason: reason, raw: scanner.recordText(limit: source.maxRawBytes)))
                    continue
                }
                let nf = scanner.fields.count
                // A record of empty fields only (Excel's ",,,,," filler rows below the data) holds nothing: skipped as
                // a blank line is, and counted with the skipped lines (each was rejected as a row: a six-customer CRM
                // file with two filler rows failed its error budget).
                if nf > 1, scanner.fields.allSatisfy({ f in scanner.withFieldBytes(f) { trimmedBlanks($0).isEmpty } }) {
                    rowsRead -= 1
                    emptyRecords += 1
                    continue
                }
                // The header again (files concatenated with their headers): not a row. Checked only when the first
                // field is the first header name, so ordinary rows cost one short comparison.
                // A byte-order mark may lead it (Excel's "CSV UTF-8" exports concatenated, or gzip members each with one).
                if nf == expectedFields, !headerFirst.isEmpty, scanner.withFieldBytes(scanner.fields[0], { trimmedBlanks(withoutBOM($0)).elementsEqual(headerFirst) }),
                   scanner.fields.map({ f in scanner.withFieldBytes(f) { String(decoding: withoutBOM($0), as: UTF8.self) }.trimmingCharacters(in: .whitespaces) }) == headerNames {
                    rowsRead -= 1
                    repeatedHeaders += 1
                    continue
                }
                if (expectedFields >= 0 && nf != expectedFields && !onlyEmptyFieldsAfter(expectedFields, scanner)) || nf <= maxIndex {
                    let expected = expectedFields >= 0 ? expectedFields : maxIndex + 1
                    rejects.append(QuarantineRecord(source: source.name, file: path, line: scanner.recordLine, rule: "field_count",
                                                    reason: "expected \(expected) fields, found \(nf)", raw: scanner.recordText(limit: source.maxRawBytes)))
                    continue
                }
                if let problem = typeRow(scanner, &readers, fieldIndex, &scratch) {
                    rejects.append(QuarantineRecord(source: source.name, file: path, line: scanner.recordLine,
                                                    column: problem.field + 1, rule: problem.rule, reason: problem.reason,
                                                    raw: scanner.recordText(limit: source.maxRawBytes)))
                    // Roll back the values this row already appended.
                    let n = lines.count
                    for c in readers.indices { truncate(&readers[c], to: n) }
                    continue
                }
                lines.append(Int64(scanner.recordLine))
            }
        } catch let e as InputFileError {
            throw PartialFileError(underlying: e.description, rowsRead: rowsRead, line: scanner.recordLine)
        }
        var columns: [Part.PartColumn] = []
        for r in readers {
            let spec = ColumnSpec(r.decl.name, r.decl.type, scale: r.decl.scale)
            let validity = r.validity(rows: lines.count)
            switch r.kind {
            case .int64: columns.append(.init(spec: spec, values: .int64(r.ints), validity: validity))
            case .double: columns.append(.init(spec: spec, values: .double(r.doubles), validity: validity))
            case .string:
                let (values, hashes) = r.interner.finish()
                columns.append(.init(spec: spec, values: .codes(r.codes, values, hashes), validity: validity))
            }
        }
        let report = FileReport(path: path, compressedBytes: 0, bytes: 0,
                                rowsRead: rowsRead, rowsAccepted: lines.count, rowsRejected: rejects.count, rejectedReason: nil,
                                linesSkipped: scanner.skippedLines + repeatedHeaders + emptyRecords)
        let nulled = readers.compactMap { r in
            r.nulledRows.first.map { (column: r.decl.name, count: r.nulledRows.count, line: Int(lines[$0]), reason: r.nulledReason ?? "") }
        }
        return Part(columns: columns, lines: lines, rejects: rejects, report: report, nulled: nulled, recordLine: scanner.recordLine)
    }

    /// Why a header lacks every declared name when it is one field (the file's delimiter is another one) or Excel's
    /// "sep=;" line ("sep=," reads as two fields under a comma): the keys to set, or "" when neither.
    private func delimiterHint(_ names: [String]) -> String {
        if let first = names.first, first.lowercased().hasPrefix("sep="), names.count <= 2, names.dropFirst().allSatisfy(\.isEmpty) {
            let sep = names.count == 2 ? source.delimiter : String(first.dropFirst(4))
            return "; the first line is Excel's \"sep=\(sep)\" line: set sources.\(source.name).skip_lines: 1"
                + (sep.count == 1 && sep != source.delimiter ? " and delimiter: \"\(sep)\"" : "")
        }
        guard names.count == 1, let only = names.first,
              let other = [";", "\t", "|", ","].first(where: { $0 != source.delimiter && only.contains($0) }) else { return "" }
        let declared = source.delimiter == "\t" ? "tab" : "\"\(source.delimiter)\""
        return "; the header is one field: it has no \(declared) but has \(other == "\t" ? "tabs" : "\"\(other)\""): set sources.\(source.name).delimiter: \(other == "\t" ? "\"\\t\"" : "\"\(other)\"")"
    }

    /// Are the record's fields from `count` on all empty and unquoted? Trailing delimiters (`a,b,c,,`) that some
    /// exporters write after every row add fields that hold nothing: the row keeps its header's fields.
    private func onlyEmptyFieldsAfter(_ count: Int, _ scanner: CSVScanner) -> Bool {
        let fields = scanner.fields
        guard fields.count > count else { return false }
        return fields[count...].allSatisfy { $0.start == $0.end && !$0.hasEscapes && ($0.start == 0 || !scanner.isQuoteByte(at: $0.start - 1)) }
    }

    private func truncate(_ r: inout ColumnReader, to n: Int) {
        while let last = r.nulls.last, last >= n { r.nulls.removeLast() }
        // A value nulled in a row that another field then rejected was not kept: not counted.
        while let last = r.nulledRows.last, last >= n { r.nulledRows.removeLast() }
        if r.nulledRows.isEmpty { r.nulledReason = nil }
        switch r.kind {
        case .int64: if r.ints.count > n { r.ints.removeLast(r.ints.count - n) }
        case .double: if r.doubles.count > n { r.doubles.removeLast(r.doubles.count - n) }
        case .string: if r.codes.count > n { r.codes.removeLast(r.codes.count - n) }
        }
    }

    struct Problem {
        var field: Int
        var rule: String
        var reason: String
    }

    /// Types one record's fields into the column readers; on failure returns the first problem.
    ///
    /// The record's field list and the scanner's buffer are borrowed once per row, not once per field (each
    /// access to a class's array retains and releases it: 7% of extract time in perf).
    private func typeRow(_ scanner: CSVScanner, _ readers: inout [ColumnReader], _ fieldIndex: [Int],
                         _ scratch: inout [UInt8]) -> Problem? {
        var problem: Problem?
        let maxFieldBytes = source.maxFieldBytes
        scanner.fields.withUnsafeBufferPointer { fields in
            scanner.buffer.withUnsafeBufferPointer { buffer in
                for c in readers.indices {
                    let fi = fieldIndex[c]
                    if fi < 0 {
                        appendNull(&readers[c])
                        continue
                    }
                    let f = fields[fi]
                    // The value's bytes: a doubled quote or an escape is one byte of it.
                    if f.end - f.start > maxFieldBytes, case let size = f.hasEscapes ? scanner.withFieldBytes(f, { $0.count }) : f.end - f.start,
                       size > maxFieldBytes {
                        problem = Problem(field: fi, rule: "field_size",
                                          reason: "\(readers[c].decl.name): the field holds \(size) bytes, more than sources.\(source.name).max_field_bytes (\(maxFieldBytes)); fix the file or raise the limit")
                        return
                    }
                    // A Bool comes back per field; the problem is built only on failure (returning `Problem?` by
                    // value copied 40 bytes twice per field through the stack, 10% of extract time in perf).
                    let ok = f.hasEscapes
                        ? scanner.withFieldBytes(f) { typeField($0, &readers[c], field: fi, &scratch, &problem) }
                        : typeField(UnsafeBufferPointer(rebasing: buffer[f.start..<f.end]), &readers[c], field: fi, &scratch, &problem)
                    if !ok { return }
                }
            }
        }
        return problem
    }

    /// Types one field's bytes (trimmed when declared; a null value appends a null).
    @inline(__always) private func typeField(_ raw: UnsafeBufferPointer<UInt8>, _ r: inout ColumnReader, field fi: Int,
                                             _ scratch: inout [UInt8], _ problem: inout Problem?) -> Bool {
        var b = raw
        if r.trim { b = trimmedBlanks(b) }
        if !r.strip.isEmpty { b = stripped(b, r.strip) }
        if isNull(b) {
            appendNull(&r)
            return true
        }
        if r.plainText {
            // Most fields of most files: text kept as written, interned here without the general path's calls.
            // A refused value goes on to the general path, which refuses it again and says why.
            let code = r.interner.intern(b)
            if code >= 0 {
                r.codes.append(code)
                return true
            }
        }
        return appendValue(b, &r, field: fi, &scratch, &problem)
    }

    /// `b` without the `strip` texts at either end (repeatedly, with spaces next to them: `"$ 12.50"`, `"12,50 €"`).
    private func stripped(_ b: UnsafeBufferPointer<UInt8>, _ texts: [[UInt8]]) -> UnsafeBufferPointer<UInt8> {
        var v = b
        var changed = true
        while changed {
            changed = false
            for t in texts where !t.isEmpty {
                if v.count >= t.count, v.prefix(t.count).elementsEqual(t) { v = UnsafeBufferPointer(rebasing: v.dropFirst(t.count)); changed = true }
                if v.count >= t.count, v.suffix(t.count).elementsEqual(t) { v = UnsafeBufferPointer(rebasing: v.dropLast(t.count)); changed = true }
            }
            v = trimmedBlanks(v)
        }
        return v
    }

    @inline(__always) private func isNull(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        // Most fields have a length no null value has: one bit test instead of a pass over the null values.
        if b.count < 64 {
            guard nullLengths & (1 << UInt64(b.count)) != 0 else { return false }
        } else if !longNullValue {
            return false
        }
        for n in nullValues where n.count == b.count {
            if n.isEmpty { return true }
            if n.withUnsafeBufferPointer({ memcmp($0.baseAddress!, b.baseAddress!, b.count) == 0 }) { return true }
        }
        return false
    }

    /// `on_invalid: null`: a value that does not parse becomes null and its row is kept (counted per column, the
    /// first reason kept as the example). Always true (the field is typed).
    private func nullUnparseable(_ r: inout ColumnReader, _ reason: String) -> Bool {
        if r.nulledRows.isEmpty { r.nulledReason = reason }
        r.nulledRows.append(r.count)
        appendNull(&r)
        return true
    }

    private func appendNull(_ r: inout ColumnReader) {
        r.nulls.append(r.count)
        switch r.kind {
        case .int64: r.ints.append(0)
        case .double: r.doubles.append(0)
        case .string: r.codes.append(0)
        }
    }

    private func appendValue(_ b: UnsafeBufferPointer<UInt8>, _ r: inout ColumnReader, field: Int,
                             _ scratch: inout [UInt8], _ problem: inout Problem?) -> Bool {
        if rewritesNumbers, r.type == .int || r.type == .decimal || r.type == .double, let nf = numberFormat {
            // Rewritten to plain digits first (a cold path: only sources that declare a number format).
            guard nf.normalize(b, into: &scratch) else {
                let text = String(decoding: b.prefix(200), as: UTF8.self)
                let reason = "\(r.decl.name): \"\(text)\" is not a number written with \(nf.described) (sources.\(source.name).decimal_separator, thousands_separator)"
                if r.nullsUnparseable { return nullUnparseable(&r, reason) }
                problem = Problem(field: field, rule: "parse", reason: reason)
                return false
            }
            // Typed from the plain form (numbers never touch `scratch` again); messages quote the field as written.
            let plain = scratch
            return plain.withUnsafeBufferPointer { typeValue($0, shown: b, &r, field: field, &scratch, &problem) }
        }
        return typeValue(b, shown: b, &r, field: field, &scratch, &problem)
    }

    /// Types `b`; a parse error quotes `shown` (the field as written, before a number format's rewrite).
    private func typeValue(_ b: UnsafeBufferPointer<UInt8>, shown: UnsafeBufferPointer<UInt8>, _ r: inout ColumnReader, field: Int,
                           _ scratch: inout [UInt8], _ problem: inout Problem?) -> Bool {
        func fail(_ what: String) -> Bool {
            let text = String(decoding: shown.prefix(200), as: UTF8.self)
            var reason = "\(r.decl.name): \"\(text)\" is not \(what)"
            // Bytes that are not UTF-8 (shown as \u{FFFD}) say the file is in another encoding, not that the value is
            // wrong; a no-break space prints as a space, so it is named.
            if shown.contains(where: { $0 >= 0x80 }), cvm_valid_utf8(shown.baseAddress, Int64(shown.count)) == 0 {
                reason += " (bytes that are not UTF-8: if the file is in another encoding, set the source's encoding: windows-1252 or latin1)"
            } else if text.unicodeScalars.contains(where: { $0 == "\u{A0}" || $0 == "\u{202F}" }) {
                reason += " (it holds a no-break space: add it to the column's strip, or set the source's thousands_separator to it)"
            }
            if r.nullsUnparseable { return nullUnparseable(&r, reason) }
            problem = Problem(field: field, rule: "parse", reason: reason)
            return false
        }
        func failEncoding(_ what: String) -> Bool {
            problem = Problem(field: field, rule: "encoding", reason: "\(r.decl.name): \(what)")
            return false
        }
        switch r.type {
        case .int:
            guard let v = parseInt64(b) ?? parseIntegralDecimal(b) else { return fail("an integer") }
            r.ints.append(v)
        case .decimal:
            // In units of 10^-k (divide_by): read with k fewer decimals, the fixed-point value is then the same.
            let places = r.scale - r.divideDigits
            guard let v = parseDecimal(b, scale: places) else {
                // A number with few enough decimals that still failed is too large for 64-bit fixed point.
                if let d = parseDouble(b), d.isFinite, decimalPlaces(b) <= places {
                    let max = String(Int64.max), point = max.count - r.scale
                    let largest = r.scale == 0 ? max : String(max.prefix(point)) + "." + String(max.dropFirst(point))
                    return fail("a decimal number from -\(largest) to \(largest) (the range of scale \(r.scale); lower the scale for larger amounts)")
                }
                return fail(r.divideDigits > 0 ? "a number of 1/\(r.decl.divideBy!) units with at most \(places) decimals"
                                               : "a decimal number with at most \(r.scale) decimals")
            }
            r.ints.append(v)
        case .double:
            guard let v = parseDouble(b) else { return fail("a number") }
            r.doubles.append(r.divideDigits > 0 ? v / pow(10, Double(r.divideDigits)) : v)
        case .bool:
            if let words = r.boolWords {
                func among(_ list: [[UInt8]]) -> Bool {
                    list.contains { w in w.count == b.count && zip(w, b).allSatisfy { $0 == ($1 >= 65 && $1 <= 90 ? $1 | 0x20 : $1) } }
                }
                if among(words.true) { r.ints.append(1) } else if among(words.false) { r.ints.append(0) } else {
                    let listed = (r.decl.trueValues ?? []) + (r.decl.falseValues ?? [])
                    return fail("a boolean (\(listed.joined(separator: ", ")))")
                }
            } else {
                guard let v = parseBool(b) else { return fail("a boolean (true/false, yes/no, 1/0)") }
                r.ints.append(v)
            }
        case .date:
            guard let v = parseDate(b, r.format) ?? r.otherFormats.lazy.compactMap({ parseDate(b, $0) }).first else {
                return fail("a valid date (\(formatsText(r.decl)))")
            }
            r.ints.append(v)
        case .timestamp:
            guard let v = parseTimestamp(b, r.format, zone: zone) ?? r.otherFormats.lazy.compactMap({ parseTimestamp(b, $0, zone: self.zone) }).first else {
                let epoch = ([r.format] + r.otherFormats).contains { $0.isTimestampOnly }
                return fail("a valid timestamp (\(formatsText(r.decl)))\(epoch ? " in the years 0001-9999" : "")")
            }
            r.ints.append(v)
        case .string, .enum:
            let code: Int32
            if let letters = r.caseRange, b.contains(where: { letters.contains($0) }) {
                // Lower and upper case ASCII letters differ in bit 5 only.
                scratch.removeAll(keepingCapacity: true)
                for c in b { scratch.append(letters.contains(c) ? c ^ 0x20 : c) }
                code = scratch.withUnsafeBufferPointer { r.interner.intern($0) }
            } else {
                code = r.interner.intern(b)
            }
            // New values only are checked (a value seen before passed): a NUL byte is valid UTF-8 but cuts text short
            // in C tools and SQLite's text functions.
            guard code >= 0 else { return failEncoding(code == FileInterner.nulByte ? "contains a NUL byte" : "invalid UTF-8 text") }
            r.codes.append(code)
        }
        return true
    }
}

/// `b` without surrounding spaces and tabs.
/// The compression format whose magic number starts `b` (other than gzip, which is read), or nil.
func otherCompression(_ b: [UInt8]) -> String? {
    if b.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return "zip" }
    if b.count >= 4, b.starts(with: [0x42, 0x5A, 0x68]), (0x31...0x39).contains(b[3]) { return "bzip2" }
    if b.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return "xz" }
    if b.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { return "zstd" }
    // zlib: CMF 0x78 (deflate, 32K window) and an FLG that makes the pair a multiple of 31.
    if b.count >= 2, b[0] == 0x78, (Int(b[0]) * 256 + Int(b[1])) % 31 == 0, [0x01, 0x5E, 0x9C, 0xDA].contains(b[1]) { return "zlib (deflate)" }
    return nil
}

/// `b` without a leading UTF-8 byte-order mark.
@inline(__always) func withoutBOM(_ b: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
    b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF ? UnsafeBufferPointer(rebasing: b[3...]) : b
}

@inline(__always) func trimmedBlanks(_ b: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
    var s = 0, e = b.count
    while s < e, b[s] == 32 || b[s] == 9 { s += 1 }
    while e > s, b[e - 1] == 32 || b[e - 1] == 9 { e -= 1 }
    return UnsafeBufferPointer(rebasing: b[s..<e])
}

/// How a source writes numbers: its decimal mark and digit grouping (`sources.<name>.decimal_separator`,
/// `thousands_separator`).
struct NumberFormat {
    let decimal: UInt8
    /// Empty: no grouping allowed.
    let thousands: [UInt8]

    var described: String {
        let t = thousands.isEmpty ? "no thousands separator" : "thousands separator \"\(String(decoding: thousands, as: UTF8.self))\""
        return "decimal separator \"\(String(UnicodeScalar(decimal)))\" and \(t)"
    }

    /// Rewrites `b` as a plain number (`-1234.5`) into `out`: the grouping removed where it separates groups of
    /// three digits (the first of one to three) before the decimal mark, the decimal mark made a `.`.
    /// - Returns: false for a misplaced separator, or a `.` that is neither mark (`1.5` where `,` is the decimal
    ///   separator): read as a plain number it would be off by a factor of a thousand.
    func normalize(_ b: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        let n = b.count
        var i = 0
        var run = 0          // digits since the last separator (or the start)
        var grouped = false  // a separator was seen
        var fraction = false
        func groupEnds() -> Bool { grouped ? run == 3 : true }
        while i < n {
            let c = b[i]
            if !fraction, !thousands.isEmpty, i + thousands.count <= n,
               UnsafeBufferPointer(rebasing: b[i..<(i + thousands.count)]).elementsEqual(thousands) {
                guard grouped ? run == 3 : (1...3).contains(run) else { return false }
                grouped = true
                run = 0
                i += thousands.count
                continue
            }
            if !fraction, c == decimal {
                guard groupEnds() else { return false }
                fraction = true
                out.append(UInt8(ascii: "."))
                i += 1
                continue
            }
            if c == UInt8(ascii: "."), decimal != c { return false }
            if c >= 48 && c <= 57 { run += 1 } else if grouped && !fraction { return false }
            out.append(c)
            i += 1
        }
        return fraction || groupEnds()
    }
}

/// `format X` or `formats X, Y` for a parse error.
private func formatsText(_ d: ColumnDecl) -> String {
    d.formats.count > 1 ? "formats \(d.formats.joined(separator: ", "))" : "format \(d.format ?? "iso8601")"
}

/// A source's table grown one file's part at a time, in file order: the extract's merge.
///
/// String columns intern each part's dictionary into the source's one (bytes to bytes, first-seen order), so
/// the codes and the dictionary are the same whichever worker read which file.
struct TableBuilder {
    struct ColumnBuilder {
        let spec: ColumnSpec
        var ints: [Int64] = []
        var doubles: [Double] = []
        /// At the width of the dictionary so far (`StringCodes.Builder`).
        let codes = StringCodes.Builder()
        /// Created at the first part with a null; earlier rows are valid.
        var validity: [Bool]?
        /// The parts bring their values' hashes: this one need not keep them.
        var interner = ByteInterner(recordingHashes: false)
    }

    private var columns: [ColumnBuilder]
    private var lines: [Int64] = []
    private let fileCodes = StringCodes.Builder()
    private var paths: [String] = []
    /// Compressed bytes of all the source's files, to size the columns from the first part.
    private let expectedBytes: Int64
    private var reserved = false

    init(source: SourceSpec, expectedBytes: Int64) {
        columns = source.columns.entries.map { ColumnBuilder(spec: ColumnSpec($0.key, $0.value.type, scale: $0.value.scale)) }
        self.expectedBytes = expectedBytes
    }

    /// Sizes every column once for the whole source, from the first part's rows per compressed byte (plus
    /// 10%), instead of growing by doubling: each doubling copies the column into memory never touched before.
    /// Room never used costs address space, not memory. A string column's table is sized only when the part's
    /// values are nearly all distinct (ids): a table sized for every row of a column of few values would be
    /// touched all over.
    private mutating func reserve(for part: FileExtractor.Part) {
        // A file without rows (header only) says nothing about the others: the next part sizes the columns.
        guard part.rows > 0 else { return }
        reserved = true
        guard part.report.compressedBytes > 0, expectedBytes > part.report.compressedBytes else { return }
        let scale = Double(expectedBytes) / Double(part.report.compressedBytes) * 1.1
        let rows = Int(min(Double(part.rows) * scale, Double(Int32.max)))
        lines.reserveCapacity(rows)
        fileCodes.reserveCapacity(rows)
        for c in columns.indices {
            switch part.columns[c].values {
            case .int64: columns[c].ints.reserveCapacity(rows)
            case .double: columns[c].doubles.reserveCapacity(rows)
            case .codes(_, let d, _):
                columns[c].codes.reserveCapacity(rows)
                if 2 * d.count > part.rows { columns[c].interner.reserveCapacity(Int(Double(d.count) * scale)) }
            }
        }
    }

    /// Appends a file's rows; `continuing`: the part is the next chunk of the file appended last.
    mutating func append(_ part: consuming FileExtractor.Part, continuing: Bool = false) {
        if !reserved { reserve(for: part) }
        let before = lines.count
        let file = Int32(continuing ? paths.count - 1 : paths.count)
        if !continuing { paths.append(part.report.path) }
        lines += part.lines
        fileCodes.append(file, count: part.rows, dictionaryCount: paths.count)
        for c in columns.indices {
            let p = part.columns[c]
            if let v = p.validity {
                if columns[c].validity == nil {
                    var all = [Bool](repeating: true, count: before)
                    all.reserveCapacity(max(lines.capacity, lines.count))
                    columns[c].validity = all
                }
                columns[c].validity! += v
            } else if columns[c].validity != nil {
                columns[c].validity! += repeatElement(true, count: part.rows)
            }
            switch p.values {
            case .int64(let a): columns[c].ints += a
            case .double(let a): columns[c].doubles += a
            case .codes(let a, let d, let hashes):
                let remap = columns[c].interner.intern(contentsOf: d, hashes: hashes)
                let values = columns[c].interner.count
                if remap.isEmpty {
                    columns[c].codes.append(0, count: a.count, dictionaryCount: values)
                } else {
                    columns[c].codes.append(a, through: remap, validity: p.validity, dictionaryCount: values)
                }
            }
        }
    }

    /// The table: the declared columns, then `_file` (each row's path) and `_line`. String columns take their
    /// interners' arenas as their dictionaries (no `String` per value).
    /// String codes come at their dictionary's width (M's events: 1 or 2 bytes a row for seven of their nine
    /// string columns), and each column's interner is freed as soon as its dictionary is taken.
    consuming func finish(name: String) -> Table {
        var built = columns
        columns = []
        var out: [Column] = []
        for i in built.indices {
            let spec = built[i].spec, validity = built[i].validity
            switch spec.type.storageKind {
            case .int64: out.append(Column(spec, .int64(built[i].ints), validity: validity))
            case .double: out.append(Column(spec, .double(built[i].doubles), validity: validity))
            case .string:
                let dictionary = built[i].interner.dictionary()
                out.append(Column(spec, .string(codes: built[i].codes.finish(dictionaryCount: dictionary.count), dictionary: dictionary),
                                  validity: validity))
            }
            built[i].interner = ByteInterner(recordingHashes: false)
        }
        let rows = lines.count
        out.append(Column(ColumnSpec(Provenance.file, .string), .string(codes: fileCodes.finish(dictionaryCount: paths.count),
                                                                        dictionary: StringDictionary(paths))))
        out.append(Column(ColumnSpec(Provenance.line, .int), .int64(lines)))
        return Table(name: name, columns: out, rowCount: rows)
    }
}

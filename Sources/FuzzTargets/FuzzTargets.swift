import CVMCore
@_spi(Fuzzing) import Extract
import Foundation
import Pipeline

/// What each libFuzzer target (Fuzz/, `make fuzz`) does with one input.
///
/// Kept in the main package so the corpus and every crash fixture are replayed by the ordinary test
/// suite (FuzzRegressionTests) without a fuzzer build. A target may throw away any input as an error;
/// it must never crash, hang, or break an invariant (checked with `precondition`).
public enum FuzzTargets {
    public static let names = ["csv", "gzip", "timestamp", "config"]

    /// Runs target `name` on `input`.
    public static func run(_ name: String, _ input: UnsafeBufferPointer<UInt8>) {
        switch name {
        case "csv": _ = csv(input)
        case "gzip": gzip(input)
        case "timestamp": timestamp(input)
        case "config": config(input)
        default: preconditionFailure("unknown fuzz target \(name)")
        }
    }

    /// Source declarations the CSV target cycles through (the first input byte picks one): every
    /// delimiter, header or positional columns, every column type, small line and field limits.
    static let sources: [SourceSpec] = {
        let columns: [(String, ColumnDecl)] = [
            ("a", ColumnDecl(.string)), ("b", ColumnDecl(.int)), ("c", ColumnDecl(.decimal, scale: 2)),
            ("d", ColumnDecl(.timestamp)), ("e", ColumnDecl(.enum, values: ["x", "y"])), ("f", ColumnDecl(.bool)),
            ("g", ColumnDecl(.date, format: "yyyyMMdd")), ("h", ColumnDecl(.double)),
        ]
        var out: [SourceSpec] = []
        for delimiter in [",", ";", "\t", "|", "whitespace"] {
            for header in [true, false] {
                var s = SourceSpec(name: "fuzz", files: [], columns: columns)
                s.delimiter = delimiter
                s.header = header
                s.missingColumns = .null
                s.columns.entries[4].value.lowercase = true
                s.columns.entries[0].value.trim = true
                // A value of b or c that does not parse is nulled in half the sources (`on_invalid: null`).
                if !header { s.columns.entries[1].value.onInvalid = .null; s.columns.entries[2].value.onInvalid = .null }
                s.maxLineBytes = 1024
                s.maxFieldBytes = 64
                s.timezone = header ? "Europe/Berlin" : "+05:30"
                out.append(s)
            }
        }
        // Other shops' dialects: decimal commas with grouping, single quotes with backslash escapes, comments,
        // leading lines, Windows-1252, stripped signs, several date formats, own bool words, short raw text.
        for delimiter in [";", "\t", "^", ",", "whitespace"] {
            var s = SourceSpec(name: "fuzz", files: [], columns: columns)
            s.delimiter = delimiter
            s.missingColumns = .null
            s.decimalSeparator = delimiter == "," ? "." : ","
            s.thousandsSeparator = delimiter == "," ? "," : "."
            if delimiter != "whitespace" { s.quote = "'"; s.escape = "\\" }
            s.comment = "#"
            s.skipLines = delimiter == "^" ? 2 : 1
            s.encoding = delimiter == "\t" ? .latin1 : .windows1252
            s.columns.entries[2].value.strip = ["$", "€"]
            s.columns.entries[3].value.formats = ["dd.MM.yyyy HH:mm", "M/d/yy h:mm a", "epoch_s"]
            s.columns.entries[5].value.trueValues = ["ja"]
            s.columns.entries[5].value.falseValues = ["nein"]
            s.columns.entries[6].value.formats = ["d MMM yyyy", "yyyyMMdd"]
            s.maxLineBytes = 1024
            s.maxFieldBytes = 64
            s.maxRawBytes = 7
            s.timezone = "UTC+02:00"
            out.append(s)
        }
        // Sources whose plain lines are typed in C (`FastRows`): text (trimmed, lowercased, uppercased), int,
        // decimal, ISO 8601 and epoch timestamps. Read both ways, they must give the same result.
        let fastColumns: [(String, ColumnDecl)] = [
            ("a", ColumnDecl(.string)), ("b", ColumnDecl(.int)), ("c", ColumnDecl(.decimal, scale: 2)),
            ("d", ColumnDecl(.timestamp)), ("e", ColumnDecl(.enum, values: ["x", "y"])), ("f", ColumnDecl(.timestamp, format: "epoch_ms")),
            ("g", ColumnDecl(.string)),
        ]
        for delimiter in [",", "|"] {
            for header in [true, false] {
                var s = SourceSpec(name: "fuzz", files: [], columns: fastColumns)
                s.delimiter = delimiter
                s.header = header
                s.missingColumns = .null
                s.columns.entries[0].value.trim = true
                s.columns.entries[4].value.lowercase = true
                s.columns.entries[6].value.uppercase = true
                if !header { s.columns.entries[1].value.onInvalid = .null; s.comment = "#" }
                s.maxLineBytes = 1024
                s.maxFieldBytes = 64
                s.timezone = header ? "+05:30" : "Europe/Berlin"
                out.append(s)
            }
        }
        return out
    }()

    /// CSV scanning and typing: the first byte picks the declaration, the rest is the file.
    /// - Returns: rows read and kept, or nil when the input was refused as a whole.
    @discardableResult public static func csv(_ input: UnsafeBufferPointer<UInt8>) -> (read: Int, kept: Int)? {
        guard let first = input.first else { return nil }
        let spec = sources[Int(first) % sources.count]
        let bytes = Array(input.dropFirst())
        // The general path alone first: the C path must not change anything (table, rejects, file report).
        let general = Result { try Extractor.extract(spec, bytes: bytes, name: "fuzz.csv", typesCommonRowsInC: false) }
        let result = Result { try Extractor.extract(spec, bytes: bytes, name: "fuzz.csv") }
        switch (general, result) {
        case (.success(let g), .success(let r)):
            precondition(g.table == r.table && g.rejects == r.rejects && g.files == r.files, "the C path changed the result")
        case (.failure(let g), .failure(let r)):
            precondition("\(g)" == "\(r)", "the C path changed the error")
        default:
            preconditionFailure("the C path changed whether the input is read")
        }
        guard let r = try? result.get() else { return nil }
        // Row accounting holds for any input: every row read is kept or quarantined.
        let f = r.files[0]
        precondition(f.rowsRead == f.rowsAccepted + f.rowsRejected, "row accounting")
        precondition(r.table.rowCount == f.rowsAccepted && r.rejects.count == f.rowsRejected, "row counts")
        precondition(r.table.columns.allSatisfy { $0.count == r.table.rowCount }, "column lengths")
        for q in r.rejects { precondition(q.line >= 1 && q.raw.utf8.count <= 4096, "quarantine record") }
        return (f.rowsRead, f.rowsAccepted)
    }

    /// The gzip reader: any bytes, read in chunks of a size taken from the input.
    public static func gzip(_ input: UnsafeBufferPointer<UInt8>) {
        let bytes = Array(input)
        guard let r = try? GzipReader(bytes: bytes, name: "fuzz.gz", bufferSize: 64 + bytes.count % 4096, maxExpansionRatio: 1100) else { return }
        var out: [UInt8] = []
        let step = 1 + (bytes.count % 7) * 1000
        var total = 0
        do {
            while true {
                let n = try r.read(into: &out, max: step)
                if n == 0 { break }
                total += n
                out.removeAll(keepingCapacity: true)
            }
        } catch {}
        precondition(Int64(total) == r.uncompressedBytes, "byte count")
    }

    /// Built once (IANA zones are slow to set up). Not thread-safe (the zone cache): libFuzzer runs one
    /// input at a time, and FuzzRegressionTests is serialized.
    nonisolated(unsafe) static let parsers = [
        FieldParsing(zone: "UTC", formats: ["iso8601", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns", "excel", "yyyy-MM-dd HH:mm:ss", "yyyyMMdd", "dd/MM/yyyy HH:mm:ss.SSS"]),
        FieldParsing(zone: "Europe/Berlin", formats: ["iso8601", "yyyy-MM-dd HH:mm:ss", "MM/dd/yyyy"]),
        FieldParsing(zone: "-03:30", formats: ["iso8601", "yyyyMMddHHmmss"]),
        FieldParsing(zone: "America/New_York", formats: ["M/d/yy h:mm a", "d MMMM yyyy", "EEE, dd MMM yyyy HH:mm:ss Z",
                                                         "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX", "d.M.yyyy H:m:s.S"]),
    ]

    /// The field parsers (numbers, booleans, dates, timestamps in every format): the first byte picks the zone.
    public static func timestamp(_ input: UnsafeBufferPointer<UInt8>) {
        guard let first = input.first else { return }
        _ = parsers[Int(first) % parsers.count].exercise(UnsafeBufferPointer(rebasing: input.dropFirst()))
    }

    /// The config loader: YAML, decoding, semantic checks (no file system walks).
    public static func config(_ input: UnsafeBufferPointer<UInt8>) {
        _ = try? ConfigLoader.load(data: Data(input), path: "/nonexistent/fuzz/pipeline.yaml", checkFiles: false)
    }
}

import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

/// Writes `text` to a file in a fresh folder; gzips it with the system gzip when asked.
func writeInput(_ text: String, name: String = "in.csv", gzip: Bool = false, dir: String? = nil) throws -> String {
    let d = try dir ?? makeTemporaryDirectory("extract")
    let path = "\(d)/\(name)"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    guard gzip else { return path }
    try run("/usr/bin/env", ["gzip", "-n", "-f", path])
    return path + ".gz"
}

func run(_ exe: String, _ args: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    try p.run()
    p.waitUntilExit()
}

/// All records of a file as strings, through the real reader and scanner.
func scanAll(_ path: String, delimiter: CSVScanner.Delimiter = .byte(44), chunkSize: Int = 1 << 16) throws -> [[String]] {
    let scanner = CSVScanner(reader: try GzipReader(path: path), delimiter: delimiter, chunkSize: chunkSize)
    var out: [[String]] = []
    while try scanner.next() == .record {
        out.append(scanner.fields.map { f in scanner.withFieldBytes(f) { String(decoding: $0, as: UTF8.self) } })
    }
    return out
}

/// Slow obvious RFC 4180 oracle over Characters (LF or CRLF endings, blank lines skipped).
func oracleCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = [], row: [String] = [], field = ""
    var quoted = false, wasQuoted = false
    let chars = Array(text.replacingOccurrences(of: "\r\n", with: "\n").unicodeScalars)
    var i = 0
    while i < chars.count {
        let c = chars[i]
        if quoted {
            if c == "\"" {
                if i + 1 < chars.count && chars[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { quoted = false }
            } else { field.unicodeScalars.append(c) }
        } else if c == "\"" { quoted = true; wasQuoted = true }
        else if c == "," { row.append(field); field = "" }
        else if c == "\n" {
            row.append(field)
            if !(row.count == 1 && row[0].isEmpty && !wasQuoted) { rows.append(row) }
            row = []; field = ""; wasQuoted = false
        } else { field.unicodeScalars.append(c) }
        i += 1
    }
    if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
    return rows
}

struct CSVScannerTests {
    static let tricky = "a,\"b,\n c\",d\r\n\n\"say \"\"hi\"\"\",,\"\"\nx,y,z\n1,2,3"

    @Test("records are the same for every read-chunk size", arguments: [1, 2, 7, 64, 4096])
    func chunkSizeInvariance(chunkSize: Int) throws {
        let path = try writeInput(Self.tricky, gzip: true)
        #expect(try scanAll(path, chunkSize: chunkSize) == oracleCSV(Self.tricky))
        #expect(try scanAll(path, chunkSize: chunkSize) == [["a", "b,\n c", "d"], ["say \"hi\"", "", ""], ["x", "y", "z"], ["1", "2", "3"]])
    }

    @Test(arguments: [7, 64, 4096])
    func matchesTheOracleOnRandomQuotedData(chunkSize: Int) throws {
        var rng = SeededRNG(seed: UInt64(chunkSize))
        let alphabet = Array("ab ,\"\n\t;é")
        var text = ""
        for _ in 0..<300 {
            let fields = (0..<(1 + Int(rng.next() % 4))).map { _ -> String in
                let s = String((0..<Int(rng.next() % 6)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
                return s.contains(where: { ",\"\n".contains($0) }) || s.isEmpty && rng.next() % 2 == 0
                    ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
            }
            text += fields.joined(separator: ",") + (rng.next() % 3 == 0 ? "\r\n" : "\n")
        }
        let path = try writeInput(text)
        #expect(try scanAll(path, chunkSize: chunkSize) == oracleCSV(text))
    }

    @Test func skipsABOMAndTracksPhysicalLines() throws {
        let path = try writeInput("\u{FEFF}h1,h2\n\"multi\nline\",1\n\nlast,2\n")
        let scanner = CSVScanner(reader: try GzipReader(path: path), delimiter: .byte(44), chunkSize: 3)
        var lines: [Int] = [], first: [String] = []
        while try scanner.next() == .record {
            lines.append(scanner.recordLine)
            first.append(scanner.withFieldBytes(scanner.fields[0]) { String(decoding: $0, as: UTF8.self) })
        }
        #expect(first == ["h1", "multi\nline", "last"])
        #expect(lines == [1, 2, 5])
    }

    @Test("every declared delimiter", arguments: [("\t", "a\tb\tc"), (";", "a;b;c"), ("|", "a|b|c"), ("whitespace", "  a \t b   c  ")])
    func delimiters(delimiter: String, line: String) throws {
        let d: CSVScanner.Delimiter = delimiter == "whitespace" ? .whitespace : .byte(delimiter.utf8.first!)
        #expect(try scanAll(try writeInput(line + "\n"), delimiter: d) == [["a", "b", "c"]])
    }

    @Test func anUnterminatedQuoteNamesWhereItOpened() throws {
        let path = try writeInput("a,b\n1,\"x\n2,3\n")
        #expect(throws: InputFileError(path: path, message: "2:3: quoted field never closed; look for a stray '\"' (the rest of the file would be one field)")) {
            try scanAll(path)
        }
    }

    @Test func textAfterAClosingQuoteIsAMalformedRecordNotAFatalError() throws {
        let scanner = CSVScanner(reader: try GzipReader(path: try writeInput("\"a\"x,b\nc,d\n")), delimiter: .byte(44))
        #expect(try scanner.next() == .malformed("unexpected text after a closing quote in field 1"))
        #expect(try scanner.next() == .record)
        #expect(scanner.recordLine == 2)
    }
}

struct GzipReaderTests {
    func readAll(_ path: String) throws -> String {
        let r = try GzipReader(path: path)
        var out: [UInt8] = []
        while try r.read(into: &out, max: 5) > 0 {}
        return String(decoding: out, as: UTF8.self)
    }

    @Test func readsPlainGzipAndMultiMemberFiles() throws {
        let dir = try makeTemporaryDirectory("gz")
        let plain = try writeInput("hello\nworld\n", name: "p.csv", dir: dir)
        #expect(try readAll(plain) == "hello\nworld\n")
        let a = try writeInput("part one\n", name: "a.csv", gzip: true, dir: dir)
        let b = try writeInput("part two\n", name: "b.csv", gzip: true, dir: dir)
        var both = try Data(contentsOf: URL(fileURLWithPath: a))
        both.append(try Data(contentsOf: URL(fileURLWithPath: b)))
        try both.write(to: URL(fileURLWithPath: "\(dir)/multi.csv.gz"))
        #expect(try readAll("\(dir)/multi.csv.gz") == "part one\npart two\n")
        #expect(try readAll(a) == "part one\n")
    }

    @Test func truncatedAndCorruptDataNameTheByteOffset() throws {
        let dir = try makeTemporaryDirectory("gz")
        let text = (0..<2000).map { "row \($0),\($0 * 7919 % 10007)" }.joined(separator: "\n")
        let gz = try writeInput(text, name: "t.csv", gzip: true, dir: dir)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: gz))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: "\(dir)/cut.csv.gz"))
        do {
            _ = try readAll("\(dir)/cut.csv.gz")
            Issue.record("a truncated file read without error")
        } catch let e as InputFileError {
            #expect(e.message.hasPrefix("truncated gzip data at compressed byte offset \(bytes.count / 2)"))
        }
        var bad = bytes
        for i in 40..<60 { bad[i] ^= 0x5A }
        try bad.write(to: URL(fileURLWithPath: "\(dir)/bad.csv.gz"))
        do {
            _ = try readAll("\(dir)/bad.csv.gz")
            Issue.record("a corrupt file read without error")
        } catch let e as InputFileError {
            #expect(e.message.hasPrefix("corrupt gzip data at compressed byte offset"))
            #expect(e.message.contains("on_file_error: quarantine-file"))
        }
    }

    @Test func aMissingFileIsAnError() {
        #expect(throws: InputFileError.self) { try GzipReader(path: "/nonexistent/x.csv.gz") }
    }
}

struct FieldParserTests {
    func p<T>(_ s: String, _ f: (UnsafeBufferPointer<UInt8>) -> T) -> T { Array(s.utf8).withUnsafeBufferPointer(f) }

    @Test func integersCheckOverflow() {
        #expect(p("-42") { parseInt64($0) } == -42)
        #expect(p("9223372036854775807") { parseInt64($0) } == Int64.max)
        #expect(p("9223372036854775808") { parseInt64($0) } == nil)
        #expect(p("-9223372036854775808") { parseInt64($0) } == Int64.min)
        #expect(p("1x") { parseInt64($0) } == nil)
        #expect(p("") { parseInt64($0) } == nil)
    }

    @Test func decimalsAreExactFixedPoint() {
        #expect(p("12.5") { parseDecimal($0, scale: 2) } == 1250)
        #expect(p("-0.05") { parseDecimal($0, scale: 2) } == -5)
        #expect(p("7") { parseDecimal($0, scale: 2) } == 700)
        #expect(p("1.230") { parseDecimal($0, scale: 2) } == 123)
        #expect(p("1.234") { parseDecimal($0, scale: 2) } == nil)
        #expect(p("12,50") { parseDecimal($0, scale: 2) } == nil)
        let dime = p("0.10") { parseDecimal($0, scale: 2) }!
        #expect((0..<10).reduce(Int64(0)) { s, _ in s + dime } == 100)
    }

    @Test func booleansAndDoubles() {
        for t in ["true", "TRUE", "yes", "1", "t", "Y"] { #expect(p(t) { parseBool($0) } == 1, "\(t)") }
        for f in ["false", "No", "0", "f", "n"] { #expect(p(f) { parseBool($0) } == 0, "\(f)") }
        #expect(p("maybe") { parseBool($0) } == nil)
        #expect(p("1.5e3") { parseDouble($0) } == 1500)
        #expect(p("nan") { parseDouble($0) } == nil)
        #expect(p("1.5x") { parseDouble($0) } == nil)
    }

    @Test func datesWithPatternsRejectImpossibleDays() {
        let ddmm = TimeFormat("dd/MM/yyyy")!
        #expect(p("30/06/2026") { parseDate($0, ddmm) } == CivilDate(year: 2026, month: 6, day: 30).daysSinceEpoch)
        #expect(p("2026-06-30") { parseDate($0, .iso8601) } == CivilDate(year: 2026, month: 6, day: 30).daysSinceEpoch)
        #expect(p("2026-02-30") { parseDate($0, .iso8601) } == nil)
        #expect(p("20260229") { parseDate($0, TimeFormat("yyyyMMdd")!) } == nil)
        #expect(p("20240229") { parseDate($0, TimeFormat("yyyyMMdd")!) } != nil)
        #expect(TimeFormat("yyyy-QQ") == nil)
    }

    @Test func timestampsHonourOffsetsAndZones() {
        let utc = ZoneConverter("UTC")!
        let base = CivilDate(year: 2026, month: 3, day: 1).daysSinceEpoch * microsPerDay
        let h = 3600 * microsPerSecond
        #expect(p("2026-03-01T10:00:00Z") { parseTimestamp($0, .iso8601, zone: utc) } == base + 10 * h)
        #expect(p("2026-03-01T10:00:00+08:00") { parseTimestamp($0, .iso8601, zone: utc) } == base + 2 * h)
        #expect(p("2026-03-01 10:00:00.25-0130") { parseTimestamp($0, .iso8601, zone: utc) } == base + 11 * h + 30 * 60 * microsPerSecond + 250_000)
        #expect(p("2026-03-01T10:00:00") { parseTimestamp($0, .iso8601, zone: ZoneConverter("+02:00")!) } == base + 8 * h)
        #expect(p("2026-13-45T10:00:00Z") { parseTimestamp($0, .iso8601, zone: utc) } == nil)
        #expect(p("1772359200") { parseTimestamp($0, .epochSeconds, zone: utc) } == 1_772_359_200 * microsPerSecond)
        #expect(p("1772359200123") { parseTimestamp($0, .epochMillis, zone: utc) } == 1_772_359_200_123_000)
        // Europe/Berlin switches to summer time on 2026-03-29 at 02:00 local.
        let berlin = ZoneConverter("Europe/Berlin")!
        let pattern = TimeFormat("yyyy-MM-dd HH:mm:ss")!
        let day = CivilDate(year: 2026, month: 3, day: 29).daysSinceEpoch * microsPerDay
        #expect(p("2026-03-29 01:30:00") { parseTimestamp($0, pattern, zone: berlin) } == day + h / 2)          // UTC+1
        #expect(p("2026-03-29 03:30:00") { parseTimestamp($0, pattern, zone: berlin) } == day + h + h / 2)      // UTC+2
        #expect(p("2026-07-01 12:00:00") { parseTimestamp($0, pattern, zone: berlin) }
                == CivilDate(year: 2026, month: 7, day: 1).daysSinceEpoch * microsPerDay + 10 * h)
    }

    @Test func utf8Validation() {
        #expect(p("héllo ✓ 𝄞") { isValidUTF8($0) })
        #expect([UInt8]([0x61, 0xFF]).withUnsafeBufferPointer { isValidUTF8($0) } == false)
        #expect([UInt8]([0xC0, 0x80]).withUnsafeBufferPointer { isValidUTF8($0) } == false)   // overlong
        #expect([UInt8]([0xED, 0xA0, 0x80]).withUnsafeBufferPointer { isValidUTF8($0) } == false)  // surrogate
    }
}

struct ExtractorTests {
    func spec(_ files: [String] = [], header: Bool = true, columns: [(String, ColumnDecl)]) -> SourceSpec {
        var s = SourceSpec(name: "orders", files: files, columns: columns)
        s.header = header
        return s
    }

    let columns: [(String, ColumnDecl)] = [
        ("order_id", ColumnDecl(.string)), ("qty", ColumnDecl(.int, from: "quantity")),
        ("price", ColumnDecl(.decimal, from: "unit_price", scale: 2)), ("at", ColumnDecl(.timestamp, from: "ts")),
        ("status", ColumnDecl(.enum, values: ["a", "b"])),
    ]

    @Test func typesColumnsMappedByHeaderAndQuarantinesBadRows() throws {
        let text = """
        ts,order_id,quantity,unit_price,status,extra
        2026-06-30T10:00:00Z,O1,2,9.99,A,x
        2026-06-30T11:00:00Z,O2,two,1.00,b,x
        2026-06-30T12:00:00Z,O3,1,1.00
        2026-06-30T13:00:00Z,O4,,3.50,b,x

        """
        var s = spec(columns: columns)
        s.columns.entries[4].value.lowercase = true
        let path = try writeInput(text, gzip: true)
        let r = try Extractor.extract(s, files: [path], threads: 1)
        #expect(r.table.name == "raw_orders")
        #expect(r.table.columnNames == ["order_id", "qty", "price", "at", "status", "_file", "_line"])
        #expect(r.table.rowCount == 2)
        #expect(r.table["price"]?.int64Values == [999, 350])
        #expect(r.table["qty"]?.validity == [true, false])
        #expect(r.table["status"]?.string(at: 0) == "a")
        #expect(r.table["_line"]?.int64Values == [2, 5])
        #expect(r.table["_file"]?.string(at: 1) == path)
        #expect(r.rejects.map(\.rule) == ["parse", "field_count"])
        #expect(r.rejects[0].line == 3 && r.rejects[0].column == 3)
        #expect(r.rejects[0].reason == "qty: \"two\" is not an integer")
        #expect(r.rejects[0].raw == "2026-06-30T11:00:00Z,O2,two,1.00,b,x")
        #expect(r.rejects[1].reason == "expected 6 fields, found 4")
        let f = try #require(r.files.first)
        #expect(f.rowsRead == f.rowsAccepted + f.rowsRejected)
        #expect(f.rowsRead == 4)
    }

    @Test func positionalColumnsWithoutAHeader() throws {
        let s = spec(header: false, columns: [("b", ColumnDecl(.int, from: "2")), ("a", ColumnDecl(.string, from: "1"))])
        let r = try Extractor.extract(s, files: [try writeInput("x 1\ny 2\n")].map { $0 }, threads: 1)
        // Comma-delimited by default: one field per line, so position 2 is missing.
        #expect(r.table.rowCount == 0)
        var ws = s
        ws.delimiter = "whitespace"
        let r2 = try Extractor.extract(ws, files: [try writeInput("x 1\ny  2\n")], threads: 1)
        #expect(r2.table["b"]?.int64Values == [1, 2])
        #expect(r2.table["a"]?.string(at: 1) == "y")
    }

    @Test func headerProblemsAreFileErrorsWithExit66OrQuarantinedFiles() throws {
        let path = try writeInput("ts,order_id,unit_price,status\n2026-01-01,O1,1.00,a\n")
        do {
            _ = try Extractor.extract(spec(columns: columns), files: [path], threads: 1)
            Issue.record("a missing column was accepted")
        } catch let e as ExtractError {
            #expect(e.exitStatus == .noInput)
            #expect(e.message.contains("the header lacks column \"quantity\" (declared as sources.orders.columns.qty)"))
        }
        var lenient = spec(columns: columns)
        lenient.missingColumns = .null
        let r = try Extractor.extract(lenient, files: [path], threads: 1)
        #expect(r.table["qty"]?.validity == [false])
        var strict = spec(columns: columns)
        strict.onFileError = .quarantineFile
        let q = try Extractor.extract(strict, files: [path], threads: 1)
        #expect(q.table.rowCount == 0)
        #expect(q.rejects.map(\.rule) == ["file"])
        #expect(q.files.first?.rejectedReason != nil)
        let dup = try writeInput("a,a\n1,2\n")
        #expect(throws: ExtractError.self) {
            try Extractor.extract(self.spec(columns: [("a", ColumnDecl(.int))]), files: [dup], threads: 1)
        }
        var extra = spec(columns: [("a", ColumnDecl(.int))])
        extra.extraColumns = .error
        #expect(throws: ExtractError.self) { try Extractor.extract(extra, files: [try writeInput("a,b\n1,2\n")], threads: 1) }
    }

    @Test func aCorruptGzipFileFailsTheRunOrIsQuarantinedWholeWithItsRowCount() throws {
        let dir = try makeTemporaryDirectory("extract")
        let good = try writeInput("a\n1\n2\n", name: "1.csv", gzip: true, dir: dir)
        let rows = (0..<5000).map { String($0 * 7919 % 100_003) }.joined(separator: "\n")
        let big = try writeInput("a\n" + rows + "\n", name: "2.csv", gzip: true, dir: dir)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: big))
        bytes = bytes.prefix(bytes.count - 30)
        try bytes.write(to: URL(fileURLWithPath: big))
        var s = spec(columns: [("a", ColumnDecl(.int))])
        #expect(throws: ExtractError.self) { try Extractor.extract(s, files: [good, big], threads: 2) }
        s.onFileError = .quarantineFile
        let r = try Extractor.extract(s, files: [good, big], threads: 2)
        #expect(r.table.rowCount == 2)
        #expect(r.rejects.count == 1)
        #expect(r.rejects[0].reason.contains("truncated gzip data"))
        #expect(r.files[1].rowsRead > 0 && r.files[1].rowsAccepted == 0)
    }

    @Test func manyFilesGiveTheSameTableForOneAndTwoThreads() throws {
        let dir = try makeTemporaryDirectory("extract")
        var files: [String] = []
        for f in 0..<9 {
            let body = (0..<200).map { "O\(f)-\($0),\($0 % 5),\(Double($0) / 4),2026-06-\(10 + $0 % 20)T0\($0 % 10):00:00+02:00,\($0 % 3 == 0 ? "a" : "b")" }
            files.append(try writeInput("order_id,quantity,unit_price,ts,status\n" + body.joined(separator: "\n"), name: "f\(f).csv", gzip: f % 2 == 0, dir: dir))
        }
        let s = spec(columns: columns)
        let one = try Extractor.extract(s, files: files, threads: 1), two = try Extractor.extract(s, files: files, threads: 2)
        #expect(one.table == two.table)
        #expect(one.table.rowCount == 1800)
        #expect(one.files == two.files)
    }

    @Test func globsMatchFilesAcrossFolders() throws {
        let dir = try makeTemporaryDirectory("glob")
        for p in ["a/2026/x1.csv.gz", "a/2026/x2.csv.gz", "a/2025/y.csv.gz", "a/.hidden/z.csv.gz", "a/top.csv.gz", "b.txt"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\((p as NSString).deletingLastPathComponent)", withIntermediateDirectories: true)
            try Data().write(to: URL(fileURLWithPath: "\(dir)/\(p)"))
        }
        let base = URL(fileURLWithPath: dir).standardized.path
        #expect(try expandGlob("a/**/*.csv.gz", baseDirectory: dir) == ["a/2025/y.csv.gz", "a/2026/x1.csv.gz", "a/2026/x2.csv.gz", "a/top.csv.gz"].map { "\(base)/\($0)" })
        #expect(try expandGlob("a/2026/x?.csv.gz", baseDirectory: dir).count == 2)
        #expect(try expandGlob("a/202[5]/*", baseDirectory: dir) == ["\(base)/a/2025/y.csv.gz"])
        #expect(try expandGlob("\(base)/b.txt", baseDirectory: "/") == ["\(base)/b.txt"])
        #expect(try expandGlob("nothing/*.csv", baseDirectory: dir).isEmpty)
    }
}

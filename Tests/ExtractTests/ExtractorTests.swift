import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

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

    func extractError(_ s: SourceSpec, _ files: [String]) -> ExtractError? {
        do { _ = try Extractor.extract(s, files: files, threads: 1); return nil } catch let e as ExtractError { return e } catch { return nil }
    }

    /// A file compressed with zlib (or zip, bzip2, xz, zstd) rather than gzip says so: a zlib stream named .gz was
    /// "UTF-16 without a byte-order mark".
    @Test func otherCompressionFormatsAreNamed() throws {
        let dir = try makeTemporaryDirectory("extract")
        let zlib: [UInt8] = [120, 156, 75, 212, 73, 226, 50, 212, 49, 226, 2, 0, 8, 120, 1, 147]  // zlib.compress(b"a,b\n1,2\n")
        let path = try writeBytes(zlib, name: "o.csv.gz", dir: dir)
        let e = extractError(spec(columns: [("a", ColumnDecl(.int))]), [path])
        #expect(e?.message.contains("the file is zlib (deflate) data, not gzip or text; decompress it, or recompress it with gzip") == true, "\(String(describing: e))")
        #expect(otherCompression(Array("PK\u{3}\u{4}".utf8)) == "zip" && otherCompression(Array("BZh9".utf8)) == "bzip2")
        #expect(otherCompression(Array("BZhx,name".utf8)) == nil && otherCompression(Array("order_id".utf8)) == nil)
    }

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
        #expect(r.table["order_id"]?.string(at: 0) == "O1")
        #expect(r.table["order_id"]?.string(at: 1) == "O4")
        #expect(r.table["price"]?.int64Values == [999, 350])
        #expect(r.table["qty"]?.validity == [true, false])
        #expect(r.table["qty"]?.int64(at: 0) == 2)
        #expect(r.table["at"]?.int64Values == [1_782_813_600_000_000, 1_782_824_400_000_000])
        #expect(r.table["status"]?.string(at: 0) == "a")
        #expect(r.table["_line"]?.int64Values == [2, 5])
        #expect(r.table["_file"]?.string(at: 1) == path)
        #expect(r.rejects.map(\.rule) == ["parse", "field_count"])
        #expect(r.rejects[0].line == 3 && r.rejects[0].column == 3)
        #expect(r.rejects[0].source == "orders" && r.rejects[0].file == path)
        #expect(r.rejects[0].reason == "qty: \"two\" is not an integer")
        #expect(r.rejects[0].raw == "2026-06-30T11:00:00Z,O2,two,1.00,b,x")
        #expect(r.rejects[1].reason == "expected 6 fields, found 4")
        #expect(r.rejects[1].line == 4 && r.rejects[1].column == nil)
        let f = try #require(r.files.first)
        #expect(f.rowsRead == f.rowsAccepted + f.rowsRejected)
        #expect(f.rowsRead == 4 && f.rowsAccepted == 2 && f.rowsRejected == 2)
        #expect(f.bytes == Int64(text.utf8.count))
        #expect(f.rejectedReason == nil)
    }

    /// A decimal too large for its scale says the range, not "too many decimals"; UTF-16 without a byte-order mark
    /// is named as such (the header's NUL bytes made a "did you mean" hint full of them).
    @Test func decimalRangeAndUTF16WithoutAMarkAreNamed() throws {
        let s = spec(columns: [("id", ColumnDecl(.string)), ("price", ColumnDecl(.decimal, scale: 18))])
        let r = try Extractor.extract(s, files: [try writeInput("id,price\na,1.5\nb,10.00\nc,1.0000000000000000001\n")], threads: 1)
        #expect(r.table.rowCount == 1)
        #expect(r.rejects.map(\.reason) == [
            "price: \"10.00\" is not a decimal number from -9.223372036854775807 to 9.223372036854775807 (the range of scale 18; lower the scale for larger amounts)",
            "price: \"1.0000000000000000001\" is not a decimal number with at most 18 decimals",
        ])
        let utf16 = Array("id,price\na,1\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let e = extractError(spec(columns: [("id", ColumnDecl(.string))]), [try writeBytes(utf16, name: "u16.csv")])
        #expect(e?.message.contains("the header holds NUL bytes: the file looks like UTF-16 without a byte-order mark") == true, "\(String(describing: e))")
    }

    @Test func caseIsMappedToLowerOrUpperAsDeclared() throws {
        var upper = ColumnDecl(.string), lower = ColumnDecl(.string)
        upper.uppercase = true
        lower.lowercase = true
        let s = spec(columns: [("country", upper), ("email", lower), ("name", ColumnDecl(.string))])
        let text = "country,email,name\n de ,Ann@Example.COM,Ann\nFR,bob@example.com,Bob\nÅl-x9,ÅL@X.Y,Éa\n"
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        #expect((0..<3).map { r.table["country"]!.string(at: $0)! } == ["DE", "FR", "ÅL-X9"])
        #expect((0..<3).map { r.table["email"]!.string(at: $0)! } == ["ann@example.com", "bob@example.com", "Ål@x.y"])
        #expect((0..<3).map { r.table["name"]!.string(at: $0)! } == ["Ann", "Bob", "Éa"])
    }

    @Test("a bad value is quarantined with its physical line and 1-based field position", arguments: [
        ("x,y,z,w\n1,2026-01-01,3,4\n5,2026-01-02,7,oops\n", 3, 4, "w: \"oops\" is not an integer"),
        ("w,x,y,z\n1,\"multi\nline\",2026-01-01,4\n1.5,6,2026-01-01,8\n", 4, 1, "w: \"1.5\" is not an integer"),
        ("x,z,y,w\n\n\n1,2,2026-01-01,4\n1,2,2026-02-30,4\n", 5, 3, "y: \"2026-02-30\" is not a valid date (format iso8601)"),
    ] as [(String, Int, Int, String)])
    func badValuesNameLineAndColumn(text: String, line: Int, column: Int, reason: String) throws {
        let s = spec(columns: [("w", ColumnDecl(.int)), ("x", ColumnDecl(.string)), ("y", ColumnDecl(.date))])
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        #expect(r.table.rowCount == 1)
        let q = try #require(r.rejects.first)
        #expect(r.rejects.count == 1)
        #expect(q.rule == "parse")
        #expect(q.line == line)
        #expect(q.column == column)
        #expect(q.reason == reason)
    }

    @Test func rejectedRowsAreRolledBackFromEveryColumn() throws {
        // The first columns of a bad row were already typed; the row must vanish from all of them.
        let s = spec(columns: [("a", ColumnDecl(.string)), ("b", ColumnDecl(.int)), ("c", ColumnDecl(.decimal)), ("d", ColumnDecl(.bool))])
        let text = "a,b,c,d\nx,1,1.00,yes\ny,2,2.00,maybe\nz,,3.00,no\nw,4,oops,no\nv,5,5.00,t\n"
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        #expect(r.table.rowCount == 3)
        #expect((0..<3).map { r.table["a"]?.string(at: $0) } == ["x", "z", "v"])
        #expect(r.table["b"]?.int64Values == [1, 0, 5])
        #expect(r.table["b"]?.validity == [true, false, true])
        #expect(r.table["c"]?.int64Values == [100, 300, 500])
        #expect(r.table["d"]?.int64Values == [1, 0, 1])
        #expect(r.table["_line"]?.int64Values == [2, 4, 6])
        #expect(r.rejects.map(\.column) == [4, 3])
    }

    @Test func nullValuesTrimmingAndQuotedFields() throws {
        let s = spec(columns: [("id", ColumnDecl(.int)), ("name", ColumnDecl(.string)), ("amount", ColumnDecl(.double))])
        let text = "id , name ,amount\n 1 ,\" Ann, Lee \",  2.5\n2,NA,NULL\n3,\"\",null\n4,N/A,\n"
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        #expect(r.rejects.isEmpty)
        #expect(r.table["id"]?.int64Values == [1, 2, 3, 4])
        #expect(r.table["name"]?.string(at: 0) == "Ann, Lee")
        #expect((1..<4).map { r.table["name"]?.string(at: $0) } == [nil, nil, nil])
        #expect(r.table["amount"]?.double(at: 0) == 2.5)
        #expect(r.table["amount"]?.validity == [true, false, false, false])
    }

    /// Declared null values of any length, including one of 64 bytes or more and one of a length no default has.
    @Test func declaredNullValuesOfAnyLength() throws {
        var s = spec(columns: [("id", ColumnDecl(.int)), ("name", ColumnDecl(.string))])
        let long = String(repeating: "-", count: 70)
        s.nullValues = ["?", long]
        let text = "id,name\n1,?\n2,\(long)\n3,\(long)-\n?,x\n5,NA\n"
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        #expect(r.rejects.isEmpty)
        #expect(r.table["id"]?.validity == [true, true, true, false, true])
        #expect((0..<5).map { r.table["name"]?.string(at: $0) } == [nil, nil, long + "-", "x", "NA"])
    }

    @Test func positionalColumnsWithoutAHeader() throws {
        let s = spec(header: false, columns: [("b", ColumnDecl(.int, from: "2")), ("a", ColumnDecl(.string, from: "1"))])
        let r = try Extractor.extract(s, files: [try writeInput("x 1\ny 2\n")], threads: 1)
        // Comma-delimited by default: one field per line, so position 2 is missing.
        #expect(r.table.rowCount == 0)
        #expect(r.rejects.map(\.rule) == ["field_count", "field_count"])
        #expect(r.rejects[0].reason == "expected 2 fields, found 1")
        var ws = s
        ws.delimiter = "whitespace"
        let r2 = try Extractor.extract(ws, files: [try writeInput("x 1\ny  2\n")], threads: 1)
        #expect(r2.table["b"]?.int64Values == [1, 2])
        #expect(r2.table["a"]?.string(at: 1) == "y")
        #expect(r2.table["_line"]?.int64Values == [1, 2])
    }

    @Test func positionalColumnsMayCountOnFromTheLastPositionAndIgnoreExtraFields() throws {
        var s = spec(header: false, columns: [("a", ColumnDecl(.int, from: "3")), ("b", ColumnDecl(.int)), ("c", ColumnDecl(.int, from: "1"))])
        s.delimiter = ";"
        let r = try Extractor.extract(s, files: [try writeInput("1;2;3;4;5\n10;20;30;40\n")], threads: 1)
        #expect(r.rejects.isEmpty)
        #expect(r.table["a"]?.int64Values == [3, 30])
        #expect(r.table["b"]?.int64Values == [4, 40])
        #expect(r.table["c"]?.int64Values == [1, 10])
    }

    @Test("every delimiter setting", arguments: [(",", "a,b\n1,2\n"), ("\t", "a\tb\n1\t2\n"), (";", "a;b\n1;2\n"), ("|", "a|b\n1|2\n"), ("whitespace", "a   b\n 1 \t 2\n")])
    func delimiterSettings(delimiter: String, text: String) throws {
        var s = spec(columns: [("a", ColumnDecl(.int)), ("b", ColumnDecl(.int))])
        s.delimiter = delimiter
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        #expect(r.rejects.isEmpty)
        #expect(r.table["a"]?.int64Values == [1])
        #expect(r.table["b"]?.int64Values == [2])
    }

    @Test func aMissingColumnIsAFileErrorNamingIt() throws {
        let path = try writeInput("ts,order_id,unit_price,status\n2026-01-01,O1,1.00,a\n")
        let e = try #require(extractError(spec(columns: columns), [path]))
        #expect(e.exitStatus == .noInput)
        #expect(e.message.contains(path))
        #expect(e.message.contains("the header lacks column \"quantity\" (declared as sources.orders.columns.qty)"))
        #expect(e.message.contains("found: ts, order_id, unit_price, status"))
    }

    @Test func missingColumnsNullFillsTheColumnWithNulls() throws {
        let path = try writeInput("ts,order_id,unit_price,status\n2026-01-01,O1,1.00,a\n2026-01-02,O2,2.00,b\n")
        var lenient = spec(columns: columns)
        lenient.missingColumns = .null
        let r = try Extractor.extract(lenient, files: [path], threads: 1)
        #expect(r.rejects.isEmpty)
        #expect(r.table["qty"]?.validity == [false, false])
        #expect(r.table["price"]?.int64Values == [100, 200])
    }

    @Test func extraColumnsErrorRejectsUndeclaredHeaderNames() throws {
        var extra = spec(columns: [("a", ColumnDecl(.int))])
        extra.extraColumns = .error
        let e = try #require(extractError(extra, [try writeInput("a,b,c\n1,2,3\n")]))
        #expect(e.exitStatus == .noInput)
        #expect(e.message.contains("the header has undeclared columns b, c"))
        #expect(try Extractor.extract(extra, files: [try writeInput("a\n1\n")], threads: 1).table.rowCount == 1)
        var ignore = extra
        ignore.extraColumns = .ignore
        #expect(try Extractor.extract(ignore, files: [try writeInput("a,b,c\n1,2,3\n")], threads: 1).table["a"]?.int64Values == [1])
    }

    @Test func aDuplicatedHeaderNameIsAFileError() throws {
        let e = try #require(extractError(spec(columns: [("a", ColumnDecl(.int))]), [try writeInput("a,b,a\n1,2,3\n")]))
        #expect(e.exitStatus == .noInput)
        #expect(e.message.contains("the header names column \"a\" twice"))
        // Not when no declared column reads the name (an export with two undeclared "b" columns is read), unless
        // extra_columns: error asks for every column to be declared (DuplicateHeaderTests).
        #expect(extractError(spec(columns: [("a", ColumnDecl(.int))]), [try writeInput("a,b,b\n1,2,3\n")]) == nil)
    }

    @Test func anEmptyFileWithAHeaderIsAFileErrorAndAHeaderOnlyFileHasNoRows() throws {
        let e = try #require(extractError(spec(columns: [("a", ColumnDecl(.int))]), [try writeInput("")]))
        #expect(e.message.contains("the file is empty"))
        let r = try Extractor.extract(spec(columns: [("a", ColumnDecl(.int))]), files: [try writeInput("a\n")], threads: 1)
        #expect(r.table.rowCount == 0)
        #expect(r.table.columnNames == ["a", "_file", "_line"])
        #expect(r.files.first?.rowsRead == 0)
    }

    @Test func noFilesGiveAnEmptyTableWithTheDeclaredSchema() throws {
        let r = try Extractor.extract(spec(columns: columns), files: [], threads: 2)
        #expect(r.table.name == "raw_orders")
        #expect(r.table.rowCount == 0)
        #expect(r.table.columnNames == ["order_id", "qty", "price", "at", "status", "_file", "_line"])
        #expect(r.rejects.isEmpty && r.files.isEmpty)
    }

    @Test func quarantineFileDropsTheFilesRowsWithARuleFileRecord() throws {
        let dir = try makeTemporaryDirectory("extract")
        let good = try writeInput("a\n1\n2\n", name: "1.csv", dir: dir)
        let badHeader = try writeInput("b\n3\n4\n", name: "2.csv", dir: dir)
        // A stray quote is not a file error: it costs its line (it failed the file, or dropped it whole, when it sat
        // in the file's last max_line_bytes).
        let stray = try writeInput("a\n5\n6\n\"7\n8\n", name: "3.csv", dir: dir)
        var s = spec(columns: [("a", ColumnDecl(.int))])
        #expect(extractError(s, [good, badHeader]) != nil)
        #expect(extractError(s, [good, stray]) == nil)
        s.onFileError = .quarantineFile
        let r = try Extractor.extract(s, files: [good, badHeader, stray], threads: 1)
        #expect(r.table["a"]?.int64Values == [1, 2, 5, 6, 8])
        #expect(r.rejects.map(\.rule) == ["file", "parse"])
        #expect(r.rejects.map(\.file) == [badHeader, stray])
        #expect(r.rejects.map(\.line) == [1, 4])
        #expect(r.rejects[0].reason.hasPrefix("file rejected: "))
        #expect(r.rejects[0].reason.contains("the header lacks column \"a\""))
        #expect(r.rejects[1].reason.hasPrefix("a quoted field opened at 4:1 is never closed"))
        #expect(r.files.map(\.path) == [good, badHeader, stray])
        #expect(r.files[1].rejectedReason != nil && r.files[2].rejectedReason == nil && r.files[0].rejectedReason == nil)
        #expect(r.files[2].rowsRead == 4 && r.files[2].rowsAccepted == 3 && r.files[2].rowsRejected == 1)
        for f in r.files { #expect(f.rowsRead == f.rowsAccepted + f.rowsRejected, "\(f.path)") }
    }

    @Test func aCorruptGzipFileFailsTheRunOrIsQuarantinedWholeWithItsRowCount() throws {
        let dir = try makeTemporaryDirectory("extract")
        let good = try writeInput("a\n1\n2\n", name: "1.csv", gzip: true, dir: dir)
        let rows = (0..<5000).map { String($0 * 7919 % 100_003) }.joined(separator: "\n")
        let big = try writeInput("a\n" + rows + "\n", name: "2.csv", gzip: true, dir: dir)
        let bytes = try readData(big)
        try writeData(bytes.prefix(bytes.count - 30), big)
        var s = spec(columns: [("a", ColumnDecl(.int))])
        let e = try #require(extractError(s, [good, big]))
        #expect(e.exitStatus == .noInput)
        #expect(e.message.contains("truncated gzip data at compressed byte offset"))
        s.onFileError = .quarantineFile
        let r = try Extractor.extract(s, files: [good, big], threads: 2)
        #expect(r.table.rowCount == 2)
        #expect(r.rejects.count == 1)
        #expect(r.rejects[0].rule == "file")
        #expect(r.rejects[0].reason.contains("truncated gzip data"))
        #expect(r.files[1].rowsRead > 0 && r.files[1].rowsAccepted == 0)
        #expect(r.files[1].rowsRead == r.files[1].rowsRejected)
    }

    @Test("the table is the same for one and two threads", arguments: [2, 3, 8])
    func threadCountDoesNotChangeTheTable(threads: Int) throws {
        let dir = try makeTemporaryDirectory("extract")
        var files: [String] = []
        for f in 0..<9 {
            let body = (0..<200).map { i -> String in
                let qty = i % 17 == 0 ? "x" : (i % 13 == 0 ? "" : "\(i % 5)")
                return "O\(f)-\(i),\(qty),\(Double(i) / 4),2026-06-\(10 + i % 20)T0\(i % 10):00:00+02:00,\(i % 3 == 0 ? "a" : "b")"
            }
            files.append(try writeInput("order_id,quantity,unit_price,ts,status\n" + body.joined(separator: "\n"), name: "f\(f).csv", gzip: f % 2 == 0, dir: dir))
        }
        let s = spec(columns: columns)
        let one = try Extractor.extract(s, files: files, threads: 1), many = try Extractor.extract(s, files: files, threads: threads)
        #expect(one.table == many.table)
        #expect(one.rejects == many.rejects)
        #expect(one.files == many.files)
        #expect(one.table.rowCount + one.rejects.count == 1800)
        #expect(one.rejects.allSatisfy { $0.rule == "parse" && $0.column == 2 })
        #expect(one.files.reduce(0) { $0 + $1.rowsRead } == 1800)
        for f in one.files { #expect(f.rowsRead == f.rowsAccepted + f.rowsRejected) }
    }

    @Test func aFailingFileStopsTheReadingOfTheFilesAfterIt() throws {
        let dir = try makeTemporaryDirectory("extract")
        let bad = try writeInput("b\n1\n", name: "00.csv", dir: dir)
        let good = try (1..<40).map { try writeInput("a\n\($0)\n", name: String(format: "%02d.csv", $0), dir: dir) }
        final class Box: @unchecked Sendable { let lock = NSLock(); var calls = 0 }
        let box = Box()
        #expect(throws: ExtractError.self) {
            _ = try Extractor.extract(spec(columns: [("a", ColumnDecl(.int))]), files: [bad] + good, threads: 2) { _, _ in
                box.lock.lock(); box.calls += 1; box.lock.unlock()
            }
        }
        // Files are read at most a window (2 per thread) ahead of the failing first one, not all 40.
        #expect(box.calls >= 1 && box.calls <= 5)
    }

    @Test func provenanceColumnsNameTheFileAndStartLineOfEveryRow() throws {
        let dir = try makeTemporaryDirectory("extract")
        let a = try writeInput("k,v\n1,\"x\ny\"\n\n2,z\n", name: "a.csv", dir: dir)
        let b = try writeInput("\u{FEFF}k,v\r\n3,w\r\n", name: "b.csv", gzip: true, dir: dir)
        let r = try Extractor.extract(spec(columns: [("k", ColumnDecl(.int)), ("v", ColumnDecl(.string))]), files: [a, b], threads: 2)
        let file = try #require(r.table[Provenance.file])
        #expect(file.type == .string)
        #expect((0..<3).map { file.string(at: $0) } == [a, a, b])
        #expect(r.table[Provenance.line]?.int64Values == [2, 5, 2])
        #expect(r.table["v"]?.string(at: 0) == "x\ny")
        #expect(r.files.map(\.rowsRead) == [2, 1])
    }

    @Test func invalidUTF8TextIsQuarantinedWithRuleEncoding() throws {
        let path = try writeBytes(Array("s,n\nok,1\n".utf8) + [0x62, 0xFF, 0x2C, 0x32, 0x0A] + Array("fine,3\n".utf8))
        let r = try Extractor.extract(spec(columns: [("s", ColumnDecl(.string)), ("n", ColumnDecl(.int))]), files: [path], threads: 1)
        #expect(r.table["n"]?.int64Values == [1, 3])
        #expect(r.rejects.map(\.rule) == ["encoding"])
        #expect(r.rejects.first?.line == 3 && r.rejects.first?.column == 1)
    }

    @Test func theProgressCallbackSeesEveryFilesRows() throws {
        let dir = try makeTemporaryDirectory("extract")
        let files = try (0..<4).map { try writeInput("a\n" + String(repeating: "1\n", count: $0 + 1), name: "\($0).csv", dir: dir) }
        final class Box: @unchecked Sendable { let lock = NSLock(); var total = 0, files = 0 }
        let box = Box()
        _ = try Extractor.extract(spec(columns: [("a", ColumnDecl(.int))]), files: files, threads: 2) { f, n in
            box.lock.lock(); box.total += n; box.files += f; box.lock.unlock()
        }
        #expect(box.files == 4)
        #expect(box.total == 10)
        // Read in chunks, a file counts once, when its last chunk is read; its rows as they come.
        let chunked = Box()
        _ = try Extractor.extract(spec(columns: [("a", ColumnDecl(.int))]), files: [files[3]], threads: 2, chunkBytes: 3) { f, n in
            chunked.lock.lock(); chunked.total += n; chunked.files += f; chunked.lock.unlock()
        }
        #expect(chunked.files == 1)
        #expect(chunked.total == 4)
    }

    /// `on_invalid: null` covers values that do not parse: they become null and their rows are kept, counted per
    /// column with the first example; a required column still rejects its row.
    @Test func unparseableValuesAreNulledUnderOnInvalidNull() throws {
        var qty = ColumnDecl(.int)
        qty.onInvalid = .null
        var must = ColumnDecl(.int, required: true)
        must.onInvalid = .null
        let s = spec(columns: [("id", ColumnDecl(.string)), ("qty", qty), ("price", ColumnDecl(.decimal)), ("n", must)])
        let text = "id,qty,price,n\nA,1,2.00,1\nB,x,3.00,1\nC,y,zz,1\nD,2.5,1,1\nE,3,1,z\n"
        let r = try Extractor.extract(s, bytes: Array(text.utf8), name: "t.csv")
        #expect((0..<r.table.rowCount).map { r.table["id"]!.string(at: $0)! } == ["A", "B", "D"])
        #expect((0..<r.table.rowCount).map { r.table["qty"]!.isValid($0) ? r.table["qty"]!.int64Values[$0] : nil } == [1, nil, nil])
        // C's price does not parse and price is not nulled: the row is rejected, and its qty is not counted.
        #expect(r.rejects.map(\.line) == [4, 6])
        #expect(r.rejects.map(\.reason) == ["price: \"zz\" is not a decimal number with at most 2 decimals", "n: \"z\" is not an integer"])
        #expect(r.nulled.count == 1)
        #expect(r.nulled.first?.column == "qty")
        #expect(r.nulled.first?.count == 2)
        #expect(r.nulled.first?.example == "t.csv:3: qty: \"x\" is not an integer")
    }

    /// Two declared columns may read one header column (an order id, and a status `map` derives from it).
    @Test func twoColumnsReadOneHeader() throws {
        let s = spec(columns: [("order_id", ColumnDecl(.string, from: "Invoice")), ("status", ColumnDecl(.string, from: "Invoice")),
                               ("qty", ColumnDecl(.int, from: "Quantity"))])
        let r = try Extractor.extract(s, bytes: Array("Invoice,Quantity\n489434,2\nC489449,-2\n".utf8), name: "retail.csv")
        #expect(r.rejects.isEmpty)
        #expect((0..<2).map { r.table["order_id"]?.string(at: $0) } == ["489434", "C489449"])
        #expect((0..<2).map { r.table["status"]?.string(at: $0) } == ["489434", "C489449"])
        #expect(r.table["qty"]?.int64Values == [2, -2])
    }

    @Test func anOverlongLineAndAnOversizedFieldAreQuarantinedAndTheRestIsKept() throws {
        var s = spec(columns: [("id", ColumnDecl(.string)), ("note", ColumnDecl(.string))])
        s.maxLineBytes = 2048
        s.maxFieldBytes = 100
        let text = "id,note\nA,short\nB," + String(repeating: "n", count: 500) + "\nC," + String(repeating: "z", count: 10_000) + "\nD,end\n"
        let r = try Extractor.extract(s, bytes: Array(text.utf8), name: "big.csv")
        #expect(r.table.rowCount == 2)
        #expect(r.table["id"]?.string(at: 1) == "D")
        #expect(r.rejects.map(\.rule) == ["field_size", "line_size"])
        #expect(r.rejects.map(\.line) == [3, 4])
        #expect(r.rejects[0].column == 2)
        #expect(r.rejects[0].reason.contains("note: the field holds 500 bytes, more than sources.orders.max_field_bytes (100)"))
        #expect(r.rejects[1].reason.contains("raise sources.orders.max_line_bytes"))
        #expect(r.rejects[1].raw.hasPrefix("C,zzz"))
        // Row accounting: read = kept + quarantined.
        #expect(r.files[0].rowsRead == 4 && r.files[0].rowsAccepted == 2 && r.files[0].rowsRejected == 2)
    }

    @Test func aGiganticLineWithoutNewlineKeepsMemoryBounded() throws {
        // 256 MiB of one line, gzipped (about 250 KB): the scanner must skip it, never holding it whole.
        var s = spec(columns: [("id", ColumnDecl(.string))])
        s.maxLineBytes = 1 << 20
        s.maxExpansionRatio = 5000
        let path = try writeBytes(Array("id\nA\n".utf8) + [UInt8](repeating: 0x41, count: 256 << 20) + Array("\nB\n".utf8), name: "huge.csv", gzip: true)
        let r = try Extractor.extract(s, files: [path], threads: 1)
        #expect(r.table.rowCount == 2)
        #expect(r.rejects.map(\.rule) == ["line_size"])
        #expect(r.rejects[0].line == 3)
        #expect(r.rejects[0].raw.utf8.count == 1024)
    }

    @Test func aHeaderThatIsTooLongIsAFileError() throws {
        var s = spec(columns: [("id", ColumnDecl(.string))])
        s.maxLineBytes = 1024
        let e = #expect(throws: ExtractError.self) {
            try Extractor.extract(s, bytes: Array((String(repeating: "h", count: 5000) + "\nA\n").utf8), name: "h.csv")
        }
        #expect(e?.message.contains("the header line is longer than sources.orders.max_line_bytes (1024)") == true)
    }
}

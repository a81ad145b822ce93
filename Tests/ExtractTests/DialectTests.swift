import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

/// Files written the way other shops and tools export them: other number, date, quoting and encoding conventions.
struct DialectTests {
    func spec(_ columns: [(String, ColumnDecl)], _ configure: (inout SourceSpec) -> Void = { _ in }) -> SourceSpec {
        var s = SourceSpec(name: "orders", files: [], columns: columns)
        configure(&s)
        return s
    }

    @Test func europeanNumbersWithCommaDecimalsAndDotGrouping() throws {
        let s = spec([("id", ColumnDecl(.string)), ("qty", ColumnDecl(.int)), ("price", ColumnDecl(.decimal, scale: 2)),
                      ("weight", ColumnDecl(.double))]) {
            $0.delimiter = ";"
            $0.decimalSeparator = ","
            $0.thousandsSeparator = "."
        }
        let text = """
        id;qty;price;weight
        a;1.200;1.234,56;0,5
        b;3;-12,5;1.000,25
        c;2;1.5;1
        d;2;12,345;1
        e;1.20;1;1
        f;2;"1.234.567,01";2,5e3

        """
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        #expect(r.table["id"]!.strings() == ["a", "b", "f"])
        #expect(r.table["qty"]!.int64Values == [1200, 3, 2])
        #expect(r.table["price"]!.int64Values == [123_456, -1250, 123_456_701])
        #expect(r.table["weight"]!.doubleValues == [0.5, 1000.25, 2500])
        #expect(r.rejects.map(\.line) == [4, 5, 6])
        // "1.5" where "," is the decimal mark would be 15 read as grouping, or 1.5 read plainly: both wrong, so rejected.
        #expect(r.rejects[0].reason.contains("price: \"1.5\" is not a number written with decimal separator \",\" and thousands separator \".\""))
        // Three decimals at scale 2: the plain-number message, quoting the field as written.
        #expect(r.rejects[1].reason == "price: \"12,345\" is not a decimal number with at most 2 decimals")
        #expect(r.rejects[2].reason.contains("qty: \"1.20\" is not a number written with"))
    }

    @Test func usGroupingAndStrippedCurrencySigns() throws {
        var price = ColumnDecl(.decimal, scale: 2)
        price.strip = ["$", "USD", "€"]
        var share = ColumnDecl(.double)
        share.strip = ["%"]
        let s = spec([("price", price), ("share", share)]) { $0.thousandsSeparator = "," }
        let text = "price,share\n\"$1,234.50\",12.5%\n$ 99,50 %\n USD 7 ,-3%\n\"12,50 €\",1\n\"1,2345.00\",1\n"
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        // Line 3 is unquoted, so its comma splits "$ 99" from "50 %"; lines 5 and 6 group digits wrongly for ",".
        #expect(r.table["price"]!.int64Values == [123_450, 9900, 700])
        #expect(r.table["share"]!.doubleValues == [12.5, 50, -3])
        #expect(r.rejects.map(\.line) == [5, 6])
    }

    @Test func severalDateFormatsAreTriedInOrder() throws {
        var at = ColumnDecl(.timestamp)
        at.formats = ["yyyy-MM-dd HH:mm:ss", "M/d/yyyy h:mm a", "epoch_s"]
        var day = ColumnDecl(.date)
        day.formats = ["dd.MM.yyyy", "d MMM yyyy"]
        let s = spec([("at", at), ("day", day)]) { $0.timezone = "+02:00" }
        let text = "at,day\n2026-03-01 10:00:00,01.03.2026\n3/1/2026 10:00 AM,1 Mar 2026\n1772359200,1 mar 2026\n1 March,2026-03-01\n"
        let r = try Extractor.extract(s, files: [try writeInput(text)], threads: 1)
        let tenLocal = CivilDate(year: 2026, month: 3, day: 1).daysSinceEpoch * 86_400_000_000 + 8 * 3_600_000_000
        #expect(r.table["at"]!.int64Values == [tenLocal, tenLocal, 1_772_359_200_000_000])
        #expect(Set(r.table["day"]!.int64Values) == [CivilDate(year: 2026, month: 3, day: 1).daysSinceEpoch])
        #expect(r.rejects.count == 1)
        #expect(r.rejects[0].reason == "at: \"1 March\" is not a valid timestamp (formats yyyy-MM-dd HH:mm:ss, M/d/yyyy h:mm a, epoch_s) in the years 0001-9999")
    }

    @Test func customBooleanWords() throws {
        var flag = ColumnDecl(.bool)
        flag.trueValues = ["ja", "X"]
        flag.falseValues = ["nein", "-"]
        let r = try Extractor.extract(spec([("flag", flag)]), files: [try writeInput("flag\nJa\nx\nnein\n-\ntrue\n")], threads: 1)
        #expect(r.table["flag"]!.int64Values == [1, 1, 0, 0])
        #expect(r.rejects.map(\.reason) == ["flag: \"true\" is not a boolean (ja, X, nein, -)"])
    }

    @Test("latin1 and windows-1252 files are read as UTF-8", arguments: [
        (SourceSpec.TextEncoding.latin1, [0xE9, 0x74, 0xE9] as [UInt8], "été"),
        (.windows1252, [0x80, 0x20, 0x93, 0x71, 0x94, 0x20, 0x8A], "€ \u{201C}q\u{201D} Š"),
        (.latin1, [0x80], "\u{80}"),
    ] as [(SourceSpec.TextEncoding, [UInt8], String)])
    func singleByteEncodings(encoding: SourceSpec.TextEncoding, bytes: [UInt8], expected: String) throws {
        let s = spec([("name", ColumnDecl(.string)), ("city", ColumnDecl(.string, from: "Städt"))]) { $0.encoding = encoding }
        // The header too is in the file's encoding ("Städt" in Latin-1).
        var text: [UInt8] = Array("name,St".utf8) + [0xE4] + Array("dt\n".utf8)
        text += bytes + Array(",x\nplain,".utf8) + [0xC4] + Array("\n".utf8)
        let r = try Extractor.extract(s, bytes: text, name: "f.csv")
        #expect(r.rejects.isEmpty)
        #expect(r.table["name"]!.strings() == [expected, "plain"])
        #expect(r.table["city"]!.strings() == ["x", encoding == .latin1 ? "Ä" : "Ä"])
    }

    /// A UTF-8 byte-order mark says the file is UTF-8, whatever single-byte encoding the source declares (a shop
    /// whose exports moved to Excel's "CSV UTF-8"): it read "ZoÃ«", and the header's mark stayed in its first name.
    @Test(arguments: [SourceSpec.TextEncoding.windows1252, .latin1])
    func aUTF8ByteOrderMarkOverridesASingleByteEncoding(encoding: SourceSpec.TextEncoding) throws {
        let s = spec([("name", ColumnDecl(.string)), ("country", ColumnDecl(.string))]) { $0.encoding = encoding }
        let file = try writeInput(String(decoding: [0xEF, 0xBB, 0xBF] + Array("name,country\nZoë,Österreich\nAnna,Côte d'Ivoire\n".utf8), as: UTF8.self))
        for r in [try Extractor.extract(s, files: [file], threads: 1), try Extractor.extract(s, files: [file], threads: 2, chunkBytes: 16)] {
            #expect(r.rejects.isEmpty, "\(r.rejects)")
            #expect(r.table["name"]!.strings() == ["Zoë", "Anna"])
            #expect(r.table["country"]!.strings() == ["Österreich", "Côte d'Ivoire"])
        }
        // Without the mark the declared encoding holds.
        let plain = try writeBytes(Array("name,country\n".utf8) + [0x5A, 0x6F, 0xEB, 0x2C, 0x78, 0x0A])
        #expect(try Extractor.extract(s, files: [plain], threads: 1).table["name"]!.strings() == ["Zoë"])
    }

    /// A value that fails to parse because of bytes that are not UTF-8, or of a no-break space, says so (it read as a
    /// plain parse error: "185,54 \u{FFFD}", or "97,89 " with the no-break space printed as a space).
    @Test func parseErrorsNameForeignBytesAndNoBreakSpaces() throws {
        var price = ColumnDecl(.decimal)
        price.strip = ["€"]
        let s = spec([("id", ColumnDecl(.string)), ("price", price)]) { $0.delimiter = ";"; $0.decimalSeparator = "," }
        let text: [UInt8] = Array("id;price\na;185,54 ".utf8) + [0x80] + Array("\nb;97,89\u{A0}€\nc;1,50\n".utf8)
        let r = try Extractor.extract(s, bytes: text, name: "f.csv")
        #expect(r.table["id"]!.strings() == ["c"])
        let reasons = r.rejects.map(\.reason)
        #expect(reasons.count == 2)
        #expect(reasons.first { $0.contains("\"185,54") }?.hasSuffix("(bytes that are not UTF-8: if the file is in another encoding, set the source's encoding: windows-1252 or latin1)") == true, "\(reasons)")
        #expect(reasons.first { $0.contains("\"97,89") }?.hasSuffix("(it holds a no-break space: add it to the column's strip, or set the source's thousands_separator to it)") == true, "\(reasons)")
    }

    /// Rows of empty fields only (Excel's filler rows below the data) are skipped like blank lines and counted with
    /// them, by the C row pass and the general path alike (each was a rejected row: a small file failed its budget).
    @Test(arguments: [true, false])
    func spreadsheetFillerRowsAreSkippedLikeBlankLines(inC: Bool) throws {
        var id = ColumnDecl(.string)
        id.required = true
        let s = spec([("id", id), ("n", ColumnDecl(.int)), ("note", ColumnDecl(.string))])
        let text = "id,n,note\na,1,x\n,,\nb,2,\n,,\n\"\",,\"\"\n,, \n"
        let r = try Extractor.extract(s, bytes: Array(text.utf8), name: "f.csv", typesCommonRowsInC: inC)
        #expect(r.rejects.isEmpty, "\(r.rejects)")
        #expect(r.table["id"]!.strings() == ["a", "b"])
        #expect(r.table["_line"]!.int64Values == [2, 4])
        #expect(r.files[0].rowsRead == 2 && r.files[0].linesSkipped == 4)
    }

    /// Limits measure the record and the value: a CRLF file's line limit was a byte shorter than an LF file's (its
    /// line ending counted), and a doubled quote counted as two bytes of the value.
    @Test(arguments: [true, false])
    func limitsMeasureTheRecordAndTheValue(inC: Bool) throws {
        var s = spec([("a", ColumnDecl(.string)), ("b", ColumnDecl(.string))])
        s.maxLineBytes = 40
        s.maxFieldBytes = 4
        let record = "x," + String(repeating: "y", count: 4) + "," + String(repeating: "z", count: 33)  // 40 bytes
        for ending in ["\n", "\r\n"] {
            let t = s
            let text = "a,b,c" + ending + record + ending + "1,\"ab\"\"c\",3" + ending + "1,abcde,3" + ending
            let r = try Extractor.extract(t, bytes: Array(text.utf8), name: "f.csv", typesCommonRowsInC: inC)
            #expect(r.table["b"]!.strings() == ["yyyy", "ab\"c"], "\(ending.debugDescription): \(r.rejects)")
            #expect(r.rejects.map(\.rule) == ["field_size"], "\(ending.debugDescription)")
        }
    }

    /// Blanks padding a quoted field before the delimiter or the line's end (SQL*Plus spools, bcp) are padding: the
    /// row was quarantined, and such a header failed the file. Text after the quote still is malformed.
    @Test(arguments: [true, false])
    func blanksAfterAClosingQuoteArePadding(inC: Bool) throws {
        let s = spec([("a", ColumnDecl(.string)), ("b", ColumnDecl(.string))])
        let text = "\"a\" ,\"b\"  \n\"ab\"  ,x\n\"c\"\t,\"y\" \r\n\"d\"  e,z\n"
        let r = try Extractor.extract(s, bytes: Array(text.utf8), name: "f.csv", typesCommonRowsInC: inC)
        #expect(r.table["a"]!.strings() == ["ab", "c"])
        #expect(r.table["b"]!.strings() == ["x", "y"])
        #expect(r.rejects.map(\.line) == [4] && r.rejects.map(\.rule) == ["parse"], "\(r.rejects)")
    }

    /// The header again with a byte-order mark (two Excel "CSV UTF-8" exports concatenated) is not a row: it was
    /// kept, its first value holding an invisible U+FEFF. Blank lines are counted with the skipped lines, so a
    /// file's lines add up: header + rows + skipped.
    @Test(arguments: [true, false])
    func aRepeatedHeaderWithAByteOrderMarkAndBlankLinesAreSkipped(inC: Bool) throws {
        let s = spec([("a", ColumnDecl(.string)), ("b", ColumnDecl(.string)), ("c", ColumnDecl(.string))])
        let text = "\u{FEFF}a,b,c\n1,2,3\n\n\u{FEFF}a,b,c\n4,5,6\n\n"
        let r = try Extractor.extract(s, bytes: Array(text.utf8), name: "f.csv", typesCommonRowsInC: inC)
        #expect(r.rejects.isEmpty, "\(r.rejects)")
        #expect(r.table["a"]!.strings() == ["1", "4"])
        #expect(r.files[0].rowsRead == 2 && r.files[0].linesSkipped == 3, "\(r.files[0])")
    }

    @Test func withoutTheEncodingLatin1TextIsQuarantinedNotGarbled() throws {
        let s = spec([("name", ColumnDecl(.string))])
        let r = try Extractor.extract(s, bytes: Array("name\n".utf8) + [0xE9, 0x0A], name: "f.csv")
        #expect(r.table.rowCount == 0)
        #expect(r.rejects.map(\.rule) == ["encoding"])
    }

    @Test func backslashEscapesSingleQuotesCommentsAndLeadingLines() throws {
        let s = spec([("id", ColumnDecl(.string)), ("note", ColumnDecl(.string))]) {
            $0.quote = "'"
            $0.escape = "\\"
            $0.comment = "#"
            $0.skipLines = 2
        }
        let text = """
        Export of 2026-06-30, "orders" (do not edit
        generated by shop v2
        id,note
        # a comment, with 'a quote
        1,'it\\'s, quoted'
        2,'a \\\\ backslash and "double" quotes'
        #3,'commented out'
        4,'line one
        line two'
        5,plain "text"

        """
        let r = try Extractor.extract(s, bytes: Array(text.utf8), name: "f.csv")
        #expect(r.rejects.isEmpty)
        #expect(r.table["id"]!.strings() == ["1", "2", "4", "5"])
        #expect(r.table["note"]!.strings() == ["it's, quoted", "a \\ backslash and \"double\" quotes", "line one\nline two", "plain \"text\""])
        #expect(r.table["_line"]!.int64Values == [5, 6, 8, 10])
        #expect(r.files[0].linesSkipped == 4)
        #expect(r.files[0].rowsRead == 4)
    }

    @Test func quotingCanBeSwitchedOff() throws {
        var s = spec([("a", ColumnDecl(.string)), ("b", ColumnDecl(.string))])
        s.quote = nil
        s.delimiter = "\t"
        let r = try Extractor.extract(s, bytes: Array("a\tb\n\"x\t5\" tall\n".utf8), name: "f.tsv")
        #expect(r.table["a"]!.strings() == ["\"x"])
        #expect(r.table["b"]!.strings() == ["5\" tall"])
    }
}

extension Column {
    /// Every value as text (nil for nulls shown as "").
    func strings() -> [String] { (0..<count).map { string(at: $0) ?? "" } }
}

struct EncodingDetectionTests {
    static let text = "id\tname\n1\tZoë 😀 \"Ünïcode\"\n2\t\"tab\tinside\"\n"

    @Test("a UTF-16 file (either byte order, with its byte-order mark) reads as UTF-8 for every chunk size",
          arguments: [1, 2, 3, 5, 64], [false, true])
    func utf16WithByteOrderMark(chunkSize: Int, bigEndian: Bool) throws {
        var bytes: [UInt8] = bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE]
        for u in Self.text.utf16 { bytes += bigEndian ? [UInt8(u >> 8), UInt8(u & 0xFF)] : [UInt8(u & 0xFF), UInt8(u >> 8)] }
        let scanner = CSVScanner(reader: try GzipReader(bytes: bytes, name: "u.tsv"), delimiter: .byte(9), chunkSize: chunkSize)
        var rows: [[String]] = []
        while try scanner.next() == .record {
            rows.append(scanner.fields.map { f in scanner.withFieldBytes(f) { String(decoding: $0, as: UTF8.self) } })
        }
        #expect(rows == [["id", "name"], ["1", "Zoë 😀 \"Ünïcode\""], ["2", "tab\tinside"]])
    }

    @Test func anUnpairedSurrogateQuarantinesItsRowOnly() throws {
        var bytes: [UInt8] = [0xFF, 0xFE]
        let units: [UInt16] = Array("name\nok\n".utf16) + [0xD800, 0x61] + Array("\nfine\n".utf16)
        for u in units { bytes += [UInt8(u & 0xFF), UInt8(u >> 8)] }
        let s = SourceSpec(name: "c", files: [], columns: [("name", ColumnDecl(.string))])
        let r = try Extractor.extract(s, bytes: bytes, name: "u.csv")
        #expect(r.table["name"]!.strings() == ["ok", "fine"])
        #expect(r.rejects.map(\.rule) == ["encoding"])
        #expect(r.rejects.map(\.line) == [3])
    }

    @Test("other compressed formats are named, not read as text", arguments: [
        ([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00], "is a zip archive, not gzip or plain CSV"),
        ([0x42, 0x5A, 0x68, 0x39, 0x31, 0x41], "is a bzip2 file"),
        ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0x00], "is a xz file"),
        ([0x28, 0xB5, 0x2F, 0xFD, 0x00], "is a zstd file"),
    ] as [([UInt8], String)])
    func otherCompressionIsAFileError(bytes: [UInt8], message: String) throws {
        let s = SourceSpec(name: "c", files: [], columns: [("name", ColumnDecl(.string))])
        #expect { _ = try Extractor.extract(s, bytes: bytes, name: "x.csv.gz") } throws: { e in
            "\(e)".contains(message) && "\(e)".contains("x.csv.gz")
        }
        // A header that merely starts with "BZh" is text.
        let text = try Extractor.extract(SourceSpec(name: "c", files: [], columns: [("BZhx", ColumnDecl(.string))]),
                                         bytes: Array("BZhx\nv\n".utf8), name: "t.csv")
        #expect(text.table.rowCount == 1)
    }
}

struct LineEndingTests {
    func scan(_ text: String, chunkSize: Int) throws -> [(Int, [String])] {
        let scanner = CSVScanner(reader: try GzipReader(bytes: Array(text.utf8), name: "m.csv"), delimiter: .byte(44), chunkSize: chunkSize)
        var rows: [(Int, [String])] = []
        while try scanner.next() == .record {
            rows.append((scanner.recordLine, scanner.fields.map { f in scanner.withFieldBytes(f) { String(decoding: $0, as: UTF8.self) } }))
        }
        return rows
    }

    @Test("lines ending in a lone CR (old Mac exports) are lines, for every chunk size", arguments: [1, 2, 3, 64])
    func loneCarriageReturns(chunkSize: Int) throws {
        let rows = try scan("id,note\r1,\"two\rlines\"\r2,x\r", chunkSize: chunkSize)
        #expect(rows.map(\.1) == [["id", "note"], ["1", "two\nlines"], ["2", "x"]])
        #expect(rows.map(\.0) == [1, 2, 4])
    }

    @Test("CRLF is still one line end when the CR and LF arrive in different reads", arguments: [1, 2, 3, 64])
    func crlfAcrossReads(chunkSize: Int) throws {
        let rows = try scan("id,note\r\n1,a\r\n2,\"b\r\nc\"\r\n", chunkSize: chunkSize)
        #expect(rows.map(\.1) == [["id", "note"], ["1", "a"], ["2", "b\r\nc"]])
        #expect(rows.map(\.0) == [1, 2, 3])
    }
}

struct TrailingDelimiterTests {
    @Test func emptyFieldsAfterTheHeadersAreTrailingDelimitersNotData() throws {
        let s = SourceSpec(name: "o", files: [], columns: [("a", ColumnDecl(.int)), ("b", ColumnDecl(.string))])
        let r = try Extractor.extract(s, bytes: Array("a,b\n1,x,\n2,y,,\n3,z,w\n4,v,\"\"\n5,u\n".utf8), name: "t.csv")
        #expect(r.table["a"]!.int64Values == [1, 2, 5])
        #expect(r.rejects.map(\.line) == [4, 5])
        #expect(r.rejects.map(\.reason) == ["expected 2 fields, found 3", "expected 2 fields, found 3"])
    }
}

struct OtherDelimiterTests {
    @Test func aCaretDelimitedFileReads() throws {
        var s = SourceSpec(name: "o", files: [], columns: [("a", ColumnDecl(.int)), ("b", ColumnDecl(.string))])
        s.delimiter = "^"
        let r = try Extractor.extract(s, bytes: Array("a^b\n1^x,y\n2^\"p^q\"\n".utf8), name: "t.txt")
        #expect(r.table["a"]!.int64Values == [1, 2])
        #expect(r.table["b"]!.strings() == ["x,y", "p^q"])
    }
}

struct RawTextCapTests {
    @Test func quarantinedRawTextIsCappedAtACharacterBoundaryOrDropped() throws {
        var s = SourceSpec(name: "o", files: [], columns: [("a", ColumnDecl(.int)), ("b", ColumnDecl(.string))])
        s.maxRawBytes = 5
        let r = try Extractor.extract(s, bytes: Array("a,b\nx,ééé\n".utf8), name: "t.csv")
        // "x,ééé" is 8 bytes; 5 would cut the second é in half, so 4 are kept.
        #expect(r.rejects.map(\.raw) == ["x,é"])
        s.maxRawBytes = 0
        let none = try Extractor.extract(s, bytes: Array("a,b\nx,ééé\n".utf8), name: "t.csv")
        #expect(none.rejects.map(\.raw) == [""])
        #expect(prefixUTF8("ééé", bytes: 3) == "é")
        #expect(prefixUTF8("ééé", bytes: 4) == "éé")
        #expect(prefixUTF8("abc", bytes: 10) == "abc")
        #expect(prefixUTF8("😀a", bytes: 3) == "")
    }
}

struct HeaderHintTests {
    @Test func aHeaderNameDifferingInCaseAndSpacesIsSuggested() throws {
        let s = SourceSpec(name: "orders", files: [], columns: [("customer_id", ColumnDecl(.string)), ("total", ColumnDecl(.decimal))])
        #expect { _ = try Extractor.extract(s, bytes: Array("Customer ID,Total\nC1,1\n".utf8), name: "o.csv") } throws: { e in
            "\(e)".contains("the header lacks column \"customer_id\" (declared as sources.orders.columns.customer_id); did you mean \"Customer ID\"? (write from: \"Customer ID\")")
        }
        // No near name: no guess.
        #expect { _ = try Extractor.extract(s, bytes: Array("client,total\nC1,1\n".utf8), name: "o.csv") } throws: { e in
            "\(e)".contains("the header lacks column \"customer_id\"") && !"\(e)".contains("did you mean")
        }
    }

    /// A header read as one field: the file's delimiter is another one, or Excel's "sep=" line comes first.
    @Test func aOneFieldHeaderNamesTheDelimiter() throws {
        let s = SourceSpec(name: "orders", files: [], columns: [("customer_id", ColumnDecl(.string)), ("total", ColumnDecl(.decimal))])
        func message(_ text: String) -> String {
            do { _ = try Extractor.extract(s, bytes: Array(text.utf8), name: "o.csv"); return "" } catch { return "\(error)" }
        }
        #expect(message("customer_id;total\nC1;1\n").contains("the header is one field: it has no \",\" but has \";\": set sources.orders.delimiter: \";\""))
        #expect(message("customer_id\ttotal\nC1\t1\n").contains("it has no \",\" but has tabs: set sources.orders.delimiter: \"\\t\""))
        #expect(message("sep=;\ncustomer_id;total\nC1;1\n").contains("the first line is Excel's \"sep=;\" line: set sources.orders.skip_lines: 1 and delimiter: \";\""))
        #expect(message("sep=,\ncustomer_id,total\nC1,1\n").contains("line: set sources.orders.skip_lines: 1;"))
        #expect(!message("client\nC1\n").contains("one field"))
    }
}

struct DivideByTests {
    @Test func amountsInCentsAreReadAsMoney() throws {
        var cents = ColumnDecl(.decimal, scale: 2)
        cents.divideBy = 100
        var ratio = ColumnDecl(.double)
        ratio.divideBy = 1000
        let s = SourceSpec(name: "pay", files: [], columns: [("amount", cents), ("ratio", ratio)])
        let r = try Extractor.extract(s, bytes: Array("amount,ratio\n1250,1500\n-99,5\n1250.5,1\n".utf8), name: "p.csv")
        #expect(r.table["amount"]!.int64Values == [1250, -99])
        #expect(r.table["amount"]!.formatted(at: 0) == "12.50")
        #expect(r.table["ratio"]!.doubleValues == [1.5, 0.005])
        #expect(r.rejects.map(\.reason) == ["amount: \"1250.5\" is not a number of 1/100 units with at most 0 decimals"])
    }
}

struct DuplicateHeaderTests {
    @Test func aNameTwiceMattersOnlyWhenAColumnReadsIt() throws {
        let s = SourceSpec(name: "o", files: [], columns: [("id", ColumnDecl(.string))])
        let r = try Extractor.extract(s, bytes: Array("id,Name,Name\n1,a,b\n".utf8), name: "t.csv")
        #expect(r.table["id"]!.strings() == ["1"])
        #expect { _ = try Extractor.extract(s, bytes: Array("id,id\n1,2\n".utf8), name: "t.csv") } throws: { e in
            "\(e)".contains("the header names column \"id\" twice")
        }
        var strict = s
        strict.extraColumns = .error
        #expect { _ = try Extractor.extract(strict, bytes: Array("id,Name,Name\n1,a,b\n".utf8), name: "t.csv") } throws: { e in
            "\(e)".contains("the header names column \"Name\" twice")
        }
    }
}

struct RepeatedHeaderTests {
    @Test func theHeaderRepeatedMidFileIsSkippedAndCounted() throws {
        let s = SourceSpec(name: "o", files: [], columns: [("id", ColumnDecl(.string)), ("qty", ColumnDecl(.int))])
        let text = "id,qty\nA,1\nid,qty\nB,2\n id , qty \nid,3\n"
        let r = try Extractor.extract(s, bytes: Array(text.utf8), name: "cat.csv")
        #expect(r.table["id"]!.strings() == ["A", "B", "id"])
        #expect(r.table["qty"]!.int64Values == [1, 2, 3])
        #expect(r.files[0].rowsRead == 3)
        #expect(r.files[0].linesSkipped == 2)
        #expect(r.rejects.isEmpty)
    }
}

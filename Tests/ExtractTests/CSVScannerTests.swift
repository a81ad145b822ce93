import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

struct CSVScannerTests {
    static let chunkSizes = [1, 2, 7, 64, 4096]
    static let tricky = "a,\"b,\n c\",d\r\n\n\"say \"\"hi\"\"\",,\"\"\nx,y,z\n1,2,3"

    @Test("records are the same for every read-chunk size", arguments: chunkSizes)
    func chunkSizeInvariance(chunkSize: Int) throws {
        let path = try writeInput(Self.tricky, gzip: true)
        #expect(try scanAll(path, chunkSize: chunkSize) == oracleCSV(Self.tricky))
        #expect(try scanAll(path, chunkSize: chunkSize) == [["a", "b,\n c", "d"], ["say \"hi\"", "", ""], ["x", "y", "z"], ["1", "2", "3"]])
    }

    @Test("random quoted data matches the oracle for every chunk size and delimiter",
          arguments: chunkSizes, [",", ";", "|", "\t"] as [Unicode.Scalar])
    func matchesTheOracleOnRandomQuotedData(chunkSize: Int, delimiter: Unicode.Scalar) throws {
        let seed = UInt64(chunkSize) &* 31 &+ UInt64(delimiter.value)
        var rng = SeededRNG(seed: seed)
        let alphabet: [String] = ["a", "b", " ", ",", ";", "|", "\t", "\"", "\n", "\r\n", "é", "✓"]
        var text = ""
        for _ in 0..<200 {
            let fields = (0..<(1 + Int(rng.next() % 4))).map { _ -> String in
                let s = (0..<Int(rng.next() % 6)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined()
                let mustQuote = s.unicodeScalars.contains { $0 == delimiter || $0 == "\"" || $0 == "\n" || $0 == "\r" }
                return mustQuote || s.isEmpty && rng.next() % 2 == 0 ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
            }
            text += fields.joined(separator: String(delimiter)) + (rng.next() % 3 == 0 ? "\r\n" : "\n")
            if rng.next() % 10 == 0 { text += "\n" }  // blank lines are skipped
        }
        let path = try writeInput(text, gzip: chunkSize % 2 == 0)
        #expect(try scanAll(path, delimiter: .byte(UInt8(delimiter.value)), chunkSize: chunkSize) == oracleCSV(text, delimiter: delimiter),
                "seed \(seed)")
    }

    @Test("quoted fields hold delimiters, doubled quotes and newlines", arguments: chunkSizes)
    func quotedFields(chunkSize: Int) throws {
        let path = try writeInput("\"a,b\",\"he said \"\"no\"\"\",\"two\nlines\",\"\"\"\"\n", gzip: true)
        #expect(try scanAll(path, chunkSize: chunkSize) == [["a,b", "he said \"no\"", "two\nlines", "\""]])
    }

    @Test("CRLF ends records and is not part of the last field", arguments: chunkSizes)
    func crlfLineEndings(chunkSize: Int) throws {
        let path = try writeInput("h1,h2\r\nx,\"q\"\r\n\r\ny,\"multi\r\nline\"\r\nlast,z")
        #expect(try scanAll(path, chunkSize: chunkSize) == [["h1", "h2"], ["x", "q"], ["y", "multi\r\nline"], ["last", "z"]])
    }

    @Test("a UTF-8 byte-order mark is skipped, but only at the start", arguments: chunkSizes)
    func byteOrderMark(chunkSize: Int) throws {
        let path = try writeInput("\u{FEFF}id,name\n1,\u{FEFF}x\n")
        #expect(try scanAll(path, chunkSize: chunkSize) == [["id", "name"], ["1", "\u{FEFF}x"]])
        #expect(try scanAll(try writeInput("\u{FEFF}"), chunkSize: chunkSize) == [])
        #expect(try scanAll(try writeInput("\u{FEFF}\"q\"\n"), chunkSize: chunkSize) == [["q"]])
    }

    @Test func blankLinesAreSkippedButAQuotedEmptyFieldIsARecord() throws {
        let path = try writeInput("\n\na\n\r\n\n\"\"\n\nb\n\n")
        #expect(try scanAll(path) == [["a"], [""], ["b"]])
        #expect(try scanAll(try writeInput("")) == [])
        #expect(try scanAll(try writeInput("\n\n\n")) == [])
    }

    @Test("a record after a quoted newline starts at the right physical line", arguments: chunkSizes)
    func recordLinesArePhysicalLines(chunkSize: Int) throws {
        let text = "\u{FEFF}h1,h2\n\"multi\nline\",1\n\nlast,2\r\n\"a\r\nb\r\nc\",3\r\n\r\nend,\"x\n\"\nfinal,4"
        let path = try writeInput(text)
        let got = try scanLines(path, chunkSize: chunkSize)
        #expect(got.map(\.line) == [1, 2, 5, 6, 10, 12])
        #expect(got.map { $0.fields[0] } == ["h1", "multi\nline", "last", "a\r\nb\r\nc", "end", "final"])
    }

    @Test("every declared delimiter", arguments: [("\t", "a\tb\tc"), (";", "a;b;c"), ("|", "a|b|c"), (",", "a,b,c"), ("whitespace", "  a \t b   c  ")])
    func delimiters(delimiter: String, line: String) throws {
        let d: CSVScanner.Delimiter = delimiter == "whitespace" ? .whitespace : .byte(delimiter.utf8.first!)
        #expect(try scanAll(try writeInput(line + "\n"), delimiter: d) == [["a", "b", "c"]])
    }

    @Test("single-byte delimiters keep the other delimiters as text", arguments: [(UInt8(ascii: ";"), [["a,b", "c|d", "e\tf"], ["", "x;y", ""]]),
                                                                                 (UInt8(ascii: "|"), [["a,b;c", "d"], ["e\tf;", "", "x|y", ""]])])
    func singleByteDelimiters(delimiter: UInt8, expected: [[String]]) throws {
        let text = delimiter == UInt8(ascii: ";") ? "a,b;c|d;e\tf\n;\"x;y\";\n" : "a,b;c|d\ne\tf;||\"x|y\"|\n"
        #expect(try scanAll(try writeInput(text), delimiter: .byte(delimiter)) == expected)
    }

    @Test("whitespace runs split fields, quotes may hold spaces", arguments: chunkSizes)
    func whitespaceDelimiter(chunkSize: Int) throws {
        let text = "id  name\t\tscore \r\n   7 \"Ann Lee\"  3.5\n\n \t \n8\t\"\"\t4\r\n9 x y"
        #expect(try scanAll(try writeInput(text), delimiter: .whitespace, chunkSize: chunkSize)
                == [["id", "name", "score"], ["7", "Ann Lee", "3.5"], ["8", "", "4"], ["9", "x", "y"]])
    }

    @Test("whitespace runs on unquoted text match a split oracle", arguments: chunkSizes)
    func whitespaceMatchesTheOracle(chunkSize: Int) throws {
        var rng = SeededRNG(seed: 99 &+ UInt64(chunkSize))
        let alphabet = ["a", "bc", "1", " ", "  ", "\t", " \t", "\n", "\r\n"]
        let text = (0..<600).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined() + "\n"
        #expect(try scanAll(try writeInput(text), delimiter: .whitespace, chunkSize: chunkSize) == oracleWhitespace(text))
    }

    /// In a file whose lines end in a lone CR, a CRLF inside a quoted field is kept as written and is one line
    /// break: it became two LFs, and every later line number moved by one (Python's csv: lines 2, 4, 6).
    @Test("lone-CR files keep a quoted CRLF", arguments: chunkSizes)
    func loneCRFilesKeepAQuotedCRLF(chunkSize: Int) throws {
        let path = try writeInput("a,b,c\r1,\"x\r\ny\",z\r2,\"p\rq\",r\r3,k,\"last\"\r")
        let scanner = CSVScanner(reader: try GzipReader(path: path), delimiter: .byte(44), chunkSize: chunkSize)
        var values: [String] = [], lines: [Int] = []
        while try scanner.next() == .record {
            values.append(scanner.withFieldBytes(scanner.fields[1]) { String(decoding: $0, as: UTF8.self) })
            lines.append(scanner.recordLine)
        }
        #expect(values == ["b", "x\r\ny", "p\nq", "k"])
        #expect(lines == [1, 2, 4, 6])
    }

    /// A quote never closed costs the lines of its record up to the one where it opened (a malformed record), and
    /// reading goes on: it was a file error, which failed the run (or dropped the file) for one stray quote.
    @Test("an unterminated quote is a malformed record naming where it opened", arguments: chunkSizes)
    func anUnterminatedQuoteNamesWhereItOpened(chunkSize: Int) throws {
        let scanner = CSVScanner(reader: try GzipReader(path: try writeInput("a,b\n1,\"x\n2,3\n")), delimiter: .byte(44), chunkSize: chunkSize)
        #expect(try scanner.next() == .record)
        #expect(try scanner.next() == .malformed("a quoted field opened at 2:3 is never closed (a stray '\"'?); skipped to the end of that line, reading goes on with the next"))
        #expect(scanner.recordLine == 2 && scanner.recordText() == "1,\"x")
        #expect(try scanner.next() == .record)
        #expect(scanner.recordLine == 3 && scanner.recordText() == "2,3")
        #expect(try scanner.next() == .end)
    }

    @Test("an unterminated quote on a continuation line of a record skips the record to that line", arguments: chunkSizes)
    func anUnterminatedQuoteAfterAQuotedNewline(chunkSize: Int) throws {
        let scanner = CSVScanner(reader: try GzipReader(path: try writeInput("h\r\nok,\"two\nlines\",\"open\nmore\n", gzip: true)),
                                 delimiter: .byte(44), chunkSize: chunkSize)
        #expect(try scanner.next() == .record)
        guard case .malformed(let reason) = try scanner.next() else { Issue.record("not malformed"); return }
        #expect(reason.hasPrefix("a quoted field opened at 3:8 is never closed"))
        #expect(scanner.recordLine == 2 && scanner.recordText() == "ok,\"two\nlines\",\"open")
        #expect(try scanner.next() == .record)
        #expect(scanner.recordLine == 4 && scanner.recordText() == "more")
    }

    @Test func anUnterminatedQuoteInTheFirstFieldAfterABOMIsAtColumnOne() throws {
        let scanner = CSVScanner(reader: try GzipReader(path: try writeInput("\u{FEFF}\"abc,d\n")), delimiter: .byte(44))
        guard case .malformed(let reason) = try scanner.next() else { Issue.record("not malformed"); return }
        #expect(reason.hasPrefix("a quoted field opened at 1:1 "))
    }

    @Test func textAfterAClosingQuoteIsAMalformedRecordNotAFatalError() throws {
        let scanner = CSVScanner(reader: try GzipReader(path: try writeInput("\"a\"x,b\nc,d\n")), delimiter: .byte(44))
        #expect(try scanner.next() == .malformed("unexpected text after a closing quote in field 1"))
        #expect(scanner.recordText() == "\"a\"x,b")
        #expect(try scanner.next() == .record)
        #expect(scanner.recordLine == 2)
        #expect(try scanner.next() == .end)
        #expect(try scanner.next() == .end)
    }

    @Test func recordTextIsTheRawRecordWithoutItsLineEnding() throws {
        let scanner = CSVScanner(reader: try GzipReader(path: try writeInput("a,\"b\"\"\nc\"\r\nz\n")), delimiter: .byte(44), chunkSize: 3)
        #expect(try scanner.next() == .record)
        #expect(scanner.recordText() == "a,\"b\"\"\nc\"")
        #expect(scanner.recordText(limit: 3) == "a,\"")
    }

    @Test func anOverlongLineIsSkippedToTheNextNewlineAndReadingGoesOn() throws {
        let path = try writeInput("ok\n" + String(repeating: "x", count: 100) + "\nafter,1\n")
        let scanner = CSVScanner(reader: try GzipReader(path: path), delimiter: .byte(44), chunkSize: 8, maxRecordBytes: 32)
        #expect(try scanner.next() == .record)
        #expect(try scanner.next() == .tooLong(bytes: 101))
        #expect(scanner.recordLine == 2)
        #expect(scanner.recordText(limit: 5) == "xxxxx")
        #expect(try scanner.next() == .record)
        #expect(scanner.recordLine == 3)
        #expect(scanner.recordText() == "after,1")
        #expect(try scanner.next() == .end)
    }

    @Test func anUnclosedQuoteLosesOnlyItsOwnLineWhenTheRecordOverflows() throws {
        // The stray quote would swallow the rest of the file; past the limit, only its first line is dropped.
        var text = "a,\"broken\n"
        for i in 0..<20 { text += "row\(i),v\n" }
        let scanner = CSVScanner(reader: try GzipReader(path: try writeInput(text)), delimiter: .byte(44), chunkSize: 16, maxRecordBytes: 64)
        #expect(try scanner.next() == .tooLong(bytes: 10))
        var rows = 0
        while try scanner.next() == .record { rows += 1 }
        #expect(rows == 20)
    }

    @Test func aLongLineWithinTheLimitIsReadWhole() throws {
        // Geometric refills: a 3 MB line read in 8-byte chunks must still come back as one record.
        let long = String(repeating: "y", count: 3_000_000)
        let scanner = CSVScanner(reader: try GzipReader(path: try writeInput("\(long),z\n")), delimiter: .byte(44), chunkSize: 8)
        #expect(try scanner.next() == .record)
        #expect(scanner.fields.count == 2)
        #expect(scanner.fields[0].end - scanner.fields[0].start == 3_000_000)
    }

    @Test
    func trailingSpaceBeforeAFinalCarriageReturnAddsNoWhitespaceField() throws {
        #expect(try scanAll(try writeInput("a b \r"), delimiter: .whitespace) == [["a", "b"]])
    }
}

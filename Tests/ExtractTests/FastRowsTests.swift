import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

/// The rows typed in C (`FastRows`) are exactly what the general path makes of them: the same table (values,
/// nulls, dictionaries in the same order), rejects, reports and nulled counts, on every defect and on random text.
/// Serialized: the tests switch the C path off and on (other suites only ever see the same results either way).
@Suite(.serialized) struct FastRowsTests {
    typealias Outcome = ChunkedExtractTests.Outcome

    /// The general path alone, then with the C path, whole files on one thread and in chunks on two.
    /// With `keyedBy`, the same again with that column as the source's key (its files' interners then append
    /// without a table, `FileInterner(distinct:)`), against the same general-path outcome without a key.
    static func expectSame(_ spec: SourceSpec, _ files: [String], chunkBytes: [Int] = [7, 100], keyedBy key: String? = nil,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        if let key {
            var keyed = spec
            keyed.key = [key]
            expectSame(keyed, files, chunkBytes: chunkBytes, sourceLocation: sourceLocation)
            FastRows.enabled = false
            let general = ChunkedExtractTests.outcome(spec, files, threads: 1, chunkBytes: nil)
            FastRows.enabled = true
            let fast = ChunkedExtractTests.outcome(keyed, files, threads: 2, chunkBytes: chunkBytes.first)
            #expect(fast == general, "keyed by \(key): \(ChunkedExtractTests.difference(fast, general))", sourceLocation: sourceLocation)
        }
        FastRows.enabled = false
        let general = ChunkedExtractTests.outcome(spec, files, threads: 1, chunkBytes: nil)
        FastRows.enabled = true
        let fast = ChunkedExtractTests.outcome(spec, files, threads: 1, chunkBytes: nil)
        #expect(fast == general, "whole: \(ChunkedExtractTests.difference(fast, general))", sourceLocation: sourceLocation)
        for c in chunkBytes {
            let chunked = ChunkedExtractTests.outcome(spec, files, threads: 2, chunkBytes: c)
            #expect(chunked == general, "chunks of \(c): \(ChunkedExtractTests.difference(chunked, general))", sourceLocation: sourceLocation)
        }
    }

    /// The readers and layout of `text` read as `spec`'s file, and a scanner standing after its header.
    static func prepared(_ spec: SourceSpec, _ text: String) throws -> (FileExtractor, CSVScanner, FileExtractor.Layout, [ColumnReader]) {
        let fx = FileExtractor(source: spec, path: "t.csv")
        let scanner = fx.scanner(chunk: Array(text.utf8), start: .file, softEnd: false)
        let layout = try #require(try fx.layout(scanner))
        return (fx, scanner, layout, fx.makeReaders())
    }

    static let mixed: SourceSpec = {
        var s = SourceSpec(name: "m", files: [], columns: [
            ("s", ColumnDecl(.string)), ("i", ColumnDecl(.int)), ("d", ColumnDecl(.decimal, scale: 2)),
            ("ms", ColumnDecl(.timestamp)), ("l", ColumnDecl(.enum)),
        ])
        s.columns.entries[3].value.formats = ["epoch_ms"]
        s.columns.entries[4].value.lowercase = true
        return s
    }()

    /// Plain lines, and lines whose quoted fields are whole and simple, are taken in C with their values, nulls and
    /// line numbers; it stops before a line with a doubled quote and leaves it (and everything after it) to the
    /// general path.
    @Test func plainLinesAreTypedInCUpToALineThatIsNot() throws {
        let text = "s,i,d,ms,l\nab,-12,3.5,1700000000123,Paid\r\n,7,,NA,x\ncd,+0,-.25,0,PAID\n\"q, r\",1,1,1,\"A\"\r\n"
            + "\"q\"\"\",1,1,1,a\nef,2,2,2,b\n"
        let (fx, scanner, layout, start) = try Self.prepared(Self.mixed, text)
        var readers = start
        let fast = try #require(FastRows(fx, readers: readers, layout: layout))
        var lines: [Int64] = []
        #expect(fast.run(scanner, &readers, &lines, limit: .max) == 4)
        #expect(lines == [2, 3, 4, 5])
        #expect(scanner.recordLine == 5)
        #expect(readers[1].ints == [-12, 7, 0, 1])
        #expect(readers[2].ints == [350, 0, -25, 100])
        #expect(readers[3].ints == [1_700_000_000_123_000, 0, 0, 1000])
        #expect(readers.map(\.nulls) == [[1], [], [1], [1], []])
        #expect(readers[0].interner.finish().values == ["ab", "cd", "q, r"])
        #expect(readers[0].codes == [0, 0, 1, 2])
        #expect(readers[4].interner.finish().values == ["paid", "x", "a"])
        #expect(readers[4].codes == [0, 1, 0, 2])
        // The line with a doubled quote is the general path's; the C path takes nothing until it is past.
        #expect(fast.run(scanner, &readers, &lines, limit: .max) == 0)
        #expect(try scanner.next() == .record)
        #expect(scanner.recordLine == 6)
        #expect(fast.run(scanner, &readers, &lines, limit: .max) == 1)
        #expect(lines.last == 7)
    }

    /// A source with a column the C path does not type (Excel serials, an epoch among several formats) or split by
    /// runs of whitespace reads every row the general way.
    @Test func excelDatesAndWhitespaceKeepTheSourceOnTheGeneralPath() throws {
        for formats in [["excel"], ["iso8601", "epoch_ms"]] {
            var spec = SourceSpec(name: "m", files: [], columns: Self.mixed.columns.entries.map { ($0.key, $0.value) } + [("at", ColumnDecl(.timestamp))])
            spec.columns.entries[5].value.formats = formats
            let (fx, _, layout, readers) = try Self.prepared(spec, "s,i,d,ms,l,at\nab,1,1,1,a,45123.5\n")
            #expect(FastRows(fx, readers: readers, layout: layout) == nil, "\(formats)")
        }
        var positional = Self.mixed
        positional.delimiter = "whitespace"
        let (fx2, _, layout2, readers2) = try Self.prepared(positional, "s i d ms l\nab 1 1 1 a\n")
        #expect(FastRows(fx2, readers: readers2, layout: layout2) == nil)
    }

    /// Dates in ISO 8601 and in patterns of year, month and day digits are typed in C as the general path types
    /// them: valid days, leap days, every invalid month or day, too few or too many digits, timestamps written in
    /// an ISO date column (their date; an invalid time refused; a form only the general path reads left to it),
    /// two-digit years on both sides of the pivot.
    @Test func datesTypeTheSame() throws {
        var spec = SourceSpec(name: "d", files: [], columns: [
            ("s", ColumnDecl(.string)), ("iso", ColumnDecl(.date)), ("eu", ColumnDecl(.date)), ("compact", ColumnDecl(.date)),
            ("short", ColumnDecl(.date)),
        ])
        spec.columns.entries[2].value.formats = ["dd/MM/yyyy"]
        spec.columns.entries[3].value.formats = ["yyyyMMdd"]
        spec.columns.entries[4].value.formats = ["d.M.yy"]
        spec.columns.entries[4].value.onInvalid = .null
        spec.nullValues = ["", "NA"]
        let rows = [
            "a,2026-01-02,02/01/2026,20260102,2.1.26", "b,2024-02-29,29/02/2024,20240229,29.2.24", "c,2023-02-29,29/02/2023,20230229,29.2.23",
            "d,2026-13-01,01/13/2026,20261301,1.13.26", "e,2026-00-10,00/10/2026,20260010,0.10.26", "f,2026-04-31,31/04/2026,20260431,31.4.26",
            "g,2026-1-02,2/01/2026,2026012,02.01.2026", "h,2026-01-02T10:00:00Z,02/01/2026,20260102,1.1.68", "i,NA,,NA,1.1.69",
            "j,0001-01-01,01/01/0001,00010101,31.12.99", "k,9999-12-31,31/12/9999,99991231,1.1.00", "l,2026-01-02x,x02/01/2026,202601020,1..26",
            "m,1969-12-31,31/12/1969,19691231,01.01.70", "n,2026-01-02 23:30:00-05:00,02/01/2026,20260102,1.1.26",
            "o,2026-01-02T25:00:00Z,02/01/2026,20260102,1.1.26", "q,2026-01-02 10:00:00 UTC,02/01/2026,20260102,1.1.26",
        ]
        var text = "s,iso,eu,compact,short\n"
        for (k, r) in rows.enumerated() { text += r + (k % 3 == 0 ? "\r\n" : "\n") + "p\(k),2026-0\(k % 9 + 1)-1\(k % 10),1\(k % 10)/0\(k % 9 + 1)/2025,2025110\(k % 9 + 1),\(k % 28 + 1).\(k % 12 + 1).\(k + 10)\n" }
        let path = try writeInput(text, name: "dates.csv")
        let (fx, _, layout, readers) = try Self.prepared(spec, text)
        #expect(FastRows(fx, readers: readers, layout: layout) != nil, "dates of these formats are typed in C")
        Self.expectSame(spec, [path], chunkBytes: [9, 64])
        let r = try Extractor.extract(spec, files: [path], threads: 1)
        let sColumn = try #require(r.table["s"])
        let kept = (0..<sColumn.count).map { sColumn.string(at: $0) ?? "" }
        #expect(kept == ["a", "p0", "b", "p1", "p2", "p3", "p4", "p5", "p6", "h", "p7", "i", "p8", "j", "p9", "k", "p10", "p11", "m", "p12",
                         "n", "p13", "p14", "q", "p15"])
        #expect(r.rejects.count == 7)
        let iso = try #require(r.table["iso"])
        #expect(iso.int64Values.first == CivilDate(year: 2026, month: 1, day: 2).daysSinceEpoch)
        // The timestamp written in the ISO date column gives its date (the general path's reading).
        let h = try #require(r.table["s"].flatMap { s in (0..<s.count).first { s.string(at: $0) == "h" } })
        #expect(iso.int64(at: h) == CivilDate(year: 2026, month: 1, day: 2).daysSinceEpoch)
    }

    /// Timestamps in patterns (digits, fractions, written offsets, literal text, month and weekday names, 12-hour
    /// clocks), ISO 8601 without an offset or with one after a space, several formats tried in order, and dates in
    /// patterns with a time or names, are typed in C as the general path types them, in UTC, a fixed offset and
    /// zones with daylight saving time: every quarter hour through the hours skipped and repeated in Berlin, New
    /// York and Lord Howe (a half-hour change), years outside the zone table, every field out of range.
    @Test func timestampPatternsTypeTheSame() throws {
        var spec = SourceSpec(name: "t", files: [], columns: [
            ("s", ColumnDecl(.string)), ("a", ColumnDecl(.timestamp)), ("b", ColumnDecl(.timestamp)), ("c", ColumnDecl(.timestamp)),
            ("d", ColumnDecl(.timestamp)), ("e", ColumnDecl(.timestamp)), ("iso", ColumnDecl(.timestamp)), ("day", ColumnDecl(.date)),
            ("us", ColumnDecl(.timestamp)), ("long", ColumnDecl(.date)),
        ])
        let formats = [["yyyy-MM-dd HH:mm:ss"], ["dd.MM.yyyy HH:mm"], ["yyyy-MM-dd'T'HH:mm:ss.SSSXXX"], ["yyyyMMddHHmmss"], ["d/M/yy H:mm:ss.SSSSSSSSS"],
                       ["iso8601"], ["yyyy-MM-dd HH:mm"], ["MM/dd/yyyy hh:mm:ss a", "EEE, dd MMM yyyy HH:mm:ss XXX", "iso8601"],
                       ["dd MMMM yyyy", "EEEE d MMM yy", "iso8601"]]
        for (k, f) in formats.enumerated() {
            spec.columns.entries[k + 1].value.formats = f
            if k % 2 == 1 { spec.columns.entries[k + 1].value.onInvalid = .null }
        }
        let months = ["Jan", "FEBRUARY", "mar", "April", "May", "jun", "July", "Aug", "September", "oct", "Nov", "December"]
        let weekdays = ["Mon", "tuesday", "WED", "Thursday", "fri", "Sat", "Sunday"]
        spec.nullValues = ["", "NA"]
        func pad(_ v: Int, _ w: Int = 2) -> String { String(repeating: "0", count: max(0, w - String(v).count)) + String(v) }
        func row(_ name: String, _ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ sec: Int, offset: String = "+01:00") -> String {
            let date = "\(pad(y, 4))-\(pad(mo))-\(pad(d))", time = "\(pad(h)):\(pad(mi)):\(pad(sec))"
            return [name, "\(date) \(time)", "\(pad(d)).\(pad(mo)).\(pad(y, 4)) \(pad(h)):\(pad(mi))", "\(date)T\(time).123\(offset)",
                    "\(pad(y, 4))\(pad(mo))\(pad(d))\(pad(h))\(pad(mi))\(pad(sec))", "\(d)/\(mo)/\(pad(y % 100)) \(h):\(pad(mi)):\(pad(sec)).123456789",
                    "\(date)T\(time)", "\(date) \(pad(h)):\(pad(mi))", us(y, mo, d, h, mi, sec, offset), long(y, mo, d)].joined(separator: ",")
        }
        // 12-hour clocks, names and ISO 8601 with a space before its offset (Shopify), in turn.
        var turn = 0
        func us(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ sec: Int, _ offset: String) -> String {
            turn += 1
            let h12 = h % 12 == 0 ? 12 : h % 12, ap = [h < 12 ? "AM" : "PM", h < 12 ? "a.m." : "p.m.", h < 12 ? "am" : "Pm"][turn % 3]
            switch turn % 4 {
            case 0: return "\(pad(mo))/\(pad(d))/\(pad(y, 4)) \(pad(h12)):\(pad(mi)):\(pad(sec)) \(ap)"
            case 1: return "\(weekdays[turn % 7]), \(pad(d)) \(months[(mo + 11) % 12].prefix(3)) \(pad(y, 4)) \(pad(h)):\(pad(mi)):\(pad(sec)) \(offset)"
            case 2: return "\(pad(y, 4))-\(pad(mo))-\(pad(d)) \(pad(h)):\(pad(mi)):\(pad(sec)) \(offset.replacingOccurrences(of: ":", with: ""))"
            default: return "\(pad(y, 4))-\(pad(mo))-\(pad(d)) \(pad(h)):\(pad(mi)):\(pad(sec))\(turn % 8 == 3 ? " UTC" : "")"
            }
        }
        func long(_ y: Int, _ mo: Int, _ d: Int) -> String {
            switch turn % 3 {
            case 0: return "\(pad(d)) \(months[(mo + 11) % 12]) \(pad(y, 4))"
            case 1: return "\(weekdays[(turn + 2) % 7]) \(d) \(months[(mo + 11) % 12].prefix(3)) \(pad(y % 100))"
            default: return "\(pad(y, 4))-\(pad(mo))-\(pad(d))"
            }
        }
        var rows: [String] = []
        // Every quarter hour (and the seconds around each hour) through the days clocks change in the three zones.
        for (y, mo, d) in [(2026, 3, 29), (2026, 10, 25), (2026, 3, 8), (2026, 11, 1), (2026, 4, 5), (2026, 10, 4)] {
            for q in 0..<(5 * 4) { rows.append(row("z\(mo)-\(d)-\(q)", y, mo, d, q / 4, q % 4 * 15, q % 3 == 0 ? 59 : 0)) }
        }
        rows += [row("old", 1850, 6, 1, 12, 0, 0), row("far", 2150, 6, 1, 12, 0, 0), row("leap", 2024, 2, 29, 23, 59, 60),
                 row("utc", 2026, 7, 1, 0, 0, 0, offset: "Z"), row("ist", 2026, 7, 1, 0, 0, 0, offset: "+0530"), row("h", 2026, 7, 1, 0, 0, 0, offset: "-05"),
                 row("h24", 2026, 7, 1, 24, 0, 0), row("m60", 2026, 7, 1, 23, 60, 0), row("s61", 2026, 7, 1, 23, 59, 61), row("feb", 2023, 2, 29, 1, 0, 0),
                 row("mon", 2026, 13, 1, 1, 0, 0), row("off", 2026, 7, 1, 0, 0, 0, offset: "+19:00"), row("offm", 2026, 7, 1, 0, 0, 0, offset: "+01:60"),
                 "short,2026-07-01 1:00:00,1.7.2026 01:00,2026-07-01T01:00:00.12+01:00,202607010100,1/7/26 1:00:00.12345678,2026-07-01T01:00,2026-07-01 1:00,"
                    + "7/1/2026 1:00:00 AM,1 Jul 2026",
                 "junk,2026-07-01 01:00:00x,01.07.2026 01:00 ,2026-07-01T01:00:00.123+01:00x,2026070101000,1/7/2026 1:00:00.123456789,2026-07-01T01:00:00Z,2026-07-01,"
                    + "07/01/2026 13:00:00 PM,31 Jun 2026",
                 "names,2026-07-01 01:00:00,01.07.2026 01:00,2026-07-01T01:00:00.123+01:00,20260701010000,1/7/26 1:00:00.123456789,2026-07-01T01:00:00Z,2026-07-01,"
                    + "Wdn, 01 Jul 2026 01:00:00 Z,01 Jully 2026",
                 "nulls,NA,,NA,,NA,,NA,,NA"]
        var text = "s,a,b,c,d,e,iso,day,us,long\n"
        for (k, r) in rows.enumerated() { text += r + (k % 4 == 0 ? "\r\n" : "\n") }
        let path = try writeInput(text, name: "stamps.csv")
        for zone in ["UTC", "+05:30", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"] {
            var zoned = spec
            zoned.timezone = zone
            let (fx, _, layout, readers) = try Self.prepared(zoned, text)
            #expect(FastRows(fx, readers: readers, layout: layout) != nil, "\(zone): these formats are typed in C")
            Self.expectSame(zoned, [path], chunkBytes: [13, 200])
        }
        // In Berlin, summer lines are typed in C (a 12-hour clock, names, ` UTC` after the time); the hour skipped in
        // March is left to the general path.
        spec.timezone = "Europe/Berlin"
        let summer = "s,a,b,c,d,e,iso,day,us,long\n"
            + "x,2026-07-01 09:00:00,01.07.2026 09:00,2026-07-01T09:00:00.500Z,20260701090000,1/7/26 9:00:00.000000001,2026-07-01T09:00,2026-07-01 09:00,07/01/2026 09:00:00 AM,01 July 2026\n"
            + "y,2026-07-01 10:30:00,01.07.2026 10:30,2026-07-01T10:30:00.500Z,20260701103000,1/7/26 10:30:00.000000001,2026-07-01T10:30,2026-07-01 10:30,\"Wed, 01 Jul 2026 10:30:00 Z\",Wednesday 1 Jul 26\n"
            + "z,2026-07-01 11:00:00,01.07.2026 11:00,2026-07-01T11:00:00.500Z,20260701110000,1/7/26 11:00:00.000000001,2026-07-01T11:00,2026-07-01 11:00,2026-07-01 11:00:00 UTC,2026-07-01\n"
            + "gap,2026-03-29 02:30:00,29.03.2026 02:30,2026-03-29T02:30:00.500Z,20260329023000,29/3/26 2:30:00.000000001,2026-03-29T02:30,2026-03-29 02:30,03/29/2026 02:30:00 AM,29 March 2026\n"
        let (fx, scanner, layout, start) = try Self.prepared(spec, summer)
        var readers = start
        let fast = try #require(FastRows(fx, readers: readers, layout: layout))
        var lines: [Int64] = []
        #expect(fast.run(scanner, &readers, &lines, limit: .max) == 3)
        #expect(readers[1].ints == [1_782_889_200_000_000, 1_782_894_600_000_000, 1_782_896_400_000_000], "09:00, 10:30 and 11:00 CEST")
        #expect(readers[8].ints == [1_782_889_200_000_000, 1_782_901_800_000_000, 1_782_903_600_000_000], "09:00 AM CEST, 10:30 Z, 11:00 UTC")
        #expect(fast.run(scanner, &readers, &lines, limit: .max) == 0)
    }

    /// `strip` texts, declared bool words and number formats (a decimal comma with dot grouping, a dot with comma
    /// grouping, a two-byte grouping space) are typed in C as the general path types them: misplaced separators,
    /// a dot that is neither mark, texts at both ends and repeated, words in any case and near misses.
    @Test func stripWordsAndNumberFormatsTypeTheSame() throws {
        var spec = SourceSpec(name: "n", files: [], columns: [
            ("s", ColumnDecl(.string)), ("amt", ColumnDecl(.decimal, scale: 2)), ("qty", ColumnDecl(.int)), ("x", ColumnDecl(.double)),
            ("flag", ColumnDecl(.bool)), ("b", ColumnDecl(.bool)), ("low", ColumnDecl(.string)),
        ])
        spec.columns.entries[0].value.strip = ["$", "EUR"]
        spec.columns.entries[1].value.strip = ["€", "EUR"]
        spec.columns.entries[3].value.strip = ["%"]
        spec.columns.entries[3].value.onInvalid = .null
        spec.columns.entries[4].value.trueValues = ["ja", "J"]
        spec.columns.entries[4].value.falseValues = ["Nein", "n"]
        spec.columns.entries[6].value.lowercase = true
        spec.columns.entries[6].value.strip = ["*"]
        spec.nullValues = ["", "NA"]
        spec.delimiter = ";"
        let amounts = ["1.234,50 €", "€ 12,5", "12,50EUR", "1.234.567,89", "1234,5", "12.34", "1.23,4", ",5", "-1.000", "+1.000,00", "1.000.00",
                       "  € 1.000  ", "€€5", "5€ €", "€", "NA", "1 234,5", "1\u{A0}234,5", "1,234.5", "12,345", "0,001", "1.2345.678,5"]
        let quantities = ["1.000", "1.000,00", "12", "-3", "1.0000", "12,0", "1,5", "9.223.372.036.854.775.807", "007", "1.0000.000"]
        let doubles = ["1,5e3", "1.000,5", "12,5 %", "%7", "-0,0", "1.5", "inf", "1,5,5"]
        let words = ["ja", "JA", "Ja", "nein", "NEIN", "jA", "yes", "", "j", "N", "nein ", "ÄJA"]
        let bools = ["true", "No", "1", "ja"]
        let texts = ["$ A", "B $", "EUR", "$$", "x EUR y", "NA", "$NA$", "€ c"]
        var text = "s;amt;qty;x;flag;b;low\n"
        for k in 0..<40 {
            text += "\(texts[k % texts.count]);\(amounts[k % amounts.count]);\(quantities[k % quantities.count]);\(doubles[k % doubles.count]);"
                + "\(words[k % words.count]);\(bools[k % bools.count]);*Mixed \(k)*\n"
            text += "p\(k);\(k).\(100 + k),25 €;\(k + 1);\(k),5;ja;true;P\(k)\n"
        }
        let path = try writeInput(text, name: "numbers.csv")
        for (decimal, thousands) in [(",", "."), (".", ","), (",", "\u{A0}"), (",", nil as String?)] {
            var variant = spec
            variant.decimalSeparator = decimal
            variant.thousandsSeparator = thousands
            let (fx, _, layout, readers) = try Self.prepared(variant, text)
            #expect(FastRows(fx, readers: readers, layout: layout) != nil, "\(decimal) \(thousands ?? "none")")
            Self.expectSame(variant, [path], chunkBytes: [17, 256])
        }
        // The plain lines are typed in C, with their values.
        spec.decimalSeparator = ","
        spec.thousandsSeparator = "."
        let plain = "s;amt;qty;x;flag;b;low\n$ a;1.234,50 €;1.000;2,5 %;JA;no;*B*\nb EUR;€ 0,5;7;-1,25;nein;Y;c\n"
        let (fx, scanner, layout, start) = try Self.prepared(spec, plain)
        var readers = start
        let fast = try #require(FastRows(fx, readers: readers, layout: layout))
        var lines: [Int64] = []
        #expect(fast.run(scanner, &readers, &lines, limit: .max) == 2)
        #expect(readers[0].interner.finish().values == ["a", "b"])
        #expect(readers[1].ints == [123_450, 50])
        #expect(readers[2].ints == [1000, 7])
        #expect(readers[3].doubles == [2.5, -1.25])
        #expect(readers[4].ints == [1, 0])
        #expect(readers[5].ints == [0, 1])
        #expect(readers[6].interner.finish().values == ["b", "c"])
    }

    /// Doubles (the C library's `strtod` over the whole field, as the general path calls it) and booleans (the
    /// built-in words) are typed in C as the general path types them, at their edges: exponents, infinities and
    /// NaN (refused), hexadecimal floats, leading and trailing spaces, 63 and 64 bytes, `divide_by`, every word in
    /// any case and near misses.
    @Test func doublesAndBoolsTypeTheSame() throws {
        var spec = SourceSpec(name: "n", files: [], columns: [
            ("s", ColumnDecl(.string)), ("x", ColumnDecl(.double)), ("y", ColumnDecl(.double)), ("b", ColumnDecl(.bool)),
        ])
        spec.columns.entries[2].value.divideBy = 100
        spec.columns.entries[2].value.onInvalid = .null
        spec.nullValues = ["", "NA"]
        let doubles = ["1.5", "-0", "1e308", "1e309", "-1e-320", "nan", "inf", "0x1p3", " 1.5", "1.5 ", "+.5", ".", "1,5", "1e", "12345678901234567890",
                       "0." + String(repeating: "1", count: 61), "0." + String(repeating: "1", count: 62), "NA", "", "2.5e-3", "-.0e+0"]
        let bools = ["true", "TRUE", "Yes", "1", "t", "Y", "false", "NO", "0", "F", "n", "tru", "yess", "2", "", "NA", "True ", "oui", "fALSE"]
        var text = "s,x,y,b\n"
        for k in 0..<max(doubles.count, bools.count) {
            let x = doubles[k % doubles.count], y = doubles[(k * 7) % doubles.count], b = bools[k % bools.count]
            text += "r\(k),\(x),\(y),\(b)\n" + "p\(k),\(k).25,\(k * 3),\(k % 2 == 0 ? "yes" : "no")\n"
        }
        let path = try writeInput(text, name: "numbers.csv")
        let (fx, _, layout, readers) = try Self.prepared(spec, text)
        #expect(FastRows(fx, readers: readers, layout: layout) != nil, "doubles and built-in bools are typed in C")
        Self.expectSame(spec, [path], chunkBytes: [11, 64])
        let r = try Extractor.extract(spec, files: [path], threads: 1)
        let sColumn = try #require(r.table["s"]), x = try #require(r.table["x"]), y = try #require(r.table["y"]), b = try #require(r.table["b"])
        let row = { (name: String) in (0..<sColumn.count).first { sColumn.string(at: $0) == name } }
        #expect(try x.double(at: #require(row("p3"))) == 3.25)
        #expect(try y.double(at: #require(row("p3"))) == 0.09)
        #expect(try x.double(at: #require(row("r7"))) == 8)
        #expect(try b.int64(at: #require(row("r1"))) == 1)
        #expect(row("r3") == nil, "1e309 is not finite")
        #expect(!r.rejects.isEmpty)
    }

    /// Every kind of value the C path types, at and past its edges (signs, 18 and 19 digits, overflow, decimals
    /// beyond the scale, epoch units, nulls, trimming, case, bytes that are not UTF-8 or are NUL), and every kind of
    /// line it leaves to the general path (quotes, comments, blank lines, the header again, field counts, too long).
    @Test func everyKindOfValueTypesTheSame() throws {
        var spec = SourceSpec(name: "e", files: [], columns: [
            ("s", ColumnDecl(.string)), ("low", ColumnDecl(.string)), ("up", ColumnDecl(.enum)), ("i", ColumnDecl(.int)),
            ("d", ColumnDecl(.decimal, scale: 2)), ("ms", ColumnDecl(.timestamp)), ("ns", ColumnDecl(.timestamp)),
            ("sec", ColumnDecl(.timestamp)), ("t", ColumnDecl(.string)), ("cents", ColumnDecl(.decimal, scale: 2)),
            ("at", ColumnDecl(.timestamp)),
        ])
        spec.columns.entries[1].value.lowercase = true
        spec.columns.entries[2].value.uppercase = true
        spec.columns.entries[5].value.formats = ["epoch_ms"]
        spec.columns.entries[6].value.formats = ["epoch_ns"]
        spec.columns.entries[7].value.formats = ["epoch_s"]
        spec.columns.entries[8].value.trim = true
        spec.columns.entries[9].value.divideBy = 100
        spec.columns.entries[4].value.onInvalid = .null
        spec.comment = "//"
        spec.maxLineBytes = 160
        spec.maxFieldBytes = 30
        spec.nullValues = ["", "NA", "-"]
        let header = "s,low,up,i,d,ms,ns,sec,t,cents,at"
        let values: [[String]] = [
            ["a", "b", "c", "0", "0", "0", "0", "0", "x", "0", "2026-01-02T03:04:05Z"],
            ["Hello", "MiXeD Case", "mixed case", "-9223372036854775808", "1.999", "9223372036854775807", "-1", "1.5", " spaced\t", "12",
             "2026-01-02T03:04:05.1234567+09:00"],
            ["é", "ÀÉ", "straße", "999999999999999999", "1.10", "9223372036854775", "-999", "9223372036854", "\t", "-7", "2024-02-29 23:59:60.5-0500"],
            ["NA", "-", "", "+5", "-0.5", "-1000", "-1000", "-1", " NA ", "0.5", "2026-01-02T03:04:05"],
            ["\u{1}", "a", "b", "1", "1", "1", "1", "1", "t", "1", "2026-02-29T00:00:00Z"],
            ["dup", "dup", "dup", "1000000000000000000", "12345678901234567.8", "1e3", "12", "-9223372036855", "y", "1.5", "2026-01-02 03:04:05 UTC"],
            ["z", "z", "z", "1_000", "1.2.3", "", "+", "0x10", "", "", "2026-01-02T24:00:00Z"],
            ["w", "w", "w", "--1", ".", "-", "1.0", " 1", "w", "99999999999999999", "2026-01-02T03:04+19:00"],
            ["v", "v", "v", "1", "1", "1", "1", "1", "v", "1", "2026-01-02t03:04z"],
            ["u", "u", "u", "1", "1", "1", "1", "1", "u", "1", "2026-01-02Z"],
            ["r", "r", "r", "1", "1", "1", "1", "1", "r", "1", "2026-01-02T03:04:05+02"],
            ["q", "q", "q", "1", "1", "1", "1", "1", "q", "1", "2026-01-02T03:04:05.+02:00"],
            ["o", "o", "o", "1", "1", "1", "1", "1", "o", "1", "2026-01-02T03:04:05-02:60"],
            ["n", "n", "n", "1", "1", "1", "1", "1", "n", "1", "2026-01-02 03:04:05 -0500"],
            ["k", "k", "k", "1", "1", "1", "1", "1", "k", "1", "2026-13-02T03:04:05Z"],
            ["j", "j", "j", "1", "1", "1", "1", "1", "j", "1", "2026-06-30T12:00:00+0530x"],
            ["h", "h", "h", "1", "1", "1", "1", "1", "h", "1", "2026-01-02T24:00:00Z"],
            ["g", "g", "g", "1", "1", "1", "1", "1", "g", "1", "2026-01-02T23:59:61Z"],
        ]
        var text = header + "\n"
        for (k, v) in values.enumerated() {
            text += v.joined(separator: ",") + (k % 2 == 0 ? "\n" : "\r\n")
            text += "plain\(k),P\(k),p\(k),\(k),\(k).5,\(k),\(k),\(k), t\(k) ,\(k),2026-0\(k % 9 + 1)-1\(k % 10)T1\(k % 10):00:00+01:00\n"
        }
        let at = ",2026-01-01T00:00:00Z"
        text += "\"quoted\",q,q,1,1,1,1,1,q,1\(at)\n// a comment, with a comma\n/ not a comment,a,a,1,1,1,1,1,a,1\(at)\n\n\r\n"
        text += header + "\n" + "s,low,up,i,d,ms,ns,sec\n" + "a,b,c,1,1,1,1,1,t,1\(at),extra\n"
        text += "long," + String(repeating: "L", count: 40) + ",c,1,1,1,1,1,t,1\(at)\n"
        text += "wide," + Array(repeating: String(repeating: "W", count: 25), count: 10).joined(separator: ",") + "\n"
        text += "mid\"quote,a,a,1,1,1,1,1,a,1\(at)\n"
        // Quoted fields: whole and simple (taken in C), and every other kind (left to the general path).
        text += "\"a,b\",\"\",\"NA\",\"1\",\"2.5\",1,1,1,\" t \",1,\"2026-01-01T00:00:00Z\"\r\n"
        text += "\"dq\"\"\",a,a,1,1,1,1,1,a,1\(at)\n\"after\"x,a,a,1,1,1,1,1,a,1\(at)\n\"open,a,a,1,1,1,1,1,a,1\(at)\nnext\",a\n"
        text += "\"\"\"\",a,a,1,1,1,1,1,a,1\(at)\n \"sp\",a,a,1,1,1,1,1,a,1\(at)\n\"x\" ,a,a,1,1,1,1,1,a,1\(at)\n"
        text += "q,a,a,1,1,1,1,1,\"a\r\",1\(at)\n\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\"\n"
        text += "last,a,a,1,1,1,1,1,a,1\(at)"
        var bytes = Array(text.utf8)
        // Bytes that are not UTF-8 and a NUL byte, in text fields.
        bytes += Array("\nbad,".utf8) + [0xC3, 0x28] + Array(",a,1,1,1,1,1,a,1\(at)\nnul,a".utf8) + [0] + Array(",a,1,1,1,1,1,a,1\(at)\n".utf8)
        let path = try writeBytes(bytes, name: "e.csv")
        Self.expectSame(spec, [path], chunkBytes: [5, 64, 333], keyedBy: "s")
        Self.expectSame(spec, [path], chunkBytes: [64], keyedBy: "t")
        // Timestamps without an offset: typed in C in a fixed-offset zone, left to the general path in one with DST.
        for zone in ["+05:30", "Europe/Berlin"] {
            var zoned = spec
            zoned.timezone = zone
            Self.expectSame(zoned, [path], chunkBytes: [64])
        }
        let r = try Extractor.extract(spec, files: [path], threads: 1)
        // The row with 9223372036854775 ms and 9223372036854 s (years past 9999) is rejected as well, and the row of
        // empty quoted fields only is skipped as a blank line; `"x" ,a,...` is kept (a blank after a quote is padding).
        #expect(r.table.rowCount == 33)
        #expect(Set(r.rejects.map(\.rule)) == ["parse", "field_count", "field_size", "line_size", "encoding"])
        // Positional columns (no header): any field count above the highest one read.
        spec.header = false
        spec.maxLineBytes = 1 << 20
        spec.maxFieldBytes = 1 << 20
        let positional = try writeInput("a,b,c,1,1,1,1,1,t,1\(at)\na,b,c,2,2,2,2,2,t,2\(at),more,fields\na,b\n", name: "p.csv")
        Self.expectSame(spec, [positional])
        // A declared column missing from the header is null in every row.
        var missing = spec
        missing.header = true
        missing.missingColumns = .null
        let noCents = try writeInput(header.replacingOccurrences(of: ",cents", with: "") + "\na,b,c,1,1,1,1,1,t\(at)\n", name: "m.csv")
        Self.expectSame(missing, [noCents])
    }

    /// Every file of the defect corpus, under both file-error policies.
    @Test func theDefectCorpusReadsTheSame() {
        for file in ChunkedExtractTests.corpusFiles {
            for policy in [SourceSpec.FileErrorPolicy.fail, .quarantineFile] {
                Self.expectSame(ChunkedExtractTests.corpusOrders(file, policy: policy), [file], chunkBytes: [64])
            }
        }
    }

    /// Valid dates, timestamps, numbers and words with one byte replaced, dropped or added at random, under
    /// columns of several formats each, a number format, `strip` and declared words, in a zone with daylight saving
    /// time: the C path and the general path read them alike (near misses are where two parsers part).
    @Test func nearlyValidValuesReadTheSame() throws {
        var spec = SourceSpec(name: "v", files: [], columns: [
            ("s", ColumnDecl(.string)), ("at", ColumnDecl(.timestamp)), ("day", ColumnDecl(.date)), ("amt", ColumnDecl(.decimal, scale: 2)),
            ("ok", ColumnDecl(.bool)), ("x", ColumnDecl(.double)),
        ])
        spec.columns.entries[1].value.formats = ["dd.MM.yyyy HH:mm", "MMM d, yyyy h:mm:ss a", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "iso8601"]
        spec.columns.entries[2].value.formats = ["d/M/yy", "EEEE, dd MMMM yyyy", "iso8601"]
        spec.columns.entries[2].value.onInvalid = .null
        spec.columns.entries[3].value.strip = ["€"]
        spec.columns.entries[4].value.trueValues = ["ja"]
        spec.columns.entries[4].value.falseValues = ["nein"]
        spec.columns.entries[5].value.onInvalid = .null
        spec.delimiter = ";"
        spec.decimalSeparator = ","
        spec.thousandsSeparator = "."
        spec.timezone = "Europe/Berlin"
        spec.nullValues = ["", "NA"]
        let valid: [[String]] = [
            ["a", "b"],
            ["29.03.2026 02:30", "Mar 29, 2026 1:59:59 AM", "Oct 25, 2026 2:30:00 a.m.", "2026-10-25T02:30:00.123+02:00", "2026-03-29T03:00:00",
             "31.12.1999 23:59", "Feb 29, 2024 12:00:00 PM", "2026-07-01 10:00:00 -0500", "2026-07-01 10:00:00 UTC", "01.01.1850 00:00"],
            ["1/2/26", "31/12/99", "Monday, 29 June 2026", "2026-06-29", "2026-06-29T10:00:00Z", "29/2/24"],
            ["1.234,50 €", "€ 0,5", "-12,00", "1.000.000", "7"],
            ["ja", "NEIN", "Ja", "nein"],
            ["1,5", "-0,25", "1.000,5", "2e3", "NA"],
        ]
        let noise: [UInt8] = Array("0123456789.,:;-/+ TZaApPmM€\"".utf8) + [0xC3]
        var rng = SeededRNG(seed: 5)
        let dir = try makeTemporaryDirectory("nearly")
        for round in 0..<60 {
            var bytes = Array("s;at;day;amt;ok;x\n".utf8)
            for line in 0..<40 {
                var fields: [[UInt8]] = valid.map { Array($0.randomElement(using: &rng)!.utf8) }
                // Most lines have one field bent a little; some are left valid.
                if line % 4 != 0 {
                    let c = Int.random(in: 1..<fields.count, using: &rng)
                    var f = fields[c]
                    let at = Int.random(in: 0...f.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0 where at < f.count: f[at] = noise.randomElement(using: &rng)!
                    case 1 where at < f.count: f.remove(at: at)
                    default: f.insert(noise.randomElement(using: &rng)!, at: at)
                    }
                    fields[c] = f
                }
                bytes += Array(fields.joined(separator: [UInt8(ascii: ";")])) + [0x0A]
            }
            let path = try writeBytes(bytes, name: "v\(round).csv", dir: dir)
            Self.expectSame(spec, [path], chunkBytes: [97])
        }
    }

    /// Random lines over the bytes that matter to the C path (delimiters, quotes, CR, LF, signs, dots, digits,
    /// letters of both cases, spaces, a comment byte, a byte that is not UTF-8), under columns of every kind it types.
    @Test func randomTextReadsTheSame() throws {
        let alphabet: [UInt8] = Array("aB1-+.0999,\"\n\r #NN\\".utf8) + [0xFF, 0xC3, 0xA9]
        var spec = SourceSpec(name: "r", files: [], columns: [
            ("a", ColumnDecl(.string)), ("b", ColumnDecl(.int)), ("c", ColumnDecl(.decimal, scale: 1)),
            ("d", ColumnDecl(.timestamp)), ("e", ColumnDecl(.string)),
        ])
        spec.columns.entries[1].value.onInvalid = .null
        spec.columns.entries[3].value.formats = ["epoch_ms"]
        spec.columns.entries[4].value.lowercase = true
        spec.columns.entries[4].value.trim = true
        spec.nullValues = ["", "N"]
        spec.maxLineBytes = 30
        spec.maxFieldBytes = 8
        spec.comment = "#"
        var rng = SeededRNG(seed: 11)
        let dir = try makeTemporaryDirectory("fastrows")
        for seed in 0..<150 {
            spec.header = seed % 3 != 0
            spec.escape = seed % 5 == 0 ? "\\" : nil
            // Lines of mostly five fields of a few bytes each, so most are plain and typed in C with odd values.
            var body: [UInt8] = spec.header ? Array("a,b,c,d,e\n".utf8) : []
            for _ in 0..<Int.random(in: 0...60, using: &rng) {
                let fields = [4, 5, 5, 5, 5, 6].randomElement(using: &rng)!
                for f in 0..<fields {
                    if f > 0 { body.append(UInt8(ascii: ",")) }
                    // A field in quotes now and then (mostly whole and simple; the alphabet adds the odd case).
                    let quoted = Int.random(in: 0..<4, using: &rng) == 0
                    if quoted { body.append(UInt8(ascii: "\"")) }
                    for _ in 0..<Int.random(in: 0...5, using: &rng) { body.append(alphabet.randomElement(using: &rng)!) }
                    if quoted { body.append(UInt8(ascii: "\"")) }
                }
                body += Bool.random(using: &rng) ? [0x0A] : [0x0D, 0x0A]
            }
            let path = try writeBytes(body, name: "r\(seed).csv", dir: dir)
            Self.expectSame(spec, [path], chunkBytes: [16], keyedBy: seed % 2 == 0 ? "a" : "e")
        }
    }
}

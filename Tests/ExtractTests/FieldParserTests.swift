import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

struct FieldParserTests {
    func p<T>(_ s: String, _ f: (UnsafeBufferPointer<UInt8>) -> T) -> T { Array(s.utf8).withUnsafeBufferPointer(f) }
    func bytes<T>(_ b: [UInt8], _ f: (UnsafeBufferPointer<UInt8>) -> T) -> T { b.withUnsafeBufferPointer(f) }
    static let h = 3600 * microsPerSecond
    static func micros(_ y: Int, _ m: Int, _ d: Int, _ hh: Int64 = 0, _ mi: Int64 = 0, _ ss: Int64 = 0) -> Int64 {
        CivilDate(year: y, month: m, day: d).daysSinceEpoch * microsPerDay + (hh * 3600 + mi * 60 + ss) * microsPerSecond
    }

    @Test func integersCheckOverflow() {
        #expect(p("-42") { parseInt64($0) } == -42)
        #expect(p("+7") { parseInt64($0) } == 7)
        #expect(p("007") { parseInt64($0) } == 7)
        #expect(p("9223372036854775807") { parseInt64($0) } == Int64.max)
        #expect(p("9223372036854775808") { parseInt64($0) } == nil)
        #expect(p("-9223372036854775808") { parseInt64($0) } == Int64.min)
        #expect(p("-9223372036854775809") { parseInt64($0) } == nil)
        #expect(p("99999999999999999999999") { parseInt64($0) } == nil)
        for bad in ["1x", "", "-", "+", "1.0", " 1", "1 ", "1e3", "--1"] { #expect(p(bad) { parseInt64($0) } == nil, "\(bad)") }
    }

    @Test("decimals parse to exact fixed point", arguments: [
        ("12.5", 1250), ("-0.05", -5), ("7", 700), ("1.230", 123), ("+1.5", 150), ("1.", 100), (".5", 50), ("0.10", 10), ("-12.34", -1234),
    ] as [(String, Int64)])
    func decimalsAreExactFixedPoint(text: String, expected: Int64) {
        #expect(p(text) { parseDecimal($0, scale: 2) } == expected)
    }

    @Test func decimalsRejectExtraPlacesCommasAndJunk() {
        for bad in ["1.234", "12,50", "", ".", "-", "1.2.3", "1e2", " 1", "abc", "1.2301", "99999999999999999.99"] {
            #expect(p(bad) { parseDecimal($0, scale: 2) } == nil, "\(bad)")
        }
        #expect(p("3") { parseDecimal($0, scale: 0) } == 3)
        #expect(p("3.0") { parseDecimal($0, scale: 0) } == 3)
        #expect(p("3.5") { parseDecimal($0, scale: 0) } == nil)
        #expect(p("1.2345") { parseDecimal($0, scale: 4) } == 12345)
    }

    @Test func tenDimesSumToExactlyOne() {
        let dime = p("0.10") { parseDecimal($0, scale: 2) }!
        #expect((0..<10).reduce(Int64(0)) { s, _ in s + dime } == 100)
    }

    @Test func booleansAndDoubles() {
        for t in ["true", "TRUE", "True", "yes", "YES", "1", "t", "T", "y", "Y"] { #expect(p(t) { parseBool($0) } == 1, "\(t)") }
        for f in ["false", "FALSE", "No", "no", "0", "f", "F", "n", "N"] { #expect(p(f) { parseBool($0) } == 0, "\(f)") }
        for bad in ["maybe", "", "tru", "yess", "2", "on", "off", "truex", " true"] { #expect(p(bad) { parseBool($0) } == nil, "\(bad)") }
        #expect(p("1.5e3") { parseDouble($0) } == 1500)
        #expect(p("-0.25") { parseDouble($0) } == -0.25)
        #expect(p("nan") { parseDouble($0) } == nil)
        #expect(p("inf") { parseDouble($0) } == nil)
        #expect(p("1e999") { parseDouble($0) } == nil)
        #expect(p("1.5x") { parseDouble($0) } == nil)
        #expect(p("") { parseDouble($0) } == nil)
    }

    @Test func integersWrittenWithAZeroFraction() {
        for (text, v) in [("2.0", 2), ("-3.00", -3), ("0.000", 0), ("+7.0", 7)] as [(String, Int64)] {
            #expect(p(text) { parseIntegralDecimal($0) } == v, "\(text)")
        }
        for bad in ["2.5", "2.", ".0", "2.0.0", "2.0e1", "x.0", "", "2.01"] {
            #expect(p(bad) { parseIntegralDecimal($0) } == nil, "\(bad)")
        }
    }

    @Test func timeFormatsCompile() {
        #expect(TimeFormat(nil) == .iso8601)
        #expect(TimeFormat("iso8601") == .iso8601)
        #expect(TimeFormat("epoch_s") == .epochSeconds)
        #expect(TimeFormat("epoch_ms") == .epochMillis)
        #expect(TimeFormat("epoch_us") == .epochMicros)
        #expect(TimeFormat("epoch_ns") == .epochNanos)
        let slash = TimeFormat.PatternPart.literal(UInt8(ascii: "/"))
        #expect(TimeFormat("dd/MM/yyyy") == .pattern([.number(.day, min: 2, max: 2), slash, .number(.month, min: 2, max: 2), slash,
                                                       .number(.year, min: 4, max: 4)]))
        #expect(TimeFormat("yyyy-MM-dd'T'HH") == .pattern([.number(.year, min: 4, max: 4), .literal(45), .number(.month, min: 2, max: 2),
                                                             .literal(45), .number(.day, min: 2, max: 2), .literal(84),
                                                             .number(.hour, min: 2, max: 2)]))
        #expect(TimeFormat("yy-MM-dd") != nil)
        #expect(TimeFormat("EEE, d MMM yyyy HH:mm:ss Z") != nil)
    }

    @Test("bad patterns are refused with the reason", arguments: [
        ("yyyy-QQ", "unknown field \"QQ\""),
        ("yyyy-MM", "needs a year"),
        ("yyyy-MM-dd hh:mm", "needs a (AM/PM)"),
        ("yyyy-MM-dd HH:mm a", "a (AM/PM) needs hh or h"),
        ("yyyy-MM-dd yyyy", "the year appears twice"),
        ("yyyy-MM-dd'T", "never closed"),
        ("yyyyy-MM-dd", "unknown field \"yyyyy\""),
        ("dd.MM.yyyy HH:mm:ss.SSSSSSSSSS", "unknown field"),
        ("YYYY-MM-DD", "unknown field \"YYYY\"; for the calendar year write yyyy"),
        ("yyyy-MM-DD", "unknown field \"DD\"; for the day of the month write dd"),
    ] as [(String, String)])
    func badPatternsAreRefused(pattern: String, why: String) {
        guard case .failure(let e) = TimeFormat.compile(pattern) else { Issue.record("\(pattern) compiled"); return }
        #expect(e.message.contains(why), "\(e.message)")
        #expect(TimeFormat(pattern) == nil)
    }

    @Test("patterns read the formats shops export", arguments: [
        ("M/d/yyyy h:mm a", "3/7/2026 9:05 PM", FieldParserTests.micros(2026, 3, 7, 21, 5)),
        ("M/d/yyyy h:mm a", "12/31/2026 12:00 am", FieldParserTests.micros(2026, 12, 31)),
        ("M/d/yyyy h:mm a", "12/31/2026 12:30 p.m.", FieldParserTests.micros(2026, 12, 31, 12, 30)),
        ("MM/dd/yy hh:mm:ss a", "01/02/69 01:02:03 AM", FieldParserTests.micros(1969, 1, 2, 1, 2, 3)),
        ("dd.MM.yy HH:mm", "02.01.68 23:59", FieldParserTests.micros(2068, 1, 2, 23, 59)),
        ("d-MMM-yyyy H:mm", "7-mar-2026 9:05", FieldParserTests.micros(2026, 3, 7, 9, 5)),
        ("d MMMM yyyy", "30 September 2026", FieldParserTests.micros(2026, 9, 30)),
        ("EEE, dd MMM yyyy HH:mm:ss Z", "Mon, 02 Mar 2026 10:00:00 +0100", FieldParserTests.micros(2026, 3, 2, 9)),
        ("EEEE d MMMM yyyy", "Monday 2 March 2026", FieldParserTests.micros(2026, 3, 2)),
        ("yyyy-MM-dd'T'HH:mm:ssXXX", "2026-03-01T10:00:00-05:30", FieldParserTests.micros(2026, 3, 1, 15, 30)),
        ("yyyy-MM-dd'T'HH:mm:ssXXX", "2026-03-01T10:00:00Z", FieldParserTests.micros(2026, 3, 1, 10)),
        ("yyyy-MM-dd HH:mm:ss.SSSSSS", "2026-03-01 10:00:00.000042", FieldParserTests.micros(2026, 3, 1, 10) + 42),
        ("yyyy-MM-dd HH:mm:ss.SSSSSSSSS", "2026-03-01 10:00:00.123456789", FieldParserTests.micros(2026, 3, 1, 10) + 123_456),
        ("yyyy-MM-dd HH:mm:ss.S", "2026-03-01 10:00:00.5", FieldParserTests.micros(2026, 3, 1, 10) + 500_000),
        ("yyyyMMddHHmmss", "20260301100000", FieldParserTests.micros(2026, 3, 1, 10)),
        ("''yy''MM''dd", "'26'03'01", FieldParserTests.micros(2026, 3, 1)),
    ] as [(String, String, Int64)])
    func exportedPatterns(pattern: String, text: String, expected: Int64) {
        let f = TimeFormat(pattern)
        #expect(f != nil, "\(pattern)")
        guard let f else { return }
        #expect(p(text) { parseTimestamp($0, f, zone: ZoneConverter("UTC")!) } == expected, "\(pattern) \(text)")
    }

    @Test("patterns reject what does not match", arguments: [
        ("M/d/yyyy h:mm a", "13/7/2026 9:05 PM"), ("M/d/yyyy h:mm a", "3/7/2026 0:05 PM"), ("M/d/yyyy h:mm a", "3/7/2026 13:05 PM"),
        ("M/d/yyyy h:mm a", "3/7/2026 9:05"), ("M/d/yyyy h:mm a", "3/7/2026 9:05 XM"), ("M/d/yyyy h:mm a", "3/7/2026 9:5 PM"),
        ("M/d/yyyy", "123/7/2026"), ("d-MMM-yyyy", "7-mrz-2026"), ("d-MMM-yyyy", "31-feb-2026"),
        ("yyyy-MM-dd'T'HH:mm:ssXXX", "2026-03-01T10:00:00"), ("yyyy-MM-dd'T'HH:mm:ssXXX", "2026-03-01T10:00:00+19:00"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "2026-03-01 10:00:00.42"), ("EEE dd MMM yyyy", "Xyz 02 Mar 2026"),
    ] as [(String, String)])
    func patternsRejectMismatches(pattern: String, text: String) {
        let f = TimeFormat(pattern)!
        #expect(p(text) { parseTimestamp($0, f, zone: ZoneConverter("UTC")!) } == nil, "\(pattern) \(text)")
    }

    @Test func datesIsoAndPattern() {
        let ddmm = TimeFormat("dd/MM/yyyy")!
        let june30 = CivilDate(year: 2026, month: 6, day: 30).daysSinceEpoch
        #expect(p("30/06/2026") { parseDate($0, ddmm) } == june30)
        #expect(p("2026-06-30") { parseDate($0, .iso8601) } == june30)
        #expect(p("1970-01-01") { parseDate($0, .iso8601) } == 0)
        #expect(p("1969-12-31") { parseDate($0, .iso8601) } == -1)
        #expect(p("20240229") { parseDate($0, TimeFormat("yyyyMMdd")!) } == CivilDate(year: 2024, month: 2, day: 29).daysSinceEpoch)
        for bad in ["30-06-2026", "1/6/2026", "30/06/26", "30/06/2026 ", "06/30/2026"] { #expect(p(bad) { parseDate($0, ddmm) } == nil, "\(bad)") }
        for bad in ["2026-6-30", "2026/06/30", "", "2026-00-10", "2026-06-30T25:00:00", "2026-06-30 junk", "2026-06-30T10:00:00+99:00"] {
            #expect(p(bad) { parseDate($0, .iso8601) } == nil, "\(bad)")
        }
        // A timestamp in a date column gives the date as written, whatever its offset.
        for ts in ["2026-06-30T00:00:00", "2026-06-30 23:59:59.5", "2026-06-30T23:30:00-05:00", "2026-06-30T01:00:00+09:00"] {
            #expect(p(ts) { parseDate($0, .iso8601) } == june30, "\(ts)")
        }
    }

    @Test("impossible calendar dates are rejected", arguments: ["2026-02-30", "2026-02-29", "2026-04-31", "2026-13-01", "2026-01-32", "2026-01-00"])
    func impossibleDatesAreRejected(text: String) {
        #expect(p(text) { parseDate($0, .iso8601) } == nil)
        let compact = text.replacingOccurrences(of: "-", with: "")
        #expect(p(compact) { parseDate($0, TimeFormat("yyyyMMdd")!) } == nil)
    }

    @Test("ISO 8601 timestamps honour Z, offsets and fractions", arguments: [
        ("2026-03-01T10:00:00Z", FieldParserTests.micros(2026, 3, 1, 10)),
        ("2026-03-01t10:00:00z", FieldParserTests.micros(2026, 3, 1, 10)),
        ("2026-03-01T10:00:00+08:00", FieldParserTests.micros(2026, 3, 1, 2)),
        ("2026-03-01T10:00:00-05:30", FieldParserTests.micros(2026, 3, 1, 15, 30)),
        ("2026-03-01T10:00:00+0800", FieldParserTests.micros(2026, 3, 1, 2)),
        ("2026-03-01T10:00:00+08", FieldParserTests.micros(2026, 3, 1, 2)),
        ("2026-03-01T01:00:00+08:00", FieldParserTests.micros(2026, 2, 28, 17)),
        ("2026-03-01T10:00:00.5Z", FieldParserTests.micros(2026, 3, 1, 10) + 500_000),
        ("2026-03-01T10:00:00.123456Z", FieldParserTests.micros(2026, 3, 1, 10) + 123_456),
        ("2026-03-01T10:00:00.123456789Z", FieldParserTests.micros(2026, 3, 1, 10) + 123_456),
        ("2026-03-01T10:00:00,25+01:00", FieldParserTests.micros(2026, 3, 1, 9) + 250_000),
        ("2026-03-01 10:00:00.25-0130", FieldParserTests.micros(2026, 3, 1, 11, 30) + 250_000),
        ("2026-03-01T10:00Z", FieldParserTests.micros(2026, 3, 1, 10)),
        ("2026-03-01", FieldParserTests.micros(2026, 3, 1)),
        ("2026-12-31T23:59:60Z", FieldParserTests.micros(2027, 1, 1)),
        // Ruby and Shopify exports: a space before the offset, or " UTC".
        ("2026-03-01 10:00:00 -0500", FieldParserTests.micros(2026, 3, 1, 15)),
        ("2026-03-01 10:00:00 +01:00", FieldParserTests.micros(2026, 3, 1, 9)),
        ("2026-03-01 10:00:00 UTC", FieldParserTests.micros(2026, 3, 1, 10)),
        ("2026-03-01 10:00:00 Z", FieldParserTests.micros(2026, 3, 1, 10)),
    ] as [(String, Int64)])
    func isoTimestamps(text: String, expected: Int64) {
        #expect(p(text) { parseTimestamp($0, .iso8601, zone: ZoneConverter("UTC")!) } == expected)
    }

    @Test("malformed ISO 8601 timestamps are rejected", arguments: [
        "2026-13-45T10:00:00Z", "2026-02-30T10:00:00Z", "2026-03-01T24:00:00Z", "2026-03-01T10:60:00Z", "2026-03-01T10:00:00.Z",
        "2026-03-01T10", "2026-03-01T10:00:00ZZ", "2026-03-01T10:00:00+19:00", "2026-03-01T10:00:00+08:60", "2026-03-01X10:00:00",
        "", "2026-03-01T10:00:00 CET", "2026-03-01T10:00:00  UTC", "2026-03-01 UTC", "2026-03-01T10:00:00 ", "2026-03-01T10:00:00 +",
    ])
    func malformedIsoTimestamps(text: String) {
        #expect(p(text) { parseTimestamp($0, .iso8601, zone: ZoneConverter("UTC")!) } == nil)
    }

    @Test func epochTimestamps() throws {
        let utc = ZoneConverter("UTC")!
        #expect(p("1772359200") { parseTimestamp($0, .epochSeconds, zone: utc) } == 1_772_359_200 * microsPerSecond)
        #expect(p("1772359200.25") { parseTimestamp($0, .epochSeconds, zone: utc) } == 1_772_359_200_250_000)
        #expect(p("-1") { parseTimestamp($0, .epochSeconds, zone: utc) } == -microsPerSecond)
        #expect(p("1772359200123") { parseTimestamp($0, .epochMillis, zone: utc) } == 1_772_359_200_123_000)
        #expect(p("1772359200.5") { parseTimestamp($0, .epochMillis, zone: utc) } == nil)
        #expect(p("9223372036854775807") { parseTimestamp($0, .epochMillis, zone: utc) } == nil)
        // GA4's event_timestamp (microseconds) and nanoseconds, floored to the microsecond (before 1970 too).
        #expect(p("1772359200123456") { parseTimestamp($0, .epochMicros, zone: utc) } == 1_772_359_200_123_456)
        #expect(p("1772359200123456789") { parseTimestamp($0, .epochNanos, zone: utc) } == 1_772_359_200_123_456)
        #expect(p("-1") { parseTimestamp($0, .epochNanos, zone: utc) } == -1)
        #expect(p("-1000") { parseTimestamp($0, .epochNanos, zone: utc) } == -1)
        #expect(p("-1001") { parseTimestamp($0, .epochNanos, zone: utc) } == -2)
        #expect(p("1772359200.5") { parseTimestamp($0, .epochMicros, zone: utc) } == nil)
        #expect(p("2026-03-01") { parseTimestamp($0, .epochNanos, zone: utc) } == nil)
        // Excel serials: 45123 is 2023-07-16 (19,554 days after 1970-01-01); the fraction is local time, to the ms.
        #expect(TimeFormat("excel") == .excelSerial)
        let day: Int64 = 19_554 * 86_400 * 1_000_000, second: Int64 = 1_000_000
        let noon: Int64 = day + 43_200 * second, quarterPastTen: Int64 = day + 36_930 * second, tenUTC: Int64 = day + 36_000 * second
        #expect(p("45123.5") { parseTimestamp($0, .excelSerial, zone: utc) } == noon)
        #expect(p("45123.4274305556") { parseTimestamp($0, .excelSerial, zone: utc) } == quarterPastTen)
        let berlin = try #require(ZoneConverter("Europe/Berlin"))
        #expect(p("45123.5") { parseTimestamp($0, .excelSerial, zone: berlin) } == tenUTC)  // noon in Berlin's summer
        #expect(p("45123.75") { parseDate($0, .excelSerial) } == 19_554)
        #expect(p("60") { parseDate($0, .excelSerial) } == nil)      // Excel's 1900-02-29, a day that never was
        #expect(p("2958466") { parseDate($0, .excelSerial) } == nil)  // 10000-01-01
        #expect(p("61") { parseDate($0, .excelSerial) } == -25_508)   // 1900-03-01
        #expect(p("x") { parseTimestamp($0, .excelSerial, zone: utc) } == nil)
        #expect(p("9223372036854775807") { parseTimestamp($0, .epochSeconds, zone: utc) } == nil)
        #expect(p("abc") { parseTimestamp($0, .epochSeconds, zone: utc) } == nil)
        #expect(p("1772359200") { parseDate($0, .epochSeconds) } == nil)
        // Within the years 0001-9999: milliseconds read as seconds, or values near Int64's ends, are not timestamps.
        #expect(p("-62135596800") { parseTimestamp($0, .epochSeconds, zone: utc) } == timestampMicrosRange.lowerBound)
        #expect(p("-62135596801") { parseTimestamp($0, .epochSeconds, zone: utc) } == nil)
        #expect(p("253402300799") { parseTimestamp($0, .epochSeconds, zone: utc) } == timestampMicrosRange.upperBound - microsPerSecond)
        #expect(p("1772359200123") { parseTimestamp($0, .epochSeconds, zone: utc) } == nil)
        let outside: [(TimeFormat, [String])] = [
            (.epochSeconds, ["-9223372036854", "-9223372036854775808", "9223372036854775807"]),
            (.epochMillis, ["-9223372036854775", "-9223372036854775808", "9223372036854775807"]),
            (.epochMicros, ["-9223372036854775807", "-9223372036854775808", "9223372036854775807"]),
        ]
        for (f, values) in outside {
            for v in values { #expect(p(v) { parseTimestamp($0, f, zone: utc) } == nil, "\(v) \(f)") }
        }
        #expect(formatTimestampMicros(Int64.min) == formatTimestampMicros(Int64.min))  // formats without trapping
        let lateInNewYork = TimeFormat("yyyy-MM-dd HH:mm:ssXXX")!
        #expect(p("9999-12-31 23:00:00-05:00") { parseTimestamp($0, lateInNewYork, zone: utc) } == nil)
    }

    @Test func patternTimestampsUseAFixedOffsetZone() {
        let pattern = TimeFormat("yyyy-MM-dd HH:mm:ss")!
        #expect(p("2026-03-01 10:00:00") { parseTimestamp($0, pattern, zone: ZoneConverter("+02:00")!) } == Self.micros(2026, 3, 1, 8))
        #expect(p("2026-03-01 10:00:00") { parseTimestamp($0, pattern, zone: ZoneConverter("-05:30")!) } == Self.micros(2026, 3, 1, 15, 30))
        #expect(p("2026-03-01 00:30:00") { parseTimestamp($0, pattern, zone: ZoneConverter("+02:00")!) } == Self.micros(2026, 2, 28, 22, 30))
        #expect(p("2026-03-01T10:00:00") { parseTimestamp($0, .iso8601, zone: ZoneConverter("+02:00")!) } == Self.micros(2026, 3, 1, 8))
        let millis = TimeFormat("dd/MM/yyyy HH:mm:ss.SSS")!
        #expect(p("01/03/2026 10:00:00.042") { parseTimestamp($0, millis, zone: ZoneConverter("UTC")!) } == Self.micros(2026, 3, 1, 10) + 42_000)
        for bad in ["2026-03-01 24:00:00", "2026-03-01 10:60:00", "2026-02-30 10:00:00", "2026-03-01T10:00:00", "2026-03-01 10:00"] {
            #expect(p(bad) { parseTimestamp($0, pattern, zone: ZoneConverter("UTC")!) } == nil, "\(bad)")
        }
    }

    /// The rule for local times at a change, west of UTC as east of it (README, `timezone`): a skipped time moves
    /// forward by the change, a repeated one is the later, standard-time instant, and a day that ends in a skipped
    /// midnight ends at the change. West of UTC this was wrong: New York's skipped 02:30 read as 01:30 EST and its
    /// repeated 01:30 as the EDT one; Santiago's as-of window ended an hour early, quarantining the day's last hour.
    @Test(arguments: [
        ("America/New_York", "2026-03-08 02:30", (2026, 3, 8, 7, 30)), ("America/New_York", "2026-03-08 01:30", (2026, 3, 8, 6, 30)),
        ("America/New_York", "2026-03-08 03:30", (2026, 3, 8, 7, 30)), ("America/New_York", "2026-11-01 01:30", (2026, 11, 1, 6, 30)),
        ("America/New_York", "2026-11-01 00:30", (2026, 11, 1, 4, 30)), ("America/New_York", "2026-11-01 02:30", (2026, 11, 1, 7, 30)),
        ("America/Los_Angeles", "2026-03-08 02:30", (2026, 3, 8, 10, 30)), ("America/Los_Angeles", "2026-11-01 01:30", (2026, 11, 1, 9, 30)),
        ("America/Santiago", "2026-09-06 00:30", (2026, 9, 6, 4, 30)), ("America/Santiago", "2026-04-04 23:30", (2026, 4, 5, 3, 30)),
        ("Europe/Berlin", "2026-03-29 02:30", (2026, 3, 29, 1, 30)), ("Europe/Berlin", "2026-10-25 02:30", (2026, 10, 25, 1, 30)),
        ("Europe/Berlin", "2026-10-25 01:30", (2026, 10, 24, 23, 30)), ("Pacific/Apia", "2011-12-30 12:00", (2011, 12, 30, 22, 0)),
        ("Australia/Lord_Howe", "2026-10-04 02:15", (2026, 10, 3, 15, 45)),
    ] as [(String, String, (Int, Int, Int, Int, Int))])
    func localTimesAtAChangeFollowTheRuleEastAndWest(zone: String, text: String, utc: (Int, Int, Int, Int, Int)) throws {
        let converter = try #require(ZoneConverter(zone))
        let expected = Self.micros(utc.0, utc.1, utc.2, Int64(utc.3), Int64(utc.4))
        #expect(p(text) { parseTimestamp($0, TimeFormat("yyyy-MM-dd HH:mm")!, zone: converter) } == expected)
        // And with the converter's hour already settled by another time of that hour.
        let warm = try #require(ZoneConverter(zone))
        _ = p(String(text.prefix(14)) + "59") { parseTimestamp($0, TimeFormat("yyyy-MM-dd HH:mm")!, zone: warm) }
        #expect(p(text) { parseTimestamp($0, TimeFormat("yyyy-MM-dd HH:mm")!, zone: warm) } == expected)
    }

    @Test func aDayEndsAtLocalMidnightOrAtTheChangeThatSkipsIt() throws {
        let santiago = try #require(LocalClock("America/Santiago")), newYork = try #require(LocalClock("America/New_York"))
        #expect(santiago.endOfDayUTC(CivilDate(year: 2026, month: 9, day: 5).daysSinceEpoch) == Self.micros(2026, 9, 6, 4))
        #expect(santiago.endOfDayUTC(CivilDate(year: 2026, month: 4, day: 4).daysSinceEpoch) == Self.micros(2026, 4, 5, 4))
        #expect(newYork.endOfDayUTC(CivilDate(year: 2026, month: 3, day: 7).daysSinceEpoch) == Self.micros(2026, 3, 8, 5))
        #expect(newYork.endOfDayUTC(CivilDate(year: 2026, month: 10, day: 31).daysSinceEpoch) == Self.micros(2026, 11, 1, 4))
    }

    /// A local time in an hour with a change of offset inside it resolves the same whichever time of that hour a
    /// converter met first (Lord Howe turns its clocks back half an hour at 02:00 on 2026-04-05: 01:30-02:00 comes
    /// twice; the later one is taken). It did not: the hour's first time set the offset for all of it.
    @Test func aLocalHourWithAChangeInsideResolvesEachTimeAlone() throws {
        let day = CivilDate(year: 2026, month: 4, day: 5).daysSinceEpoch * 86_400
        let warm = try #require(ZoneConverter("Australia/Lord_Howe")), fresh = try #require(ZoneConverter("Australia/Lord_Howe"))
        #expect(warm.offset(localSeconds: day + 3_659) == 39_600, "01:00:59 is before the change: +11:00")
        #expect(warm.offset(localSeconds: day + 5_459) == fresh.offset(localSeconds: day + 5_459))
        #expect(fresh.offset(localSeconds: day + 5_459) == 37_800, "01:30:59 twice: the later, +10:30")
        // The UTC to local direction: St. John's springs forward at 05:30 UTC on 2026-03-08 (-03:30 to -02:30).
        let clock = try #require(LocalClock("America/St_Johns"))
        let five = (CivilDate(year: 2026, month: 3, day: 8).daysSinceEpoch * 86_400 + 5 * 3_600) * 1_000_000
        let minute: Int64 = 60_000_000
        #expect(clock.local([five, five + 45 * minute]) == [five - 210 * minute, five + 45 * minute - 150 * minute])
    }

    @Test func zoneNamesParse() {
        #expect(ZoneConverter("UTC") != nil)
        let plus8: Int64? = ZoneConverter("+08:00").map { $0.offset(localSeconds: 0) }
        let minus330: Int64? = ZoneConverter("-03:30").map { $0.offset(localSeconds: 0) }
        #expect(plus8 == 28_800)
        #expect(minus330 == -12_600)
        #expect(ZoneConverter("Europe/Berlin") != nil)
        #expect(ZoneConverter("Mars/Olympus_Mons") == nil)
        for (name, seconds) in [("+0530", 19_800), ("+05", 18_000), ("UTC+02:00", 7200), ("GMT-03:30", -12_600), ("GMT", 0),
                                ("-14:00", -50_400), ("+14:00", 50_400)] as [(String, Int64)] {
            #expect(ZoneConverter(name).map { $0.offset(localSeconds: 0) } == seconds, "\(name)")
        }
        for bad in ["+15:00", "+5:30", "+05:3", "UTC+", "+05:30:00", "+0a:00", "05:00", "+14:30"] {
            #expect(ZoneConverter(bad) == nil, "\(bad)")
        }
    }

    // Europe/Berlin switches to summer time on 2026-03-29 at 02:00 local (01:00 UTC): 02:00-03:00 local does not exist.
    @Test("Europe/Berlin across the spring DST change", arguments: [
        ("2026-03-29 01:30:00", FieldParserTests.micros(2026, 3, 29, 0, 30)),  // CET, UTC+1
        ("2026-03-29 01:59:59", FieldParserTests.micros(2026, 3, 29, 0, 59, 59)),
        ("2026-03-29 03:00:00", FieldParserTests.micros(2026, 3, 29, 1)),  // CEST, UTC+2
        ("2026-03-29 03:30:00", FieldParserTests.micros(2026, 3, 29, 1, 30)),
        ("2026-03-28 12:00:00", FieldParserTests.micros(2026, 3, 28, 11)),
        ("2026-07-01 12:00:00", FieldParserTests.micros(2026, 7, 1, 10)),
        ("2026-12-01 12:00:00", FieldParserTests.micros(2026, 12, 1, 11)),
    ] as [(String, Int64)])
    func berlinAcrossDST(text: String, expected: Int64) {
        let pattern = TimeFormat("yyyy-MM-dd HH:mm:ss")!
        #expect(p(text) { parseTimestamp($0, pattern, zone: ZoneConverter("Europe/Berlin")!) } == expected)
    }

    @Test func aNonexistentLocalTimeInTheSpringGapIsShiftedForwardByTheGap() {
        // 02:30 local does not exist on 2026-03-29; it resolves with the pre-change offset (UTC+1), i.e. to 03:30 CEST.
        let pattern = TimeFormat("yyyy-MM-dd HH:mm:ss")!
        let berlin = ZoneConverter("Europe/Berlin")!
        let gap = p("2026-03-29 02:30:00") { parseTimestamp($0, pattern, zone: berlin) }
        #expect(gap == Self.micros(2026, 3, 29, 1, 30))
        #expect(gap == p("2026-03-29 03:30:00") { parseTimestamp($0, pattern, zone: berlin) })
    }

    @Test func theDSTCacheDoesNotLeakBetweenHours() {
        // One converter reused across the change: a cached hour must not answer for its neighbours.
        let pattern = TimeFormat("yyyy-MM-dd HH:mm:ss")!
        let berlin = ZoneConverter("Europe/Berlin")!
        let order = ["2026-03-29 03:30:00", "2026-03-29 01:30:00", "2026-03-29 03:10:00", "2026-03-29 01:10:00"]
        let got = order.map { s in p(s) { parseTimestamp($0, pattern, zone: berlin) } }
        #expect(got == [Self.micros(2026, 3, 29, 1, 30), Self.micros(2026, 3, 29, 0, 30), Self.micros(2026, 3, 29, 1, 10), Self.micros(2026, 3, 29, 0, 10)])
    }

    @Test func utf8Validation() {
        #expect(p("héllo ✓ 𝄞") { isValidUTF8($0) })
        #expect(p("") { isValidUTF8($0) })
        #expect(bytes([0xF4, 0x8F, 0xBF, 0xBF]) { isValidUTF8($0) })  // U+10FFFF
        #expect(bytes([0xEF, 0xBB, 0xBF]) { isValidUTF8($0) })  // BOM
        #expect(!bytes([0x61, 0xFF]) { isValidUTF8($0) })
        #expect(!bytes([0xC0, 0x80]) { isValidUTF8($0) })  // overlong
        #expect(!bytes([0xE0, 0x80, 0x80]) { isValidUTF8($0) })  // overlong
        #expect(!bytes([0xF0, 0x80, 0x80, 0x80]) { isValidUTF8($0) })  // overlong
        #expect(!bytes([0xED, 0xA0, 0x80]) { isValidUTF8($0) })  // surrogate
        #expect(!bytes([0xF4, 0x90, 0x80, 0x80]) { isValidUTF8($0) })  // above U+10FFFF
        #expect(!bytes([0xE2, 0x82]) { isValidUTF8($0) })  // truncated
        #expect(!bytes([0x80]) { isValidUTF8($0) })  // lone continuation
        #expect(!bytes([0xC3, 0x41]) { isValidUTF8($0) })  // bad continuation
    }

    @Test func utf8ValidationAgreesWithTheStandardLibrary() {
        var rng = SeededRNG(seed: 7)
        let pieces: [[UInt8]] = [[0x61], [0xC3, 0xA9], [0xE2, 0x9C, 0x93], [0xF0, 0x9D, 0x84, 0x9E], [0x80], [0xC0], [0xED, 0xA0, 0x80], [0xFF], [0xF4, 0x90]]
        for _ in 0..<500 {
            let b = (0..<Int(rng.next() % 5)).flatMap { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }
            #expect(bytes(b) { isValidUTF8($0) } == (String(validatingUTF8: b.map { CChar(bitPattern: $0) } + [0]) != nil), "\(b)")
        }
    }
}

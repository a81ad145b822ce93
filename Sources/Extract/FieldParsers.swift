import CKernels
import CVMCore
import Foundation

// Byte-level field parsers: no Foundation formatter, regex or String per field.
// Each returns nil on malformed input; the caller builds the message on the cold path.

@inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

/// Parses an optionally signed decimal integer with overflow checking.
/// - Complexity: O(n) in the field length.
@inlinable func parseInt64(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
    var i = 0, neg = false
    let n = b.count
    if n == 0 { return nil }
    if b[0] == UInt8(ascii: "-") || b[0] == UInt8(ascii: "+") { neg = b[0] == UInt8(ascii: "-"); i = 1 }
    if i >= n { return nil }
    var v: Int64 = 0
    while i < n {
        let d = b[i] &- 48
        guard d <= 9 else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (s, o2) = neg ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
        if o1 || o2 { return nil }
        v = s
        i += 1
    }
    return v
}

/// Parses a decimal number into fixed point with `scale` places; more non-zero
/// decimals than `scale` are rejected rather than silently rounded.
func parseDecimal(_ b: UnsafeBufferPointer<UInt8>, scale: Int) -> Int64? {
    var i = 0, neg = false
    let n = b.count
    if n == 0 { return nil }
    if b[0] == UInt8(ascii: "-") || b[0] == UInt8(ascii: "+") { neg = b[0] == UInt8(ascii: "-"); i = 1 }
    var v: Int64 = 0
    var digits = 0, frac = 0, seenDot = false
    while i < n {
        let c = b[i]
        if c == UInt8(ascii: ".") {
            if seenDot { return nil }
            seenDot = true
        } else if isDigit(c) {
            if seenDot {
                if frac >= scale {
                    if c != 48 { return nil }  // a non-zero digit beyond the scale
                    i += 1
                    continue
                }
                frac += 1
            }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int64(c - 48))
            if o1 || o2 { return nil }
            v = s
            digits += 1
        } else {
            return nil
        }
        i += 1
    }
    if digits == 0 { return nil }
    while frac < scale {
        let (m, o) = v.multipliedReportingOverflow(by: 10)
        if o { return nil }
        v = m
        frac += 1
    }
    return neg ? -v : v
}

/// Decimals written after the point, trailing zeros not counted (`1.50` has 1).
func decimalPlaces(_ b: UnsafeBufferPointer<UInt8>) -> Int {
    guard let dot = b.firstIndex(of: UInt8(ascii: ".")) else { return 0 }
    var end = b.count
    while end > dot + 1, b[end - 1] == 48 { end -= 1 }
    return end - dot - 1
}

/// Parses a double with `strtod` on a NUL-terminated copy (no allocation: a fixed stack buffer).
func parseDouble(_ b: UnsafeBufferPointer<UInt8>) -> Double? {
    let n = b.count
    guard n > 0, n < 64 else { return nil }
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 65) { tmp -> Double? in
        for i in 0..<n { tmp[i] = CChar(bitPattern: b[i]) }
        tmp[n] = 0
        var end: UnsafeMutablePointer<CChar>?
        let v = strtod(tmp.baseAddress!, &end)
        guard let end, end == tmp.baseAddress! + n, v.isFinite else { return nil }
        return v
    }
}

func parseBool(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
    var s: UInt64 = 0
    guard b.count <= 5 else { return nil }
    for c in b { s = s << 8 | UInt64(c | 0x20) }  // ASCII lowercase
    switch s {
    case 0x74_72_75_65, 0x79_65_73, 0x31 | 0x20, 0x74, 0x79: return 1      // true yes 1 t y
    case 0x66_61_6c_73_65, 0x6e_6f, 0x30 | 0x20, 0x66, 0x6e: return 0     // false no 0 f n
    default: return nil
    }
}

/// A compiled date/timestamp format.
public enum TimeFormat: Sendable, Equatable {
    case iso8601
    case epochSeconds
    case epochMillis
    /// Microseconds since the epoch (GA4's BigQuery export writes `event_timestamp` so).
    case epochMicros
    /// Nanoseconds since the epoch (Spark, Arrow and pandas write datetimes so as integers); kept to the microsecond.
    case epochNanos
    /// Excel's serial date: days since 1899-12-30, the fraction the time of day (local, in the source's zone), as
    /// a spreadsheet saved to CSV writes a cell formatted as a number. From serial 61 (1900-03-01) on: Excel
    /// counts a 1900-02-29 that never was, so earlier serials are a day off and are refused.
    case excelSerial
    /// Fields and literal bytes, matched left to right (`TimeFormat.compile`).
    case pattern([PatternPart])

    /// One element of a pattern.
    public enum PatternPart: Sendable, Equatable {
        /// Digits of a field: at least `min`, at most `max` (greedy). `yy` is a two-digit year (see `pivotYear`).
        case number(Field, min: Int, max: Int)
        /// `S` repeated n times: exactly n digits of a second's fraction (more than 6 are read and dropped).
        case fraction(digits: Int)
        /// `MMM` (Jan) or `MMMM` (January): an English month name, any case.
        case monthName(full: Bool)
        /// `EEE` (Mon) or `EEEE` (Monday): an English weekday name, any case; read and not checked against the date.
        case weekdayName(full: Bool)
        /// `a`: AM or PM (any case, `a.m.`/`p.m.` too), with `h` or `hh`.
        case meridiem
        /// `X`, `XX`, `XXX`, `Z`, `ZZ`, `xxx`: `Z` or an offset `+HH`, `+HHMM`, `+HH:MM`; the source's zone then does not apply.
        case offset
        case literal(UInt8)
    }

    public enum Field: Sendable, Equatable {
        case year, year2, month, day, hour, hour12, minute, second
    }

    /// Two-digit years (`yy`) from 00 to 68 are 2000-2068, from 69 to 99 are 1969-1999 (as POSIX `strptime`'s `%y`).
    public static let pivotYear = 69

    /// Compiles `iso8601`, `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`, `excel` or a pattern; nil when it is not one (`compile` says why).
    public init?(_ text: String?) {
        guard let text else { self = .iso8601; return }
        guard case .success(let f) = TimeFormat.compile(text) else { return nil }
        self = f
    }

    /// The tokens of a pattern, longest first: what a run of one letter means.
    private static func token(_ letter: Character, _ count: Int) -> PatternPart? {
        switch (letter, count) {
        case ("y", 4): return .number(.year, min: 4, max: 4)
        case ("y", 2): return .number(.year2, min: 2, max: 2)
        case ("M", 1): return .number(.month, min: 1, max: 2)
        case ("M", 2): return .number(.month, min: 2, max: 2)
        case ("M", 3): return .monthName(full: false)
        case ("M", 4): return .monthName(full: true)
        case ("d", 1): return .number(.day, min: 1, max: 2)
        case ("d", 2): return .number(.day, min: 2, max: 2)
        case ("H", 1): return .number(.hour, min: 1, max: 2)
        case ("H", 2): return .number(.hour, min: 2, max: 2)
        case ("h", 1): return .number(.hour12, min: 1, max: 2)
        case ("h", 2): return .number(.hour12, min: 2, max: 2)
        case ("m", 1): return .number(.minute, min: 1, max: 2)
        case ("m", 2): return .number(.minute, min: 2, max: 2)
        case ("s", 1): return .number(.second, min: 1, max: 2)
        case ("s", 2): return .number(.second, min: 2, max: 2)
        case ("S", 1...9): return .fraction(digits: count)
        case ("E", 3): return .weekdayName(full: false)
        case ("E", 4): return .weekdayName(full: true)
        case ("a", 1): return .meridiem
        case ("X", 1...3), ("Z", 1...3), ("x", 1...3): return .offset
        default: return nil
        }
    }

    /// What the pattern letters mean, for error messages.
    public static let patternHelp = "yyyy, yy, MM, M, MMM, MMMM, dd, d, HH, H, hh, h, mm, ss, S to SSSSSSSSS, a, EEE, XXX, 'text'"

    /// Compiles a format, or says what is wrong with it (for `format:` config errors).
    ///
    /// Runs of one letter are fields (`TimeFormat.patternHelp`); text in single quotes is literal (`''` is a quote);
    /// other characters are literal. A pattern needs a year, a month and a day; `h` needs `a` and `a` needs `h`.
    public static func compile(_ text: String) -> Result<TimeFormat, TimeFormatError> {
        switch text {
        case "iso8601": return .success(.iso8601)
        case "epoch_s": return .success(.epochSeconds)
        case "epoch_ms": return .success(.epochMillis)
        case "epoch_us": return .success(.epochMicros)
        case "epoch_ns": return .success(.epochNanos)
        case "excel": return .success(.excelSerial)
        default: break
        }
        func fail(_ why: String) -> Result<TimeFormat, TimeFormatError> {
            .failure(TimeFormatError(message: "unsupported format \"\(text)\": \(why)"))
        }
        let chars = Array(text)
        var parts: [PatternPart] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "'" {
                if i + 1 < chars.count, chars[i + 1] == "'" { parts.append(.literal(UInt8(ascii: "'"))); i += 2; continue }
                var j = i + 1
                while j < chars.count, chars[j] != "'" {
                    guard let a = chars[j].asciiValue else { return fail("quoted text must be ASCII") }
                    parts.append(.literal(a))
                    j += 1
                }
                guard j < chars.count else { return fail("a quote (') is never closed") }
                i = j + 1
                continue
            }
            guard let ascii = c.asciiValue else { return fail("\"\(c)\" is not ASCII; quote literal text in '...'") }
            if c.isLetter {
                var n = 1
                while i + n < chars.count, chars[i + n] == c { n += 1 }
                guard let part = token(c, n) else {
                    let run = String(repeating: c, count: n)
                    // Java's and moment's letters that mean something else here: name the one meant.
                    let hint = switch c {
                    case "Y": "; for the calendar year write \(String(repeating: "y", count: n))"
                    case "D": "; for the day of the month write \(String(repeating: "d", count: min(n, 2)))"
                    case "A", "P": "; for AM/PM write a"
                    default: ""
                    }
                    return fail("unknown field \"\(run)\"\(hint) (use \(patternHelp); or iso8601, epoch_s, epoch_ms, epoch_us, epoch_ns, excel)")
                }
                parts.append(part)
                i += n
            } else {
                parts.append(.literal(ascii))
                i += 1
            }
        }
        var fields: [String] = []
        for p in parts {
            let name: String?
            switch p {
            case .number(let f, _, _):
                switch f {
                case .year, .year2: name = "year"
                case .month: name = "month"
                case .day: name = "day"
                case .hour, .hour12: name = "hour"
                case .minute: name = "minute"
                case .second: name = "second"
                }
            case .monthName: name = "month"
            case .fraction: name = "fraction"
            case .meridiem: name = "am/pm"
            case .offset: name = "offset"
            case .weekdayName: name = "weekday"
            case .literal: name = nil
            }
            if let name {
                if fields.contains(name) { return fail("the \(name) appears twice") }
                fields.append(name)
            }
        }
        for needed in ["year", "month", "day"] where !fields.contains(needed) {
            return fail("a pattern needs a year (yyyy or yy), a month (MM, M, MMM or MMMM) and a day (dd or d)")
        }
        let twelve = parts.contains { if case .number(.hour12, _, _) = $0 { return true }; return false }
        if twelve != fields.contains("am/pm") {
            return fail(twelve ? "hh or h (1-12) needs a (AM/PM); use HH for 0-23" : "a (AM/PM) needs hh or h")
        }
        return .success(.pattern(parts))
    }

    /// Is the format for timestamps only (an epoch)? A date column may not use one.
    public var isTimestampOnly: Bool {
        switch self {
        case .epochSeconds, .epochMillis, .epochMicros, .epochNanos: return true
        case .iso8601, .pattern, .excelSerial: return false
        }
    }
}

/// Why a `format:` cannot be compiled.
public struct TimeFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Converts local wall-clock times to UTC for a fixed offset or an IANA zone.
///
/// IANA offsets come from Foundation's `TimeZone`, cached per local hour so the
/// hot loop does one dictionary lookup; DST transitions are handled per hour.
final class ZoneConverter {
    enum Kind { case fixed(Int64), iana(TimeZone) }
    let kind: Kind
    /// Per local hour: its offset, or nil for an hour with a change inside it (resolved second by second).
    private var cache: [Int64: Int64?] = [:]

    /// A zone name as `LocalClock` reads it (the one parser of zone names).
    init?(_ name: String) {
        guard let clock = LocalClock(name) else { return nil }
        switch clock.kind {
        case .utc: kind = .fixed(0)
        case .fixed(let micros): kind = .fixed(micros / 1_000_000)
        case .zone(let tz): kind = .iana(tz)
        }
    }

    /// Seconds to subtract from a local time (in seconds since epoch, as if UTC) to get UTC.
    ///
    /// Resolved by `LocalClock.offset(ofLocal:in:)` (a time in the hour skipped in spring moves forward; one in the
    /// hour repeated in autumn is the later one). A local hour whose first and last seconds resolve alike is cached; one with a change inside (a zone that changes at the
    /// half hour, or by half an hour, as Lord Howe) is resolved second by second, so the result never depends on
    /// which of its times a converter met first (it did: chunks read on two threads disagreed).
    func offset(localSeconds: Int64) -> Int64 {
        switch kind {
        case .fixed(let s): return s
        case .iana(let tz):
            func resolve(_ local: Int64) -> Int64 { LocalClock.offset(ofLocal: local, in: tz) }
            let hour = floorDiv(localSeconds, 3600)
            if let settled = cache[hour] { return settled ?? resolve(localSeconds) }
            let o = resolve(localSeconds)
            cache[hour] = resolve(hour * 3600) == o && resolve(hour * 3600 + 3599) == o ? o : .some(nil)
            return o
        }
    }
}

/// Days since epoch from y-m-d, or nil when not a real date.
@inline(__always) func civilDays(_ y: Int, _ m: Int, _ d: Int) -> Int64? {
    guard CivilDate.isValid(year: y, month: m, day: d) else { return nil }
    return CivilDate(year: y, month: m, day: d).daysSinceEpoch
}

@inline(__always) func digits(_ b: UnsafeBufferPointer<UInt8>, _ at: Int, _ count: Int) -> Int? {
    guard at + count <= b.count else { return nil }
    var v = 0
    for i in at..<(at + count) {
        let d = b[i] &- 48
        guard d <= 9 else { return nil }
        v = v * 10 + Int(d)
    }
    return v
}

/// UTC, for checking the time part of a timestamp written in a date column (the zone does not change the check).
/// A fixed offset never touches the converter's cache, so sharing it between threads is safe.
nonisolated(unsafe) private let utcConverter = ZoneConverter("UTC")!

/// An integer written with a zero fraction (`2.0`, `-3.00`): what pandas writes for an integer column with
/// missing values. Nil for any other text, a non-zero fraction included.
func parseIntegralDecimal(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
    guard let dot = b.firstIndex(of: UInt8(ascii: ".")), dot > 0, dot + 1 < b.count,
          b[(dot + 1)...].allSatisfy({ $0 == 48 }) else { return nil }
    return parseInt64(UnsafeBufferPointer(rebasing: b[..<dot]))
}

/// Parses a date (days since epoch) with `format`.
func parseDate(_ b: UnsafeBufferPointer<UInt8>, _ format: TimeFormat) -> Int64? {
    switch format {
    case .iso8601:
        // YYYY-MM-DD; a full ISO 8601 timestamp is accepted too and gives the date as written (exports often
        // write dates as timestamps), its time part checked like a timestamp's so junk after the date is rejected.
        guard b.count >= 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              let y = digits(b, 0, 4), let m = digits(b, 5, 2), let d = digits(b, 8, 2) else { return nil }
        if b.count > 10, parseISOTimestamp(b, zone: utcConverter) == nil { return nil }
        return civilDays(y, m, d)
    case .pattern(let parts):
        guard let f = parsePattern(b, parts) else { return nil }
        return civilDays(f.y, f.m, f.d)
    case .epochSeconds, .epochMillis, .epochMicros, .epochNanos:
        return nil
    case .excelSerial:
        // The day of the serial (a time of day, if written, is dropped as a timestamp written in a date column is).
        guard let (day, _) = excelSerial(b) else { return nil }
        return day
    }
}

/// An Excel serial (`45123.5`) as days since 1970-01-01 and the microseconds into that day, rounded to Excel's own
/// precision, the millisecond (15 digits of `45123.4274305556` are 10:15:30.000, not 10:15:30.000004); nil below
/// serial 61 or from 10000-01-01 on.
func excelSerial(_ b: UnsafeBufferPointer<UInt8>) -> (day: Int64, micros: Int64)? {
    guard let v = parseDouble(b), v >= 61, v < 2_958_466 else { return nil }
    var day = Int64(v.rounded(.down))
    var millis = Int64(((v - Double(day)) * 86_400_000).rounded())
    if millis >= 86_400_000 { day += 1; millis -= 86_400_000 }
    return (day - 25_569, millis * 1000)
}

/// Parses a timestamp into microseconds since epoch (UTC), within `timestampMicrosRange`.
func parseTimestamp(_ b: UnsafeBufferPointer<UInt8>, _ format: TimeFormat, zone: ZoneConverter) -> Int64? {
    guard let v = parseAnyTimestamp(b, format, zone: zone), timestampMicrosRange.contains(v) else { return nil }
    return v
}

private func parseAnyTimestamp(_ b: UnsafeBufferPointer<UInt8>, _ format: TimeFormat, zone: ZoneConverter) -> Int64? {
    switch format {
    case .epochSeconds:
        if let s = parseInt64(b) {
            let (v, o) = s.multipliedReportingOverflow(by: 1_000_000)
            return o ? nil : v
        }
        guard let d = parseDouble(b), abs(d) < 9e12 else { return nil }
        return Int64((d * 1_000_000).rounded())
    case .epochMillis:
        guard let ms = parseInt64(b) else { return nil }
        let (v, o) = ms.multipliedReportingOverflow(by: 1000)
        return o ? nil : v
    case .epochMicros:
        return parseInt64(b)
    case .excelSerial:
        guard let (day, micros) = excelSerial(b) else { return nil }
        let local = day * 86_400 + micros / 1_000_000
        return (local - zone.offset(localSeconds: local)) * 1_000_000 + micros % 1_000_000
    case .epochNanos:
        // Floored, so a time before 1970 keeps its microsecond (-1 ns is -1 µs, not 0).
        guard let ns = parseInt64(b) else { return nil }
        return ns >= 0 ? ns / 1000 : (ns + 1) / 1000 - 1
    case .pattern(let parts):
        guard let f = parsePattern(b, parts), let days = civilDays(f.y, f.m, f.d),
              f.hh < 24, f.mi < 60, f.ss < 61 else { return nil }
        let local = days * 86_400 + Int64(f.hh * 3600 + f.mi * 60 + f.ss)
        return (local - (f.offset ?? zone.offset(localSeconds: local))) * 1_000_000 + Int64(f.micros)
    case .iso8601:
        return parseISOTimestamp(b, zone: zone)
    }
}

struct PatternFields {
    var y = 1970, m = 1, d = 1, hh = 0, mi = 0, ss = 0, micros = 0
    /// Seconds east of UTC when the text holds an offset (`XXX`).
    var offset: Int64?
}

private let monthNames: [[UInt8]] = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
                                     "october", "november", "december"].map { Array($0.utf8) }
private let weekdayNames: [[UInt8]] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].map { Array($0.utf8) }

/// The index in `names` of the name at `b[i...]` (any case; the first three letters, or all of it when `full`)
/// and the bytes it took.
@inline(__always) private func matchName(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ names: [[UInt8]], full: Bool) -> (Int, Int)? {
    for (k, name) in names.enumerated() {
        let n = full ? name.count : 3
        guard i + n <= b.count else { continue }
        var same = true
        for j in 0..<n where b[i + j] | 0x20 != name[j] { same = false; break }
        if same { return (k, n) }
    }
    return nil
}

/// Matches `b` against a compiled pattern; nil when it does not match the whole field.
/// Range checks of the fields (month 1-12, hour 0-23, ...) are the callers'.
func parsePattern(_ b: UnsafeBufferPointer<UInt8>, _ parts: [TimeFormat.PatternPart]) -> PatternFields? {
    var f = PatternFields()
    var i = 0
    var hour12 = -1, pm = false
    let n = b.count
    for p in parts {
        switch p {
        case .literal(let c):
            guard i < n, b[i] == c else { return nil }
            i += 1
        case .number(let field, let lo, let hi):
            var v = 0, k = 0
            while k < hi, i + k < n {
                let d = b[i + k] &- 48
                if d > 9 { break }
                v = v * 10 + Int(d)
                k += 1
            }
            guard k >= lo else { return nil }
            i += k
            switch field {
            case .year: f.y = v
            case .year2: f.y = v < TimeFormat.pivotYear ? 2000 + v : 1900 + v
            case .month: f.m = v
            case .day: f.d = v
            case .hour: f.hh = v
            case .hour12: guard (1...12).contains(v) else { return nil }; hour12 = v
            case .minute: f.mi = v
            case .second: f.ss = v
            }
        case .fraction(let count):
            guard let v = digits(b, i, min(count, 6)) else { return nil }
            var micros = v
            for _ in stride(from: count, to: 6, by: 1) { micros *= 10 }
            if count > 6 { guard digits(b, i + 6, count - 6) != nil else { return nil } }
            f.micros = micros
            i += count
        case .monthName(let full):
            guard let (k, used) = matchName(b, i, monthNames, full: full) else { return nil }
            f.m = k + 1
            i += used
        case .weekdayName(let full):
            guard let (_, used) = matchName(b, i, weekdayNames, full: full) else { return nil }
            i += used
        case .meridiem:
            guard i + 1 < n, b[i] | 0x20 == UInt8(ascii: "a") || b[i] | 0x20 == UInt8(ascii: "p") else { return nil }
            pm = b[i] | 0x20 == UInt8(ascii: "p")
            if b[i + 1] | 0x20 == UInt8(ascii: "m") {
                i += 2
            } else if i + 3 < n, b[i + 1] == UInt8(ascii: "."), b[i + 2] | 0x20 == UInt8(ascii: "m"), b[i + 3] == UInt8(ascii: ".") {
                i += 4
            } else {
                return nil
            }
        case .offset:
            guard let (seconds, end) = readOffset(b, i) else { return nil }
            f.offset = seconds
            i = end
        }
    }
    if hour12 >= 0 { f.hh = hour12 % 12 + (pm ? 12 : 0) }
    return i == n ? f : nil
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][[ ]Z|±HH:MM|±HHMM|±HH| UTC]`; without an offset the source zone applies.
func parseISOTimestamp(_ b: UnsafeBufferPointer<UInt8>, zone: ZoneConverter) -> Int64? {
    let n = b.count
    guard n >= 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
          let y = digits(b, 0, 4), let m = digits(b, 5, 2), let d = digits(b, 8, 2),
          let days = civilDays(y, m, d) else { return nil }
    var secs: Int64 = 0, micros: Int64 = 0
    var i = 10
    if i < n, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "t") {
        guard let hh = digits(b, i + 1, 2), i + 3 < n, b[i + 3] == UInt8(ascii: ":"), let mi = digits(b, i + 4, 2),
              hh < 24, mi < 60 else { return nil }
        secs = Int64(hh * 3600 + mi * 60)
        i += 6
        if i < n, b[i] == UInt8(ascii: ":") {
            guard let ss = digits(b, i + 1, 2), ss < 61 else { return nil }
            secs += Int64(ss)
            i += 3
            if i < n, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                i += 1
                var scale: Int64 = 100_000
                let fs = i
                while i < n, isDigit(b[i]) {
                    micros += Int64(b[i] - 48) * scale
                    scale /= 10
                    i += 1
                }
                if i == fs { return nil }
            }
        }
    }
    let local = days * 86_400 + secs
    if i == n { return (local - zone.offset(localSeconds: local)) * 1_000_000 + micros }
    // One space before the offset, as Ruby and Shopify exports write it ("2026-03-01 10:00:00 -0500",
    // "2026-03-01 10:00:00 UTC"), but only after a time.
    if b[i] == UInt8(ascii: " "), i > 10, i + 1 < n {
        i += 1
        if n - i == 3, b[i] == UInt8(ascii: "U"), b[i + 1] == UInt8(ascii: "T"), b[i + 2] == UInt8(ascii: "C") {
            return local * 1_000_000 + micros
        }
    }
    guard let (offset, end) = readOffset(b, i), end == n else { return nil }
    return (local - offset) * 1_000_000 + micros
}

/// The UTC offset written at `b[i...]`: `Z` (any case) or `±HH`, `±HHMM`, `±HH:MM` (at most 18 hours): its seconds
/// east of UTC and where it ends. The one offset reader of ISO 8601 timestamps and of patterns' `XXX`.
@inline(__always) func readOffset(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (seconds: Int64, end: Int)? {
    let n = b.count
    guard i < n else { return nil }
    if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") { return (0, i + 1) }
    guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), let oh = digits(b, i + 1, 2), oh <= 18 else { return nil }
    var j = i + 3, om = 0
    if j < n, b[j] == UInt8(ascii: ":") {
        guard let v = digits(b, j + 1, 2), v < 60 else { return nil }
        (om, j) = (v, j + 3)
    } else if let v = digits(b, j, 2) {
        guard v < 60 else { return nil }
        (om, j) = (v, j + 2)
    }
    return (Int64(oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1), j)
}

/// True when `b` is valid UTF-8 (checked once per new dictionary entry, not per row).
func isValidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
    // One validator for extract: the C one the file interner runs on each new value.
    cvm_valid_utf8(b.baseAddress ?? UnsafePointer(bitPattern: 1)!, Int64(b.count)) == 1
}

/// The byte-level field parsers without a file around them, for the fuzz targets (Sources/FuzzTargets).
@_spi(Fuzzing) public struct FieldParsing {
    let zone: ZoneConverter
    let formats: [TimeFormat]

    /// - Parameters: zone: as in `sources.<name>.timezone`; formats: as in a column's `format`.
    public init(zone: String, formats: [String]) {
        self.zone = ZoneConverter(zone) ?? ZoneConverter("UTC")!
        self.formats = formats.compactMap(TimeFormat.init)
    }

    /// Runs every parser over `b` and checks the round-trip invariants; traps when one breaks.
    /// Returns how many parsers accepted `b`.
    public func exercise(_ b: UnsafeBufferPointer<UInt8>) -> Int {
        var accepted = 0
        if let v = parseInt64(b) {
            accepted += 1
            let back = Array(String(v).utf8)
            precondition(back.withUnsafeBufferPointer { parseInt64($0) } == v, "int round trip")
        }
        for scale in [0, 2, 4] where parseDecimal(b, scale: scale) != nil { accepted += 1 }
        if parseDouble(b) != nil { accepted += 1 }
        if parseBool(b) != nil { accepted += 1 }
        for f in formats {
            if let days = parseDate(b, f) {
                accepted += 1
                // A date that parsed is a real calendar day: converting it back gives the same day.
                precondition(CivilDate(daysSinceEpoch: days).daysSinceEpoch == days, "date round trip")
            }
            if parseTimestamp(b, f, zone: zone) != nil { accepted += 1 }
        }
        return accepted
    }
}

/// One timestamp column's parser without a file around it, for the micro benchmarks (Benchmarks/, `make bench-micro`).
///
/// The same code path as a `timestamp` column in the extractor (`parseTimestamp` with the source's zone).
/// Not thread-safe: an IANA zone caches its offsets per local hour, as each extract worker's own converter does.
@_spi(Benchmarks) public struct TimestampParser {
    let format: TimeFormat
    let zone: ZoneConverter

    /// - Parameters: format: as in a column's `format` (nil = `iso8601`); zone: as in `sources.<name>.timezone`.
    /// - Returns: nil when the format or the zone is unknown.
    public init?(format: String?, zone: String) {
        guard let f = TimeFormat(format), let z = ZoneConverter(zone) else { return nil }
        (self.format, self.zone) = (f, z)
    }

    /// Microseconds since the epoch (UTC), or nil when `b` is not a timestamp in this format.
    /// - Complexity: O(n) in the field length; one dictionary lookup for an IANA zone.
    public func parse(_ b: UnsafeBufferPointer<UInt8>) -> Int64? { parseTimestamp(b, format, zone: zone) }
}

/// A proleptic Gregorian calendar date, convertible to days since 1970-01-01.
///
/// Pure integer arithmetic (H. Hinnant's `days_from_civil`), no Foundation: used per row.
public struct CivilDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        (self.year, self.month, self.day) = (year, month, day)
    }

    public init(daysSinceEpoch z0: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: Int(m <= 2 ? y + 1 : y), month: Int(m), day: Int(d))
    }

    /// Parses `YYYY-MM-DD`; nil when malformed or not a real date (2026-02-30).
    public init?(iso text: String) {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                let d = Int(b[i]) - 48
                guard d >= 0 && d <= 9 else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard let y = num(0..<4), let m = num(5..<7), let d = num(8..<10),
              CivilDate.isValid(year: y, month: m, day: d) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public var daysSinceEpoch: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(month > 2 ? month - 3 : month + 9)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// ISO weekday: 1 = Monday ... 7 = Sunday.
    public var isoWeekday: Int {
        let d = daysSinceEpoch  // 1970-01-01 was a Thursday (4)
        let w = ((d % 7) + 7 + 3) % 7  // 0 = Monday
        return Int(w) + 1
    }

    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    public static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 1, 3, 5, 7, 8, 10, 12: 31
        case 4, 6, 9, 11: 30
        case 2: isLeap(year) ? 29 : 28
        default: 0
        }
    }

    public static func isValid(year: Int, month: Int, day: Int) -> Bool {
        (1...12).contains(month) && day >= 1 && day <= daysIn(year: year, month: month)
    }

    public func adding(days: Int64) -> CivilDate { CivilDate(daysSinceEpoch: daysSinceEpoch + days) }

    public var description: String {
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
}

public let microsPerSecond: Int64 = 1_000_000
public let microsPerDay: Int64 = 86_400_000_000

/// Floor division, so instants before 1970 map to the right day.
@inlinable public func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// The instants a timestamp column holds: 0001-01-01T00:00:00Z up to 10000-01-01T00:00:00Z (the years ISO 8601
/// writes with four digits). An epoch value outside is not a timestamp (milliseconds read as seconds would be the
/// year 58,000; a very negative one overflowed the formatting of a reason), so parsing rejects it; so does a
/// written time whose offset takes it outside.
public let timestampMicrosRange: Range<Int64> = -62_135_596_800_000_000 ..< 253_402_300_800_000_000

/// `YYYY-MM-DDTHH:MM:SSZ` (with `.ffffff` when there are sub-second digits). Any Int64 formats (the remainder is
/// taken without multiplying back, which overflowed near Int64.min).
public func formatTimestampMicros(_ us: Int64) -> String {
    let day = floorDiv(us, microsPerDay)
    var rem = us % microsPerDay
    if rem < 0 { rem += microsPerDay }
    let secs = rem / microsPerSecond, frac = rem % microsPerSecond
    func pad(_ v: Int64, _ w: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, w - s.count)) + s
    }
    var s = CivilDate(daysSinceEpoch: day).description
    s += "T\(pad(secs / 3600, 2)):\(pad(secs / 60 % 60, 2)):\(pad(secs % 60, 2))"
    if frac != 0 { s += "." + pad(frac, 6) }
    return s + "Z"
}

/// Writes `formatTimestampMicros(us)` as UTF-8 into `out` (at least 27 bytes) and returns its
/// length: the warehouse load's hot path, without a `String` per value.
@inlinable public func writeTimestampMicros(_ us: Int64, _ out: UnsafeMutablePointer<UInt8>) -> Int {
    let day = floorDiv(us, microsPerDay)
    let rem = us - day * microsPerDay
    let secs = rem / microsPerSecond, frac = rem % microsPerSecond
    var n = writeDate(day, out)
    @inline(__always) func two(_ v: Int64, _ at: Int) {
        out[at] = UInt8(48 + v / 10)
        out[at + 1] = UInt8(48 + v % 10)
    }
    out[n] = UInt8(ascii: "T"); two(secs / 3600, n + 1)
    out[n + 3] = UInt8(ascii: ":"); two(secs / 60 % 60, n + 4)
    out[n + 6] = UInt8(ascii: ":"); two(secs % 60, n + 7)
    n += 9
    if frac != 0 {
        out[n] = UInt8(ascii: ".")
        var f = frac
        for i in stride(from: 6, through: 1, by: -1) { out[n + i] = UInt8(48 + f % 10); f /= 10 }
        n += 7
    }
    out[n] = UInt8(ascii: "Z")
    return n + 1
}

/// Writes `CivilDate(daysSinceEpoch:).description` (YYYY-MM-DD; years outside 0...9999 as
/// `description` prints them) into `out` (at least 16 bytes) and returns its length.
@inlinable public func writeDate(_ days: Int64, _ out: UnsafeMutablePointer<UInt8>) -> Int {
    let d = CivilDate(daysSinceEpoch: days)
    guard (0...9999).contains(d.year) else {
        let s = Array(d.description.utf8)
        for (i, b) in s.enumerated() { out[i] = b }
        return s.count
    }
    var y = d.year
    for i in stride(from: 3, through: 0, by: -1) { out[i] = UInt8(48 + y % 10); y /= 10 }
    out[4] = UInt8(ascii: "-")
    out[5] = UInt8(48 + d.month / 10); out[6] = UInt8(48 + d.month % 10)
    out[7] = UInt8(ascii: "-")
    out[8] = UInt8(48 + d.day / 10); out[9] = UInt8(48 + d.day % 10)
    return 10
}

import Foundation

/// Converts UTC instants (µs) to local wall-clock µs in the declared zone (`features.zone`; the sessions' midnight split), so
/// windows end at the end of the as-of day *there* and hour and weekday features read local time.
/// Offsets come from the system's IANA database, cached per UTC hour without a change inside it (the
/// hours with one, a few a year where a zone changes at the half hour, are converted instant by instant).
public struct LocalClock: Sendable {
    public enum Kind: Sendable { case utc, fixed(Int64), zone(TimeZone) }
    public let kind: Kind
    public let name: String

    /// "UTC", a fixed offset ("+02:00", "-05:30", "+0530", "+02", optionally after "UTC" or "GMT": "UTC+02:00"),
    /// or an IANA name ("Europe/Berlin"); nil when unknown. Offsets run from -14:00 to +14:00, as on Earth.
    /// The one parser of zone names: sources' `timezone`, `features.zone` and the sessions' zone all use it.
    public init?(_ name: String) {
        self.name = name
        if name == "UTC" || name == "Z" || name == "GMT" { kind = .utc; return }
        if let seconds = LocalClock.offsetSeconds(name) {
            kind = seconds == 0 ? .utc : .fixed(seconds * microsPerSecond)
            return
        }
        guard let tz = TimeZone(identifier: name) else { return nil }
        kind = .zone(tz)
    }

    /// Seconds east of UTC of a fixed-offset name, or nil when `name` is not one.
    static func offsetSeconds(_ name: String) -> Int64? {
        var text = Substring(name)
        for prefix in ["UTC", "GMT"] where text.hasPrefix(prefix) { text = text.dropFirst(prefix.count) }
        guard let sign = text.first, sign == "+" || sign == "-" else { return nil }
        let digits = text.dropFirst().filter { $0 != ":" }
        let colons = text.dropFirst().filter { $0 == ":" }.count
        guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), digits.count == 2 || digits.count == 4,
              colons == 0 || (colons == 1 && digits.count == 4 && text.dropFirst().dropFirst(2).first == ":") else { return nil }
        let h = Int64(digits.prefix(2))!, m = digits.count == 4 ? Int64(digits.suffix(2))! : 0
        guard m < 60, h * 60 + m <= 14 * 60 else { return nil }
        return (h * 3600 + m * 60) * (sign == "-" ? -1 : 1)
    }

    /// The offset (seconds east of UTC) that turns local wall-clock time `local` (seconds since epoch, read as if
    /// UTC) in `tz` into UTC: `local - offset`. The one definition of a local time, for every zone, east or west:
    /// - a time that exists once has its offset;
    /// - a time in the hour repeated when clocks go back (it exists twice) is the later instant, standard time:
    ///   New York's 2026-11-01 01:30 is 06:30Z, not 05:30Z;
    /// - a time skipped when clocks go forward is moved forward by the change, keeping the offset before it:
    ///   New York's 2026-03-08 02:30 is read as 03:30 EDT (07:30Z); Apia's skipped 2011-12-30 as the 31st.
    ///
    /// The offsets a day before and after `local` are the candidates (a zone changes at most once within two days;
    /// should it change twice, the offsets at `local` and at the instant it implies are candidates too). A
    /// candidate is valid when the instant it gives has that offset. (Before, the offset at `local` read as UTC and
    /// then at the instant that implied were taken, which is only right east of UTC: it read New York's skipped
    /// 02:30 as 01:30 EST and its repeated 01:30 as the earlier, EDT one.)
    public static func offset(ofLocal local: Int64, in tz: TimeZone) -> Int64 {
        @inline(__always) func at(_ second: Int64) -> Int64 {
            Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(second))))
        }
        let before = at(local - 86_400), after = at(local + 86_400)
        if before == after, at(local - before) == before { return before }
        var candidates = [before, after]
        let guess = at(local)
        for c in [guess, at(local - guess)] where !candidates.contains(c) { candidates.append(c) }
        // The later instant is the smaller offset.
        if let valid = candidates.filter({ at(local - $0) == $0 }).min() { return valid }
        return before
    }

    public var isUTC: Bool { if case .utc = kind { return true } else { return false } }

    /// Local wall-clock µs for every UTC instant of `utc`.
    public func local(_ utc: [Int64]) -> [Int64] {
        switch kind {
        case .utc: return utc
        case .fixed(let o): return utc.map { $0 &+ o }
        case .zone:
            var c = converter()
            return utc.map { c.convert($0) }
        }
    }

    /// A per-thread converter for row-at-a-time loops: no intermediate array; zone offsets are remembered for
    /// the last UTC hour seen (event logs run in time order, so almost every row hits it), then looked up.
    public func converter() -> Converter { Converter(kind: kind) }

    public struct Converter {
        let kind: Kind
        private var lastHour = Int64.min, lastOffset: Int64 = 0
        /// Per UTC hour: its offset, or nil for an hour with a change inside it.
        private var cache: [Int64: Int64?] = [:]

        public init(kind: Kind) { self.kind = kind }

        @inline(__always) public mutating func convert(_ t: Int64) -> Int64 {
            switch kind {
            case .utc: return t
            case .fixed(let o): return t &+ o
            case .zone(let tz):
                let hour = floorDiv(t, 3_600 * microsPerSecond)
                if hour == lastHour { return t &+ lastOffset }
                func offset(_ second: Int64) -> Int64 {
                    Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(second)))) * microsPerSecond
                }
                let settled: Int64?
                if let cached = cache[hour] {
                    settled = cached
                } else {
                    // An hour with a change inside it (St. John's changes at 05:30 UTC, Lord Howe at 15:00 UTC by half
                    // an hour) is marked so: its instants are converted one by one (the hour's start stood for all of it).
                    let start = offset(hour * 3600)
                    settled = offset(hour * 3600 + 3599) == start ? start : nil
                    cache[hour] = .some(settled)
                }
                guard let settled else { return t &+ offset(floorDiv(t, microsPerSecond)) }
                (lastHour, lastOffset) = (hour, settled)
                return t &+ settled
            }
        }
    }

    /// The UTC instant (µs) at which local day `day` (days since epoch) ends: the cutoff for an as-of day.
    public func endOfDayUTC(_ day: Int64) -> Int64 {
        let localMidnight = (day + 1) * microsPerDay
        switch kind {
        case .utc: return localMidnight
        case .fixed(let o): return localMidnight - o
        case .zone(let tz):
            // Local midnight as parsing reads it; where clocks skip midnight (Santiago, 2026-09-06 00:00 -> 01:00)
            // the day ends at the change itself.
            return localMidnight - LocalClock.offset(ofLocal: localMidnight / microsPerSecond, in: tz) * microsPerSecond
        }
    }
}

/// A time zone name, checked where it is written (so an error points at the value).
public struct ZoneName: Decodable, Sendable {
    public var name: String
    public init(from decoder: any Decoder) throws {
        name = try decoder.singleValueContainer().decode(String.self)
        guard LocalClock(name) != nil else {
            throw ConfigValueError("unknown time zone \"\(name)\"; use UTC, an offset such as +02:00, or an IANA name such as Europe/Berlin")
        }
    }
}

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
            // Two-step resolution, as for parsing local times: the offset at the guessed instant, then at the corrected one.
            let o1 = Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localMidnight / microsPerSecond)))) * microsPerSecond
            let o2 = Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double((localMidnight - o1) / microsPerSecond)))) * microsPerSecond
            return localMidnight - o2
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

import Foundation

/// Converts UTC instants (µs) to local wall-clock µs in the declared zone (`features.zone`; the sessions' midnight split), so
/// windows end at the end of the as-of day *there* and hour and weekday features read local time.
/// Offsets come from the system's IANA database, cached per UTC hour (DST changes on the hour or
/// half hour in every zone in use; quarter-hour zones have fixed offsets).
public struct LocalClock: Sendable {
    public enum Kind: Sendable { case utc, fixed(Int64), zone(TimeZone) }
    public let kind: Kind
    public let name: String

    /// "UTC", a fixed offset "+02:00" / "-05:30", or an IANA name ("Europe/Berlin"); nil when unknown.
    public init?(_ name: String) {
        self.name = name
        if name == "UTC" || name == "Z" { kind = .utc; return }
        let b = Array(name.utf8)
        if b.count == 6, b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-"), b[3] == UInt8(ascii: ":"),
           let h = Int64(String(decoding: b[1...2], as: UTF8.self)), let m = Int64(String(decoding: b[4...5], as: UTF8.self)),
           h <= 14, m < 60 {
            kind = .fixed((h * 3600 + m * 60) * (b[0] == UInt8(ascii: "-") ? -1 : 1) * microsPerSecond)
            return
        }
        guard let tz = TimeZone(identifier: name) else { return nil }
        kind = .zone(tz)
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
        private var cache: [Int64: Int64] = [:]

        public init(kind: Kind) { self.kind = kind }

        @inline(__always) public mutating func convert(_ t: Int64) -> Int64 {
            switch kind {
            case .utc: return t
            case .fixed(let o): return t &+ o
            case .zone(let tz):
                let hour = floorDiv(t, 3_600 * microsPerSecond)
                if hour == lastHour { return t &+ lastOffset }
                let o: Int64
                if let cached = cache[hour] {
                    o = cached
                } else {
                    o = Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(hour * 3600)))) * microsPerSecond
                    cache[hour] = o
                }
                (lastHour, lastOffset) = (hour, o)
                return t &+ o
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

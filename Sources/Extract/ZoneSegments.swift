import CKernels
import Foundation

/// A time zone with daylight saving time as segments of local time with one UTC offset each (`cvm_zone_table`), so
/// the C row pass (`FastRows`) turns local timestamps (`yyyy-MM-dd HH:mm:ss` in `Europe/Berlin`, ISO 8601 without
/// an offset) into UTC itself instead of leaving every such row to the general path.
///
/// The general path (`ZoneConverter.offset`) resolves a local time L by `LocalClock.offset(ofLocal:in:)`. Around a
/// change of offset at UTC instant T from a to b, that is b for every L >= T + max(a, b) and a for every
/// L < T + min(a, b): those local times exist once. In between is the hour that is skipped or repeated, where the
/// rule decides. That stretch, widened to T + min(a, b, 0) - 1 h ..< T + max(a, b, 0) + 1 h (the general path
/// caches offsets per local hour), is a segment the C pass leaves to the general path, so both paths give the same
/// instant for every row (`ZoneSegmentsTests`).
///
/// The changes are found from the zone's offset at every UTC midnight from 1900 to 2100 (73,000 lookups, about
/// 5 ms, once per zone and process), then the second of each change by bisection. A day whose offset changes
/// twice (seen as its two ends disagreeing with the second found) is left to the general path whole; local times
/// outside the years sampled are too. A change undone within the same UTC day would not be seen: there is none in
/// the zone data (all 443 zones of the build machine, 1900-2100: the 46,512 changes `nextDaylightSavingTimeTransition`
/// reports with a new offset are each seen by the daily samples).
final class ZoneSegments: @unchecked Sendable {
    /// What `FastRows` hands to C; lives as long as this object.
    let table: UnsafeMutablePointer<cvm_zone_table>
    /// The segments: local second each starts at, and its offset (nil: left to the general path).
    let segments: [(start: Int64, offset: Int64?)]
    /// Where the last segment ends (local seconds).
    let end: Int64
    private let starts: UnsafeMutablePointer<Int64>
    private let offsets: UnsafeMutablePointer<Int64>

    /// The segments of `tz` (one per zone identifier and process).
    static func shared(_ tz: TimeZone) -> ZoneSegments {
        cacheLock.withLock {
            if let s = cache[tz.identifier] { return s }
            let s = ZoneSegments(firstDay: firstDay, lastDay: lastDay) { Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double($0)))) }
            cache[tz.identifier] = s
            return s
        }
    }
    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [String: ZoneSegments] = [:]
    /// 1900-01-01 and 2100-01-01, in days since 1970-01-01.
    static let firstDay: Int64 = -25_567, lastDay: Int64 = 47_482

    /// The segments of a zone whose offset (seconds east of UTC) at UTC second u is `offset(u)`, sampled at every UTC
    /// midnight of days `firstDay...lastDay`.
    init(firstDay: Int64, lastDay: Int64, offset: (Int64) -> Int64) {
        let day: Int64 = 86_400, hour: Int64 = 3_600
        // The stretches left to the general path (local seconds), with the offset after each.
        var unsure: [(lo: Int64, hi: Int64, after: Int64)] = []
        var before = offset(firstDay * day)
        let first = before
        for d in firstDay..<lastDay {
            let after = offset((d + 1) * day)
            defer { before = after }
            guard after != before else { continue }
            // The first second of the day whose offset is no longer `before`.
            var lo = d * day, hi = (d + 1) * day  // offset(lo) == before, offset(hi) != before
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2
                if offset(mid) == before { lo = mid } else { hi = mid }
            }
            if offset(hi) == after {
                unsure.append((hi + min(before, after, 0) - hour, hi + max(before, after, 0) + hour, after))
            } else {
                // More than one change that day: all of it, with a day's margin, to the general path.
                unsure.append((d * day - day, (d + 2) * day + day, after))
            }
        }
        // Stretches that overlap are one, with the offset after the later change.
        var groups: [(lo: Int64, hi: Int64, after: Int64, last: Int)] = []
        for (k, u) in unsure.enumerated().sorted(by: { $0.element.lo < $1.element.lo }) {
            if let g = groups.last, u.lo <= g.hi {
                groups[groups.count - 1].hi = max(g.hi, u.hi)
                if k > g.last { (groups[groups.count - 1].after, groups[groups.count - 1].last) = (u.after, k) }
            } else {
                groups.append((u.lo, u.hi, u.after, k))
            }
        }
        // Local times whose candidate instants stay inside the days sampled (offsets are within 18 hours): a day in from each end.
        let start = firstDay * day + day, end = lastDay * day - day
        var merged: [(start: Int64, offset: Int64?)] = []
        var current: (start: Int64, offset: Int64) = (start, first)
        for g in groups where g.hi > start && g.lo < end {
            if g.lo > current.start { merged.append((current.start, current.offset)) }
            merged.append((max(g.lo, current.start), nil))
            current = (g.hi, g.after)
        }
        if current.start < end { merged.append((current.start, current.offset)) }
        self.segments = merged
        self.end = end
        let n = merged.count
        starts = .allocate(capacity: n + 1)
        offsets = .allocate(capacity: max(1, n))
        for (k, s) in merged.enumerated() {
            starts[k] = s.start
            offsets[k] = s.offset ?? CVM_ZONE_NOT_FIXED
        }
        starts[n] = end
        table = .allocate(capacity: 1)
        table.initialize(to: cvm_zone_table(starts: starts, offsets: offsets, count: Int64(n)))
    }

    /// The offset the C pass uses for local second `local`, or nil when it leaves it to the general path.
    func offset(local: Int64) -> Int64? {
        guard let first = segments.first, local >= first.start, local < end else { return nil }
        var lo = 0, hi = segments.count
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if segments[mid].start <= local { lo = mid } else { hi = mid }
        }
        return segments[lo].offset
    }

    deinit {
        starts.deallocate()
        offsets.deallocate()
        table.deallocate()
    }
}

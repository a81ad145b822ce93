import CVMCore
@testable import Extract
import Foundation
import Testing

/// The segments the C row pass resolves local times with give, wherever they give an offset, the offset the general
/// path's resolution (`LocalClock.offset(ofLocal:in:)`) gives for every second of that local hour; and they leave only the hours around each
/// change of offset to the general path.
struct ZoneSegmentsTests {
    /// `ZoneConverter.offset` without its cache.
    static func resolved(_ tz: TimeZone, _ local: Int64) -> Int64 { LocalClock.offset(ofLocal: local, in: tz) }

    /// Local seconds every 20 minutes (at odd seconds) through several years, and every minute within a day of
    /// each change of offset in them.
    static func probes(_ segments: ZoneSegments, years: [ClosedRange<Int>]) -> [Int64] {
        var out: [Int64] = []
        for r in years {
            let a = CivilDate(year: r.lowerBound, month: 1, day: 1).daysSinceEpoch * 86_400
            let b = CivilDate(year: r.upperBound + 1, month: 1, day: 1).daysSinceEpoch * 86_400
            out += stride(from: a + 7, to: b, by: 1_200)
            for s in segments.segments where s.offset == nil && s.start >= a && s.start < b {
                out += stride(from: s.start - 86_400, to: s.start + 86_400, by: 60)
            }
        }
        return out
    }

    @Test(arguments: ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Apia",
                      "Asia/Kolkata", "America/St_Johns", "Europe/Moscow"])
    func everyOffsetGivenIsTheResolvedOne(zone: String) throws {
        let tz = try #require(TimeZone(identifier: zone))
        let segments = ZoneSegments.shared(tz)
        var given = 0, probes = 0
        for local in Self.probes(segments, years: [1916...1920, 1970...1972, 2010...2012, 2025...2027]) {
            probes += 1
            guard let o = segments.offset(local: local) else { continue }
            given += 1
            let hour = local - ((local % 3600) + 3600) % 3600
            #expect(o == Self.resolved(tz, local), "\(zone) at local \(local)")
            #expect(o == Self.resolved(tz, hour) && o == Self.resolved(tz, hour + 3599), "\(zone): the hour of local \(local)")
        }
        // The stretches left to the general path are hours around each change, not days (probes near changes are
        // dense, so this share is far above the share of rows).
        #expect(Double(given) > 0.9 * Double(probes), "\(zone): \(given) of \(probes)")
    }

    /// Two changes in one UTC day (a synthetic zone: +1h from 10:00, +2h from 20:00 of day 10), a change of 24 hours
    /// (Samoa skipping a day), times outside the days sampled.
    @Test func oddChangesAreLeftWhole() {
        let day: Int64 = 86_400
        let synthetic = ZoneSegments(firstDay: 0, lastDay: 40) { u in u < 10 * day + 36_000 ? 0 : u < 10 * day + 72_000 ? 3_600 : 7_200 }
        #expect(synthetic.offset(local: 5 * day) == 0)
        #expect(synthetic.offset(local: 10 * day + 50_000) == nil, "the day of two changes is left whole")
        #expect(synthetic.offset(local: 9 * day + 1) == nil, "with a day's margin")
        #expect(synthetic.offset(local: 9 * day - 1) == 0)
        #expect(synthetic.offset(local: 13 * day) == 7_200)
        #expect(synthetic.offset(local: 12 * day + 7_200) == nil)
        #expect(synthetic.offset(local: 0) == nil, "the first sampled day is the margin")
        #expect(synthetic.offset(local: 40 * day) == nil)
        let skip = ZoneSegments(firstDay: 0, lastDay: 40) { u in u >= 20 * day ? 14 * 3_600 : -10 * 3_600 }
        #expect(skip.offset(local: 19 * day - 10 * 3_600 - 3_601) == -36_000)
        #expect(skip.offset(local: 20 * day) == nil)
        #expect(skip.offset(local: 20 * day + 14 * 3_600 + 3_600) == 50_400)
        let fixed = ZoneSegments(firstDay: 0, lastDay: 40) { _ in 19_800 }
        #expect(fixed.segments.count == 1)
        #expect(fixed.offset(local: 20 * day) == 19_800)
    }
}

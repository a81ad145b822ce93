import Foundation
import CVMCore
import Testing

struct CivilDateTests {
    /// Slow obvious oracle: count days one by one from 1970-01-01.
    func oracleDays(_ y: Int, _ m: Int, _ d: Int) -> Int64 {
        var days: Int64 = 0
        if y >= 1970 {
            for yy in 1970..<y { days += CivilDate.isLeap(yy) ? 366 : 365 }
        } else {
            for yy in y..<1970 { days -= CivilDate.isLeap(yy) ? 366 : 365 }
        }
        for mm in 1..<m { days += Int64(CivilDate.daysIn(year: y, month: mm)) }
        return days + Int64(d - 1)
    }

    @Test("days since epoch match a day-counting oracle", arguments: [
        (1970, 1, 1), (1969, 12, 31), (2000, 2, 29), (2024, 12, 31), (2026, 6, 30), (1900, 3, 1), (2100, 2, 28),
    ])
    func daysSinceEpoch(y: Int, m: Int, d: Int) {
        let date = CivilDate(year: y, month: m, day: d)
        #expect(date.daysSinceEpoch == oracleDays(y, m, d))
        #expect(CivilDate(daysSinceEpoch: date.daysSinceEpoch) == date)
    }

    @Test func roundTripsEveryDayOfFourHundredYears() {
        var expected = CivilDate(year: 1800, month: 1, day: 1)
        for z in CivilDate(year: 1800, month: 1, day: 1).daysSinceEpoch..<CivilDate(year: 2200, month: 1, day: 1).daysSinceEpoch {
            let c = CivilDate(daysSinceEpoch: z)
            #expect(c == expected)
            if c != expected { return }
            expected = expected.day < CivilDate.daysIn(year: expected.year, month: expected.month)
                ? CivilDate(year: expected.year, month: expected.month, day: expected.day + 1)
                : (expected.month == 12 ? CivilDate(year: expected.year + 1, month: 1, day: 1)
                                        : CivilDate(year: expected.year, month: expected.month + 1, day: 1))
        }
    }

    @Test func parsesISODatesAndRejectsImpossibleOnes() {
        #expect(CivilDate(iso: "2026-06-30") == CivilDate(year: 2026, month: 6, day: 30))
        #expect(CivilDate(iso: "2026-02-30") == nil)
        #expect(CivilDate(iso: "2024-02-29") != nil)
        #expect(CivilDate(iso: "2023-02-29") == nil)
        #expect(CivilDate(iso: "2026-6-30") == nil)
        #expect(CivilDate(iso: "2026-13-01") == nil)
    }

    @Test func weekdaysAreISO() {
        #expect(CivilDate(year: 1970, month: 1, day: 1).isoWeekday == 4)  // Thursday
        #expect(CivilDate(year: 2026, month: 11, day: 23).isoWeekday == 1)  // Monday
        #expect(CivilDate(year: 1969, month: 12, day: 28).isoWeekday == 7)  // Sunday
    }

    @Test func formatsTimestampsInUTC() {
        #expect(formatTimestampMicros(0) == "1970-01-01T00:00:00Z")
        #expect(formatTimestampMicros(-1) == "1969-12-31T23:59:59.999999Z")
        #expect(formatTimestampMicros(1_782_777_600_000_000 + 3_723_000_000) == "2026-06-30T01:02:03Z")
    }
}

struct ColumnTests {
    @Test func decimalsFormatExactly() {
        #expect(formatDecimal(1999, scale: 2) == "19.99")
        #expect(formatDecimal(-5, scale: 2) == "-0.05")
        #expect(formatDecimal(7, scale: 0) == "7")
        let c = Column("p", .decimal, int64: [1999, 5], scale: 2)
        #expect(c.double(at: 0) == 19.99)
        #expect(c.formatted(at: 1) == "0.05")
    }

    @Test func stringColumnsInternInFirstSeenOrder() {
        let c = Column("s", strings: ["b", nil, "a", "b"])
        #expect(c.dictionary == ["b", "a"])
        #expect(c.stringCodes == [0, 0, 1, 0])
        #expect(c.validity == [true, false, true, true])
        #expect(c.string(at: 1) == nil)
        #expect(c.string(at: 3) == "b")
    }

    @Test func concatenationMergesDictionariesDeterministically() {
        let a = Table(name: "t", columns: [Column("s", strings: ["x", "y"]), Column("n", .int, int64: [1, 2])])
        let b = Table(name: "t", columns: [Column("s", strings: ["y", nil]), Column("n", .int, int64: [3, 4])])
        let c = Table.concatenating([a, b], name: "t")
        #expect(c.rowCount == 4)
        #expect((0..<4).map { c["s"]!.string(at: $0) } == ["x", "y", "y", nil])
        #expect(c["n"]!.int64Values == [1, 2, 3, 4])
        #expect(c["s"]!.dictionary == ["x", "y"])
    }

    @Test func gatheringKeepsValidity() {
        let t = Table(name: "t", columns: [Column("v", double: [1, 2, 3], validity: [true, false, true])])
        let g = t.gathering([2, 1])
        #expect(g["v"]!.doubleValues == [3, 2])
        #expect(g["v"]!.validity == [true, false])
    }

    /// The releasing gather of row runs gives the same table as `gathering` of their indices, for every storage
    /// and code width, with and without nulls, on any thread count; the runs are those of the zero bytes.
    @Test(arguments: [1, 3]) func gatheringRunsEqualsGatheringIndices(threads: Int) {
        var rng = SeededRNG(seed: 17)
        for rows in [0, 1, 7, 1_000] {
            let flags = (0..<rows).map { _ in UInt8(rng.next() % 5 == 0 ? 1 + rng.next() % 3 : 0) }
            let runs = RowRuns(zerosOf: flags)
            let kept = (0..<rows).filter { flags[$0] == 0 }
            #expect(runs.indices == kept)
            #expect(runs.total == kept.count)
            #expect(RowRuns(kept) == runs)
            #expect(zip(runs.starts.dropFirst(), zip(runs.starts, runs.counts)).allSatisfy { $0 > $1.0 + $1.1 }, "runs are never adjacent")
            let t = Table(name: "t", columns: [
                Column("v", double: (0..<rows).map { Double($0) / 3 }, validity: (0..<rows).map { $0 % 4 != 1 }),
                Column("s", strings: (0..<rows).map { $0 % 6 == 2 ? nil : "a\($0 % 9)" }),
                Column("wide", strings: (0..<rows).map { "w\($0 % 400)" }),
                Column("ids", strings: (0..<rows).map { "id\($0)" }),
                Column("n", .int, int64: (0..<rows).map { Int64($0) * 7 }),
            ], rowCount: rows)
            let expected = t.gathering(kept, threads: threads)
            let released = t.gatheringReleasing(runs, threads: threads)
            #expect(released == expected)
            #expect(released.rowCount == kept.count)
        }
        let t = Table(name: "t", columns: [Column("s", strings: ["a", nil, "b", "a"])], rowCount: 4)
        #expect(t.gatheringReleasing(RowRuns([0, 2, 3]))["s"]!.dictionary == ["a", "b"])
    }
}

struct QuarantineTableTests {
    @Test func recordsRoundTripThroughATable() {
        let records = [
            QuarantineRecord(source: "orders", file: "a.csv.gz", line: 3, column: 7, rule: "parse", reason: "bad", raw: "1,2"),
            QuarantineRecord(source: "orders", file: "b.csv.gz", line: 9, column: nil, rule: "duplicate", reason: "dup", raw: "x"),
        ]
        let t = QuarantineRecord.table(records)
        #expect(t.columnNames == QuarantineRecord.schema.columns.map(\.name))
        #expect(QuarantineRecord.records(from: t) == records)
    }
}

struct SeededRNGTests {
    @Test func sameSeedAndStreamGiveTheSameSequence() {
        var a = SeededRNG(seed: 42, stream: 3), b = SeededRNG(seed: 42, stream: 3), c = SeededRNG(seed: 42, stream: 4)
        let xa = (0..<100).map { _ in a.next() }, xb = (0..<100).map { _ in b.next() }, xc = (0..<100).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test func doublesAreUniformInUnitInterval() {
        var r = SeededRNG(seed: 1)
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 {
            let d = r.nextDouble()
            #expect(d >= 0 && d < 1)
            buckets[Int(d * 10)] += 1
        }
        #expect(buckets.allSatisfy { abs($0 - 10_000) < 600 })
    }
}

struct ParallelMapTests {
    @Test func resultsComeInChunkOrderForAnyThreadCount() {
        for threads in [1, 2, 3, 8] {
            #expect(parallelMap(chunks: 37, threads: threads) { $0 * $0 } == (0..<37).map { $0 * $0 })
        }
    }
}

/// `orderedPipeline`: consumed in index order while later items are produced, never more than `window` ahead.
struct OrderedPipelineTests {
    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var started = 0, consumed = 0, mostAhead = 0
        func start() {
            lock.lock(); started += 1; mostAhead = max(mostAhead, started - consumed); lock.unlock()
        }
        func consume() { lock.lock(); consumed += 1; lock.unlock() }
    }

    @Test(arguments: [1, 2, 3, 8])
    func itemsAreConsumedInOrderWithinTheWindow(threads: Int) {
        let counter = Counter()
        var seen: [Int] = []
        orderedPipeline(count: 60, threads: threads, window: 2 * threads) { i in
            counter.start()
            usleep(UInt32((i * 7919) % 5) * 300)  // uneven work, so items finish out of order
            return i * i
        } consume: { i, value in
            seen.append(i)
            #expect(value == i * i)
            counter.consume()
            return true
        }
        #expect(seen == Array(0..<60))
        #expect(counter.started == 60)
        #expect(counter.mostAhead <= max(2 * threads, 1))
    }

    @Test(arguments: [1, 2, 4])
    func stoppingStartsNoFurtherItems(threads: Int) {
        let counter = Counter()
        var consumed: [Int] = []
        orderedPipeline(count: 100, threads: threads, window: 2 * threads) { i in
            counter.start()
            return i
        } consume: { i, _ in
            consumed.append(i)
            return i < 3
        }
        #expect(consumed == [0, 1, 2, 3])
        // Item 3 stops it: at most a window beyond the last consumed item was started.
        #expect(counter.started <= 3 + max(2 * threads, 1) + 1)
    }
}

/// `ByteInterner` look-ups without insertion and the byte order of its codes (the feature stage's customer order).
struct ByteInternerOrderTests {
    @Test func lookUpAndByteOrder() {
        var b = ByteInterner()
        let values = ["b", "a", "ab", "", "Z", "é", "a\u{0}", "aa"]
        for v in values { _ = b.intern(v) }
        #expect(b.code(of: "ab") == 2)
        #expect(b.code(of: "missing") == nil)
        #expect(b.count == values.count)  // a look-up adds nothing
        let ordered = b.codesInByteOrder().map { values[Int($0)] }
        #expect(ordered == values.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(ordered == ["", "Z", "a", "a\u{0}", "aa", "ab", "b", "é"])
    }
}

/// Merging per-file dictionaries (`intern(contentsOf:)`) gives the codes of interning every value one by one.
struct ByteInternerMergeTests {
    @Test func mergeEqualsInterningOneByOne() {
        var parts: [(values: StringDictionary, hashes: [UInt64])] = []
        var rng = SeededRNG(seed: 7)
        for p in 0..<6 {
            var file = ByteInterner()
            // Ids shared across parts, ids of one part only, the empty value, values of every length around the
            // hash's 8-byte words, and enough values to grow the table.
            for _ in 0..<(p == 3 ? 0 : 5_000) { _ = file.intern("id-\(rng.next() % 20_000)") }
            for n in 0..<20 { _ = file.intern(String(repeating: "x", count: n)) }
            _ = file.intern("")
            _ = file.intern("part-\(p)")
            parts.append(file.finish())
        }
        var merged = ByteInterner()
        var mergedRehashing = ByteInterner()
        // Keeps no hashes: it grows (from 1,024 slots) by hashing its arena again.
        var unrecorded = ByteInterner(recordingHashes: false)
        var oneByOne = ByteInterner()
        for (d, hashes) in parts {
            let remap = merged.intern(contentsOf: d, hashes: hashes)
            let expected = d.map { oneByOne.intern($0) }
            #expect(remap == expected)
            #expect(mergedRehashing.intern(contentsOf: d) == expected)
            #expect(d.map { unrecorded.intern($0) } == expected)
        }
        #expect(merged.count == oneByOne.count)
        #expect(merged.strings() == oneByOne.strings())
        #expect(merged.dictionary() == oneByOne.dictionary())
        #expect(unrecorded.dictionary() == oneByOne.dictionary())
        // Its finish() hashes the values then: the same hashes a recording interner keeps.
        #expect(unrecorded.finish().hashes == oneByOne.finish().hashes)
    }
}

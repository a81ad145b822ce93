import CVMCore
import Testing

struct StringCodesTests {
    /// The width is the narrowest that holds every code of the dictionary, at each edge.
    @Test(arguments: [(0, 1), (1, 1), (256, 1), (257, 2), (65_536, 2), (65_537, 4), (3_000_000, 4)])
    func widthFollowsTheDictionarySize(count: Int, bytes: Int) {
        #expect(StringCodes.Width(dictionaryCount: count).rawValue == bytes)
    }

    /// Codes read back as stored at every width, including the largest code each width holds, and gathered
    /// rows keep the width and the values.
    @Test(arguments: [1, 255, 256, 300, 65_536, 70_000])
    func codesReadBackAtEveryWidth(dictionaryCount: Int) {
        let n = 5_000
        let largest = Int32(dictionaryCount - 1)
        let codes: [Int32] = (0..<n).map { i in i == n - 1 ? largest : Int32((i &* 7919) % dictionaryCount) }
        let stored = StringCodes(codes, dictionaryCount: dictionaryCount)
        #expect(stored.width == StringCodes.Width(dictionaryCount: dictionaryCount))
        #expect(stored.count == n)
        #expect(Array(stored) == codes)
        #expect(stored.withUnsafeBytes { $0.count } == n * stored.width.rawValue)
        let picks = [n - 1, 0, 17, 17, n / 2]
        let gathered = stored.gathering(picks)
        #expect(gathered.width == stored.width)
        #expect(Array(gathered) == picks.map { codes[$0] })
    }

    /// Equality is by value, whatever the width (an artifact written before narrow codes holds 4-byte codes).
    @Test func equalityIsByValueAcrossWidths() {
        let narrow = StringCodes([0, 1, 2, 1], dictionaryCount: 3)
        let wide = StringCodes([0, 1, 2, 1], dictionaryCount: 100_000)
        #expect(narrow.width == .one && wide.width == .four)
        #expect(narrow == wide)
        #expect(narrow != StringCodes([0, 1, 2, 2], dictionaryCount: 3))
        #expect(narrow != StringCodes([0, 1, 2], dictionaryCount: 3))
        #expect(StringCodes() == [])
    }

    /// A string column's codes take the width of its dictionary wherever the column is made from 32-bit codes.
    @Test func columnsStoreCodesAtTheirDictionarysWidth() {
        let few = Column("device", strings: (0..<1_000).map { ["app", "web", nil][$0 % 3] })
        #expect(few.stringCodes.width == .one)
        let many = Column("id", strings: (0..<70_000).map { "id\($0)" })
        #expect(many.stringCodes.width == .four)
        #expect(many.stringCodes[69_999] == 69_999)
        let joined = Table.concatenating([Table(name: "a", columns: [few]), Table(name: "b", columns: [few])], name: "ab")
        #expect(joined["device"]?.stringCodes.width == .one)
        #expect(joined["device"]?.string(at: 1_001) == "web")
    }

    /// A builder fed parts whose dictionary grows past 256 and 65,536 values widens its codes as it goes and
    /// ends at the width of the final dictionary, with every code as appended; reserving room changes nothing.
    @Test(arguments: [0, 10, 200_000])
    func builderWidensAsTheDictionaryGrows(reserve: Int) {
        let builder = StringCodes.Builder()
        builder.reserveCapacity(reserve)
        var expected: [Int32] = []
        var dictionary = 0
        var widths: [StringCodes.Width] = []
        for part in 0..<40 {
            // Each part brings new values (codes `dictionary ..< dictionary + fresh`) and repeats old ones.
            let fresh = part < 10 ? 20 : 5_000
            let local: [Int32] = (0..<3_000).map { Int32($0 % (fresh + 3)) }
            let remap: [Int32] = (0..<(fresh + 3)).map { $0 < fresh ? Int32(dictionary + $0) : Int32($0 - fresh) }
            dictionary += fresh
            builder.append(local, through: remap, dictionaryCount: dictionary)
            expected += local.map { remap[Int($0)] }
            if part % 7 == 0 {
                builder.append(0, count: 11, dictionaryCount: dictionary)
                expected += repeatElement(0, count: 11)
            }
            widths.append(builder.width)
        }
        #expect(widths.first == .one && widths.contains(.two) && widths.last == .four)
        let codes = builder.finish(dictionaryCount: dictionary)
        #expect(codes.width == .four)
        #expect(Array(codes) == expected)
        #expect(builder.count == 0)
        let small = StringCodes.Builder()
        small.append([1, 0, 1], through: [0, 1], dictionaryCount: 2)
        #expect(small.finish(dictionaryCount: 300) == [1, 0, 1])
    }
}

import CVMCore
import Testing

/// `StringDictionary`: the arena form of a string column's values, its artifact file form, and byte order.
struct StringDictionaryTests {
    @Test func valuesReadBackAsStringsAndBytes() {
        let d: StringDictionary = ["b", "", "é", "a longer value than fifteen bytes"]
        #expect(d.count == 4)
        #expect(Array(d) == ["b", "", "é", "a longer value than fifteen bytes"])
        #expect(d[2] == "é")
        #expect(d.byteCount(2) == 2)
        #expect(d.byteCount(1) == 0)
        #expect(d.withBytes(0) { Array($0) } == [UInt8(ascii: "b")])
        #expect(d.firstIndex(of: "é") == 2)
        #expect(d == StringDictionary(["b", "", "é", "a longer value than fifteen bytes"]))
        #expect(d != StringDictionary(["b", "", "é"]))
        #expect(StringDictionary().isEmpty)
    }

    @Test func invalidUTF8IsRepairedWhenReadAsAString() {
        var d = StringDictionary()
        let bad: [UInt8] = [0x61, 0xFF, 0x62]
        bad.withUnsafeBufferPointer { _ = d.append($0) }
        #expect(d[0] == "a\u{FFFD}b")
        #expect(d.withBytes(0) { Array($0) } == bad)
    }

    @Test func theFileFormRoundTrips() {
        for d: StringDictionary in [[], [""], ["x"], ["C000001", "", "déjà vu", String(repeating: "z", count: 300)]] {
            let bytes = d.fileBytes()
            #expect(bytes.count == 4 + 4 * d.count + d.arena.count)
            let back = bytes.withUnsafeBytes { StringDictionary(fileBytes: $0) }
            #expect(back == d)
        }
        // The layout: count, end offsets, bytes (little-endian).
        #expect((["ab", "c"] as StringDictionary).fileBytes() == [2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 97, 98, 99])
        // An empty file is an empty dictionary.
        #expect([UInt8]().withUnsafeBytes { StringDictionary(fileBytes: $0) } == StringDictionary())
    }

    @Test func corruptFileFormsAreRejected() {
        let good = (["ab", "c"] as StringDictionary).fileBytes()
        var outOfOrder = (["ab", "c", "d"] as StringDictionary).fileBytes()
        (outOfOrder[4], outOfOrder[8]) = (3, 2)  // ends 3, 2, 4: the last still spans the bytes
        var pastTheEnd = good
        pastTheEnd[8] = 9
        let cases: [[UInt8]] = [
            [1, 0],                    // shorter than the count
            Array(good.prefix(10)),    // cut inside the offsets
            Array(good.dropLast()),    // bytes missing
            good + [0],                // bytes left over
            outOfOrder,
            pastTheEnd,
        ]
        for bytes in cases {
            #expect(bytes.withUnsafeBytes { StringDictionary(fileBytes: $0) } == nil)
        }
    }

    @Test func byteOrderIsUnsignedWithTheShorterPrefixFirst() {
        let values = ["b", "a", "ab", "", "Z", "é", "a\u{0}", "aa"]
        let d = StringDictionary(values)
        let ordered = d.indicesInByteOrder().map { values[Int($0)] }
        #expect(ordered == ["", "Z", "a", "a\u{0}", "aa", "ab", "b", "é"])
        #expect(d.precedesInByteOrder(1, 2))   // "a" < "ab"
        #expect(!d.precedesInByteOrder(2, 1))
        #expect(!d.precedesInByteOrder(1, 1))
        #expect(d.precedesInByteOrder(4, 5))   // "Z" < "é": 0x5A < 0xC3
        #expect(d.precedesInByteOrder(4, 0))   // "Z" < "b"
        #expect(d.precedesInByteOrder(0, 5))   // "b" < "é" (unsigned)
    }

    /// Values of every length around the 8-byte words the comparison takes, sharing long prefixes and differing
    /// in any byte (bytes above 0x7F too), in the order of their bytes compared one by one.
    @Test func byteOrderAgreesWithBytewiseComparisonAtEveryLength() {
        var rng = SeededRNG(seed: 21)
        let alphabet = ["a", "b", "0", "9", "é", "\u{7F}"]
        let values = (0..<600).map { k -> String in
            let prefix = k % 3 == 0 ? "" : "E01379000"
            return prefix + (0..<Int(rng.next() % 20)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined()
        }
        let d = StringDictionary(values)
        for i in 0..<values.count {
            for j in stride(from: i % 7, to: values.count, by: 7) {
                let want = Array(values[i].utf8).lexicographicallyPrecedes(Array(values[j].utf8))
                #expect(d.precedesInByteOrder(i, j) == want, "\(values[i]) < \(values[j])")
            }
        }
    }

    /// The interner's inline byte comparison agrees with `==` at every length around its 4- and 8-byte loads.
    @Test func internerSeparatesValuesDifferingInAnyByte() {
        var b = ByteInterner()
        var values: [String] = []
        for n in 0...20 {
            let base = String(repeating: "a", count: n)
            values.append(base)
            // The same length, one byte different at each position.
            for k in 0..<n {
                var bytes = Array(base.utf8)
                bytes[k] = UInt8(ascii: "b")
                values.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        let codes = values.map { b.intern($0) }
        #expect(Set(codes).count == values.count)
        #expect(values.map { b.intern($0) } == codes)  // each one found again
        #expect(b.count == values.count)
    }
}

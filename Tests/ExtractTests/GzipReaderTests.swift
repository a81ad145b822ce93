import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

struct GzipReaderTests {
    func readAll(_ path: String, max: Int = 5, bufferSize: Int = 1 << 18) throws -> String {
        let r = try GzipReader(path: path, bufferSize: bufferSize)
        var out: [UInt8] = []
        while try r.read(into: &out, max: max) > 0 {}
        return String(decoding: out, as: UTF8.self)
    }

    static let text = (0..<2000).map { "row \($0),\($0 * 7919 % 10007)" }.joined(separator: "\n")

    @Test("a plain file passes through unchanged", arguments: [1, 5, 4096])
    func plainFilePassthrough(max: Int) throws {
        let path = try writeInput(Self.text)
        #expect(try readAll(path, max: max) == Self.text)
        #expect(try readAll(path, max: max, bufferSize: 16) == Self.text)
        let r = try GzipReader(path: path)
        var out: [UInt8] = []
        while try r.read(into: &out, max: 1000) > 0 {}
        #expect(r.uncompressedBytes == Int64(Self.text.utf8.count))
        #expect(r.compressedSize == Int64(Self.text.utf8.count))
    }

    /// A named pipe matched by a glob is a file error, not a read that waits for a writer for ever.
    @Test func aNamedPipeIsRefusedNotWaitedOn() throws {
        let path = try makeTemporaryDirectory("fifo") + "/orders.csv"
        #expect(mkfifo(path, 0o600) == 0)
        do {
            _ = try GzipReader(path: path)
            Issue.record("opened a FIFO")
        } catch let e as InputFileError {
            #expect(e.path == path && e.message.hasPrefix("not a regular file but a named pipe (FIFO)"), "\(e.message)")
        }
    }

    @Test func anEmptyOrOneByteFileIsPlain() throws {
        #expect(try readAll(try writeInput("")) == "")
        #expect(try readAll(try writeInput("x")) == "x")
        #expect(try readAll(try writeBytes([0x1f])) == "\u{1f}")
    }

    @Test("gzip data is inflated for any read and input-buffer size", arguments: [1, 5, 4096], [2, 16, 1 << 18])
    func gzipInflates(max: Int, bufferSize: Int) throws {
        let path = try writeInput(Self.text, gzip: true)
        let r = try GzipReader(path: path, bufferSize: bufferSize)
        var out: [UInt8] = []
        while try r.read(into: &out, max: max) > 0 {}
        #expect(String(decoding: out, as: UTF8.self) == Self.text)
        #expect(r.uncompressedBytes == Int64(Self.text.utf8.count))
        #expect(r.compressedSize == Int64(try readData(path).count))
        #expect(try r.read(into: &out, max: max) == 0)
    }

    @Test func readsEveryMemberOfAMultiMemberFile() throws {
        let dir = try makeTemporaryDirectory("gz")
        let a = try writeInput("part one\n", name: "a.csv", gzip: true, dir: dir)
        let b = try writeInput("part two\n", name: "b.csv", gzip: true, dir: dir)
        let c = try writeInput(Self.text, name: "c.csv", gzip: true, dir: dir)
        var all = try readData(a)
        all.append(try readData(b))
        all.append(try readData(c))
        try writeData(all, "\(dir)/multi.csv.gz")
        #expect(try readAll("\(dir)/multi.csv.gz") == "part one\npart two\n" + Self.text)
        #expect(try readAll("\(dir)/multi.csv.gz", max: 4096, bufferSize: 7) == "part one\npart two\n" + Self.text)
        #expect(try readAll(a) == "part one\n")
    }

    @Test func trailingZeroPaddingAfterTheLastMemberIsIgnored() throws {
        let path = try writeInput("padded\n", gzip: true)
        var bytes = try readData(path)
        bytes.append(Data(repeating: 0, count: 512))
        try writeData(bytes, path)
        #expect(try readAll(path) == "padded\n")
    }

    @Test func truncatedDataNamesTheCompressedByteOffset() throws {
        let dir = try makeTemporaryDirectory("gz")
        let gz = try writeInput(Self.text, name: "t.csv", gzip: true, dir: dir)
        let bytes = try readData(gz)
        for cut in [bytes.count / 2, bytes.count - 4, 12] {
            try writeData(bytes.prefix(cut), "\(dir)/cut.csv.gz")
            do {
                _ = try readAll("\(dir)/cut.csv.gz")
                Issue.record("a file cut at \(cut) of \(bytes.count) bytes read without error")
            } catch let e as InputFileError {
                #expect(e.path == "\(dir)/cut.csv.gz")
                #expect(e.message.hasPrefix("truncated gzip data at compressed byte offset \(cut)"), "cut at \(cut)")
                #expect(e.message.hasSuffix("; re-download the file"))  // the policy advice is the extract's (only where the policy is fail)
            }
        }
    }

    @Test func theBytesBeforeTruncationAreHandedOutBeforeTheError() throws {
        let dir = try makeTemporaryDirectory("gz")
        let gz = try writeInput(Self.text, name: "t.csv", gzip: true, dir: dir)
        let bytes = try readData(gz)
        try writeData(bytes.prefix(bytes.count / 2), "\(dir)/cut.csv.gz")
        let r = try GzipReader(path: "\(dir)/cut.csv.gz")
        var out: [UInt8] = []
        #expect(throws: InputFileError.self) { while try r.read(into: &out, max: 1 << 20) > 0 {} }
        #expect(!out.isEmpty)
        #expect(Self.text.utf8.starts(with: out))
        #expect(try r.read(into: &out, max: 10) == 0)
    }

    @Test func corruptDataIsReportedAsCorrupt() throws {
        let dir = try makeTemporaryDirectory("gz")
        let gz = try writeInput(Self.text, name: "t.csv", gzip: true, dir: dir)
        var bad = try readData(gz)
        let mid = bad.count / 2
        for i in (mid - 10)..<(mid + 10) { bad[i] ^= 0x5A }
        try writeData(bad, "\(dir)/bad.csv.gz")
        do {
            _ = try readAll("\(dir)/bad.csv.gz")
            Issue.record("a corrupt file read without error")
        } catch let e as InputFileError {
            #expect(e.message.hasPrefix("corrupt gzip data at compressed byte offset"))
            #expect(e.message.hasSuffix("; re-download the file"))  // the policy advice is the extract's (only where the policy is fail)
        }
    }

    @Test func garbageAfterAMemberIsCorruptNotSilentlyIgnored() throws {
        let path = try writeInput("first\n", gzip: true)
        var bytes = try readData(path)
        bytes.append(Data("not gzip at all".utf8))
        try writeData(bytes, path)
        #expect(throws: InputFileError.self) { try readAll(path) }
        do { _ = try readAll(path) } catch let e as InputFileError { #expect(e.message.hasPrefix("corrupt gzip data")) }
    }

    @Test func aMissingFileOrADirectoryIsAnError() throws {
        #expect(throws: InputFileError.self) { try GzipReader(path: "/nonexistent/x.csv.gz") }
        let dir = try makeTemporaryDirectory("gz")
        do {
            _ = try GzipReader(path: dir)
            Issue.record("a directory was opened as a file")
        } catch let e as InputFileError {
            #expect(e.message.hasPrefix("is a directory"))
        }
    }

    @Test func aGzipBombIsRefusedWhileItStreams() throws {
        // 64 MiB of zeros deflate about 1000:1; the reader must stop early, not inflate it all.
        let path = try writeBytes([UInt8](repeating: 0x30, count: 64 << 20), name: "bomb.csv", gzip: true)
        let reader = try GzipReader(path: path, maxExpansionRatio: 100, expansionKey: "sources.orders.max_expansion_ratio")
        var out: [UInt8] = []
        do {
            while try reader.read(into: &out, max: 1 << 16) > 0 { out.removeAll(keepingCapacity: true) }
            Issue.record("the bomb was read to the end")
        } catch let e as InputFileError {
            #expect(e.message.contains("inflates more than 100 times its compressed size"))
            #expect(e.message.contains("raise sources.orders.max_expansion_ratio"))
            #expect(reader.uncompressedBytes < 4 << 20)
        }
        // The same file under a generous limit reads whole.
        let lenient = try GzipReader(path: path, maxExpansionRatio: 5000)
        var total = 0
        while true { let n = try lenient.read(into: &out, max: 1 << 20); if n == 0 { break }; total += n; out.removeAll(keepingCapacity: true) }
        #expect(total == 64 << 20)
    }

    @Test func aFileThatGrowsWhileBeingReadIsAnError() throws {
        let path = try writeInput(String(repeating: "a,b\n", count: 1000))
        let reader = try GzipReader(path: path)
        var out: [UInt8] = []
        _ = try reader.read(into: &out, max: 100)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.seekToEnd()
        try h.write(contentsOf: Data("c,d\n".utf8))
        try h.close()
        do {
            while try reader.read(into: &out, max: 1 << 16) > 0 {}
            Issue.record("a file that changed while being read was accepted")
        } catch let e as InputFileError {
            #expect(e.message.contains("changed while it was being read"))
            #expect(e.message.contains("its size went from 4000 to 4004 bytes"))
        }
    }

    @Test func aFileRewrittenInPlaceWithTheSameSizeIsAnError() throws {
        // More than the reader inflates at a time (64 KiB), so the change comes before the end is read.
        let path = try writeInput(String(repeating: "a,b\n", count: 100_000), gzip: true)
        let reader = try GzipReader(path: path)
        var out: [UInt8] = []
        _ = try reader.read(into: &out, max: 10)
        // Same bytes, new modification time.
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        #expect(throws: InputFileError.self) { while try reader.read(into: &out, max: 1 << 16) > 0 {} }
    }

    @Test func inMemoryInputReadsLikeAFile() throws {
        let path = try writeInput("x,y\n1,2\n", gzip: true)
        let bytes = Array(try readData(path))
        let reader = try GzipReader(bytes: bytes, name: "mem.csv.gz")
        var out: [UInt8] = []
        while try reader.read(into: &out, max: 3) > 0 {}
        #expect(String(decoding: out, as: UTF8.self) == "x,y\n1,2\n")
        #expect(reader.compressedSize == Int64(bytes.count))
        let empty = try GzipReader(bytes: [], name: "empty")
        #expect(try empty.read(into: &out, max: 10) == 0)
    }
}

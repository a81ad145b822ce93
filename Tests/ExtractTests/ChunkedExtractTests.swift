import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

/// A file cut into chunks read by several workers gives exactly what reading it whole on one thread gives: the
/// table, every quarantine record (lines, raw text, reasons), the file reports and the nulled counts, and the same
/// error for a file that fails, whatever the chunk size and thread count.
struct ChunkedExtractTests {
    /// What a run produced, comparable (read times left out).
    struct Outcome: Equatable, CustomStringConvertible {
        var table: Table?
        var rejects: [QuarantineRecord] = []
        var files: [FileReport] = []
        var nulled: [String] = []
        var error: String?
        var description: String {
            error ?? "\(table?.rowCount ?? 0) rows, \(rejects.count) rejects: \(rejects.map { "\($0.line) \($0.rule) \($0.raw.prefix(30))" }), files \(files)"
        }
    }

    static func outcome(_ spec: SourceSpec, _ files: [String], threads: Int, chunkBytes: Int?) -> Outcome {
        do {
            let r = try Extractor.extract(spec, files: files, threads: threads, chunkBytes: chunkBytes)
            return Outcome(table: r.table, rejects: r.rejects, files: r.files, nulled: r.nulled.map { "\($0.column) \($0.count) \($0.example)" })
        } catch {
            return Outcome(table: nil, error: "\(error)")
        }
    }

    /// The first difference, for the failure message.
    static func difference(_ a: Outcome, _ b: Outcome) -> String {
        if a.error != b.error { return "error \(a.error ?? "none") against \(b.error ?? "none")" }
        if let k = (0..<min(a.rejects.count, b.rejects.count)).first(where: { a.rejects[$0] != b.rejects[$0] }) { return "reject \(k): \(a.rejects[k]) against \(b.rejects[k])" }
        if a.rejects.count != b.rejects.count { return "\(a.rejects.count) rejects against \(b.rejects.count): \(a.rejects.suffix(2)) against \(b.rejects.suffix(2))" }
        if a.files != b.files { return "files \(a.files) against \(b.files)" }
        if a.nulled != b.nulled { return "nulled \(a.nulled) against \(b.nulled)" }
        if let x = a.table, let y = b.table, let k = x.columns.indices.first(where: { x.columns[$0] != y.columns[$0] }) {
            func shown(_ c: Column) -> String {
                let values = (0..<c.count).map { c.isValid($0) ? c.formatted(at: $0) : "null" }
                let dictionary = c.storage.kind == .string ? " dictionary \(Array(c.dictionary))" : ""
                return "\(values) validity \(c.validity.map { "\($0)" } ?? "none")\(dictionary)"
            }
            return "column \(x.columns[k].spec.name): \(shown(x.columns[k])) against \(shown(y.columns[k]))"
        }
        return "tables differ: \(a.table?.rowCount ?? -1) rows against \(b.table?.rowCount ?? -1)"
    }

    /// Every chunk size and thread count against the whole-file read on one thread.
    static func expectSameAsWhole(_ spec: SourceSpec, _ files: [String], chunkBytes: [Int] = [1, 2, 3, 7, 16, 61, 300, 4096],
                                  threads: [Int] = [1, 2, 3], sourceLocation: SourceLocation = #_sourceLocation) {
        let whole = outcome(spec, files, threads: 1, chunkBytes: nil)
        for c in chunkBytes {
            for t in threads {
                let chunked = outcome(spec, files, threads: t, chunkBytes: c)
                #expect(chunked == whole, "chunks of \(c) bytes on \(t) threads: \(difference(chunked, whole))", sourceLocation: sourceLocation)
                if chunked != whole { return }
            }
        }
    }

    /// The orders source of the defect corpus (fixtures/bad/data/template.yaml).
    static func corpusOrders(_ file: String, policy: SourceSpec.FileErrorPolicy) -> SourceSpec {
        var s = SourceSpec(name: "orders", files: [], columns: [
            ("order_id", ColumnDecl(.string)), ("line_no", ColumnDecl(.int)), ("customer_id", ColumnDecl(.string)),
            ("ordered_at", ColumnDecl(.timestamp)), ("quantity", ColumnDecl(.int)), ("unit_price", ColumnDecl(.decimal, scale: 2)),
            ("status", ColumnDecl(.enum)), ("note", ColumnDecl(.string)),
        ])
        s.onFileError = policy
        s.maxLineBytes = 4096
        s.maxFieldBytes = 1024
        s.maxExpansionRatio = 100
        return s
    }

    static let corpusFiles: [String] = {
        let dir = Repo.path("fixtures/bad/data")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { ($0.hasSuffix(".csv") || $0.hasSuffix(".gz")) && $0 != "customers.csv" }.sorted().map { "\(dir)/\($0)" }
    }()

    @Test(arguments: ChunkedExtractTests.corpusFiles)
    func theDefectCorpusReadsTheSameInChunks(_ path: String) {
        // Chunks of a few bytes cost a scan each: the larger files (the gzip bomb inflates to a megabyte before it
        // is caught) are cut coarser.
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let sizes = path.hasSuffix("gzip_bomb.csv.gz") ? [4096, 1 << 16] : bytes > 2000 ? [7, 61, 4096] : [1, 2, 3, 16, 61, 4096]
        for policy in [SourceSpec.FileErrorPolicy.fail, .quarantineFile] {
            Self.expectSameAsWhole(Self.corpusOrders(path, policy: policy), [path], chunkBytes: sizes, threads: [1, 3])
        }
    }

    @Test func theWholeCorpusAsOneSourceReadsTheSameInChunks() {
        Self.expectSameAsWhole(Self.corpusOrders("", policy: .quarantineFile), Self.corpusFiles, chunkBytes: [1 << 16], threads: [2, 4])
    }

    /// Records with line breaks in quoted fields (where a cut after a line break is not a record boundary),
    /// comments, blank lines, CRLF, an overlong line longer than several chunks, malformed quotes, the header
    /// repeated, values nulled under `on_invalid: null`, in Latin-1 with a byte-order mark and leading lines.
    @Test func recordsThatCrossCutsReadTheSame() throws {
        var text = "export of 2026-06-30\r\nid,name,amount,seen\r\n"
        for i in 0..<60 {
            switch i % 12 {
            case 0: text += "\(i),\"two\r\nlines, and \"\"quotes\"\"\",\(i).50,2026-06-30\r\n"
            case 1: text += "# a comment with a \" quote\r\n"
            case 2: text += "\r\n"
            case 3: text += "\(i),\(String(repeating: "x", count: 700)),1,2026-06-30\r\n"
            case 4: text += "\(i),\"closed\"then text,1,2026-06-30\r\n"
            case 5: text += "id,name,amount,seen\r\n"
            case 6: text += "\(i),caf\u{E9},not a number,2026-06-30\r\n"
            case 7: text += "\(i),ok,3,yesterday\r\n"
            case 8: text += "\(i),\"\n\n\n\",4,2026-06-30\r\n"
            case 9: text += "\(i),short\r\n"
            default: text += "\(i),plain \(i),\(i),2026-06-30\r\n"
            }
        }
        text += "99,last line without a line break,1,2026-06-30"
        var bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(text.utf8)
        let latin1 = text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
        var spec = SourceSpec(name: "s", files: [], columns: [
            ("id", ColumnDecl(.int)), ("name", ColumnDecl(.string)), ("amount", ColumnDecl(.decimal, scale: 2)), ("seen", ColumnDecl(.date)),
        ])
        spec.columns.entries[3].value.onInvalid = .null
        spec.skipLines = 1
        spec.comment = "#"
        spec.maxLineBytes = 300
        let utf8Path = try writeBytes(bytes, name: "a.csv")
        Self.expectSameAsWhole(spec, [utf8Path])
        Self.expectSameAsWhole(spec, [try writeBytes(bytes, name: "a.csv", gzip: true)], chunkBytes: [1, 13, 256])
        spec.encoding = .latin1
        Self.expectSameAsWhole(spec, [try writeBytes(latin1, name: "l.csv")], chunkBytes: [1, 13, 256])
        // A quoted field longer than the limit, open across many chunks, then an unterminated quote at the end.
        spec.encoding = .utf8
        bytes += Array("\n5,\"\(String(repeating: "y\n", count: 400))\",1,2026-06-30\n6,\"never closed,1,2026-06-30\n".utf8)
        let bad = try writeBytes(bytes, name: "b.csv")
        Self.expectSameAsWhole(spec, [bad], chunkBytes: [1, 64, 256])
        spec.onFileError = .quarantineFile
        Self.expectSameAsWhole(spec, [bad, utf8Path], chunkBytes: [1, 64, 256])
    }

    /// Random bytes from CSV's special characters, many seeds: the strongest check that a cut anywhere (in a
    /// quote, between CR and LF, in a comment, in an overlong line) never changes what is read.
    @Test func randomTextReadsTheSame() throws {
        let alphabet: [UInt8] = Array("ab1,,,\"\"\n\n\r #".utf8)
        var spec = SourceSpec(name: "r", files: [], columns: [("a", ColumnDecl(.string)), ("b", ColumnDecl(.int)), ("c", ColumnDecl(.string))])
        spec.header = false
        spec.columns.entries[1].value.onInvalid = .null
        spec.maxLineBytes = 24
        spec.comment = "#"
        var rng = SeededRNG(seed: 7)
        let dir = try makeTemporaryDirectory("chunks")
        for seed in 0..<150 {
            let n = Int.random(in: 0...400, using: &rng)
            let bytes = (0..<n).map { _ in alphabet.randomElement(using: &rng)! }
            let path = try writeBytes(bytes, name: "r\(seed).csv", dir: dir)
            Self.expectSameAsWhole(spec, [path], chunkBytes: [1, 4, 9, 50], threads: [1, 3])
        }
    }

    /// A quote never closed whose record is longer than `max_line_bytes` is an overlong line (its first line
    /// quarantined, the reading goes on), whether or not the end of the input was already known when it was met.
    /// It was a file error ("quoted field never closed") when the end was known: reading from memory, or the last
    /// chunk of a file read in chunks, while a file read whole usually skipped it.
    @Test func anUnclosedQuoteLongerThanALineIsOverlongHoweverItIsRead() throws {
        var spec = SourceSpec(name: "q", files: [], columns: [("a", ColumnDecl(.string)), ("b", ColumnDecl(.string))])
        spec.maxLineBytes = 30
        let text = "a,b\nx,1\ny,\"an open quote\n and more text after it\nz,2\n"
        let path = try writeInput(text, name: "q.csv")
        Self.expectSameAsWhole(spec, [path], chunkBytes: [1, 5, 17, 4096], threads: [1, 2])
        let whole = try Extractor.extract(spec, files: [path], threads: 1)
        let memory = try Extractor.extract(spec, bytes: Array(text.utf8), name: "q.csv")
        for r in [whole, memory] {
            #expect(r.rejects.map(\.line) == [3, 4])
            #expect(r.rejects.map(\.rule) == ["line_size", "field_count"])
            #expect(r.table.rowCount == 2)
        }
    }

    /// A file that is not cut (UTF-16, lines ending in a lone CR) is read whole among chunked ones, in order.
    @Test func filesReadWholeKeepTheirPlace() throws {
        let spec = SourceSpec(name: "w", files: [], columns: [("a", ColumnDecl(.string)), ("b", ColumnDecl(.int))])
        let dir = try makeTemporaryDirectory("whole")
        let plain = try writeInput("a,b\nx,1\ny,2\n", name: "1.csv", dir: dir)
        let cr = try writeInput("a,b\rz,3\rw,4\r", name: "2.csv", dir: dir)
        var utf16: [UInt8] = [0xFF, 0xFE]
        for u in "a,b\r\nv,5\r\n".utf16 { utf16 += [UInt8(u & 0xFF), UInt8(u >> 8)] }
        let wide = try writeBytes(utf16, name: "3.csv", dir: dir)
        Self.expectSameAsWhole(spec, [plain, cr, wide, plain], chunkBytes: [1, 3, 100], threads: [1, 2])
        let r = try Extractor.extract(spec, files: [plain, cr, wide], threads: 2, chunkBytes: 2)
        #expect(r.table.rowCount == 5)
        #expect(r.files.map(\.rowsRead) == [2, 2, 1])
    }
}

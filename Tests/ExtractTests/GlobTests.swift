import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

struct GlobTests {
    /// A tree of empty files; returns the standardized root.
    func tree(_ paths: [String]) throws -> String {
        let dir = try makeTemporaryDirectory("glob")
        for p in paths {
            try FileManager.default.createDirectory(atPath: "\(dir)/\((p as NSString).deletingLastPathComponent)", withIntermediateDirectories: true)
            try Data().write(to: URL(fileURLWithPath: "\(dir)/\(p)"))
        }
        return URL(fileURLWithPath: dir).standardized.path
    }

    static let files = ["a/2026/x1.csv.gz", "a/2026/x2.csv.gz", "a/2026/x10.csv.gz", "a/2025/y.csv.gz", "a/2025/deep/er/z.csv.gz",
                        "a/.hidden/h.csv.gz", "a/.dot.csv.gz", "a/top.csv.gz", "a/top.csv", "b.txt", "c.txt", "B.txt"]

    @Test("patterns match the expected files, sorted", arguments: [
        ("a/*.csv.gz", ["a/top.csv.gz"]),
        ("a/top.*", ["a/top.csv", "a/top.csv.gz"]),
        ("*.txt", ["B.txt", "b.txt", "c.txt"]),
        ("a/2026/x?.csv.gz", ["a/2026/x1.csv.gz", "a/2026/x2.csv.gz"]),
        ("[ab].txt", ["b.txt"]),
        ("[bc].txt", ["b.txt", "c.txt"]),
        ("a/202[5]/*", ["a/2025/y.csv.gz"]),
        // Numbers in names compare as numbers: x2 before x10.
        ("a/**/*.csv.gz", ["a/2025/deep/er/z.csv.gz", "a/2025/y.csv.gz", "a/2026/x1.csv.gz", "a/2026/x2.csv.gz", "a/2026/x10.csv.gz", "a/top.csv.gz"]),
        ("**/z.csv.gz", ["a/2025/deep/er/z.csv.gz"]),
        ("a/.*.csv.gz", ["a/.dot.csv.gz"]),
        ("a/2026/x1.csv.gz", ["a/2026/x1.csv.gz"]),
        ("a/./2026/../top.csv", ["a/top.csv"]),
        ("nothing/*.csv", []),
        ("a/2026/*.csv", []),
        ("a", []),
    ])
    func patterns(pattern: String, expected: [String]) throws {
        let base = try tree(Self.files)
        #expect(try expandGlob(pattern, baseDirectory: base) == expected.map { "\(base)/\($0)" })
    }

    /// `**` does not descend into links to folders (a `latest` link read a month twice, a link to a parent every file
    /// dozens of times); a file reached by two paths is read once; a path written through a link still works.
    @Test func doubleStarSkipsFolderLinksAndEachFileComesOnce() throws {
        let base = try tree(Self.files)
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: "\(base)/a/latest", withDestinationPath: "2026")
        try fm.createSymbolicLink(atPath: "\(base)/a/2025/loop", withDestinationPath: "..")
        try fm.createSymbolicLink(atPath: "\(base)/a/2026/zz-same.csv.gz", withDestinationPath: "x1.csv.gz")
        let expected = ["a/2025/deep/er/z.csv.gz", "a/2025/y.csv.gz", "a/2026/x1.csv.gz", "a/2026/x2.csv.gz", "a/2026/x10.csv.gz", "a/top.csv.gz"]
        #expect(try expandGlob("a/**/*.csv.gz", baseDirectory: base) == expected.map { "\(base)/\($0)" })
        #expect(try expandGlob("a/**", baseDirectory: base).filter { $0.hasSuffix(".gz") } == expected.map { "\(base)/\($0)" })
        #expect(try expandGlob("a/latest/x?.csv.gz", baseDirectory: base) == ["\(base)/a/latest/x1.csv.gz", "\(base)/a/latest/x2.csv.gz"])
        #expect(uniqueFiles(["\(base)/a/latest/x1.csv.gz", "\(base)/a/2026/x1.csv.gz", "\(base)/b.txt"]) == ["\(base)/a/latest/x1.csv.gz", "\(base)/b.txt"])
    }

    /// Files are read with numbers compared as numbers (a split export's part 10 came before part 9); zero-padded
    /// dates keep their order; the order is total.
    @Test func numberedFilesAreReadInNumberOrder() {
        let names = ["orders_export_10.csv", "orders_export_9.csv", "orders_export_1.csv", "orders-2026-06-09.csv.gz",
                     "orders-2026-06-10.csv.gz", "orders_export_01.csv", "b", "a10b", "a9c", "a9b", "B"]
        #expect(names.sorted(by: pathPrecedes) == ["B", "a9b", "a9c", "a10b", "b", "orders-2026-06-09.csv.gz", "orders-2026-06-10.csv.gz",
                                                    "orders_export_01.csv", "orders_export_1.csv", "orders_export_9.csv", "orders_export_10.csv"])
        for x in names { #expect(!pathPrecedes(x, x)); for y in names where x != y { #expect(pathPrecedes(x, y) != pathPrecedes(y, x), "\(x) \(y)") } }
    }

    @Test func hiddenFilesAndFoldersAreSkippedByWildcards() throws {
        let base = try tree(Self.files)
        let all = try expandGlob("**/*", baseDirectory: base)
        #expect(!all.contains { $0.contains("/.") })
        #expect(all.count == Self.files.filter { !$0.contains("/.") }.count)
        #expect(all == all.sorted(by: pathPrecedes))
    }

    @Test func absolutePatternsIgnoreTheBaseDirectory() throws {
        let base = try tree(Self.files)
        #expect(try expandGlob("\(base)/b.txt", baseDirectory: "/") == ["\(base)/b.txt"])
        #expect(try expandGlob("\(base)/a/2026/x?.csv.gz", baseDirectory: "/nonexistent") == ["\(base)/a/2026/x1.csv.gz", "\(base)/a/2026/x2.csv.gz"])
    }

    @Test
    func aTrailingDoubleStarMatchesEveryFileBelow() throws {
        let base = try tree(Self.files)
        #expect(try expandGlob("a/2025/**", baseDirectory: base) == ["\(base)/a/2025/deep/er/z.csv.gz", "\(base)/a/2025/y.csv.gz"])
    }

    @Test func overlappingDoubleStarMatchesAreDeduplicated() throws {
        let base = try tree(["d/e/f.csv"])
        #expect(try expandGlob("**/**/f.csv", baseDirectory: base) == ["\(base)/d/e/f.csv"])
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Expands a file glob relative to `baseDirectory`.
///
/// Supports `*`, `?`, `[abc]` within a path component (via `fnmatch`) and `**`
/// for any number of folders. Hidden entries match only patterns that start with
/// a dot. `**` does not descend into symbolic links to folders (as bash's globstar):
/// a `latest -> 2026/06` link read the month twice, and a link to a parent every file
/// dozens of times. Returns sorted paths, one per file (`uniqueFiles`): the
/// deterministic read order.
/// - Throws: never for missing folders (they match nothing); reserved for future checks.
public func expandGlob(_ pattern: String, baseDirectory: String) throws -> [String] {
    let isAbsolute = pattern.hasPrefix("/")
    let root = isAbsolute ? "/" : baseDirectory
    let parts = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    var out: Set<String> = []
    func join(_ a: String, _ b: String) -> String { a.hasSuffix("/") ? a + b : a + "/" + b }
    func isDir(_ p: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue
    }
    /// A real folder, not a link to one: what `**` descends into.
    func isRealDir(_ p: String) -> Bool {
        var st = stat()
        return lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
    func walk(_ dir: String, _ i: Int) {
        if i == parts.count {
            if FileManager.default.fileExists(atPath: dir), !isDir(dir) { out.insert(dir) }
            return
        }
        let part = parts[i]
        if part == "**" {
            if i == parts.count - 1 {
                // A trailing `**` matches every file below (as bash's globstar does).
                guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
                for e in entries.sorted() where !e.hasPrefix(".") {
                    let p = join(dir, e)
                    if isRealDir(p) { walk(p, i) } else if !isDir(p) { out.insert(p) }
                }
                return
            }
            walk(dir, i + 1)
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for e in entries.sorted() where !e.hasPrefix(".") {
                let p = join(dir, e)
                if isRealDir(p) { walk(p, i) }
            }
            return
        }
        if part == "." { walk(dir, i + 1); return }
        if part == ".." { walk(join(dir, ".."), i + 1); return }
        if !part.contains(where: { "*?[".contains($0) }) {
            let p = join(dir, part)
            if FileManager.default.fileExists(atPath: p) { walk(p, i + 1) }
            return
        }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for e in entries.sorted() {
            if e.hasPrefix(".") && !part.hasPrefix(".") { continue }
            if fnmatch(part, e, 0) == 0 { walk(join(dir, e), i + 1) }
        }
    }
    walk(root, 0)
    return uniqueFiles(Set(out.map { URL(fileURLWithPath: $0).standardized.path }).sorted(by: pathPrecedes))
}

/// The read order of files: byte order, except that runs of digits compare as numbers, so a split export's
/// `orders_export_9.csv` comes before `orders_export_10.csv` (byte order put 10 first: `fill_down` and `dedupe`
/// then met an order's lines out of order). Zero-padded names (dates) keep their byte order; equal numbers written
/// differently (`1`, `01`) fall back to byte order, so the order is total.
public func pathPrecedes(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    var i = 0, j = 0
    while i < x.count && j < y.count {
        if isDigit(x[i]) && isDigit(y[j]) {
            var ie = i, je = j
            while ie < x.count && isDigit(x[ie]) { ie += 1 }
            while je < y.count && isDigit(y[je]) { je += 1 }
            // Compare the numbers: without leading zeros, the longer is larger, else digit by digit.
            var a0 = i, b0 = j
            while a0 < ie - 1 && x[a0] == 48 { a0 += 1 }
            while b0 < je - 1 && y[b0] == 48 { b0 += 1 }
            if ie - a0 != je - b0 { return ie - a0 < je - b0 }
            for k in 0..<(ie - a0) where x[a0 + k] != y[b0 + k] { return x[a0 + k] < y[b0 + k] }
            if ie - i != je - j { return a.utf8.lexicographicallyPrecedes(b.utf8) }  // 01 against 1: byte order
            i = ie
            j = je
        } else {
            if x[i] != y[j] { return x[i] < y[j] }
            i += 1
            j += 1
        }
    }
    return x.count - i < y.count - j
}

/// The paths in order, each file once: a path naming a file an earlier path names (through a symbolic link or a
/// hard link: the same device and inode) is left out, so no file's rows are read twice.
public func uniqueFiles(_ paths: [String]) -> [String] {
    var seen = Set<[UInt64]>()
    return paths.filter { p in
        var st = stat()
        guard stat(p, &st) == 0 else { return true }
        return seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted
    }
}

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
    return uniqueFiles(Set(out.map { URL(fileURLWithPath: $0).standardized.path }).sorted())
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

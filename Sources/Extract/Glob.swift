import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Expands a file glob relative to `baseDirectory`.
///
/// Supports `*`, `?`, `[abc]` within a path component (via `fnmatch`) and `**`
/// for any number of folders. Hidden entries match only patterns that start with
/// a dot. Returns sorted, de-duplicated paths: the deterministic read order.
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
                    if isDir(p) { walk(p, i) } else { out.insert(p) }
                }
                return
            }
            walk(dir, i + 1)
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for e in entries.sorted() where !e.hasPrefix(".") {
                let p = join(dir, e)
                if isDir(p) { walk(p, i) }
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
    return out.map { URL(fileURLWithPath: $0).standardized.path }.sorted()
}

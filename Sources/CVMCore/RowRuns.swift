/// Rows selected from a table as runs of consecutive rows, ascending: what clean keeps of a source.
///
/// Clean keeps all but a few rows of most sources (M's events: 7,838 of 15.8 M quarantined), so the kept rows are
/// a few long runs: gathering them is one memory copy per run and column, where a list of row indices cost
/// 8 bytes a row to build (126 MB on M's events) and a load per value to use.
public struct RowRuns: Sendable, Equatable {
    /// Run k is rows `starts[k] ..< starts[k] + counts[k]`; runs are ascending and never adjacent.
    public private(set) var starts: [Int] = []
    public private(set) var counts: [Int] = []
    /// The rows selected.
    public private(set) var total = 0
    /// One past the last row selected (0 when none is).
    public var end: Int { starts.last.map { $0 + counts[counts.count - 1] } ?? 0 }

    public init() {}

    /// The rows `i` in `0 ..< rows` where `bytes[i] == 0` (clean's per-row rule byte: 0 passes).
    public init(zerosOf bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { b in
            let n = b.count
            var i = 0
            while i < n {
                if b[i] != 0 { i += 1; continue }
                let s = i
                while i < n && b[i] == 0 { i += 1 }
                append(s, count: i - s)
            }
        }
    }

    /// Ascending row indices as runs.
    public init(_ rows: [Int]) {
        for r in rows { append(r, count: 1) }
    }

    /// Appends rows `start ..< start + count` (after every row selected so far), joining a run it continues.
    public mutating func append(_ start: Int, count: Int) {
        guard count > 0 else { return }
        let end = self.end
        precondition(start >= end, "runs must ascend")
        if start == end && !starts.isEmpty { counts[counts.count - 1] += count } else { starts.append(start); counts.append(count) }
        total += count
    }

    /// The row indices (one per row selected).
    public var indices: [Int] {
        var out: [Int] = []
        out.reserveCapacity(total)
        for k in starts.indices { out += starts[k] ..< starts[k] + counts[k] }
        return out
    }

    /// The selected elements of `a`, one copy per run.
    public func gathering<T>(_ a: [T]) -> [T] {
        precondition(end <= a.count, "row runs past the end")
        return [T](unsafeUninitializedCapacity: total) { out, initialized in
            a.withUnsafeBufferPointer { src in
                var at = 0
                for k in starts.indices {
                    (out.baseAddress! + at).initialize(from: src.baseAddress! + starts[k], count: counts[k])
                    at += counts[k]
                }
            }
            initialized = total
        }
    }
}

import Foundation

/// A field of the current record: a byte range in the scanner's buffer.
public struct FieldRef: Sendable {
    public var start: Int
    public var end: Int
    /// The field was quoted and holds doubled quotes that must be unescaped.
    public var hasEscapes: Bool
}

/// Reads CSV records per RFC 4180 from a `GzipReader`, as byte ranges.
///
/// Quoted fields may hold delimiters, doubled quotes and newlines; CRLF and LF
/// both end records; a UTF-8 byte-order mark at the start is skipped; the
/// delimiter is one byte or runs of spaces and tabs. Records may span read
/// chunks of any size. Blank lines are skipped. Not handled: a lone CR as a
/// line ending (old Mac files) and quote characters other than `"`.
public final class CSVScanner {
    public enum Delimiter: Sendable, Equatable {
        case byte(UInt8)
        case whitespace
    }

    public enum Outcome: Equatable {
        case record
        case end
        /// Bytes after a closing quote: the record is malformed; it was consumed up to its line end.
        case malformed(String)
        /// No record end within `maxRecordBytes`: the first physical line of the record (this many bytes)
        /// was skipped without being buffered; reading goes on at the next line.
        case tooLong(bytes: Int)
    }

    private let reader: GzipReader
    private let delimiter: Delimiter
    private let chunkSize: Int
    private let maxRecordBytes: Int
    /// Bytes read and not yet consumed start at `pos`.
    // @exclusivity(unchecked): the scanner is confined to one thread and these are read per field;
    // the dynamic exclusivity checks on them cost about 6% of extract time (perf, M preset).
    @exclusivity(unchecked) public private(set) var buffer: [UInt8] = []
    @exclusivity(unchecked) private var pos = 0
    @exclusivity(unchecked) private var eof = false
    @exclusivity(unchecked) private var atStart = true
    /// Fields of the current record (valid until the next call).
    @exclusivity(unchecked) public private(set) var fields: [FieldRef] = []
    /// Physical line (1-based) where the current record starts.
    @exclusivity(unchecked) public private(set) var recordLine = 0
    /// Byte offset of the current record's start within `buffer`.
    @exclusivity(unchecked) public private(set) var recordStart = 0
    @exclusivity(unchecked) public private(set) var recordEnd = 0
    @exclusivity(unchecked) private var nextLine = 1
    /// The start of a skipped overlong record (its bytes are gone from `buffer`).
    private var skippedText: String?

    public init(reader: GzipReader, delimiter: Delimiter, chunkSize: Int = 1 << 18, maxRecordBytes: Int = 64 << 20) {
        self.reader = reader
        self.delimiter = delimiter
        self.chunkSize = chunkSize
        self.maxRecordBytes = maxRecordBytes
    }

    private enum Parse {
        case complete(end: Int, newlines: Int)
        case incomplete
        case unterminated(line: Int, column: Int)
        case malformed(end: Int, newlines: Int, String)
    }

    /// Advances to the next record.
    /// - Throws: `InputFileError` for an unterminated quote, an overlong record or a read error.
    public func next() throws -> Outcome {
        while true {
            if pos >= buffer.count {
                if eof { return .end }
                try fill()
                continue
            }
            if atStart {
                if buffer.count - pos < 3 && !eof { try fill(); continue }
                if buffer.count - pos >= 3, buffer[pos] == 0xEF, buffer[pos + 1] == 0xBB, buffer[pos + 2] == 0xBF { pos += 3 }
                atStart = false
                continue
            }
            let parsed = buffer.withUnsafeBufferPointer { parse($0, from: pos) }
            switch parsed {
            case .incomplete:
                if eof { return .end }
                if buffer.count - pos > maxRecordBytes { return try skipOverlong() }
                // Read at least as much again as is pending, so a long record is re-parsed O(log n) times, not O(n).
                try fill(atLeast: buffer.count - pos)
            case .unterminated(let line, let column):
                throw InputFileError(path: reader.path, message: "\(line):\(column): quoted field never closed; look for a stray '\"' (the rest of the file would be one field)")
            case .complete(let end, let newlines):
                recordLine = nextLine
                recordStart = pos
                recordEnd = end
                skippedText = nil
                nextLine += 1 + newlines
                pos = end
                // A blank line is one empty unquoted field: skip it.
                if fields.count == 1, fields[0].start == fields[0].end, !(recordEnd > recordStart && buffer[recordStart] == UInt8(ascii: "\"")) {
                    continue
                }
                return .record
            case .malformed(let end, let newlines, let reason):
                skippedText = nil
                recordLine = nextLine
                recordStart = pos
                recordEnd = end
                nextLine += 1 + newlines
                pos = end
                return .malformed(reason)
            }
        }
    }

    /// Skips the first physical line of a record longer than `maxRecordBytes`, streaming: bytes past the
    /// buffer are read and dropped chunk by chunk, so memory stays bounded whatever the line's length.
    private func skipOverlong() throws -> Outcome {
        recordLine = nextLine
        skippedText = String(decoding: buffer[pos..<min(buffer.count, pos + 1024)], as: UTF8.self)
        var skipped = 0
        while true {
            let found: Int? = buffer.withUnsafeBufferPointer { b in
                guard pos < b.count, let base = b.baseAddress, let hit = memchr(base + pos, 0x0A, b.count - pos) else { return nil }
                return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            if let lf = found {
                skipped += lf + 1 - pos
                pos = lf + 1
                nextLine += 1
                break
            }
            skipped += buffer.count - pos
            pos = buffer.count
            if eof { break }
            try fill()
        }
        recordStart = pos
        recordEnd = pos
        return .tooLong(bytes: skipped)
    }

    /// The raw text of the current record (without its line ending), for quarantine.
    public func recordText(limit: Int = 1024) -> String {
        if let skippedText { return String(skippedText.prefix(limit)) }
        var end = recordEnd
        while end > recordStart, buffer[end - 1] == 0x0A || buffer[end - 1] == 0x0D { end -= 1 }
        let slice = buffer[recordStart..<min(end, recordStart + limit)]
        return String(decoding: slice, as: UTF8.self)
    }

    private func fill(atLeast: Int = 0) throws {
        if pos > 0 {
            buffer.removeSubrange(0..<pos)
            pos = 0
        }
        let n = try reader.read(into: &buffer, max: max(chunkSize, atLeast))
        if n == 0 { eof = true }
    }

    private func parse(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Parse {
        let n = b.count
        let quote = UInt8(ascii: "\""), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        let ws: Bool, d: UInt8
        switch delimiter {
        case .byte(let x): (ws, d) = (false, x)
        case .whitespace: (ws, d) = (true, space)
        }
        fields.removeAll(keepingCapacity: true)
        var i = start
        var newlines = 0
        if ws { while i < n, b[i] == space || b[i] == tab { i += 1 } }
        while true {
            if i < n, b[i] == quote {
                let openLine = nextLine + newlines
                var lineStart = start
                var k = i
                while k > start, b[k - 1] != lf { k -= 1 }
                lineStart = k
                let openColumn = i - lineStart + 1
                i += 1
                let fs = i
                var escaped = false
                while true {
                    if i >= n { return eof ? .unterminated(line: openLine, column: openColumn) : .incomplete }
                    let c = b[i]
                    if c == quote {
                        if i + 1 >= n && !eof { return .incomplete }
                        if i + 1 < n, b[i + 1] == quote { escaped = true; i += 2; continue }
                        break
                    }
                    if c == lf { newlines += 1 }
                    i += 1
                }
                fields.append(FieldRef(start: fs, end: i, hasEscapes: escaped))
                i += 1
                if ws { while i < n, b[i] == space || b[i] == tab { i += 1 } }
                if i >= n { return eof ? .complete(end: n, newlines: newlines) : .incomplete }
                let c = b[i]
                if c == lf { return .complete(end: i + 1, newlines: newlines) }
                if c == cr {
                    if i + 1 >= n { return eof ? .complete(end: n, newlines: newlines) : .incomplete }
                    if b[i + 1] == lf { return .complete(end: i + 2, newlines: newlines) }
                }
                if !ws && c == d { i += 1; continue }
                if ws && (b[i - 1] == space || b[i - 1] == tab) { continue }
                // Text after a closing quote: consume to the end of the line and report.
                var j = i
                while j < n, b[j] != lf { j += 1 }
                if j >= n && !eof { return .incomplete }
                return .malformed(end: min(j + 1, n), newlines: newlines, "unexpected text after a closing quote in field \(fields.count)")
            }
            let fs = i
            if ws {
                while i < n { let c = b[i]; if c == space || c == tab || c == lf { break }; i += 1 }
            } else {
                while i < n { let c = b[i]; if c == d || c == lf { break }; i += 1 }
            }
            if i >= n {
                if !eof { return .incomplete }
                var fe = n
                if fe > fs, b[fe - 1] == cr { fe -= 1 }
                fields.append(FieldRef(start: fs, end: fe, hasEscapes: false))
                return .complete(end: n, newlines: newlines)
            }
            if b[i] == lf {
                var fe = i
                if fe > fs, b[fe - 1] == cr { fe -= 1 }
                fields.append(FieldRef(start: fs, end: fe, hasEscapes: false))
                return .complete(end: i + 1, newlines: newlines)
            }
            var fe = i
            if ws, fe > fs, b[fe - 1] == cr { fe -= 1 }
            fields.append(FieldRef(start: fs, end: fe, hasEscapes: false))
            i += 1
            if ws {
                while i < n, b[i] == space || b[i] == tab { i += 1 }
                if i >= n { if eof { return .complete(end: n, newlines: newlines) } else { return .incomplete } }
                if b[i] == lf { return .complete(end: i + 1, newlines: newlines) }
                if b[i] == cr {
                    if i + 1 < n, b[i + 1] == lf { return .complete(end: i + 2, newlines: newlines) }
                    // A CR that ends the file (or the buffer) is a line ending, not a field.
                    if i + 1 >= n { return eof ? .complete(end: n, newlines: newlines) : .incomplete }
                }
            }
        }
    }

    /// The bytes of field `f` with doubled quotes collapsed (allocates only when the field has escapes).
    public func withFieldBytes<R>(_ f: FieldRef, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if !f.hasEscapes {
            return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[f.start..<f.end])) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(f.end - f.start)
        var i = f.start
        while i < f.end {
            out.append(buffer[i])
            if buffer[i] == UInt8(ascii: "\""), i + 1 < f.end, buffer[i + 1] == UInt8(ascii: "\"") { i += 2 } else { i += 1 }
        }
        return try out.withUnsafeBufferPointer { try body($0) }
    }
}

import CVMCore
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
/// chunks of any size. Blank lines are skipped. A file whose first line ends in a lone CR (old Mac exports) has
/// its CRs read as line ends; the quote and escape characters are the dialect's.
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

    /// How quotes, escapes, comments and leading lines are read (`sources.<name>.quote`, `escape`, `comment`,
    /// `skip_lines`) and the files' encoding. The default is RFC 4180 in UTF-8.
    public struct Dialect: Sendable {
        /// The quote byte; nil: no quoting.
        public var quote: UInt8? = UInt8(ascii: "\"")
        /// An escape byte inside quoted fields; nil: only doubled quotes.
        public var escape: UInt8?
        /// Lines starting with these bytes are skipped.
        public var comment: [UInt8]?
        /// Lines skipped at the start (after a byte-order mark).
        public var skipLines = 0
        /// Single-byte text converted to UTF-8 as it is read (nil: the bytes are UTF-8 already).
        public var transcoding: SingleByteEncoding?
        public init() {}
    }

    /// The file, or nil for a chunk of one held in memory (`init(bytes:…)`).
    private let reader: GzipReader?
    private let path: String
    private let delimiter: Delimiter
    private var dialect: Dialect
    /// The quote byte, or 256 (no byte is equal) when quoting is off.
    private let quoteByte: UInt16
    private let escapeByte: UInt16
    /// Comment lines and leading lines skipped so far.
    public private(set) var skippedLines = 0
    private var leadingLinesLeft: Int
    private var firstRead = true
    /// How lines end: not known until the first CR or LF is read; `.cr` for files whose lines end in a lone CR
    /// (old Mac exports), read by turning each CR into an LF as it is read.
    private enum LineEndings { case unknown, lf, cr }
    private var lineEndings = LineEndings.unknown
    /// Set when the file starts with a UTF-16 byte-order mark.
    private var utf16: UTF16Decoder?
    /// The longest raw text a caller asks for (what an overlong record keeps of its start).
    public var rawLimit = 1024
    /// `dialect.comment != nil`, tested per record without touching the array.
    private let hasComment: Bool
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

    /// Where a scanner over part of a file starts: at the file's start (byte-order mark, leading lines, header), at
    /// the start of a record on a given physical line, or inside the first line of an overlong record whose start
    /// was skipped by the previous part (its line, the text kept for quarantine, the bytes skipped so far).
    public enum Start: Sendable, Equatable {
        case file
        case record(line: Int)
        case skipping(line: Int, text: [UInt8], skipped: Int)
        /// In the middle of a comment line that started on `line` (its start was in the previous part).
        case comment(line: Int)
    }

    /// `softEnd`: the bytes are one chunk of a longer file, so the end of the buffer is not the end of the input.
    /// Where the chunk stopped in the middle of something (a record, a comment line, an overlong line), `next()`
    /// returns `.end` and `tail` says how to go on with the next chunk's bytes.
    private let softEnd: Bool
    /// A soft end was reached: `.end` means "no more in this chunk", not the file's end.
    public private(set) var exhausted = false
    /// Set when a soft end left something unfinished: the bytes from `pending` on (with the start state to
    /// read them in) belong to the next chunk's scan.
    public private(set) var tail: (pending: Int, start: Start)?
    /// In the middle of a comment or leading line being skipped: what is buffered of it was dropped, the rest is
    /// skipped up to its line end. A comment line is skipped whole however long it is and however it was buffered.
    private var midLine = false
    /// The overlong line to go on skipping before anything else (`Start.skipping`).
    private var resumeSkip: (text: [UInt8], skipped: Int)?

    public init(reader: GzipReader, delimiter: Delimiter, dialect: Dialect = Dialect(), chunkSize: Int = 1 << 18,
                maxRecordBytes: Int = 64 << 20) {
        self.reader = reader
        path = reader.path
        softEnd = false
        self.delimiter = delimiter
        self.dialect = dialect
        quoteByte = dialect.quote.map(UInt16.init) ?? 256
        escapeByte = dialect.escape.map(UInt16.init) ?? 256
        leadingLinesLeft = dialect.skipLines
        hasComment = dialect.comment != nil
        self.chunkSize = chunkSize
        self.maxRecordBytes = maxRecordBytes
    }

    /// Scans `bytes`, part of the file `path` already converted to UTF-8 and known to end its lines in LF or CRLF,
    /// as the file's scanner would from `start` (the line numbers are the file's). With `softEnd` the bytes are
    /// not the file's end: see `tail`.
    public init(bytes: [UInt8], path: String, start: Start, softEnd: Bool, delimiter: Delimiter, dialect: Dialect = Dialect(),
                maxRecordBytes: Int = 64 << 20) {
        reader = nil
        self.path = path
        self.softEnd = softEnd
        self.delimiter = delimiter
        var d = dialect
        d.transcoding = nil
        self.dialect = d
        quoteByte = dialect.quote.map(UInt16.init) ?? 256
        escapeByte = dialect.escape.map(UInt16.init) ?? 256
        hasComment = dialect.comment != nil
        chunkSize = 1 << 16
        self.maxRecordBytes = maxRecordBytes
        buffer = bytes
        firstRead = false
        lineEndings = .lf
        // The bytes are all there is: nothing is read.
        if softEnd { exhausted = true } else { eof = true }
        switch start {
        case .file:
            leadingLinesLeft = dialect.skipLines
        case .record(let line):
            leadingLinesLeft = 0
            atStart = false
            nextLine = line
        case .skipping(let line, let text, let skipped):
            leadingLinesLeft = 0
            atStart = false
            nextLine = line
            recordLine = line
            resumeSkip = (text, skipped)
        case .comment(let line):
            leadingLinesLeft = 0
            atStart = false
            nextLine = line
            midLine = true
        }
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
        if let resume = resumeSkip {
            resumeSkip = nil
            return try skipOverlong(resuming: resume)
        }
        while true {
            if pos >= buffer.count {
                if eof {
                    if midLine {
                        // A comment or leading line that ends the file without a line end.
                        midLine = false
                        nextLine += 1
                        skippedLines += 1
                    }
                    return .end
                }
                if exhausted { return midLine ? stopSoftly() : .end }
                try fill()
                continue
            }
            if atStart {
                if buffer.count - pos < 3 && !eof && !exhausted { try fill(); continue }
                if buffer.count - pos >= 3, buffer[pos] == 0xEF, buffer[pos + 1] == 0xBB, buffer[pos + 2] == 0xBF { pos += 3 }
                atStart = false
                continue
            }
            if leadingLinesLeft > 0 {
                if try skipLine() { leadingLinesLeft -= 1 }
                if tail != nil { return .end }
                continue
            }
            if hasComment, let comment = dialect.comment {
                switch midLine ? true : startsWith(comment) {
                case nil:  // too few bytes to tell
                    if exhausted { return stopSoftly() }
                    try fill()
                    continue
                case true?:
                    _ = try skipLine()
                    if tail != nil { return .end }
                    continue
                case false?: break
                }
            }
            let parsed = buffer.withUnsafeBufferPointer { parse($0, from: pos) }
            switch parsed {
            case .incomplete:
                if eof { return .end }
                // One byte more than a record may hold: a CR waiting for its LF is not part of the record.
                if buffer.count - pos > maxRecordBytes + 1 { return try skipOverlong() }
                if exhausted { return stopSoftly() }
                // Read at least as much again as is pending, so a long record is re-parsed O(log n) times, not O(n).
                try fill(atLeast: buffer.count - pos)
            case .unterminated(let line, let column):
                // Longer than a record may be: overlong, as it is when the end of the input is not yet known (a record
                // is too long by its length, however the file was buffered or cut into chunks).
                if buffer.count - pos > maxRecordBytes { return try skipOverlong() }
                // A stray quote costs its line, as when the record outgrows the limit: the record's lines up to the
                // one where the quote opened are one malformed record, and reading goes on after them (the whole
                // file failed, or was dropped under quarantine-file, when the quote was in its last max_line_bytes).
                let through = max(0, line - nextLine)  // line breaks of the record before the quote's line
                var end = pos, lines = 0
                while lines <= through, let lf = buffer[end...].firstIndex(of: 0x0A) { end = lf + 1; lines += 1 }
                if lines <= through { end = buffer.count; lines = through + 1 }
                recordLine = nextLine
                recordStart = pos
                recordEnd = end
                skippedText = nil
                nextLine += lines
                pos = end
                return .malformed("a quoted field opened at \(line):\(column) is never closed (a stray '\"'?); skipped to the end of that line, reading goes on with the next")
            case .complete(let end, let newlines):
                // Too long is a record's length, whatever was buffered when it was read (a record found whole in
                // a large buffer is as long as one that outgrew a small one): the same records are skipped
                // however a file is read or cut into chunks.
                if contentLength(pos, end) > maxRecordBytes { return try skipOverlong() }
                recordLine = nextLine
                recordStart = pos
                recordEnd = end
                skippedText = nil
                nextLine += 1 + newlines
                pos = end
                // A blank line is one empty unquoted field: skip it.
                if fields.count == 1, fields[0].start == fields[0].end, !(recordEnd > recordStart && UInt16(buffer[recordStart]) == quoteByte) {
                    skippedLines += 1  // counted with the file's skipped lines, so its lines add up
                    continue
                }
                return .record
            case .malformed(let end, let newlines, let reason):
                if contentLength(pos, end) > maxRecordBytes { return try skipOverlong() }
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

    /// Lets `body` read records straight from the buffer: it gets the buffered bytes from the next record's start
    /// and takes whole lines, each one record as `next()` would read it (no quote, no comment, not blank, not
    /// overlong), returning how many lines and bytes it took. The scanner then stands after them as if `next()` had
    /// returned each one (`recordLine` is the last one's). Returns the line of the first, or nil (and `body` is not
    /// called) where lines are not plain records: before the header's end is known (a byte-order mark, leading
    /// lines), inside a comment or an overlong line, with lone-CR line ends or whitespace delimiters, or when
    /// nothing is buffered. (`FastRows`: extract's common rows typed in C.)
    func takeLines(_ body: (UnsafeBufferPointer<UInt8>) -> (lines: Int, bytes: Int)) -> (lines: Int, firstLine: Int)? {
        guard resumeSkip == nil, !atStart, leadingLinesLeft == 0, !midLine, lineEndings == .lf, tail == nil,
              case .byte = delimiter, pos < buffer.count else { return nil }
        let first = nextLine
        let took = buffer.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[pos...])) }
        guard took.lines > 0 else { return (0, first) }
        pos += took.bytes
        nextLine += took.lines
        recordLine = nextLine - 1
        recordStart = pos
        recordEnd = pos
        skippedText = nil
        return (took.lines, first)
    }

    /// Settles `lineEndings` from the first line break (LF or CRLF: `.lf`; a CR followed by anything else: `.cr`),
    /// and in a CR file turns the new bytes' CRs into LFs. No record can have ended before the first LF, so every
    /// byte still buffered is converted.
    private func detectLineEndings(from start: Int) {
        var from = start
        if lineEndings == .unknown {
            guard let i = buffer[pos...].firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) else { return }
            if i + 1 < buffer.count {
                lineEndings = buffer[i] == 0x0D && buffer[i + 1] != 0x0A ? .cr : .lf
            } else if buffer[i] == 0x0A || eof {
                lineEndings = buffer[i] == 0x0A ? .lf : .cr
            } else {
                return  // a CR ends the buffer: the next read tells CRLF from CR
            }
            if lineEndings == .lf { return }
            from = pos
        }
        // A CR before an LF stays (a CRLF line break inside a quoted field is the value's, and one line): turned
        // into LF, "x\r\ny" read as "x\n\ny" and moved every later line number by one. A CR ending the buffer waits
        // for the next byte; the next call starts at it.
        let first = from > pos && buffer[from - 1] == 0x0D ? from - 1 : from
        for k in first..<buffer.count where buffer[k] == 0x0D {
            if k + 1 < buffer.count { if buffer[k + 1] != 0x0A { buffer[k] = 0x0A } } else if eof { buffer[k] = 0x0A }
        }
    }

    /// Do the pending bytes start with `prefix`? Nil when too few bytes are buffered to tell (and more may come).
    private func startsWith(_ prefix: [UInt8]) -> Bool? {
        let have = buffer.count - pos
        for (k, c) in prefix.enumerated() {
            if k >= have { return eof ? false : nil }
            if buffer[pos + k] != c { return false }
        }
        return true
    }

    /// Skips one physical line (a comment or a leading line): false when its end is not buffered yet (more was
    /// read; call again). Counted in `skippedLines`.
    private func skipLine() throws -> Bool {
        let found: Int? = buffer.withUnsafeBufferPointer { b in
            guard pos < b.count, let base = b.baseAddress, let hit = memchr(base + pos, 0x0A, b.count - pos) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
        if let lf = found {
            pos = lf + 1
        } else if eof {
            pos = buffer.count
        } else {
            // The line goes on past what is buffered: drop that and go on skipping (memory stays bounded).
            pos = buffer.count
            midLine = true
            if exhausted {
                _ = stopSoftly()
            } else {
                try fill()
            }
            return false
        }
        midLine = false
        nextLine += 1
        skippedLines += 1
        return true
    }

    /// A soft end in the middle of something: the rest goes to the next chunk's scan, from a record start.
    private func stopSoftly() -> Outcome {
        tail = (pos, atStart || leadingLinesLeft > 0 ? .file : midLine ? .comment(line: nextLine) : .record(line: nextLine))
        return .end
    }

    /// Skips the first physical line of a record longer than `maxRecordBytes`, streaming: bytes past the
    /// buffer are read and dropped chunk by chunk, so memory stays bounded whatever the line's length. The text
    /// kept for quarantine is the line's first bytes (up to its end), however much of it was buffered.
    private func skipOverlong(resuming: (text: [UInt8], skipped: Int)? = nil) throws -> Outcome {
        let keep = max(1024, rawLimit + 4)
        var text: [UInt8] = []
        var skipped = 0
        if let resuming {
            text = resuming.text
            skipped = resuming.skipped
        } else {
            recordLine = nextLine
        }
        while true {
            let found: Int? = buffer.withUnsafeBufferPointer { b in
                guard pos < b.count, let base = b.baseAddress, let hit = memchr(base + pos, 0x0A, b.count - pos) else { return nil }
                return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            let end = found ?? buffer.count
            if text.count < keep { text += buffer[pos..<min(end, pos + keep - text.count)] }
            if let lf = found {
                skipped += lf + 1 - pos
                pos = lf + 1
                nextLine += 1
                break
            }
            skipped += buffer.count - pos
            pos = buffer.count
            if eof { break }
            if exhausted {
                tail = (pos, .skipping(line: recordLine, text: text, skipped: skipped))
                return .end
            }
            try fill()
        }
        skippedText = String(decoding: text, as: UTF8.self)
        recordStart = pos
        recordEnd = pos
        return .tooLong(bytes: skipped)
    }

    /// The bytes of the record in `start..<end` without its line ending (LF or CRLF): `max_line_bytes` measures the
    /// record, so a CRLF file's limit is not a byte shorter than an LF file's.
    private func contentLength(_ start: Int, _ end: Int) -> Int {
        var e = end
        if e > start, buffer[e - 1] == 0x0A { e -= 1; if e > start, buffer[e - 1] == 0x0D { e -= 1 } }
        return e - start
    }

    /// Is the buffered byte at `index` the quote character (an empty quoted field `""` is not an empty field)?
    public func isQuoteByte(at index: Int) -> Bool { index < buffer.count && UInt16(buffer[index]) == quoteByte }

    /// The raw text of the current record (without its line ending), for quarantine.
    /// At most `limit` bytes, cut at a character boundary.
    public func recordText(limit: Int = 1024) -> String {
        if let skippedText { return prefixUTF8(skippedText, bytes: limit) }
        var end = recordEnd
        while end > recordStart, buffer[end - 1] == 0x0A || buffer[end - 1] == 0x0D { end -= 1 }
        // One character past the cap at most, so the cut can fall on its boundary.
        let slice = buffer[recordStart..<min(end, recordStart + limit + 4)]
        return prefixUTF8(String(decoding: slice, as: UTF8.self), bytes: limit)
    }

    private func fill(atLeast: Int = 0) throws {
        guard let reader else {
            // A chunk in memory: nothing more comes.
            if softEnd { exhausted = true } else { eof = true }
            return
        }
        if pos > 0 {
            buffer.removeSubrange(0..<pos)
            pos = 0
        }
        var before = buffer.count
        let n = try reader.read(into: &buffer, max: max(chunkSize, atLeast))
        if n == 0 { eof = true }
        if firstRead && (buffer.count >= 3 || eof) {
            firstRead = false
            // A UTF-16 byte-order mark says how the file is encoded, whatever the source declares (Excel's
            // "Unicode text" export): it is converted to UTF-8 as it is read.
            if buffer.count >= 2, (buffer[0], buffer[1]) == (0xFF, 0xFE) || (buffer[0], buffer[1]) == (0xFE, 0xFF) {
                utf16 = UTF16Decoder(bigEndian: buffer[0] == 0xFE)
                before = 0  // nothing is consumed yet: the bytes of earlier reads are converted too
            } else if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF {
                // So does a UTF-8 one (Excel's "CSV UTF-8"): a source declared windows-1252 or latin1 reads this
                // file as UTF-8 (its bytes were transcoded a second time: "Zoë" read "ZoÃ«").
                dialect.transcoding = nil
            }
        }
        if utf16 != nil {
            utf16!.toUTF8(&buffer, from: before, final: eof)
        } else if let t = dialect.transcoding, n > 0 {
            t.toUTF8(&buffer, from: before)
        }
        if lineEndings != .lf { detectLineEndings(from: before) }
    }

    private func parse(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Parse {
        let n = b.count
        let quote = quoteByte, escape = escapeByte, lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
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
            if i < n, UInt16(b[i]) == quote {
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
                    if UInt16(c) == escape {
                        if i + 1 >= n { return eof ? .unterminated(line: openLine, column: openColumn) : .incomplete }
                        if b[i + 1] == lf { newlines += 1 }
                        escaped = true
                        i += 2
                        continue
                    }
                    if UInt16(c) == quote {
                        if i + 1 >= n && !eof { return .incomplete }
                        if i + 1 < n, UInt16(b[i + 1]) == quote { escaped = true; i += 2; continue }
                        break
                    }
                    if c == lf { newlines += 1 }
                    i += 1
                }
                fields.append(FieldRef(start: fs, end: i, hasEscapes: escaped))
                i += 1
                if ws { while i < n, b[i] == space || b[i] == tab { i += 1 } } else {
                    // Blanks padding a quoted field to a column width (SQL*Plus spools, bcp: `"ab"  ,x`) before the
                    // delimiter or the line's end are padding, not text after the quote.
                    var k = i
                    while k < n, b[k] == space || b[k] == tab, b[k] != d { k += 1 }
                    if k > i {
                        if k >= n && !eof { return .incomplete }
                        if k >= n || b[k] == d || b[k] == lf || b[k] == cr { i = k }
                    }
                }
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
                // Eight bytes at a time while they last (fields are mostly a word or two long): the lowest byte equal
                // to the delimiter or LF, found with the has-zero-byte trick on the word XORed with each.
                let raw = UnsafeRawPointer(b.baseAddress!)
                let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
                let dWord = UInt64(d) &* ones, lfWord = UInt64(lf) &* ones
                while i + 8 <= n {
                    let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    let x = w ^ dWord, y = w ^ lfWord
                    // Exact for the lowest matching byte (a borrow only sets bits above it).
                    let hit = ((x &- ones) & ~x | (y &- ones) & ~y) & highs
                    if hit != 0 { i += hit.trailingZeroBitCount >> 3; break }
                    i += 8
                }
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

    /// The bytes of field `f` with doubled quotes collapsed and escapes resolved (allocates only when the field
    /// has them).
    public func withFieldBytes<R>(_ f: FieldRef, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if !f.hasEscapes {
            return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[f.start..<f.end])) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(f.end - f.start)
        var i = f.start
        while i < f.end {
            let c = UInt16(buffer[i])
            if c == escapeByte, i + 1 < f.end {
                out.append(buffer[i + 1])
                i += 2
                continue
            }
            out.append(buffer[i])
            if c == quoteByte, i + 1 < f.end, UInt16(buffer[i + 1]) == quoteByte { i += 2 } else { i += 1 }
        }
        return try out.withUnsafeBufferPointer { try body($0) }
    }
}

/// A single-byte text encoding converted to UTF-8 as files are read (`sources.<name>.encoding`).
///
/// Converting whole chunks is safe for CSV: every byte below 0x80 (delimiters, quotes, newlines) stays itself,
/// and each byte above becomes the two or three UTF-8 bytes of its character.
public struct SingleByteEncoding: Sendable {
    /// The UTF-8 bytes of each byte value from 0x80 to 0xFF.
    private let high: [[UInt8]]

    /// ISO-8859-1: byte n is U+00nn.
    public static let latin1 = SingleByteEncoding(codePoints: (0x80...0xFF).map { UInt32($0) })

    /// Windows-1252: Latin-1 with printable characters in 0x80-0x9F (the five bytes it leaves undefined map to
    /// the C1 controls of the same value, as the WHATWG encoding standard does).
    public static let windows1252: SingleByteEncoding = {
        let c1: [UInt32] = [0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152,
                            0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122,
                            0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178]
        return SingleByteEncoding(codePoints: c1 + (0xA0...0xFF).map { UInt32($0) })
    }()

    private init(codePoints: [UInt32]) {
        high = codePoints.map { cp in Array(String(Character(Unicode.Scalar(cp)!)).utf8) }
    }

    /// Converts `buffer[from...]` to UTF-8 in place.
    public func toUTF8(_ buffer: inout [UInt8], from start: Int) {
        guard let first = buffer[start...].firstIndex(where: { $0 >= 0x80 }) else { return }
        var out: [UInt8] = []
        out.reserveCapacity((buffer.count - first) * 3 / 2)
        for c in buffer[first...] {
            if c < 0x80 { out.append(c) } else { out += high[Int(c) - 0x80] }
        }
        buffer.replaceSubrange(first..., with: out)
    }
}

/// UTF-16 text (either byte order) converted to UTF-8 chunk by chunk; a code unit or surrogate pair cut by the chunk
/// end waits for the next chunk. An unpaired surrogate becomes a byte that is not UTF-8 (0xFF), so the row holding
/// it is quarantined (rule `encoding`) rather than silently changed.
struct UTF16Decoder {
    let bigEndian: Bool
    /// Bytes of an incomplete code unit or pair from the previous chunk.
    private var carry: [UInt8] = []

    init(bigEndian: Bool) { self.bigEndian = bigEndian }

    /// Converts `buffer[start...]` (after any carried bytes) to UTF-8 in place; `final`: no more bytes will come.
    mutating func toUTF8(_ buffer: inout [UInt8], from start: Int, final: Bool) {
        let input = carry + buffer[start...]
        carry = []
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var i = 0
        func unit(_ k: Int) -> UInt32 {
            bigEndian ? UInt32(input[k]) << 8 | UInt32(input[k + 1]) : UInt32(input[k + 1]) << 8 | UInt32(input[k])
        }
        // Surrogates never reach here (they are paired or replaced first), so every value is a scalar.
        func append(_ cp: UInt32) { UTF8.encode(Unicode.Scalar(cp)!) { out.append($0) } }
        while i + 1 < input.count {
            let u = unit(i)
            if (0xD800..<0xDC00).contains(u) {
                if i + 3 >= input.count {
                    if !final { break }
                    out.append(0xFF)
                    i += 2
                    continue
                }
                let low = unit(i + 2)
                if (0xDC00..<0xE000).contains(low) {
                    append(0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00))
                    i += 4
                } else {
                    out.append(0xFF)
                    i += 2
                }
            } else if (0xDC00..<0xE000).contains(u) {
                out.append(0xFF)
                i += 2
            } else {
                append(u)
                i += 2
            }
        }
        if i < input.count {
            if final { out.append(0xFF) } else { carry = Array(input[i...]) }
        }
        buffer.replaceSubrange(start..., with: out)
    }
}

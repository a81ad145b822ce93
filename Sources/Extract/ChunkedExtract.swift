import CKernels
import CVMCore
import Foundation

/// Reads a source's files cut into chunks, so that one big file is read by every worker, not one.
///
/// A gzip stream can only be inflated from its start, so one producer (`ChunkCutter`, run under a lock by
/// whichever worker is free) inflates each file in order and cuts it after a line break every `chunkBytes`; the
/// workers type the chunks in parallel; the consumer appends them to the table in file and chunk order.
///
/// A cut after a line break is a record boundary unless it falls inside a quoted field that holds a line break
/// (or inside an overlong line). The cutter does not try to tell (that would mean parsing the file twice): each
/// chunk's scan says where it stopped, and when it stopped inside something (`CSVScanner.tail`), the consumer
/// scans the rest together with the next chunk again, and the next chunk's own scan (which started in the wrong
/// place) is dropped. So the table, the quarantine, the line numbers and the reports are exactly those of
/// reading each file whole, whatever the chunk size and the thread count; `ChunkedExtractTests` checks it on
/// the defect corpus with chunks down to a few bytes.
///
/// Files the cut cannot handle (UTF-16, lines ending in a lone CR) are read whole by one worker, as before.
enum ChunkedExtract {
    /// About 4 MiB of text a chunk: a few hundred microseconds of locking and bookkeeping each against about
    /// 100 ms of typing, and few enough bytes in flight (two chunks per worker) not to matter for memory.
    static let defaultChunkBytes = 4 << 20

    /// A file of more compressed bytes than this is read in chunks whatever the thread count: read whole, its
    /// typed rows would be held twice (one 222 MB file of M's events peaked at 2.3 GB on one thread, 1.26 GB in
    /// chunks).
    static let bigFileBytes: Int64 = 32 << 20

    /// What the cutter hands a worker.
    enum Item: Sendable {
        /// A file read whole by one worker (`FileExtractor.run`).
        case whole(file: Int)
        /// A file that failed before any of its records (cannot be opened, a bad header).
        case failed(file: Int, PartialFileError)
        case chunk(Chunk)
    }

    struct Chunk: Sendable {
        var file: Int
        /// Index of the chunk in its file.
        var index: Int
        /// The file's bytes as read (before any transcoding).
        var bytes: [UInt8]
        var start: CSVScanner.Start
        var layout: FileExtractor.Layout
        /// The file's last chunk: its end is the file's end (unless `error`).
        var last: Bool
        /// A read error after these bytes (the file is rejected after its rows are counted).
        var error: InputFileError?
        /// The file's compressed and uncompressed sizes (last chunk only), and this chunk's share of the
        /// compressed bytes (sizes the table from the first part).
        var compressedSize: Int64 = 0
        var uncompressedSize: Int64 = 0
        var compressedShare: Int64 = 0
    }

    /// What a worker made of an item.
    enum Outcome: Sendable {
        case whole(file: Int, Result<FileExtractor.Part, any Error>)
        case failed(file: Int, PartialFileError)
        case chunk(Chunk, ChunkScan)
    }

    /// One chunk's scan: its part and where it stopped, or the file-level error it met; with the chunk's text (UTF-8),
    /// which the consumer scans again after an unfinished previous chunk.
    struct ChunkScan: Sendable {
        var text: [UInt8]
        var result: Result<(part: FileExtractor.Part, tail: (bytes: [UInt8], start: CSVScanner.Start)?), PartialFileError>
    }

    static func run(_ source: SourceSpec, files: [String], threads: Int, chunkBytes: Int, into merge: inout SourceMerge,
                    progress: (@Sendable (_ files: Int, _ rows: Int) -> Void)?) {
        let cutter = ChunkCutter(source: source, files: files, chunkBytes: max(1, chunkBytes))
        var file = FileState()
        orderedStream(threads: threads, window: 2 * max(threads, 1), next: { cutter.next() }, work: { item in
            let outcome = work(item, source: source, files: files)
            switch outcome {
            case .whole(_, let r): progress?(1, (try? r.get())?.report.rowsRead ?? 0)
            case .chunk(let chunk, let scan): progress?(chunk.last ? 1 : 0, (try? scan.result.get())?.part.report.rowsRead ?? 0)
            case .failed: progress?(1, 0)
            }
            return outcome
        }, consume: { _, outcome in
            switch outcome {
            case .whole(let i, let r): return merge.add(file: files[i], r)
            case .failed(let i, let error): return merge.fileFailed(files[i], error)
            case .chunk(let chunk, let scan):
                if chunk.index == 0 { file = FileState() }
                if file.dropped { return true }
                return consumeChunk(chunk, scan, path: files[chunk.file], source: source, file: &file, merge: &merge)
            }
        })
    }

    /// A worker's part: a whole file, or one chunk scanned from where the cutter says it starts.
    private static func work(_ item: Item, source: SourceSpec, files: [String]) -> Outcome {
        switch item {
        case .whole(let i):
            return .whole(file: i, Result { try FileExtractor(source: source, path: files[i]).run() })
        case .failed(let i, let e):
            return .failed(file: i, e)
        case .chunk(let chunk):
            let text = utf8(chunk.bytes, source: source)
            let scan = self.scan(text, start: chunk.start, softEnd: !chunk.last || chunk.error != nil, layout: chunk.layout,
                                 source: source, path: files[chunk.file])
            return .chunk(chunk, ChunkScan(text: text, result: scan))
        }
    }

    /// A chunk's bytes as UTF-8 (converted from the source's single-byte encoding, if it has one).
    static func utf8(_ bytes: [UInt8], source: SourceSpec) -> [UInt8] {
        var text = bytes
        if let t = FileExtractor.dialect(source).transcoding { t.toUTF8(&text, from: 0) }
        return text
    }

    /// Types `text` from `start`; a file start reads (and skips) the header first, which the cutter checked.
    private static func scan(_ text: [UInt8], start: CSVScanner.Start, softEnd: Bool, layout: FileExtractor.Layout,
                             source: SourceSpec, path: String)
        -> Result<(part: FileExtractor.Part, tail: (bytes: [UInt8], start: CSVScanner.Start)?), PartialFileError> {
        let fx = FileExtractor(source: source, path: path)
        let scanner = fx.scanner(chunk: text, start: start, softEnd: softEnd)
        do {
            if start == .file {
                do {
                    guard try fx.layout(scanner) != nil else {
                        // The header is not whole in these bytes: all of them go on with the next chunk.
                        return .success((FileExtractor.Part.empty(path: path), (text, .file)))
                    }
                } catch let e as InputFileError {
                    throw PartialFileError(underlying: e.description, rowsRead: 0, line: scanner.recordLine)
                }
            }
            let part = try fx.rows(scanner, layout)
            let tail = scanner.tail.map { t in
                // Stopped before the file's preamble was through: the whole chunk goes on from the file's start.
                t.start == .file ? (text, CSVScanner.Start.file) : (Array(text[t.pending...]), t.start)
            }
            return .success((part, tail))
        } catch let e as PartialFileError {
            return .failure(e)
        } catch {
            return .failure(PartialFileError(underlying: "\(error)", rowsRead: 0, line: 0))
        }
    }

    /// The consumer's state for the file whose chunks are coming in.
    struct FileState {
        var rowsRead = 0
        var accepted = 0
        var rejected = 0
        var skipped = 0
        /// The line of the last record read (where a read error is reported).
        var recordLine = 0
        /// The unfinished end of the last chunk's scan, to scan again with the next chunk.
        var carry: (bytes: [UInt8], start: CSVScanner.Start)?
        /// `on_file_error: quarantine-file`: the file's parts and rejects wait for its end (a read error drops them).
        var held: [FileExtractor.Part] = []
        var heldRejects: [QuarantineRecord] = []
        var appended = false
        /// First nulled value per column (declaration order kept by `column`), summed over the chunks.
        var nulled: [String: (count: Int, line: Int, reason: String)] = [:]
        /// The file failed: its remaining chunks are ignored.
        var dropped = false
    }

    private static func consumeChunk(_ chunk: Chunk, _ scan: ChunkScan, path: String, source: SourceSpec,
                                     file: inout FileState, merge: inout SourceMerge) -> Bool {
        var result = scan.result
        if let carry = file.carry {
            // The previous chunk stopped inside a record: this chunk's scan started in the wrong place. Scan the
            // unfinished bytes and this chunk's together (on this thread: it is rare, a record with a line break
            // in a quoted field that the cut fell into).
            file.carry = nil
            result = self.scan(carry.bytes + scan.text, start: carry.start, softEnd: !chunk.last || chunk.error != nil,
                               layout: chunk.layout, source: source, path: path)
        }
        switch result {
        case .failure(let e):
            file.dropped = true
            return merge.fileFailed(path, PartialFileError(underlying: e.underlying, rowsRead: file.rowsRead + e.rowsRead, line: e.line))
        case .success(let (part, tail)):
            file.carry = tail
            file.rowsRead += part.report.rowsRead
            file.accepted += part.report.rowsAccepted
            file.rejected += part.report.rowsRejected
            file.skipped += part.report.linesSkipped
            if part.recordLine > 0 { file.recordLine = part.recordLine }
            for x in part.nulled where file.nulled[x.column] == nil { file.nulled[x.column] = (0, x.line, x.reason) }
            for x in part.nulled { file.nulled[x.column]!.count += x.count }
            var part = part
            part.report.compressedBytes = chunk.compressedShare
            if part.columns.isEmpty {
                // Nothing whole in the chunk (its bytes went on with the next one).
            } else if source.onFileError == .fail {
                merge.rejects += part.rejects
                part.rejects = []
                merge.builder.append(part, continuing: file.appended)
                file.appended = true
            } else {
                file.heldRejects += part.rejects
                part.rejects = []
                file.held.append(part)
            }
        }
        guard chunk.last else { return true }
        if let error = chunk.error {
            file.dropped = true
            return merge.fileFailed(path, PartialFileError(underlying: error.description, rowsRead: file.rowsRead, line: file.recordLine))
        }
        for part in file.held {
            merge.builder.append(part, continuing: file.appended)
            file.appended = true
        }
        merge.rejects += file.heldRejects
        merge.reports.append(FileReport(path: path, compressedBytes: chunk.compressedSize, bytes: chunk.uncompressedSize,
                                        rowsRead: file.rowsRead, rowsAccepted: file.accepted, rowsRejected: file.rejected,
                                        rejectedReason: nil, linesSkipped: file.skipped))
        let order = source.columns.entries.map(\.key)
        merge.nulled.add(path: path, order.compactMap { c in file.nulled[c].map { (column: c, count: $0.count, line: $0.line, reason: $0.reason) } })
        file = FileState()
        return true
    }
}

/// Inflates a source's files in order and cuts them into chunks (`ChunkedExtract`); called by one thread at a time.
final class ChunkCutter: @unchecked Sendable {
    let source: SourceSpec
    let files: [String]
    let chunkBytes: Int
    private var fileIndex = 0
    private var reader: GzipReader?
    /// Bytes read and not yet handed out.
    private var pending: [UInt8] = []
    private var chunkIndex = 0
    /// The physical line `pending` starts on.
    private var line = 1
    private var layout = FileExtractor.Layout()
    private var atEnd = false
    private var readError: InputFileError?

    init(source: SourceSpec, files: [String], chunkBytes: Int) {
        self.source = source
        self.files = files
        self.chunkBytes = chunkBytes
    }

    func next() -> ChunkedExtract.Item? {
        while fileIndex < files.count {
            let i = fileIndex
            if reader == nil {
                do {
                    reader = try GzipReader(path: files[i], maxExpansionRatio: source.maxExpansionRatio,
                                            expansionKey: "sources.\(source.name).max_expansion_ratio")
                } catch {
                    fileIndex += 1
                    return .failed(file: i, PartialFileError(underlying: "\(error)", rowsRead: 0, line: 0))
                }
                (pending, chunkIndex, line, atEnd, readError) = ([], 0, 1, false, nil)
            }
            var target = chunkBytes
            while true {
                read(upTo: target)
                if chunkIndex > 0 { break }
                // The file's first chunk: can it be cut at all, and is its header whole in it?
                switch firstChunkCheck() {
                case .whole:
                    endFile()
                    return .whole(file: i)
                case .failed(let e):
                    endFile()
                    return .failed(file: i, e)
                case .more where !atEnd && readError == nil:
                    target = pending.count + chunkBytes
                    continue
                case .more, .ready:
                    break
                }
                break
            }
            return cut(file: i)
        }
        return nil
    }

    private func endFile() {
        reader = nil
        pending = []
        fileIndex += 1
    }

    /// Reads until `pending` holds `target` bytes or the file ends (or fails).
    private func read(upTo target: Int) {
        guard let reader else { return }
        while pending.count < target && !atEnd && readError == nil {
            do {
                if try reader.read(into: &pending, max: target - pending.count) == 0 { atEnd = true }
            } catch let e as InputFileError {
                readError = e
            } catch {
                readError = InputFileError(path: files[fileIndex], message: "\(error)")
            }
        }
    }

    private enum FirstChunk {
        case ready, more, whole
        case failed(PartialFileError)
    }

    /// Checks the file's first bytes: UTF-16 and lone-CR line ends are read whole by one worker; the header (or, without
    /// one, the leading lines and first record) must be whole in the first chunk, and sets the layout.
    private func firstChunkCheck() -> FirstChunk {
        if pending.count >= 2, (pending[0], pending[1]) == (0xFF, 0xFE) || (pending[0], pending[1]) == (0xFE, 0xFF) { return .whole }
        // A UTF-8 byte-order mark in a source of a single-byte encoding: the file is UTF-8, which one worker's scanner
        // honours (chunks would be transcoded).
        if pending.count >= 3, pending[0] == 0xEF, pending[1] == 0xBB, pending[2] == 0xBF,
           FileExtractor.dialect(source).transcoding != nil { return .whole }
        let done = atEnd || readError != nil
        if let k = pending.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) {
            if pending[k] == 0x0D {
                if k + 1 < pending.count {
                    if pending[k + 1] != 0x0A { return .whole }
                } else if !done {
                    return .more
                } else {
                    return .whole
                }
            }
        } else if !done {
            // No line break yet: a very long first line. Past a few chunks' worth, the one-worker read (which skips
            // overlong lines as it streams) is the safer way.
            return pending.count > 4 * max(chunkBytes, 1 << 20) ? .whole : .more
        }
        let text = ChunkedExtract.utf8(pending, source: source)
        let fx = FileExtractor(source: source, path: files[fileIndex])
        let scanner = fx.scanner(chunk: text, start: .file, softEnd: !atEnd)
        do {
            guard let layout = try fx.layout(scanner) else {
                if let readError { return .failed(PartialFileError(underlying: readError.description, rowsRead: 0, line: scanner.recordLine)) }
                return .more
            }
            if !source.header, !atEnd, try scanner.next() == .end { return readError != nil ? .ready : .more }
            self.layout = layout
            return .ready
        } catch let e as InputFileError {
            return .failed(PartialFileError(underlying: e.description, rowsRead: 0, line: scanner.recordLine))
        } catch {
            return .failed(PartialFileError(underlying: "\(error)", rowsRead: 0, line: scanner.recordLine))
        }
    }

    /// Hands out the next chunk: up to the last line break read (or everything, at the file's end or at a read error).
    private func cut(file i: Int) -> ChunkedExtract.Item {
        let last = atEnd || readError != nil
        var end = pending.count
        if !last {
            let lf: Int? = pending.withUnsafeBufferPointer { b in
                var j = b.count - 1
                while j >= 0 && b[j] != 0x0A { j -= 1 }
                return j >= 0 ? j : nil
            }
            // No line break at all: cut anyway (the scan carries the unfinished line over).
            if let lf { end = lf + 1 }
        }
        let bytes = end == pending.count ? pending : Array(pending[..<end])
        let start: CSVScanner.Start = chunkIndex == 0 ? .file : .record(line: line)
        var chunk = ChunkedExtract.Chunk(file: i, index: chunkIndex, bytes: bytes, start: start, layout: layout, last: last,
                                         error: readError)
        if let reader {
            let ratio = reader.uncompressedBytes > 0 ? Double(reader.compressedOffset) / Double(reader.uncompressedBytes) : 0
            chunk.compressedShare = Int64(Double(bytes.count) * ratio)
            if last {
                chunk.compressedSize = reader.compressedSize
                chunk.uncompressedSize = reader.uncompressedBytes
            }
        }
        line += Int(bytes.withUnsafeBufferPointer { cvm_count_byte($0.baseAddress, Int64($0.count), 0x0A) })
        chunkIndex += 1
        if last {
            endFile()
        } else {
            pending.removeSubrange(..<end)
        }
        return .chunk(chunk)
    }
}

extension FileExtractor.Part {
    /// A part without rows (a chunk that held nothing whole).
    static func empty(path: String) -> FileExtractor.Part {
        FileExtractor.Part(columns: [], lines: [], rejects: [], report: FileReport(path: path, compressedBytes: 0, bytes: 0, rowsRead: 0,
                                                                                  rowsAccepted: 0, rowsRejected: 0))
    }
}

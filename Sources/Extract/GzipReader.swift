import CZlib
import Foundation

/// A file-level read problem (unreadable, corrupt or truncated gzip), with the byte offset.
public struct InputFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): error: \(message)" }
}

/// Streams a gzip (single- or multi-member) or plain file in chunks with zlib.
///
/// Memory stays flat: one compressed input buffer plus the caller's output
/// buffer, whatever the file size. Files without the gzip magic `1f 8b` pass
/// through unchanged. Not thread-safe: one reader per file.
public final class GzipReader {
    public let path: String
    private let file: UnsafeMutablePointer<FILE>
    private let inputCapacity: Int
    private let input: UnsafeMutablePointer<UInt8>
    private var stream = z_stream()
    private let isGzip: Bool
    /// Another compressed format recognised by its magic bytes: the first read throws, naming it.
    private var otherFormat: String?
    private var streamOpen = false
    /// Inside a gzip member (false between members and at the end).
    private var inMember = false
    private var finished = false
    /// Plain files: bytes of the first buffer not yet handed out.
    private var plainPending = 0
    private var plainOffset = 0
    /// Compressed bytes consumed so far; error messages point here.
    public private(set) var compressedOffset: Int64 = 0
    public private(set) var compressedSize: Int64 = 0
    public private(set) var uncompressedBytes: Int64 = 0

    /// Refuses gzip data that inflates more than this many times its compressed size (a gzip bomb),
    /// checked as it streams once 1 MiB has been inflated.
    public let maxExpansionRatio: Double
    /// The config key named in the gzip-bomb message.
    public let expansionKey: String
    /// The file's size and modification time when it was opened (nil for in-memory input).
    private let openedStat: (size: Int64, mtimeSec: Int, mtimeNsec: Int)?
    /// In-memory input (`init(bytes:name:)`): the buffer behind the `fmemopen` stream.
    private let ownedBytes: UnsafeMutableRawPointer?

    /// - Throws: `InputFileError` when the file cannot be opened.
    public convenience init(path: String, bufferSize: Int = 1 << 18, maxExpansionRatio: Double = .infinity,
                            expansionKey: String = "max_expansion_ratio") throws {
        // A FIFO, socket or device matched by a glob: opening a FIFO waits for a writer (the run hung for ever).
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG, (st.st_mode & S_IFMT) != S_IFDIR {
            let kind = (st.st_mode & S_IFMT) == S_IFIFO ? "a named pipe (FIFO)" : (st.st_mode & S_IFMT) == S_IFSOCK ? "a socket" : "a device or other special file"
            throw InputFileError(path: path, message: "not a regular file but \(kind); exclude it from the source's files (sources.<name>.exclude) or copy the data to a file")
        }
        guard let f = fopen(path, "rb") else {
            throw InputFileError(path: path, message: "cannot open: \(String(cString: strerror(errno))); check the path and permissions")
        }
        try self.init(file: f, path: path, owned: nil, bufferSize: bufferSize, maxExpansionRatio: maxExpansionRatio,
                      expansionKey: expansionKey)
    }

    /// Reads `bytes` as if they were a file called `name` (tests and fuzzing; no change detection).
    public convenience init(bytes: [UInt8], name: String, bufferSize: Int = 1 << 18, maxExpansionRatio: Double = .infinity,
                            expansionKey: String = "max_expansion_ratio") throws {
        let mem = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { mem.copyMemory(from: b, byteCount: bytes.count) } }
        guard let f = fmemopen(mem, bytes.count, "rb") else {
            mem.deallocate()
            throw InputFileError(path: name, message: "cannot open in-memory input: \(String(cString: strerror(errno)))")
        }
        try self.init(file: f, path: name, owned: mem, bufferSize: bufferSize, maxExpansionRatio: maxExpansionRatio,
                      expansionKey: expansionKey)
        compressedSize = Int64(bytes.count)
    }

    private init(file f: UnsafeMutablePointer<FILE>, path: String, owned: UnsafeMutableRawPointer?, bufferSize: Int,
                 maxExpansionRatio: Double, expansionKey: String) throws {
        self.path = path
        self.maxExpansionRatio = maxExpansionRatio
        self.expansionKey = expansionKey
        ownedBytes = owned
        file = f
        var st = stat()
        if owned == nil, fstat(fileno(f), &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR {
                fclose(f)
                throw InputFileError(path: path, message: "is a directory, not a file; check the glob")
            }
            compressedSize = Int64(st.st_size)
            openedStat = (Int64(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec)
        } else {
            openedStat = nil
        }
        inputCapacity = bufferSize
        input = .allocate(capacity: bufferSize)
        let n = fread(input, 1, bufferSize, f)
        isGzip = n >= 2 && input[0] == 0x1f && input[1] == 0x8b
        otherFormat = isGzip ? nil : GzipReader.otherCompression(UnsafeBufferPointer(start: input, count: n))
        if isGzip {
            // 15 + 32: zlib detects the gzip header itself.
            guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                input.deallocate()
                fclose(f)
                owned?.deallocate()
                throw InputFileError(path: path, message: "zlib initialisation failed")
            }
            streamOpen = true
            inMember = true
            stream.next_in = input
            stream.avail_in = UInt32(n)
        } else {
            plainPending = n
        }
    }

    /// The name of another compressed or archive format whose magic bytes start `b`, if any: read as text it
    /// would only give a confusing header error.
    static func otherCompression(_ b: UnsafeBufferPointer<UInt8>) -> String? {
        let magics: [([UInt8], String)] = [
            ([0x50, 0x4B, 0x03, 0x04], "zip archive"), ([0x42, 0x5A, 0x68], "bzip2 file"),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz file"), ([0x28, 0xB5, 0x2F, 0xFD], "zstd file"),
            ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], "7-zip archive"), ([0x04, 0x22, 0x4D, 0x18], "lz4 file"),
            ([0x50, 0x41, 0x52, 0x31], "Parquet file"), ([0xD0, 0xCF, 0x11, 0xE0], "legacy Excel (.xls) file"),
        ]
        for (magic, name) in magics where b.count >= magic.count && b.prefix(magic.count).elementsEqual(magic) {
            // bzip2's "BZh" is followed by its block size digit: a CSV header starting "BZh" is not taken for one.
            if name == "bzip2 file", !(b.count > 3 && (0x31...0x39).contains(b[3])) { continue }
            return name
        }
        return nil
    }

    /// Throws when the file's size or modification time changed since it was opened: the rows read
    /// may mix two versions of the file.
    private func checkUnchanged() throws {
        guard let opened = openedStat else { return }
        var st = stat()
        guard fstat(fileno(file), &st) == 0 else { return }
        if Int64(st.st_size) != opened.size || st.st_mtim.tv_sec != opened.mtimeSec || st.st_mtim.tv_nsec != opened.mtimeNsec {
            let what = Int64(st.st_size) != opened.size ? "its size went from \(opened.size) to \(st.st_size) bytes" : "its modification time changed"
            throw InputFileError(path: path, message: "the file changed while it was being read (\(what)); rerun when the writer has finished (write to a temporary name and rename when done)")
        }
    }

    deinit {
        if streamOpen { inflateEnd(&stream) }
        scratch?.deallocate()
        staged?.deallocate()
        input.deallocate()
        fclose(file)
        ownedBytes?.deallocate()
    }

    /// Appends up to `max` decompressed bytes to `out`.
    /// - Returns: the number of bytes appended; 0 at the end of the file.
    /// - Throws: `InputFileError` naming the compressed byte offset of corrupt or truncated data.
    public func read(into out: inout [UInt8], max: Int) throws -> Int {
        if let pending = pendingError, stagedStart == stagedEnd {
            pendingError = nil
            finished = true
            throw pending
        }
        if let format = otherFormat {
            finished = true
            otherFormat = nil
            throw InputFileError(path: path, message: "is a \(format), not gzip or plain CSV; decompress it first (or recompress it with gzip)")
        }
        if isGzip { return try readInflated(into: &out, max: max) }
        if finished || max == 0 { return 0 }
        if scratchCapacity < max {
            scratch?.deallocate()
            scratch = .allocate(capacity: max)
            scratchCapacity = max
        }
        let dst = scratch!
        var produced = 0
        do {
            produced = try readPlain(into: dst, max: max)
        } catch let e as InputFileError where produced > 0 {
            pendingError = e
        }
        // One memcpy into the caller's buffer (appending a repeated element is element-wise).
        out.append(contentsOf: UnsafeBufferPointer(start: dst, count: produced))
        uncompressedBytes += Int64(produced)
        return produced
    }

    /// Inflates in steps of `stageCapacity` bytes, whatever the callers ask for, and hands the bytes out from there:
    /// zlib then sees the same calls however the file is read (in 64 KiB steps by a scanner, in 4 MiB chunks by
    /// `ChunkCutter`), so where a truncated or corrupt file stops, and where a gzip bomb is caught, do not depend
    /// on the reader's buffer sizes.
    private func readInflated(into out: inout [UInt8], max: Int) throws -> Int {
        var appended = 0
        while appended < max {
            if stagedStart == stagedEnd {
                if pendingError != nil || finished { break }
                if staged == nil { staged = .allocate(capacity: GzipReader.stageCapacity) }
                var produced = 0
                do {
                    produced = try inflateSome(into: staged!, max: GzipReader.stageCapacity, produced: &produced)
                } catch let e as InputFileError {
                    // The bytes decoded before the damage are handed out first, so the rows before it are counted.
                    guard produced > 0 || appended > 0 else { throw e }
                    pendingError = e
                }
                inflatedTotal += Int64(produced)
                (stagedStart, stagedEnd) = (0, produced)
                if produced == 0 { break }
            }
            let n = Swift.min(max - appended, stagedEnd - stagedStart)
            // One memcpy into the caller's buffer (appending a repeated element is element-wise).
            out.append(contentsOf: UnsafeBufferPointer(start: staged! + stagedStart, count: n))
            stagedStart += n
            appended += n
        }
        if appended == 0, let e = pendingError {
            pendingError = nil
            finished = true
            throw e
        }
        uncompressedBytes += Int64(appended)
        return appended
    }

    private static let stageCapacity = 1 << 16
    private var staged: UnsafeMutablePointer<UInt8>?
    private var stagedStart = 0
    private var stagedEnd = 0
    /// Bytes inflated so far (handed out or staged).
    private var inflatedTotal: Int64 = 0

    private var pendingError: InputFileError?
    private var scratch: UnsafeMutablePointer<UInt8>?
    private var scratchCapacity = 0

    private func refill() throws -> Bool {
        let n = fread(input, 1, inputCapacity, file)
        if n == 0, ferror(file) != 0 {
            throw InputFileError(path: path, message: "read error at byte offset \(compressedOffset): \(String(cString: strerror(errno)))")
        }
        stream.next_in = input
        stream.avail_in = UInt32(n)
        return n > 0
    }

    private func inflateSome(into dst: UnsafeMutablePointer<UInt8>, max: Int, produced: inout Int) throws -> Int {
        produced = 0
        while produced < max && !finished {
            if stream.avail_in == 0, !(try refill()) {
                try checkUnchanged()
                if inMember {
                    throw InputFileError(path: path, message: "truncated gzip data at compressed byte offset \(compressedOffset) (the file ends inside a gzip member); re-download the file")
                }
                finished = true
                break
            }
            if !inMember {
                // Between members: trailing zero padding ends the file; anything else starts a new member.
                let avail = Int(stream.avail_in)
                var zeros = 0
                while zeros < avail && stream.next_in[zeros] == 0 { zeros += 1 }
                if zeros == avail {
                    compressedOffset += Int64(zeros)
                    stream.avail_in = 0
                    continue
                }
                inflateReset(&stream)
                inMember = true
            }
            let inBefore = stream.avail_in
            stream.next_out = dst + produced
            stream.avail_out = UInt32(max - produced)
            let outBefore = stream.avail_out
            let rc = inflate(&stream, Z_NO_FLUSH)
            compressedOffset += Int64(inBefore - stream.avail_in)
            produced += Int(outBefore - stream.avail_out)
            let inflated = inflatedTotal + Int64(produced)
            if inflated > 1 << 20, Double(inflated) > maxExpansionRatio * Double(Swift.max(compressedOffset, 1)) {
                throw InputFileError(path: path, message: "inflates more than \(formatRatio(maxExpansionRatio)) times its compressed size (\(inflated) bytes from the first \(compressedOffset) compressed bytes): a gzip bomb? If the file is genuine, raise \(expansionKey)")
            }
            switch rc {
            case Z_OK:
                continue
            case Z_STREAM_END:
                inMember = false
            case Z_BUF_ERROR:
                if stream.avail_in == 0 || stream.avail_out == 0 { continue }
                throw corrupt("no progress")
            case Z_DATA_ERROR, Z_NEED_DICT:
                throw corrupt(stream.msg.map { String(cString: $0) } ?? "invalid compressed data")
            case Z_MEM_ERROR:
                throw InputFileError(path: path, message: "out of memory while decompressing")
            default:
                throw corrupt("zlib error \(rc)")
            }
        }
        return produced
    }

    private func readPlain(into dst: UnsafeMutablePointer<UInt8>, max: Int) throws -> Int {
        var produced = 0
        if plainPending > 0 {
            let n = min(plainPending, max)
            dst.update(from: input + plainOffset, count: n)
            plainOffset += n
            plainPending -= n
            produced = n
        }
        if produced < max {
            let n = fread(dst + produced, 1, max - produced, file)
            if n == 0, ferror(file) != 0 {
                throw InputFileError(path: path, message: "read error at byte offset \(compressedOffset): \(String(cString: strerror(errno)))")
            }
            produced += n
        }
        if produced == 0 {
            try checkUnchanged()
            finished = true
        }
        compressedOffset += Int64(produced)
        return produced
    }

    private func corrupt(_ detail: String) -> InputFileError {
        InputFileError(path: path, message: "corrupt gzip data at compressed byte offset \(compressedOffset) (\(detail)); re-download the file")
    }
}

private func formatRatio(_ r: Double) -> String {
    r == r.rounded() && r < 1e15 ? String(Int64(r)) : String(r)
}

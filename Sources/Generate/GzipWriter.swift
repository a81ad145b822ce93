import CZlib
import Foundation

/// Compresses a byte buffer to a gzip file deterministically (mtime 0, no name, fixed level),
/// so the same data always gives the same bytes.
enum GzipWriter {
    static func write(_ data: [UInt8], to path: String, level: Int32 = 6) throws {
        var stream = z_stream()
        // 15 + 16: gzip wrapper with zlib's minimal header (mtime 0, no file name).
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GenerateError("zlib deflate initialisation failed")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(data.count))) + 64
        var out = [UInt8](repeating: 0, count: bound)
        var produced = 0
        let rc: Int32 = data.withUnsafeBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                let rc = deflate(&stream, Z_FINISH)
                produced = outBuf.count - Int(stream.avail_out)
                return rc
            }
        }
        guard rc == Z_STREAM_END else { throw GenerateError("zlib deflate failed (\(rc))") }
        out.removeLast(out.count - produced)
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: Data(out)) else {
            throw GenerateError("\(path): cannot write; check free space and permissions")
        }
    }
}

/// A generator failure (exit 74: the output could not be written).
public struct GenerateError: Error, Sendable, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { "error: \(message)" }
}

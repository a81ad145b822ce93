import Foundation
public import CVMCore

/// An exclusive lock on a warehouse for the length of a run (`flock` on `<warehouse>.lock`).
///
/// A second run on the same warehouse is refused at once with exit 75, so a
/// scheduler can retry later. The lock dies with the process (also on SIGKILL).
public final class RunLock {
    private let fd: Int32
    public let path: String

    /// - Throws: `CVMFailure` (exit 75) when another run holds the lock; (exit 74) when the lock file cannot be created.
    public init(warehouse: String) throws {
        path = warehouse + ".lock"
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CVMFailure(.ioError, "\(path): error: cannot create the run lock: \(String(cString: strerror(errno))); check that the warehouse folder is writable")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw CVMFailure(.locked, "\(warehouse): error: another cvm run holds the lock (\(holder.isEmpty ? "unknown holder" : holder)); try again later")
        }
        let info = "pid \(getpid()), started \(isoNow())"
        _ = ftruncate(fd, 0)
        _ = info.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit {
        _ = ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}

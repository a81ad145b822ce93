import CKernels
import Foundation

/// The memory allocator's policy for a `cvm` process (called once by the command line, before any work).
public enum AllocatorPolicy {
    /// Big arrays (columns of millions of rows) come from the heap and are reused once freed, instead of each
    /// being mapped fresh and zeroed page by page by the kernel, then unmapped.
    ///
    /// glibc maps every allocation above its mmap threshold (at most 32 MiB by default) and unmaps it on free, so
    /// each stage's next column faults in new zeroed pages: on M, `cvm run --until clean` spent 13% of its time in
    /// the kernel clearing pages. With the threshold at 1 GiB it took 14.7 s instead of 16.9 s (median of 2 runs
    /// each, 2 threads); peak RSS rose from 3.2 to 3.7 GB, because freed heap memory is kept for reuse.
    /// Left alone when the user tunes malloc (`MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` set).
    /// - Returns: whether the threshold was set (false when the user tunes malloc, or off glibc).
    @discardableResult
    public static func apply(environment env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard env["MALLOC_MMAP_THRESHOLD_"] == nil, env["GLIBC_TUNABLES"] == nil else { return false }
        return cvm_set_mmap_threshold(1 << 30) == 1
    }
}

import CKernels
import Foundation

/// The memory allocator's policy for a `cvm` process (called once by the command line, before any work).
public enum AllocatorPolicy {
    /// Big arrays (columns of millions of rows) are mapped fresh and unmapped when freed; small ones come from the
    /// heap and are reused: glibc's mmap threshold is fixed at 1 MiB.
    ///
    /// By default glibc raises its threshold (up to 32 MiB) each time a mapped block is freed, so later columns
    /// come from the heap, whose freed memory stays in the process. An earlier version set the threshold to
    /// 1 GiB, so every column was reused from the heap: on the VM of that time, extract + clean on M took 14.7 s
    /// instead of 16.9 s, and peak RSS rose from 3.2 to 3.7 GB.
    ///
    /// Measured again once extract and clean released their big arrays as they went (M, `--until clean`,
    /// 2 threads, 2 runs each):
    ///
    /// | threshold | wall | system CPU | peak RSS |
    /// |---|---:|---:|---:|
    /// | 1 GiB | 29.8-32.0 s | 2.3-2.6 s | 2.47-2.49 GB |
    /// | fixed 32 MiB | 30.7-32.0 s | 3.1-3.3 s | 2.06-2.08 GB |
    /// | fixed 1 MiB | 31.9-32.4 s | 3.6-3.9 s | 1.86 GB |
    ///
    /// So a quarter less memory costs about 1.3 s of kernel time, zeroing fresh pages. The memory
    /// target, and a nightly run sharing its machine, count for more.
    /// Left alone when the user tunes malloc (`MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` set).
    /// - Returns: whether the threshold was set (false when the user tunes malloc, or off glibc).
    @discardableResult
    public static func apply(environment env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard env["MALLOC_MMAP_THRESHOLD_"] == nil, env["GLIBC_TUNABLES"] == nil else { return false }
        return cvm_set_mmap_threshold(1 << 20) == 1
    }

    /// Gives the heap's free pages back to the system (`cvm_release_free_memory`), after a phase that freed many
    /// arrays below the mmap threshold: extract's per-file readers and interners, for one. Without it they stay
    /// in the process while the next phase maps its big columns fresh.
    public static func releaseFreeMemory() {
        _ = cvm_release_free_memory()
    }
}

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
    ///
    /// Tried and left out: glibc's trim threshold stays at 128 KiB once the mmap threshold is fixed, so each worker's
    /// heap is given back after every file and faulted in again. A 64 MiB trim threshold halved the minor faults on
    /// M (`--until clean`, 7 alternating pairs: 137,000-145,000 against 248,000-332,000) and cut system CPU (median
    /// 2.9 s against 3.2 s), but user CPU rose more (16.2 s against 14.4 s) and the wall time with it (median 12.9 s
    /// against 12.0 s).
    /// Left alone when the user tunes malloc (`MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` set).
    /// - Returns: whether the threshold was set (false when the user tunes malloc, or off glibc).
    @discardableResult
    public static func apply(environment env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard env["MALLOC_MMAP_THRESHOLD_"] == nil, env["GLIBC_TUNABLES"] == nil else { return false }
        return cvm_set_mmap_threshold(1 << 20) == 1
    }

    /// The tunables a `cvm` process runs with: glibc maps big blocks (from 1 MiB, as `apply` sets) and asks for
    /// transparent huge pages on them (`glibc.malloc.hugetlb=1`: madvise(MADV_HUGEPAGE) on every mapped block of
    /// 2 MiB or more).
    public static let tunables = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1048576"
    /// Marks a process that `prepareProcess` started again with `tunables`.
    static let marker = "CVM_ALLOCATOR_TUNED"

    /// What `prepareProcess` does in a given environment.
    public enum Decision: Equatable, Sendable {
        /// Start this program again with `GLIBC_TUNABLES` set to `tunables`.
        case reexec
        /// This process is the one started again: drop the variables (so programs it starts do not inherit
        /// them); glibc has already read them.
        case tuned
        /// Set the mmap threshold in place (`apply`).
        case inPlace
    }

    /// Huge pages only pay where the kernel gives them on request: `transparent_hugepage/enabled` is `madvise`.
    /// With `always` every big block gets them anyway; with `never` (or no such file) none does.
    public static func decide(environment env: [String: String], hugePageMode: String?) -> Decision {
        if env[marker] == "1", env["GLIBC_TUNABLES"] == tunables { return .tuned }
        guard env["MALLOC_MMAP_THRESHOLD_"] == nil, env["GLIBC_TUNABLES"] == nil, env["CVM_HUGE_PAGES"] != "0",
              hugePageMode?.contains("[madvise]") == true else { return .inPlace }
        return .reexec
    }

    /// Called once by the command line before anything else. Why huge pages: glibc can only be told to ask for
    /// them by `GLIBC_TUNABLES`, which it reads when the process starts, so where the kernel gives huge pages
    /// on request the process starts itself again (execv of /proc/self/exe: same process id, arguments, open
    /// files) with that variable set. Every big column is then faulted in 2 MiB at a time instead of 4 KiB.
    /// Measured on M (`--until clean`, 2 threads, 5 runs each, alternating): 11.18 -> 10.79 s (medians), system
    /// CPU 3.18-4.02 -> 2.85-3.16 s, peak RSS about 15 MB more. (Huge pages with glibc's own, rising threshold
    /// cut system CPU to 2.3 s but held 30-50 MB more and were no faster.) `CVM_HUGE_PAGES=0`, a user's own `GLIBC_TUNABLES`
    /// or `MALLOC_MMAP_THRESHOLD_`, or a failed exec leave the process as it is (then `apply`).
    public static func prepareProcess() {
        #if os(Linux)
        let mode = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)
        switch decide(environment: ProcessInfo.processInfo.environment, hugePageMode: mode) {
        case .tuned:
            unsetenv("GLIBC_TUNABLES")
            unsetenv(marker)
            return
        case .reexec:
            setenv("GLIBC_TUNABLES", tunables, 1)
            setenv(marker, "1", 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // Only reached when the exec failed: carry on in this process.
            unsetenv("GLIBC_TUNABLES")
            unsetenv(marker)
        case .inPlace:
            break
        }
        #endif
        apply()
    }

    /// Gives the heap's free pages back to the system (`cvm_release_free_memory`), after a phase that freed many
    /// arrays below the mmap threshold: extract's per-file readers and interners, for one. Without it they stay
    /// in the process while the next phase maps its big columns fresh.
    public static func releaseFreeMemory() {
        _ = cvm_release_free_memory()
    }
}

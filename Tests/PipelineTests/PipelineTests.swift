import Foundation
import Pipeline
import CVMCore
import Testing

/// The allocator policy of a `cvm` process leaves a user's own malloc tuning alone.
struct AllocatorPolicyTests {
    @Test func setsTheThresholdUnlessTheUserTunesMalloc() {
        #expect(!AllocatorPolicy.apply(environment: ["MALLOC_MMAP_THRESHOLD_": "65536"]))
        #expect(!AllocatorPolicy.apply(environment: ["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"]))
        #if os(Linux)
        // glibc takes the setting. Under a sanitizer the allocator is the sanitizer's, which may refuse it
        // (AddressSanitizer does, ThreadSanitizer does not): nothing to assert there.
        let sanitized = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil
            || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil
        if !sanitized { #expect(AllocatorPolicy.apply(environment: [:])) }
        #endif
    }

    /// cvm starts itself again with glibc's huge-page tunable only where it pays and nobody tunes malloc, and the
    /// process started again drops the variables (so what it starts does not inherit them).
    @Test func hugePagesAreAskedForOnlyWhereTheKernelGivesThemOnRequest() {
        let madvise = "always [madvise] never\n"
        #expect(AllocatorPolicy.decide(environment: [:], hugePageMode: madvise) == .reexec)
        #expect(AllocatorPolicy.decide(environment: [:], hugePageMode: "[always] madvise never\n") == .inPlace)
        #expect(AllocatorPolicy.decide(environment: [:], hugePageMode: "always madvise [never]\n") == .inPlace)
        #expect(AllocatorPolicy.decide(environment: [:], hugePageMode: nil) == .inPlace)
        #expect(AllocatorPolicy.decide(environment: ["CVM_HUGE_PAGES": "0"], hugePageMode: madvise) == .inPlace)
        #expect(AllocatorPolicy.decide(environment: ["GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"], hugePageMode: madvise) == .inPlace)
        #expect(AllocatorPolicy.decide(environment: ["MALLOC_MMAP_THRESHOLD_": "65536"], hugePageMode: madvise) == .inPlace)
        let tuned = ["GLIBC_TUNABLES": AllocatorPolicy.tunables, "CVM_ALLOCATOR_TUNED": "1"]
        #expect(AllocatorPolicy.decide(environment: tuned, hugePageMode: madvise) == .tuned)
        // A user's own tunables with the marker set by hand are still the user's.
        #expect(AllocatorPolicy.decide(environment: ["GLIBC_TUNABLES": "x=1", "CVM_ALLOCATOR_TUNED": "1"], hugePageMode: madvise) == .inPlace)
    }

    /// Blocks below the mmap threshold stay resident in the heap once freed, until `releaseFreeMemory` hands their
    /// pages back (what the sessions' concatenation and extract rely on for their peak memory).
    @Test func freedHeapBlocksAreHandedBack() throws {
        #if os(Linux)
        let sanitized = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil
            || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil
        try #require(!sanitized, "a sanitizer's allocator is not glibc's")
        // As a cvm process: blocks below 1 MiB come from the heap (glibc's own threshold starts at 128 KiB).
        try #require(AllocatorPolicy.apply(environment: [:]))
        let page = Int(sysconf(Int32(_SC_PAGESIZE))), size = 64 * page, count = 200
        /// One try: frees `count` blocks and returns the resident share of their pages before and after the release.
        func attempt() throws -> (before: (Int, Int), after: (Int, Int)) {
            // Each block with one of the same size after it that stays (a small one may come from elsewhere, a
            // free list), so the freed blocks never merge with each other or into the heap's top, which glibc
            // trims on its own.
            var blocks: [UnsafeMutableRawPointer] = [], guards: [UnsafeMutableRawPointer] = []
            for _ in 0..<count {
                let b = try #require(malloc(size))
                memset(b, 1, size)
                blocks.append(b)
                guards.append(try #require(malloc(size)))
            }
            defer { for g in guards { free(g) } }
            for b in blocks { free(b) }
            /// Resident pages among each freed block's interior pages (its first and last pages may hold malloc's
            /// own bookkeeping or a neighbour).
            func resident() -> (Int, Int) {
                var vec = [UInt8](repeating: 0, count: 64)
                var (yes, all) = (0, 0)
                for b in blocks {
                    let first = (Int(bitPattern: b) + page - 1) / page * page + page
                    let end = (Int(bitPattern: b) + size) / page * page - page
                    guard end > first else { continue }
                    let n = (end - first) / page
                    guard mincore(UnsafeMutableRawPointer(bitPattern: first), end - first, &vec) == 0 else { continue }
                    yes += vec[0..<n].filter { $0 & 1 != 0 }.count
                    all += n
                }
                return (yes, all)
            }
            let before = resident()
            AllocatorPolicy.releaseFreeMemory()
            return (before, resident())
        }
        // The heap is the process's: a test running beside this one may trim it too (a pipeline run does) or reuse
        // the freed blocks. So a few tries; one undisturbed try shows the blocks resident, then handed back.
        var tries: [(before: (Int, Int), after: (Int, Int))] = []
        for _ in 0..<10 {
            let t = try attempt()
            tries.append(t)
            let stayed = t.before.1 > 0 && t.before.0 * 10 >= t.before.1 * 9
            if stayed && t.after.0 * 2 < t.after.1 { break }
        }
        let last = tries.last!
        #expect(last.before.1 > 0 && last.before.0 * 10 >= last.before.1 * 9 && last.after.0 * 2 < last.after.1,
                "freed blocks resident, then handed back (resident pages, all pages; each try): \(tries)")
        #endif
    }
}

/// Which stage's outputs a config setting shapes (`StageSettings`): a stage run alone compares them with the
/// settings its inputs were built with.
struct StageSettingsTests {
    @Test func classifiesEverySourceAndColumnKey() {
        // The lists name real keys (a typo would leave a clean rule counted as extract's, or worse).
        for list in [SourceSpec.cleanKeys, SourceSpec.sharedKeys, SourceSpec.budgetKeys] { #expect(list.isSubset(of: SourceSpec.configKeys), "\(list)") }
        for list in [ColumnDecl.cleanKeys, ColumnDecl.sharedKeys] { #expect(list.isSubset(of: ColumnDecl.configKeys), "\(list)") }
        #expect(StageSettings.stages(of: "sources.orders.delimiter") == [.extract])
        #expect(StageSettings.stages(of: "sources.orders.columns.amount.divide_by") == [.extract])
        #expect(StageSettings.stages(of: "sources.orders.columns.amount") == [.extract])   // `amount: decimal`
        #expect(StageSettings.stages(of: "sources.orders.columns.amount.min") == [.clean])
        #expect(StageSettings.stages(of: "sources.orders.columns.amount.on_invalid") == [.extract, .clean])
        #expect(StageSettings.stages(of: "sources.orders.references.customer_id.on_unknown") == [.clean])
        #expect(StageSettings.stages(of: "sources.orders.max_reject_rate").isEmpty)
        #expect(StageSettings.stages(of: "sources.orders.freshness.max_age_hours").isEmpty)
        #expect(StageSettings.stages(of: "stages.features.zone") == [.clean, .features])
        #expect(StageSettings.stages(of: "stages.features.windows") == [.features])
        #expect(StageSettings.stages(of: "stages.clean.sessions.gap_minutes") == [.clean])
        #expect(StageSettings.stages(of: "seed") == [.cluster])
        for key in ["threads", "warehouse", "artifacts", "report", "campaigns.window_days", "as_of", "privacy.key_env"] {
            #expect(StageSettings.stages(of: key).isEmpty, "\(key)")
        }
        // A source key this cvm does not know is taken as extract's (every stage is built on it).
        for key in SourceSpec.configKeys.subtracting(SourceSpec.cleanKeys).subtracting(SourceSpec.sharedKeys).subtracting(SourceSpec.budgetKeys) {
            #expect(StageSettings.stages(of: "sources.s.\(key)") == [.extract], "\(key)")
        }
    }

    @Test func listsWhatChangedWithBothValues() {
        let changes = StageSettings.changes(recorded: ["a": "1", "b": "x", "c": ""], now: ["a": "1", "b": "y", "d": "2"])
        #expect(changes == ["b (x there, y now)", "c (\"\" there, not set now)", "d (not set there, 2 now)"])
    }

    @Test func settingsAreTheSameHoweverTheYAMLLaysThemOut() throws {
        let flow = try ConfigLoader.load(data: Data("""
            pipeline: p
            warehouse: w.sqlite
            sources:
              orders:
                files: o.csv
                null_values: ["", NA, "a b"]
                columns: {customer_id: {type: string, required: true}, order_id: {type: string, required: true}, ordered_at: {type: timestamp, required: true}, amount: {type: decimal, scale: 2}}
            """.utf8), path: "/tmp/p.yaml", checkFiles: false)
        let block = try ConfigLoader.load(data: Data("""
            pipeline: p
            warehouse: w.sqlite
            sources:
              orders:
                files: o.csv
                null_values:
                  - ""
                  - NA
                  - a b
                columns:
                  customer_id:
                    type: string
                    required: True
                  order_id: {required: true, type: string}
                  ordered_at: {type: timestamp, required: true}
                  amount: {scale: 2, type: decimal}
            """.utf8), path: "/tmp/p.yaml", checkFiles: false)
        #expect(flow.settings == block.settings)
        #expect(flow.settings["sources.orders.null_values"] == "[\"\", NA, \"a b\"]")
        #expect(flow.settings["sources.orders.columns.order_id.required"] == "true")
        #expect(flow.settings["sources.orders.columns (order)"] == "[customer_id, order_id, ordered_at, amount]")
    }
}

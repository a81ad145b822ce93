import Foundation
import Pipeline
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
}

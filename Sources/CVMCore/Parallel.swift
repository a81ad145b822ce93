import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body(chunk)` for every chunk index in parallel with `concurrentPerform`,
/// limited to `threads` workers, and returns the results **in chunk order**.
///
/// Determinism: callers choose chunking independently of the thread count and
/// merge the returned partials in order, so results are bit-identical for any
/// `threads`. `threads <= 1` runs serially on the calling thread.
public func parallelMap<T: Sendable>(chunks: Int, threads: Int, _ body: @Sendable (Int) -> T) -> [T] {
    guard chunks > 0 else { return [] }
    if threads <= 1 || chunks == 1 { return (0..<chunks).map(body) }
    let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: chunks)
    results.initialize(repeating: nil)
    defer { results.deinitialize(); results.deallocate() }
    nonisolated(unsafe) let out = results  // safe: each chunk writes only its own slot
    let workers = min(threads, chunks)
    // Workers take chunks in a strided pattern; which worker computes a chunk
    // does not affect its value, only the order results are stored in.
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        var c = w
        while c < chunks {
            out[c] = body(c)
            c += workers
        }
    }
    return results.map { $0! }
}

/// `parallelMap` over items `0..<order.count` started in the order `order` gives (a permutation: the long items
/// first, so none ends up last on one worker); the results come back by item, `result[i] == body(i)`.
public func parallelMap<T: Sendable>(startingWith order: [Int], threads: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let started = parallelMap(chunks: order.count, threads: threads) { body(order[$0]) }
    var out = [T?](repeating: nil, count: order.count)
    for (k, i) in order.enumerated() { out[i] = started[k] }
    return out.map { $0! }
}

/// Number of processor cores available.
public var availableCores: Int {
    #if os(Linux)
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    #else
    return 2
    #endif
}

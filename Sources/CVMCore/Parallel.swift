import Dispatch
import Foundation
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

/// Runs `produce(i)` for `i` in `0..<count` on `threads` workers and hands each result to `consume(i, value)` on
/// the calling thread **in index order**, while later items are still being produced: a pipeline, not a barrier.
///
/// At most `window` results wait to be consumed (produced, or being produced, ahead of the next one to consume),
/// so memory holds a few items, not all of them. `consume` returns false to stop: no new item is started, the
/// ones under way finish and are dropped, and the function returns. Results are consumed in index order for any
/// `threads`, so a consumer that folds them is deterministic. `threads <= 1` alternates produce and consume on
/// the calling thread.
public func orderedPipeline<T: Sendable>(count: Int, threads: Int, window: Int,
                                         produce: @escaping @Sendable (Int) -> T, consume: (Int, T) -> Bool) {
    guard count > 0 else { return }
    if threads <= 1 {
        for i in 0..<count where !consume(i, produce(i)) { return }
        return
    }
    let state = PipelineState<T>(count: count, window: max(window, threads))
    let group = DispatchGroup()
    for _ in 0..<min(threads, count) {
        DispatchQueue.global().async(group: group) {
            while let i = state.take() {
                state.put(i, produce(i))
            }
        }
    }
    for i in 0..<count {
        let value = state.wait(for: i)
        if !consume(i, value) {
            state.stop()
            break
        }
        state.consumed(i)
    }
    group.wait()
}

/// The shared state of `orderedPipeline`, behind one condition lock.
private final class PipelineState<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var results: [Int: T] = [:]
    private var next = 0
    private var consumedUpTo = 0
    private var stopped = false
    private let count: Int, window: Int

    init(count: Int, window: Int) {
        self.count = count
        self.window = window
    }

    /// The next item to produce, once it is within the window of the consumer; nil when there is none.
    func take() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while !stopped && next < count && next >= consumedUpTo + window { condition.wait() }
        guard !stopped && next < count else { return nil }
        next += 1
        return next - 1
    }

    func put(_ i: Int, _ value: T) {
        condition.lock()
        results[i] = value
        condition.broadcast()
        condition.unlock()
    }

    func wait(for i: Int) -> T {
        condition.lock()
        defer { condition.unlock() }
        while results[i] == nil { condition.wait() }
        return results.removeValue(forKey: i)!
    }

    func consumed(_ i: Int) {
        condition.lock()
        consumedUpTo = i + 1
        condition.broadcast()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}

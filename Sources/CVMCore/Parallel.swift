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
    // Each worker takes the next chunk not yet taken, so a worker that drew long chunks (a table's id column in
    // the profile, its biggest columns in a gather) is not also handed a fixed share of the rest. Which worker
    // computes a chunk does not affect its value, only when it is stored.
    let next = ChunkCounter()
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while let c = next.take(below: chunks) {
            out[c] = body(c)
        }
    }
    return results.map { $0! }
}

/// The next chunk index for `parallelMap`'s workers.
private final class ChunkCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0

    func take(below limit: Int) -> Int? {
        lock.withLock {
            guard next < limit else { return nil }
            next += 1
            return next - 1
        }
    }
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

    /// Item `i`'s result, or nil when the stream ended before it.
    func wait<Item>(for i: Int, before source: StreamSource<Item>) -> T? {
        condition.lock()
        defer { condition.unlock() }
        while results[i] == nil {
            if let total = source.total, i >= total { return nil }
            condition.wait()
        }
        return results.removeValue(forKey: i)!
    }

    /// Waits until item `i` is within the window of the consumer; false when stopped.
    func waitForRoom(_ i: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !stopped && i >= consumedUpTo + window { condition.wait() }
        return !stopped
    }

    /// Wakes the consumer (the stream ended).
    func wake() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
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

/// `orderedPipeline` over items that come one at a time from `next` (nil: no more), not known in advance: each
/// worker takes the next item under a lock (so `next` runs on one thread at a time, in order, and may keep state:
/// a file being read and cut into chunks), works on it outside the lock, and `consume(i, value)` gets the results
/// on the calling thread **in the order `next` gave the items**. At most `window` items are taken ahead of the
/// next one to consume. `consume` returns false to stop: `next` is not called again. `threads <= 1` alternates
/// `next`, `work` and `consume` on the calling thread.
public func orderedStream<Item, T: Sendable>(threads: Int, window: Int, next: @escaping () -> Item?,
                                             work: @escaping @Sendable (Item) -> T, consume: (Int, T) -> Bool) {
    if threads <= 1 {
        var i = 0
        while let item = next() {
            if !consume(i, work(item)) { return }
            i += 1
        }
        return
    }
    let source = StreamSource(next)
    let state = PipelineState<T>(count: Int.max, window: max(window, threads))
    let group = DispatchGroup()
    for _ in 0..<threads {
        DispatchQueue.global().async(group: group) {
            while let (i, item) = source.take(state) {
                state.put(i, work(item))
            }
        }
    }
    var i = 0
    while let value = state.wait(for: i, before: source) {
        if !consume(i, value) {
            state.stop()
            break
        }
        state.consumed(i)
        i += 1
    }
    group.wait()
}

/// The item source of `orderedStream`: `next` behind a lock, with the count of items it gave.
private final class StreamSource<Item>: @unchecked Sendable {
    private let lock = NSLock()
    private let next: () -> Item?
    private var given = 0
    /// Set once `next` returned nil: how many items there were.
    private let ended = LockedOptionalCount()

    init(_ next: @escaping () -> Item?) { self.next = next }

    /// The next item and its index, once its index is within the window (nil at the end or when stopped).
    func take<T>(_ state: PipelineState<T>) -> (Int, Item)? {
        lock.lock()
        defer { lock.unlock() }
        if ended.value != nil { return nil }
        guard state.waitForRoom(given) else { return nil }
        guard let item = next() else {
            ended.value = given
            state.wake()
            return nil
        }
        given += 1
        return (given - 1, item)
    }

    var total: Int? { ended.value }
}

/// An optional count read and written under its own lock.
private final class LockedOptionalCount: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Int?
    var value: Int? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

public import CVMCore
import CKernels

/// Groups click events into sessions: per visitor (or per customer), split at an inactivity gap and
/// optionally at local midnight; anonymous events are stitched to the customer who logs in.
public enum Sessionizer {
    /// Sessions per customer split at `gapMinutes` (the defaults of `stages.clean.sessions`).
    public static func sessionize(_ events: Table, gapMinutes: Int, threads: Int, before: Int64? = nil) throws -> Table {
        try sessionize(events, SessionConfiguration(source: events.name, gapMinutes: gapMinutes), zone: "UTC", threads: threads,
                       before: before)
    }

    /// Builds `stg_sessions` from cleaned events.
    ///
    /// - Grouping: without `visitor`, a customer's events (anonymous events are left out). With `visitor`, a
    ///   visitor's events; an event without a visitor id takes its customer id as its visitor, and one with
    ///   neither is left out.
    /// - Splitting: each group's events in time order (ties in input order); a gap longer than `gapMinutes`
    ///   starts a new session, so does a new local day under `splitAtMidnight` (in `config.zone`, else `zone`),
    ///   and, per visitor, a login as another customer than the session's.
    /// - Stitching: a session belongs to the customer who logs in during it (its earlier anonymous events with
    ///   it); under `stitch: visitor`, the visitor's anonymous sessions before it too (each takes the customer of
    ///   the visitor's next logged-in session). A visitor who never logs in keeps sessions without a customer.
    /// - Rows are sorted by group id (byte order) then start time; identical for any `threads`.
    /// - Throws: `CVMFailure` (exit 78) when a needed column is missing or of the wrong kind.
    /// - Complexity: O(n log n) for the sort, then O(n).
    /// - Parameter before: when set (µs UTC), events at or after it are left out, so the sessions of an as-of
    ///   snapshot never contain later events (a backfill sees the sessions as they were).
    /// - Parameter zone: the shop's zone (`stages.features.zone`), for the midnight split when the sessions
    ///   declare none.
    public static func sessionize(_ events: Table, _ config: SessionConfiguration, zone: String, threads: Int,
                                  before: Int64? = nil) throws -> Table {
        try sessionizeStitching(events, config, zone: zone, threads: threads, before: before).sessions
    }

    /// `sessionize`, and with `visitor` the events with their stitching: an event without a customer id takes the
    /// customer of its session (the one who logs in during it, or under `stitch: visitor` in a later session), so
    /// the features count it for that customer. `events` is nil without `visitor` or when no event is stitched;
    /// `stitched` counts the events that took a customer.
    public static func sessionizeStitching(_ events: Table, _ config: SessionConfiguration, zone: String, threads: Int,
                                           before: Int64? = nil) throws -> (sessions: Table, events: Table?, stitched: Int) {
        guard let cust = events["customer_id"], case .string(let custCodes, let custDict) = cust.storage else {
            throw CVMFailure(.config, "error: sessions need column customer_id (string) in the events source")
        }
        guard let timeCol = events["occurred_at"], timeCol.type == .timestamp else {
            throw CVMFailure(.config, "error: sessions need column occurred_at (timestamp) in the events source; map yours with from:")
        }
        guard let typeCol = events["event_type"], case .string(let typeCodes, let typeDict) = typeCol.storage else {
            throw CVMFailure(.config, "error: sessions need column event_type (string or enum) in the events source")
        }
        func named(_ name: String?, _ key: String, string: Bool) throws -> Column? {
            guard let name else { return nil }
            guard let c = events[name] else {
                throw CVMFailure(.config, "error: stages.clean.sessions.\(key): the events have no column \(name); declare it in sources.\(config.source).columns")
            }
            if string, case .string = c.storage { return c }
            if string { throw CVMFailure(.config, "error: stages.clean.sessions.\(key): column \(name) is \(c.type.rawValue); it must be a string or enum") }
            return c
        }
        let visitorCol = try named(config.visitor, "visitor", string: true)
        let pageCol = try named(config.page, "page", string: true)
        let productCol = try named(config.product, "product", string: false)
        guard let clock = LocalClock(config.zone ?? zone) else {
            throw CVMFailure(.config, "error: stages.clean.sessions.zone: unknown time zone \"\(config.zone ?? zone)\"")
        }
        let times = timeCol.int64Values
        let device = events["device"], referrer = events["referrer"]
        // Bit k of an event type's mask: it counts in `SessionEventTypes.lists[k]` (`EventMasks`).
        let lists = config.eventTypes.lists
        let typeMask: [UInt8] = typeDict.map { value in
            var m: UInt8 = 0
            for (k, list) in lists.enumerated() where list.contains(value) { m |= 1 << UInt8(k) }
            return m
        }
        let gap = Int64(config.gapMinutes) * 60 * microsPerSecond
        let custValid = cust.validity
        let masks = EventMasks(byType: typeMask, types: typeCodes, hasProduct: productCol != nil, productOK: productCol?.validity ?? [])
        let splitAtMidnight = config.splitAtMidnight, stitchVisitor = config.stitch == .visitor

        // The group of each event: a key code into `keys` (customer ids, or visitor ids with customer ids for
        // events without a visitor), or -1 (left out).
        let keys: StringDictionary
        let grouping: () -> Grouped
        let limit = before ?? Int64.max
        if let visitorCol, case .string(let visitorCodes, let visitorDict) = visitorCol.storage {
            var interner = ByteInterner(recordingHashes: false)
            let fromVisitor = interner.intern(contentsOf: visitorDict)
            var fromCustomer = [Int32](repeating: -1, count: custDict.count)
            let visitorValid = visitorCol.validity
            for i in 0..<events.rowCount where !(visitorValid?[i] ?? true) && (custValid?[i] ?? true) {
                let c = Int(custCodes[i])
                if fromCustomer[c] < 0 { fromCustomer[c] = custDict.withBytes(c) { interner.intern($0, accept: { _ in true })! } }
            }
            keys = interner.dictionary()
            let byVisitor = VisitorKeys(visitors: visitorCodes, visitorValid: visitorValid, fromVisitor: fromVisitor,
                                        customers: custCodes, customerValid: custValid, fromCustomer: fromCustomer)
            grouping = { group(byVisitor, groups: keys.count, times: times, masks: masks, before: limit, threads: threads) }
        } else {
            keys = custDict
            let byCustomer = CustomerKeys(customers: custCodes, valid: custValid)
            grouping = { group(byCustomer, groups: keys.count, times: times, masks: masks, before: limit, threads: threads) }
        }

        precondition(events.rowCount <= Int(Int32.max), "sessions: more than 2^31 events in one snapshot")
        // The grouping arrays live in this closure only: they are released before the session columns are
        // built (they and the sessions were the clean stage's peak memory on M).
        var (sessions, anonymous): (SessionColumns, (rows: [Int32], session: [Int32])) = {
            // Rows grouped per group (by key code) by a counting sort; the groups taken in byte order of their ids.
            let order = keys.indicesInByteOrder().map(Int.init)
            // Fixed group chunks: partials concatenate in order, whatever the thread count.
            let groups = keys.count, chunk = 1024
            let chunks = (groups + chunk - 1) / chunk
            let orderL = order
            let stitches = visitorCol != nil
            // The grouped events (13 bytes an event: 205 MB on M) end with this inner closure, so they are gone
            // before the parts are concatenated (a local's lifetime may last to the end of its scope).
            var parts: [SessionPart] = {
                let grouped = grouping()
                return parallelMap(chunks: chunks, threads: threads) { ci -> SessionPart in
                    var out = SessionPart()
                    // A group's events in time order: (time, slot).
                    var idx: [(time: Int64, slot: Int)] = []
                    var local = clock.converter()
                    for r in (ci * chunk)..<min(groups, (ci + 1) * chunk) {
                        let lo = grouped.counts[orderL[r]], hi = grouped.counts[orderL[r] + 1]
                        if lo == hi { continue }
                        idx.removeAll(keepingCapacity: true)
                        var sorted = true
                        for k in lo..<hi {
                            idx.append((grouped.stamps[k], k))
                            if k > lo, grouped.stamps[k] < grouped.stamps[k - 1] { sorted = false }
                        }
                        // Slots are in input order within a group, so equal times keep it without the sort.
                        if !sorted { idx.sort { ($0.time, $0.slot) < ($1.time, $1.slot) } }
                        let key = Int32(orderL[r])
                        let groupStart = out.count
                        var cur = OpenSession()
                        var open = false
                        var day = Int64.min
                        for (t, k) in idx {
                            // Everything about the event comes from its slot (read in order), not from its row.
                            let customer = grouped.customers.isEmpty ? key : grouped.customers[k]
                            let today = splitAtMidnight ? floorDiv(local.convert(t), microsPerDay) : 0
                            let mask = grouped.masks[k]
                            if !open || t - cur.end > gap || today != day
                                || (customer >= 0 && cur.customer >= 0 && customer != cur.customer) {
                                if open { out.append(cur, key: key) }
                                cur = OpenSession(start: t, row: grouped.rows[k], firstIsView: mask & 1 != 0)
                                open = true
                                day = today
                            }
                            // A login stitches the session's earlier anonymous events to the customer.
                            if customer >= 0 { cur.customer = customer }
                            if stitches && customer < 0 {
                                // An anonymous event: it takes its session's customer once the sessions are final.
                                out.anonymousRows.append(grouped.rows[k])
                                out.anonymousSession.append(Int32(out.count))
                            }
                            cur.end = t
                            cur.lastRow = grouped.rows[k]
                            cur.add(mask)
                        }
                        if open { out.append(cur, key: key) }
                        if stitchVisitor {
                            // The visitor's anonymous sessions take the customer of the next logged-in one.
                            var next: Int32 = -1
                            for k in stride(from: out.count - 1, through: groupStart, by: -1) {
                                if out.customer[k] >= 0 { next = out.customer[k] } else { out.customer[k] = next }
                            }
                        }
                    }
                    return out
                }
            }()
            // Each part's anonymous events, their session numbered across the parts (taken before the parts go).
            var anonymous: (rows: [Int32], session: [Int32]) = ([], [])
            var offset: Int32 = 0
            for k in parts.indices {
                anonymous.rows += parts[k].anonymousRows
                anonymous.session += parts[k].anonymousSession.map { $0 + offset }
                offset += Int32(parts[k].count)
                (parts[k].anonymousRows, parts[k].anonymousSession) = ([], [])
            }
            return (SessionColumns(concatenating: &parts, threads: threads), anonymous)
        }()
        let count = sessions.count
        // Session ids ("<group id>-<ordinal>") are unique by construction: no hashing needed, and their
        // bytes go straight into the dictionary's arena (no `String` per session).
        // Each id's place first (a group's sessions are consecutive: the ordinal counts up within it), then the
        // bytes written by `threads` workers at once, each its own sessions.
        var ordinals = [Int32](repeating: 0, count: count)
        var idOffsets = [UInt32](repeating: 0, count: count + 1)
        do {
            var n: Int32 = 0, at = 0
            for k in 0..<count {
                let key = sessions.key[k]
                n = k > 0 && sessions.key[k - 1] == key ? n + 1 : 1
                ordinals[k] = n
                at += Int(keys.offsets[Int(key) + 1] - keys.offsets[Int(key)]) + 1 + decimalDigits(n)
                precondition(at <= Int(UInt32.max), "sessions: the session ids hold more than 4 GiB of text")
                idOffsets[k + 1] = UInt32(at)
            }
        }
        let idArena = [UInt8](unsafeUninitializedCapacity: Int(idOffsets[count])) { out, initialized in
            nonisolated(unsafe) let base = out.baseAddress
            let chunks = max(1, min(threads, count / 100_000))
            let (keyArena, keyOffsets, sessionKeys, ordinalsL, offsetsL) = (keys.arena, keys.offsets, sessions.key, ordinals, idOffsets)
            _ = parallelMap(chunks: chunks, threads: threads) { c in
                keyArena.withUnsafeBufferPointer { ka in
                    for k in (c * count / chunks)..<((c + 1) * count / chunks) {
                        var p = base! + Int(offsetsL[k])
                        let key = Int(sessionKeys[k]), from = Int(keyOffsets[key]), length = Int(keyOffsets[key + 1]) - from
                        if length > 0 { p.initialize(from: ka.baseAddress! + from, count: length) }
                        p += length
                        p.initialize(to: UInt8(ascii: "-"))
                        // The ordinal's digits, from the last.
                        var v = ordinalsL[k]
                        var q = base! + Int(offsetsL[k + 1])
                        repeat {
                            q -= 1
                            q.initialize(to: UInt8(ascii: "0") + UInt8(v % 10))
                            v /= 10
                        } while v > 0
                    }
                }
                return true
            }
            initialized = Int(idOffsets[count])
        }
        ordinals = []
        let idValues = StringDictionary(arena: idArena, offsets: idOffsets)
        let ids = Column(ColumnSpec("session_id", .string), .string(codes: (0..<count).map { Int32($0) }, dictionary: idValues))
        /// A string column of nulls (a value the events do not have).
        func nulls(_ name: String) -> Column {
            Column(ColumnSpec(name, .string), .string(codes: StringCodes(count: count, width: .one) { $0.append(0, count: count) }, dictionary: StringDictionary()),
                   validity: [Bool](repeating: false, count: count))
        }
        let visitors = visitorCol == nil ? nulls("visitor_id")
            : Column(ColumnSpec("visitor_id", .string), .string(codes: sessions.key, dictionary: keys))
        let anonymousSessions = sessions.customer.contains { $0 < 0 }
        let customers = Column(ColumnSpec("customer_id", .string), .string(codes: sessions.customer.map { max(0, $0) }, dictionary: custDict),
                               validity: anonymousSessions ? sessions.customer.map { $0 >= 0 } : nil)
        // The events' customer ids with the stitched ones filled in (the events' own ids are kept).
        var stitchedEvents: Table?
        var filled = 0
        if !anonymous.rows.isEmpty {
            var codes = (0..<custCodes.count).map { custCodes[$0] }
            var valid = custValid ?? [Bool](repeating: true, count: events.rowCount)
            for (row, session) in zip(anonymous.rows, anonymous.session) {
                let c = sessions.customer[Int(session)]
                guard c >= 0, !valid[Int(row)] else { continue }
                codes[Int(row)] = c
                valid[Int(row)] = true
                filled += 1
            }
            if filled > 0 {
                var out = events
                let stitchedCodes = StringCodes(count: codes.count, width: .init(dictionaryCount: custDict.count)) { w in
                    codes.withUnsafeBufferPointer { c in for code in c { w.append(code) } }
                }
                out.replace(Column(cust.spec, .string(codes: stitchedCodes, dictionary: custDict),
                                   validity: valid.allSatisfy { $0 } ? nil : valid))
                stitchedEvents = out
            }
        }
        anonymous = ([], [])
        /// One event's value of a string column per session (the first or the last), as a code into that column's dictionary.
        func value(_ column: Column?, _ name: String, last: Bool) -> Column {
            guard let column, case .string(let codes, let dictionary) = column.storage else { return nulls(name) }
            let rows = (last ? sessions.lastRow : sessions.firstRow).map(Int.init)
            return Column(ColumnSpec(name, .string), .string(codes: codes.gathering(rows), dictionary: dictionary),
                          validity: column.validity.map { ok in rows.map { ok[$0] } })
        }
        let pages = (value(pageCol, "landing_page", last: false), value(pageCol, "exit_page", last: true))
        let labels = (value(device, "device", last: false), value(referrer, "referrer", last: false))
        // The session's rows, key and customer are spent: released before the count columns are handed over.
        (sessions.firstRow, sessions.lastRow, sessions.key, sessions.customer) = ([], [], [], [])
        let starts = sessions.take(\.start), ends = sessions.take(\.end)
        let durations = zip(starts, ends).map { ($1 - $0) / microsPerSecond }
        let table = Table(name: "stg_sessions", columns: [
            ids,
            visitors,
            customers,
            Column("started_at", .timestamp, int64: starts),
            Column("ended_at", .timestamp, int64: ends),
            Column("duration_s", .int, int64: durations),
            Column("events", .int, int64: sessions.take(\.events)),
            Column("page_views", .int, int64: sessions.take(\.views)),
            Column("product_views", .int, int64: sessions.take(\.productViews)),
            Column("searches", .int, int64: sessions.take(\.searches)),
            Column("add_to_cart", .int, int64: sessions.take(\.carts)),
            Column("checkouts", .int, int64: sessions.take(\.checkouts)),
            Column("purchases", .int, int64: sessions.take(\.purchases)),
            pages.0,
            pages.1,
            labels.0,
            labels.1,
            Column("is_bounce", .bool, int64: sessions.take(\.bounce)),
        ], rowCount: count)
        return (table, stitchedEvents, filled)
    }
}

/// The events of each group: what the sessions are cut from.
struct Grouped: Equatable {
    /// Group g (a key code) holds slots `counts[g]..<counts[g + 1]`, in input order.
    var counts: [Int]
    /// Each slot's event row, time and kind (`EventMasks`): the sessions read these in order, not the event
    /// columns at random rows (one cache miss an event on M's 15.8 M).
    var rows: [Int32]
    var stamps: [Int64]
    var masks: [UInt8]
    /// Each slot's customer code (-1: none) when the groups are visitors; empty when they are customers.
    var customers: [Int32]
}

/// What an event counts as in its session: bit k for `SessionEventTypes.lists[k]` (page view, product view, search,
/// add to cart, checkout, purchase); a page view of a product is a product view too.
struct EventMasks: Sendable {
    let byType: [UInt8]
    let types: StringCodes
    let hasProduct: Bool
    /// The product column's validity (empty: every row has one).
    let productOK: [Bool]
    @inline(__always) func mask(_ i: Int) -> UInt8 {
        var m = byType[Int(types[i])]
        if m & 1 != 0, hasProduct, productOK.isEmpty || productOK[i] { m |= 2 }
        return m
    }
}

/// Each event's group: a code into the groups' dictionary, or -1 (left out).
protocol GroupKeys: Sendable {
    func key(_ i: Int) -> Int32
    /// Whether the groups are visitors, so each event's customer is carried beside it.
    var byVisitor: Bool { get }
    func customer(_ i: Int) -> Int32
}

/// Groups by customer: events without one are left out.
struct CustomerKeys: GroupKeys {
    let customers: StringCodes
    let valid: [Bool]?
    @inline(__always) func key(_ i: Int) -> Int32 { valid?[i] ?? true ? customers[i] : -1 }
    var byVisitor: Bool { false }
    @inline(__always) func customer(_ i: Int) -> Int32 { key(i) }
}

/// Groups by visitor; an event without one goes to its customer's id as visitor, one with neither is left out.
struct VisitorKeys: GroupKeys {
    let visitors: StringCodes
    let visitorValid: [Bool]?
    let fromVisitor: [Int32]
    let customers: StringCodes
    let customerValid: [Bool]?
    let fromCustomer: [Int32]
    @inline(__always) func key(_ i: Int) -> Int32 {
        if visitorValid?[i] ?? true { return fromVisitor[Int(visitors[i])] }
        return customerValid?[i] ?? true ? fromCustomer[Int(customers[i])] : -1
    }
    var byVisitor: Bool { true }
    @inline(__always) func customer(_ i: Int) -> Int32 { customerValid?[i] ?? true ? customers[i] : -1 }
}

/// A counting sort of the events before `limit` by their group, a key code below `groups` (generic, so each kind
/// of key is a loop of its own without a call per row). Groups are placed in code order: a rank per code (the
/// sessions' byte order) looked up twice per event cost a tenth of the grouping on M; the sessions take the groups
/// in their order from `counts`.
///
/// Each row goes to its group's slot with its time and kind beside it, so a group's events are sorted (and found
/// already in time order, as files by date usually give them) without reaching into the event columns at random:
/// that was most of the sessionizer's time.
///
/// In parallel over consecutive row ranges: each range counts its rows per group, a range's rows of a group take
/// the slots after the earlier ranges' rows of that group, and each range fills its own slots. Slots within a group
/// are therefore in input order whatever the number of ranges (M: 15.8 M events, 1.2 s on one thread).
/// - Parameter rangeRows: the fewest rows a range takes (below a million, the per-range counts cost more than the
///   ranges save); tests lower it.
func group<K: GroupKeys>(_ keys: K, groups: Int, times: [Int64], masks: EventMasks, before limit: Int64,
                         threads: Int, rangeRows: Int = 1_000_000) -> Grouped {
    let n = times.count
    let ranges = max(1, min(threads, n / max(1, rangeRows)))
    let bounds = (0...ranges).map { $0 * n / ranges }
    let perRange: [[Int32]] = parallelMap(chunks: ranges, threads: ranges) { p in
        var c = [Int32](repeating: 0, count: groups)
        for i in bounds[p]..<bounds[p + 1] where times[i] < limit {
            let k = keys.key(i)
            if k >= 0 { c[Int(k)] += 1 }
        }
        return c
    }
    // Where each range's rows of each group start (range-major within a group), and each group's start.
    var counts = [Int](repeating: 0, count: groups + 1)
    // 32-bit slots (at most 2^31 events): ranges × groups × 4 bytes.
    var starts = [[Int32]](repeating: [], count: ranges)
    for p in 0..<ranges { starts[p] = [Int32](repeating: 0, count: groups) }
    var total = 0
    for g in 0..<groups {
        counts[g] = total
        for p in 0..<ranges {
            starts[p][g] = Int32(total)
            total += Int(perRange[p][g])
        }
    }
    counts[groups] = total
    var g = Grouped(counts: counts, rows: [Int32](repeating: 0, count: total), stamps: [Int64](repeating: 0, count: total),
                    masks: [UInt8](repeating: 0, count: total), customers: keys.byVisitor ? [Int32](repeating: -1, count: total) : [])
    g.rows.withUnsafeMutableBufferPointer { rows in
        g.stamps.withUnsafeMutableBufferPointer { stamps in
            g.masks.withUnsafeMutableBufferPointer { kinds in
                g.customers.withUnsafeMutableBufferPointer { customers in
                    // Each range writes only its own slots.
                    let out = SlotPointers(rows: rows.baseAddress, stamps: stamps.baseAddress, masks: kinds.baseAddress,
                                           customers: customers.baseAddress)
                    let startsL = starts
                    _ = parallelMap(chunks: ranges, threads: ranges) { p in
                        var fill = startsL[p]
                        for i in bounds[p]..<bounds[p + 1] where times[i] < limit {
                            let k = keys.key(i)
                            guard k >= 0 else { continue }
                            let r = Int(k), slot = Int(fill[r])
                            out.rows![slot] = Int32(i)
                            out.stamps![slot] = times[i]
                            out.masks![slot] = masks.mask(i)
                            if keys.byVisitor { out.customers![slot] = keys.customer(i) }
                            fill[r] = Int32(slot + 1)
                        }
                        return true
                    }
                }
            }
        }
    }
    return g
}

/// The grouped arrays, written by several ranges at once (each range its own slots).
struct SlotPointers: @unchecked Sendable {
    let rows: UnsafeMutablePointer<Int32>?
    let stamps: UnsafeMutablePointer<Int64>?
    let masks: UnsafeMutablePointer<UInt8>?
    let customers: UnsafeMutablePointer<Int32>?
}

/// A session while its events are read.
struct OpenSession {
    var customer: Int32 = -1
    var start: Int64 = 0, end: Int64 = 0
    var events: Int64 = 0
    var counts: (Int64, Int64, Int64, Int64, Int64, Int64) = (0, 0, 0, 0, 0, 0)
    var firstRow: Int32 = 0, lastRow: Int32 = 0
    var firstIsView = false

    init() {}

    init(start: Int64, row: Int32, firstIsView: Bool) {
        (self.start, end, firstRow, lastRow, self.firstIsView) = (start, start, row, row, firstIsView)
    }

    /// Counts one event of kind `mask` (`EventMasks`).
    @inline(__always) mutating func add(_ mask: UInt8) {
        events += 1
        guard mask != 0 else { return }
        if mask & 1 != 0 { counts.0 += 1 }
        if mask & 2 != 0 { counts.1 += 1 }
        if mask & 4 != 0 { counts.2 += 1 }
        if mask & 8 != 0 { counts.3 += 1 }
        if mask & 16 != 0 { counts.4 += 1 }
        if mask & 32 != 0 { counts.5 += 1 }
    }
}

/// One chunk's sessions, column by column, at 32 bits (counts) and 8 (the bounce flag): 61 bytes a session while the
/// chunks are built beside the grouped events.
struct SessionPart {
    var key: [Int32] = [], customer: [Int32] = []
    var start: [Int64] = [], end: [Int64] = []
    var events: [Int32] = [], views: [Int32] = [], productViews: [Int32] = [], searches: [Int32] = []
    var carts: [Int32] = [], checkouts: [Int32] = [], purchases: [Int32] = [], bounce: [UInt8] = []
    var firstRow: [Int32] = [], lastRow: [Int32] = []
    /// With visitors: each anonymous event's row and its session (an index into this part).
    var anonymousRows: [Int32] = [], anonymousSession: [Int32] = []

    var count: Int { key.count }

    mutating func append(_ s: OpenSession, key k: Int32) {
        key.append(k)
        customer.append(s.customer)
        start.append(s.start)
        end.append(s.end)
        events.append(Int32(clamping: s.events))
        views.append(Int32(clamping: s.counts.0))
        productViews.append(Int32(clamping: s.counts.1))
        searches.append(Int32(clamping: s.counts.2))
        carts.append(Int32(clamping: s.counts.3))
        checkouts.append(Int32(clamping: s.counts.4))
        purchases.append(Int32(clamping: s.counts.5))
        bounce.append(s.events == 1 && s.firstIsView ? 1 : 0)
        firstRow.append(s.firstRow)
        lastRow.append(s.lastRow)
    }
}

/// All sessions column by column, the counts as the output's 64-bit columns (handed over without a copy). No
/// array of session records sits beside them: the old records plus their columns were the clean stage's peak on M.
struct SessionColumns {
    var key: [Int32], customer: [Int32]
    var start: [Int64], end: [Int64]
    var events: [Int64], views: [Int64], productViews: [Int64], searches: [Int64]
    var carts: [Int64], checkouts: [Int64], purchases: [Int64], bounce: [Int64]
    var firstRow: [Int32], lastRow: [Int32]

    var count: Int { key.count }

    /// The parts one after another, each part's column released as soon as it is copied (so the parts shrink
    /// as the columns grow). A part's arrays (a chunk's sessions: about 120 KB each on M) are below the mmap
    /// threshold, so freeing them leaves their pages in the heap; they are handed back after each column
    /// (`cvm_release_free_memory`). Without that the parts and the columns were held together: on M the clean
    /// stage's peak RSS, 1.47 GB; 1.39 GB with it (the grouped events and the parts are now the peak).
    init(concatenating parts: inout [SessionPart], threads: Int) {
        var at = [0]
        for p in parts { at.append(at[at.count - 1] + p.count) }
        let total = at[at.count - 1]
        // Each column is copied by `threads` workers at once, each its own run of parts (about equal sessions):
        // most of the copy's time is the first touch of the column's fresh pages, which then comes in parallel.
        let ranges = max(1, min(threads, parts.count))
        let bounds = (0...ranges).map { r in at.firstIndex { $0 >= r * total / ranges } ?? parts.count }
        let atL = at
        func copy<T: Sendable, U>(_ arrays: [[T]], _ convert: @escaping @Sendable (UnsafeBufferPointer<T>, UnsafeMutablePointer<U>) -> Void) -> [U] {
            [U](unsafeUninitializedCapacity: total) { out, initialized in
                nonisolated(unsafe) let base = out.baseAddress
                _ = parallelMap(chunks: ranges, threads: ranges) { r in
                    for k in bounds[r]..<bounds[r + 1] where !arrays[k].isEmpty {
                        arrays[k].withUnsafeBufferPointer { convert($0, base! + atL[k]) }
                    }
                    return true
                }
                initialized = total
            }
        }
        /// A part's field, emptied in the parts as it is taken.
        func take<T>(_ field: WritableKeyPath<SessionPart, [T]>) -> [[T]] {
            var arrays: [[T]] = []
            for k in parts.indices {
                arrays.append(parts[k][keyPath: field])
                parts[k][keyPath: field] = []
            }
            return arrays
        }
        func join<T: Sendable>(_ field: WritableKeyPath<SessionPart, [T]>) -> [T] {
            let all: [T] = copy(take(field)) { src, dst in dst.initialize(from: src.baseAddress!, count: src.count) }
            _ = cvm_release_free_memory()
            return all
        }
        func wide<T: BinaryInteger & Sendable>(_ field: WritableKeyPath<SessionPart, [T]>) -> [Int64] {
            let all: [Int64] = copy(take(field)) { src, dst in for (j, v) in src.enumerated() { (dst + j).initialize(to: Int64(v)) } }
            _ = cvm_release_free_memory()
            return all
        }
        (key, customer, start, end) = (join(\.key), join(\.customer), join(\.start), join(\.end))
        (events, views, productViews, searches) = (wide(\.events), wide(\.views), wide(\.productViews), wide(\.searches))
        (carts, checkouts, purchases, bounce) = (wide(\.carts), wide(\.checkouts), wide(\.purchases), wide(\.bounce))
        (firstRow, lastRow) = (join(\.firstRow), join(\.lastRow))
    }

    /// A column's values, handed over (the array here is emptied).
    mutating func take(_ field: WritableKeyPath<SessionColumns, [Int64]>) -> [Int64] {
        let values = self[keyPath: field]
        self[keyPath: field] = []
        return values
    }
}

/// How many decimal digits `n` (>= 0) is written with.
@inline(__always) func decimalDigits(_ n: Int32) -> Int {
    var d = 1, v = n
    while v >= 10 { v /= 10; d += 1 }
    return d
}

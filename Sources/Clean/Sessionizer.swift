public import CVMCore

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
        // Bit k of an event type's mask: it counts in `Count` k.
        let lists = config.eventTypes.lists
        let typeMask: [UInt8] = typeDict.map { value in
            var m: UInt8 = 0
            for (k, list) in lists.enumerated() where list.contains(value) { m |= 1 << UInt8(k) }
            return m
        }
        let gap = Int64(config.gapMinutes) * 60 * microsPerSecond
        let custValid = cust.validity
        let productValid: [Bool]? = productCol.map { c in c.validity ?? [] }
        let splitAtMidnight = config.splitAtMidnight, stitchVisitor = config.stitch == .visitor

        // The group of each event: a key code into `keys` (customer ids, or visitor ids with customer ids for
        // events without a visitor), or -1 (left out).
        let keys: StringDictionary
        let keyOf: (Int) -> Int32
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
            let fromCustomerL = fromCustomer
            keyOf = { i in
                if visitorValid?[i] ?? true { return fromVisitor[Int(visitorCodes[i])] }
                return custValid?[i] ?? true ? fromCustomerL[Int(custCodes[i])] : -1
            }
        } else {
            keys = custDict
            keyOf = { i in custValid?[i] ?? true ? custCodes[i] : -1 }
        }

        // A session is plain values (no per-session array or String): string columns are built
        // afterwards as codes into the events' own dictionaries. 32-bit counts and rows.
        struct Session {
            var key: Int32, customer: Int32, n: Int32, start: Int64, end: Int64, events: Int32 = 0
            var counts: (Int32, Int32, Int32, Int32, Int32, Int32) = (0, 0, 0, 0, 0, 0)
            var firstRow: Int32, lastRow: Int32, firstIsView: Bool
        }
        precondition(events.rowCount <= Int(Int32.max), "sessions: more than 2^31 events in one snapshot")
        // The grouping arrays live in this closure only: they are released before the session columns are
        // built (they and two copies of the sessions were the clean stage's peak memory on M).
        let sessions: [Session] = {
            // Groups in byte order of their ids; rows grouped per group by a counting sort.
            let order = keys.indicesInByteOrder().map(Int.init)
            var rank = [Int](repeating: 0, count: keys.count)
            for (r, code) in order.enumerated() { rank[code] = r }
            var counts = [Int](repeating: 0, count: keys.count + 1)
            let limit = before ?? Int64.max
            for i in 0..<events.rowCount where times[i] < limit {
                let k = keyOf(i)
                if k >= 0 { counts[rank[Int(k)] + 1] += 1 }
            }
            for k in 1..<counts.count { counts[k] += counts[k - 1] }
            // Each row goes to its group's slot with its time beside it, so a group's events are sorted (and
            // found already in time order, as files by date usually give them) without reaching into the 8-byte
            // time column at random: that was most of the sessionizer's time.
            var rows = [Int32](repeating: 0, count: counts.last ?? 0)
            var stamps = [Int64](repeating: 0, count: counts.last ?? 0)
            var fill = counts
            for i in 0..<events.rowCount where times[i] < limit {
                let k = keyOf(i)
                guard k >= 0 else { continue }
                let r = rank[Int(k)]
                rows[fill[r]] = Int32(i)
                stamps[fill[r]] = times[i]
                fill[r] += 1
            }
            // Fixed group chunks: partials concatenate in order, whatever the thread count.
            let groups = keys.count, chunk = 1024
            let chunks = (groups + chunk - 1) / chunk
            let (rowsL, stampsL, countsL, orderL) = (rows, stamps, counts, order)
            let byVisitor = visitorCol != nil
            var parts = parallelMap(chunks: chunks, threads: threads) { ci -> [Session] in
                var out: [Session] = []
                var idx: [(time: Int64, row: Int)] = []
                var local = clock.converter()
                for r in (ci * chunk)..<min(groups, (ci + 1) * chunk) {
                    let lo = countsL[r], hi = countsL[r + 1]
                    if lo == hi { continue }
                    idx.removeAll(keepingCapacity: true)
                    var sorted = true
                    for k in lo..<hi {
                        idx.append((stampsL[k], Int(rowsL[k])))
                        if k > lo, stampsL[k] < stampsL[k - 1] { sorted = false }
                    }
                    // Rows are in input order within a group, so equal times keep it without the sort.
                    if !sorted { idx.sort { ($0.time, $0.row) < ($1.time, $1.row) } }
                    let key = Int32(orderL[r])
                    let groupStart = out.count
                    var n: Int32 = 0
                    var cur: Session?
                    var day = Int64.min
                    for (t, i) in idx {
                        let customer: Int32 = byVisitor ? (custValid?[i] ?? true ? custCodes[i] : -1) : key
                        let today = splitAtMidnight ? floorDiv(local.convert(t), microsPerDay) : 0
                        let mask = typeMask[Int(typeCodes[i])]
                        if cur == nil || t - cur!.end > gap || today != day
                            || (customer >= 0 && cur!.customer >= 0 && customer != cur!.customer) {
                            if let s = cur { out.append(s) }
                            n += 1
                            cur = Session(key: key, customer: -1, n: n, start: t, end: t, firstRow: Int32(i), lastRow: Int32(i),
                                          firstIsView: mask & 1 != 0)
                            day = today
                        }
                        // A login stitches the session's earlier anonymous events to the customer.
                        if customer >= 0 { cur!.customer = customer }
                        cur!.end = t
                        cur!.lastRow = Int32(i)
                        cur!.events += 1
                        if mask != 0 {
                            if mask & 1 != 0 { cur!.counts.0 += 1 }
                            // A page view of a product is a product view too.
                            if mask & 2 != 0 || (mask & 1 != 0 && (productValid.map { $0.isEmpty || $0[i] } ?? false)) { cur!.counts.1 += 1 }
                            if mask & 4 != 0 { cur!.counts.2 += 1 }
                            if mask & 8 != 0 { cur!.counts.3 += 1 }
                            if mask & 16 != 0 { cur!.counts.4 += 1 }
                            if mask & 32 != 0 { cur!.counts.5 += 1 }
                        }
                    }
                    if let s = cur { out.append(s) }
                    if stitchVisitor {
                        // The visitor's anonymous sessions take the customer of the next logged-in one.
                        var next: Int32 = -1
                        for k in stride(from: out.count - 1, through: groupStart, by: -1) {
                            if out[k].customer >= 0 { next = out[k].customer } else { out[k].customer = next }
                        }
                    }
                }
                return out
            }
            // One copy of the sessions at a time: each part is released once appended.
            var all: [Session] = []
            all.reserveCapacity(parts.reduce(0) { $0 + $1.count })
            for k in parts.indices {
                all += parts[k]
                parts[k] = []
            }
            return all
        }()
        let count = sessions.count
        // Session ids ("<group id>-<ordinal>") are unique by construction: no hashing needed, and their
        // bytes go straight into the dictionary's arena (no `String` per session).
        var idValues = StringDictionary()
        idValues.reserveCapacity(count: count, bytes: count * 12)
        var scratch: [UInt8] = []
        for s in sessions {
            scratch.removeAll(keepingCapacity: true)
            keys.withBytes(Int(s.key)) { scratch.append(contentsOf: $0) }
            scratch.append(UInt8(ascii: "-"))
            scratch.append(contentsOf: String(s.n).utf8)
            scratch.withUnsafeBufferPointer { _ = idValues.append($0) }
        }
        let ids = Column(ColumnSpec("session_id", .string), .string(codes: (0..<count).map { Int32($0) }, dictionary: idValues))
        /// A string column of nulls (a value the events do not have).
        func nulls(_ name: String) -> Column {
            Column(ColumnSpec(name, .string), .string(codes: StringCodes(count: count, width: .one) { $0.append(0, count: count) }, dictionary: StringDictionary()),
                   validity: [Bool](repeating: false, count: count))
        }
        let visitors = visitorCol == nil ? nulls("visitor_id")
            : Column(ColumnSpec("visitor_id", .string), .string(codes: sessions.map(\.key), dictionary: keys))
        let anonymous = sessions.contains { $0.customer < 0 }
        let customers = Column(ColumnSpec("customer_id", .string), .string(codes: sessions.map { max(0, $0.customer) }, dictionary: custDict),
                               validity: anonymous ? sessions.map { $0.customer >= 0 } : nil)
        /// One event's value of a string column per session (the first or the last), as a code into that column's dictionary.
        func value(_ column: Column?, _ name: String, row: KeyPath<Session, Int32>) -> Column {
            guard let column, case .string(let codes, let dictionary) = column.storage else { return nulls(name) }
            return Column(ColumnSpec(name, .string), .string(codes: sessions.map { codes[Int($0[keyPath: row])] }, dictionary: dictionary),
                          validity: column.validity.map { _ in sessions.map { column.isValid(Int($0[keyPath: row])) } })
        }
        return Table(name: "stg_sessions", columns: [
            ids,
            visitors,
            customers,
            Column("started_at", .timestamp, int64: sessions.map(\.start)),
            Column("ended_at", .timestamp, int64: sessions.map(\.end)),
            Column("duration_s", .int, int64: sessions.map { ($0.end - $0.start) / microsPerSecond }),
            Column("events", .int, int64: sessions.map { Int64($0.events) }),
            Column("page_views", .int, int64: sessions.map { Int64($0.counts.0) }),
            Column("product_views", .int, int64: sessions.map { Int64($0.counts.1) }),
            Column("searches", .int, int64: sessions.map { Int64($0.counts.2) }),
            Column("add_to_cart", .int, int64: sessions.map { Int64($0.counts.3) }),
            Column("checkouts", .int, int64: sessions.map { Int64($0.counts.4) }),
            Column("purchases", .int, int64: sessions.map { Int64($0.counts.5) }),
            value(pageCol, "landing_page", row: \.firstRow),
            value(pageCol, "exit_page", row: \.lastRow),
            value(device, "device", row: \.firstRow),
            value(referrer, "referrer", row: \.firstRow),
            Column("is_bounce", .bool, int64: sessions.map { $0.events == 1 && $0.firstIsView ? 1 : 0 }),
        ], rowCount: count)
    }
}

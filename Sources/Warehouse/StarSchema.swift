import CVMCore
import GRDB

/// The derived parts of the star schema, rebuilt inside each load transaction from the
/// snapshot tables: `dim_date`, `dim_product` and `customer_history`. Their schemas are fixed
/// and created by migration v2; `dim_customer`, `fact_order_line` and `fact_session` are the
/// loaded snapshot tables of the customers, orders and sessions sources (Pipeline names them).
enum StarSchema {
    static let ddl = """
        CREATE TABLE IF NOT EXISTS dim_date (
          date TEXT PRIMARY KEY, year INTEGER NOT NULL, quarter INTEGER NOT NULL, month INTEGER NOT NULL,
          month_name TEXT NOT NULL, iso_year INTEGER NOT NULL, iso_week INTEGER NOT NULL, day_of_month INTEGER NOT NULL,
          day_of_week INTEGER NOT NULL, day_name TEXT NOT NULL, is_weekend INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS dim_product (
          sku TEXT PRIMARY KEY, category TEXT, order_lines INTEGER NOT NULL, customers INTEGER NOT NULL,
          first_ordered TEXT, last_ordered TEXT, as_of TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS customer_history (
          customer_id TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT, is_current INTEGER NOT NULL,
          rfm_segment TEXT, lifecycle_stage TEXT, quadrant TEXT, tier TEXT,
          PRIMARY KEY (customer_id, valid_from));
        CREATE INDEX IF NOT EXISTS ix_customer_history_current ON customer_history (is_current, customer_id);
        """

    /// The columns whose changes customer_history tracks (type-2), when customer_value has them.
    static let tracked = ["rfm_segment", "lifecycle_stage", "quadrant", "tier"]

    /// - Parameters:
    ///   - asOf: the snapshot just loaded (nil: rebuild everything from the tables, as a migration does).
    ///   - orders: the order lines just loaded as `fact_order_line`, if any: dim_product and dim_date are then
    ///     computed from memory (a GROUP BY over millions of stored rows took 8–11 s on the M preset).
    ///   - appendsHistory: `asOf` is a new snapshot of customer_value, later than every other: the
    ///     history is extended by it (`appendHistory`) instead of rebuilt from all snapshots.
    static func rebuild(_ db: Database, asOf: CivilDate? = nil, orders: CVMCore.Table? = nil, appendsHistory: Bool = false) throws {
        try db.execute(sql: ddl)
        let extended = try appendsHistory ? asOf.map { try appendHistory(db, asOf: $0) } ?? false : false
        if !extended { try rebuildHistory(db) }
        if let asOf, let orders {
            let latest = try String.fetchOne(db, sql: "SELECT as_of FROM fact_order_line ORDER BY as_of DESC LIMIT 1")
            if latest == asOf.description { try productsFromMemory(db, orders, asOf: asOf) }
            try extendDates(db, from: orders, asOf: asOf)
        } else if let asOf {
            try extendDates(db, from: nil, asOf: asOf)
        } else {
            try rebuildProducts(db)
            try extendDates(db)
        }
    }

    /// dim_product from the in-memory order lines of the latest snapshot.
    static func productsFromMemory(_ db: Database, _ t: CVMCore.Table, asOf: CivilDate) throws {
        guard let sku = t["sku"], case .string(let skuCodes, let skuNames) = sku.storage else { return }
        let category = t["category"], customer = t["customer_id"], at = t["ordered_at"]
        var lines = [Int](repeating: 0, count: skuNames.count)
        var first = [Int64](repeating: .max, count: skuNames.count), last = [Int64](repeating: .min, count: skuNames.count)
        var cat = [String?](repeating: nil, count: skuNames.count)
        var buyers = [Set<Int32>](repeating: [], count: skuNames.count)
        var customerCodes: StringCodes? = nil
        if let customer, case .string(let codes, _) = customer.storage { customerCodes = codes }
        for r in 0..<t.rowCount where sku.isValid(r) {
            let k = Int(skuCodes[r])
            lines[k] += 1
            if let c = category?.string(at: r), cat[k].map({ c < $0 }) ?? true { cat[k] = c }
            if let codes = customerCodes, customer!.isValid(r) { buyers[k].insert(codes[r]) }
            if let v = at?.int64(at: r) { first[k] = min(first[k], v); last[k] = max(last[k], v) }
        }
        try db.execute(sql: "DELETE FROM dim_product")
        let stmt = try db.makeStatement(sql: "INSERT INTO dim_product VALUES (?, ?, ?, ?, ?, ?, ?)")
        for k in 0..<skuNames.count where lines[k] > 0 {
            let f = first[k] == .max ? nil : formatTimestampMicros(first[k]), l = last[k] == .min ? nil : formatTimestampMicros(last[k])
            try stmt.execute(arguments: [skuNames[k], cat[k], lines[k], buyers[k].count, f, l, asOf.description])
        }
    }

    /// customer_history: one row per customer and period in which its segment, lifecycle stage,
    /// quadrant and tier stayed the same, from all customer_value snapshots in as-of order. Rebuilt
    /// as a whole, so backfills and reloads of any snapshot keep it exact and loads stay idempotent.
    static func rebuildHistory(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM customer_history")
        guard try db.tableExists("customer_value") else { return }
        let have = Set(try db.columns(in: "customer_value").map(\.name))
        let cols = tracked.map { have.contains($0) ? quote($0) : "NULL" }
        let key = cols.map { "coalesce(\($0), '')" }.joined(separator: " || char(31) || ")
        try db.execute(sql: """
            INSERT INTO customer_history (customer_id, valid_from, valid_to, is_current, rfm_segment, lifecycle_stage, quadrant, tier)
            WITH s AS (
              SELECT customer_id, as_of, \(cols.enumerated().map { "\($0.element) AS c\($0.offset)" }.joined(separator: ", ")),
                     \(key) AS k,
                     LAG(\(key)) OVER w AS prev_k, LAG(as_of) OVER w AS prev_as_of
              FROM customer_value WINDOW w AS (PARTITION BY customer_id ORDER BY as_of)),
            snaps AS (
              SELECT as_of, LAG(as_of) OVER (ORDER BY as_of) AS before, LEAD(as_of) OVER (ORDER BY as_of) AS after
              FROM (SELECT DISTINCT as_of FROM customer_value)),
            -- A period starts when the tracked values change, or when the customer was absent from the
            -- previous snapshot (not yet known, or gone and back).
            flagged AS (
              SELECT s.*, CASE WHEN s.prev_k IS NULL OR s.prev_k != s.k OR s.prev_as_of IS NOT snaps.before THEN 1 ELSE 0 END AS is_start
              FROM s JOIN snaps ON snaps.as_of = s.as_of),
            numbered AS (SELECT *, SUM(is_start) OVER (PARTITION BY customer_id ORDER BY as_of) AS period FROM flagged),
            periods AS (
              SELECT customer_id, MIN(as_of) AS valid_from, MAX(as_of) AS last_seen, MIN(c0) AS c0, MIN(c1) AS c1, MIN(c2) AS c2, MIN(c3) AS c3
              FROM numbered GROUP BY customer_id, period)
            -- A period ends at the first snapshot after the last one it was seen in; open while current.
            SELECT p.customer_id, p.valid_from, snaps.after, snaps.after IS NULL, p.c0, p.c1, p.c2, p.c3
            FROM periods p JOIN snaps ON snaps.as_of = p.last_seen
            """)
    }

    /// Whether loading `asOf` into customer_value, judged before the load changes it, adds a snapshot
    /// later than every stored one, so that `appendHistory` applies.
    static func isNewLatestSnapshot(_ db: Database, asOf: CivilDate) throws -> Bool {
        guard try db.tableExists("customer_value") else { return true }
        return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (SELECT 1 FROM customer_value WHERE as_of >= ? LIMIT 1)",
                                arguments: [asOf.description]) == 0
    }

    /// Extends customer_history by the snapshot `asOf`, which must be later than every other snapshot
    /// and new (the history then describes exactly the snapshots before it, as each load leaves it).
    /// The result equals `rebuildHistory`'s; the cost is the new snapshot's rows, not all snapshots'
    /// (the rebuild's window query took 0.9 s for one snapshot of 100,000 customers and grows with
    /// every nightly snapshot kept). Returns false, changing nothing, when `asOf` has no rows.
    ///
    /// A current period goes on when its customer is in the new snapshot with the same tracked values
    /// (compared as the rebuild does: null and empty text alike); every other current period ends at
    /// `asOf`, and the new snapshot's customers without a current period start one.
    static func appendHistory(_ db: Database, asOf: CivilDate) throws -> Bool {
        guard try db.tableExists("customer_value"),
              try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (SELECT 1 FROM customer_value WHERE as_of = ? LIMIT 1)",
                               arguments: [asOf.description]) == 1 else { return false }
        let have = Set(try db.columns(in: "customer_value").map(\.name))
        let values = tracked.map { have.contains($0) ? "v.\(quote($0))" : "NULL" }
        let same = zip(tracked, values).map { "coalesce(h.\(quote($0.0)), '') = coalesce(\($0.1), '')" }.joined(separator: " AND ")
        let day = asOf.description
        try db.execute(sql: """
            UPDATE customer_history AS h SET valid_to = ?, is_current = 0
            WHERE h.is_current = 1 AND NOT EXISTS (
              SELECT 1 FROM customer_value v WHERE v.as_of = ? AND v.customer_id = h.customer_id AND \(same))
            """, arguments: [day, day])
        // Within a period null and empty text count as the same value; the rebuild keeps the text (MIN).
        let fill = zip(tracked, values).map { "\(quote($0.0)) = coalesce(\(quote($0.0)), (SELECT \($0.1) FROM customer_value v WHERE v.as_of = ? AND v.customer_id = customer_history.customer_id))" }
        try db.execute(sql: "UPDATE customer_history SET \(fill.joined(separator: ", ")) WHERE is_current = 1 AND (\(tracked.map { "\(quote($0)) IS NULL" }.joined(separator: " OR ")))",
                       arguments: StatementArguments(Array(repeating: day, count: tracked.count)))
        try db.execute(sql: """
            INSERT INTO customer_history (customer_id, valid_from, valid_to, is_current, \(tracked.map(quote).joined(separator: ", ")))
            SELECT v.customer_id, v.as_of, NULL, 1, \(values.joined(separator: ", ")) FROM customer_value v
            WHERE v.as_of = ? AND NOT EXISTS (SELECT 1 FROM customer_history h WHERE h.is_current = 1 AND h.customer_id = v.customer_id)
            """, arguments: [day])
        return true
    }

    /// dim_product: every SKU of the latest order-line snapshot with its category, order lines,
    /// distinct customers and first and last order time.
    static func rebuildProducts(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM dim_product")
        guard try db.tableExists("fact_order_line") else { return }
        let have = Set(try db.columns(in: "fact_order_line").map(\.name))
        guard have.contains("sku") else { return }
        let category = have.contains("category") ? "MIN(category)" : "NULL"
        let customer = have.contains("customer_id") ? "COUNT(DISTINCT customer_id)" : "0"
        let time = have.contains("ordered_at") ? ("MIN(ordered_at)", "MAX(ordered_at)") : ("NULL", "NULL")
        try db.execute(sql: """
            INSERT INTO dim_product (sku, category, order_lines, customers, first_ordered, last_ordered, as_of)
            SELECT sku, \(category), COUNT(*), \(customer), \(time.0), \(time.1), as_of
            FROM fact_order_line WHERE as_of = (SELECT MAX(as_of) FROM fact_order_line) AND sku IS NOT NULL
            GROUP BY sku
            """)
    }

    /// dim_date: one row per day from the earliest order (or snapshot) to the latest snapshot; only
    /// missing days are added.
    static func extendDates(_ db: Database, from orders: CVMCore.Table?, asOf: CivilDate) throws {
        var lo = asOf, hi = asOf
        // The orders' days in the shop's zone (`ordered_date`, what analysts join on) where the load added them;
        // UTC days left a New York shop's first order without its day and ran a day past the snapshot.
        if let local = orders?["ordered_date"], local.type == .date {
            for r in 0..<(orders?.rowCount ?? 0) {
                guard let v = local.int64(at: r) else { continue }
                let d = CivilDate(daysSinceEpoch: v)
                if d < lo { lo = d }
                if hi < d { hi = d }
            }
        } else if let at = orders?["ordered_at"], at.type == .timestamp {
            for r in 0..<(orders?.rowCount ?? 0) {
                guard let v = at.int64(at: r) else { continue }
                let d = CivilDate(daysSinceEpoch: floorDiv(v, microsPerDay))
                if d < lo { lo = d }
                if hi < d { hi = d }
            }
        }
        if let row = try Row.fetchOne(db, sql: "SELECT MIN(date), MAX(date) FROM dim_date"), let a: String = row[0], let b: String = row[1],
           let da = CivilDate(iso: a), let dbb = CivilDate(iso: b) {
            if da < lo { lo = da }
            if hi < dbb { hi = dbb }
        }
        try insertDates(db, lo, hi)
    }

    static func extendDates(_ db: Database) throws {
        var bounds: [String] = []
        let local = try db.tableExists("fact_order_line") && db.columns(in: "fact_order_line").contains { $0.name == "ordered_date" }
        for (table, column) in [("fact_order_line", local ? "ordered_date" : "ordered_at"), ("customer_value", "as_of"), ("fact_order_line", "as_of")] {
            guard try db.tableExists(table), try db.columns(in: table).contains(where: { $0.name == column }) else { continue }
            if let row = try Row.fetchOne(db, sql: "SELECT MIN(substr(\(quote(column)), 1, 10)), MAX(substr(\(quote(column)), 1, 10)) FROM \(quote(table))") {
                if let a: String = row[0] { bounds.append(a) }
                if let b: String = row[1] { bounds.append(b) }
            }
        }
        let days = bounds.compactMap { CivilDate(iso: $0) }
        guard let lo = days.min(), let hi = days.max() else { return }
        try insertDates(db, lo, hi)
    }

    /// Adds the days from `lo` to `hi` that dim_date lacks (at most about 550 years).
    static func insertDates(_ db: Database, _ lo: CivilDate, _ hi: CivilDate) throws {
        guard hi.daysSinceEpoch - lo.daysSinceEpoch < 200_000 else { return }
        let have = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dim_date WHERE date BETWEEN ? AND ?", arguments: [lo.description, hi.description]) ?? 0
        if have == Int(hi.daysSinceEpoch - lo.daysSinceEpoch) + 1 { return }
        let stmt = try db.makeStatement(sql: "INSERT OR IGNORE INTO dim_date VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let dayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        for z in lo.daysSinceEpoch...hi.daysSinceEpoch {
            let d = CivilDate(daysSinceEpoch: z)
            let (isoYear, isoWeek) = isoWeek(d)
            try stmt.execute(arguments: [d.description, d.year, (d.month - 1) / 3 + 1, d.month, months[d.month - 1], isoYear, isoWeek,
                                         d.day, d.isoWeekday, dayNames[d.isoWeekday - 1], d.isoWeekday >= 6 ? 1 : 0])
        }
    }

    /// ISO 8601 week-numbering year and week of a date (week 1 holds the year's first Thursday).
    static func isoWeek(_ d: CivilDate) -> (Int, Int) {
        let thursday = d.adding(days: Int64(4 - d.isoWeekday))  // the Thursday of d's week decides its year
        let jan1 = CivilDate(year: thursday.year, month: 1, day: 1)
        return (thursday.year, Int((thursday.daysSinceEpoch - jan1.daysSinceEpoch) / 7) + 1)
    }
}

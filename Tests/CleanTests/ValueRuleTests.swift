import Clean
import CVMCore
import TestSupport
import Testing

/// pattern, length, on_invalid: null, and freshness.
struct ValueRuleTests {
    func customers(_ rows: [(id: String, country: String?, birth: Int64?)]) -> Table {
        Table(name: "raw_customers", columns: [
            Column("customer_id", strings: rows.map(\.id)),
            Column("country", strings: rows.map(\.country)),
            Column("birth_year", .int, int64: rows.map { $0.birth ?? 0 }, validity: rows.map { $0.birth != nil }),
            Column(Provenance.file, strings: rows.map { _ in "c.csv" }),
            Column(Provenance.line, .int, int64: (0..<rows.count).map { Int64($0 + 2) }),
        ])
    }

    func spec(onInvalid: ColumnDecl.InvalidPolicy) -> SourceSpec {
        var id = ColumnDecl(.string, required: true)
        id.pattern = "C[0-9]{3}"
        var country = ColumnDecl(.string)
        country.minLength = 2
        country.maxLength = 2
        country.onInvalid = onInvalid
        var birth = ColumnDecl(.int, min: 1900, max: 2026)
        birth.onInvalid = onInvalid
        return SourceSpec(name: "customers", files: [], columns: [("customer_id", id), ("country", country), ("birth_year", birth)])
    }

    let rows: [(id: String, country: String?, birth: Int64?)] = [
        ("C001", "DE", 1980),   // ok
        ("C02", "FR", 1990),    // pattern: only two digits
        ("C003", "FRA", 1970),  // length
        ("C004", "IT", 1850),   // min
        ("C005", nil, nil),     // nulls are not invalid
        ("C006", "X", 2100),    // length and max: one row, two values
    ]

    @Test func patternAndLengthRejectWithReasons() {
        let r = Cleaner.clean(spec(onInvalid: .reject), table: customers(rows), references: [:], threads: 1)
        #expect(r.table.rowCount == 2)
        // Rules are checked in a fixed order (required, enum, min, max, pattern, length): the first failure names the row.
        #expect(r.quarantine.map(\.rule) == ["pattern", "length", "min", "max"])
        #expect(r.quarantine.map(\.reason) == [
            "customer_id: \"C02\" does not match the pattern C[0-9]{3}",
            "country: \"FRA\" has 3 characters, more than 2",
            "birth_year: 1850 is below the minimum 1900",
            "birth_year: 2100 is above the maximum 2026",
        ])
        #expect(r.quarantine.map(\.line) == [3, 4, 5, 7])
        #expect(r.quarantine.map(\.column) == [1, 2, 3, 3])
    }

    @Test func exclusiveBoundsRejectTheBoundItself() {
        var price = ColumnDecl(.decimal, scale: 2, min: 0, max: 100)
        price.minExclusive = true
        price.maxExclusive = true
        var share = ColumnDecl(.double, min: 0, max: 1)
        share.maxExclusive = true
        let spec = SourceSpec(name: "p", files: [], columns: [("price", price), ("share", share)])
        // Cents 0, 1, 9999, 10000; shares 0, 0.5, 0.99, 1.
        let t = Table(name: "raw_p", columns: [
            Column("price", .decimal, int64: [0, 1, 9999, 10000, 500], scale: 2),
            Column("share", double: [0.5, 0, 0.99, 0.5, 1]),
            Column(Provenance.file, strings: Array(repeating: "p.csv", count: 5)),
            Column(Provenance.line, .int, int64: [2, 3, 4, 5, 6]),
        ])
        let r = Cleaner.clean(spec, table: t, references: [:], threads: 1)
        #expect(r.table.rowCount == 2)
        #expect(r.quarantine.map(\.reason) == [
            "price: 0.00 is not above the exclusive minimum 0",
            "price: 100.00 is not below the exclusive maximum 100",
            "share: 1 is not below the exclusive maximum 1",
        ])
        #expect(r.quarantine.map(\.rule) == ["min", "max", "max"])
    }

    @Test func datesAndTimestampsOutsideTheAsOfWindowAreRejected() throws {
        let asOf = try #require(CivilDate(iso: "2026-06-30")).daysSinceEpoch
        let end = (asOf + 1) * microsPerDay  // the end of the as-of day in UTC
        var at = ColumnDecl(.timestamp)
        at.window = AsOfWindow(daysBefore: 2, daysAfter: 0)
        var day = ColumnDecl(.date)
        day.window = AsOfWindow(daysAfter: 1)
        let spec = SourceSpec(name: "e", files: [], columns: [("at", at), ("day", day)])
        let t = Table(name: "raw_e", columns: [
            Column("at", .timestamp, int64: [end - 1, end, end - 2 * microsPerDay, end - 2 * microsPerDay - 1, 0, end - 5],
                   validity: [true, true, true, true, false, true]),
            Column("day", .date, int64: [asOf + 1, asOf, 0, asOf, asOf, asOf + 2]),
            Column(Provenance.file, strings: Array(repeating: "e.csv", count: 6)),
            Column(Provenance.line, .int, int64: [2, 3, 4, 5, 6, 7]),
        ])
        // Without the as-of day the rule is not checked.
        #expect(Cleaner.clean(spec, table: t, references: [:], threads: 1).table.rowCount == 6)
        let r = Cleaner.clean(spec, table: t, references: [:], threads: 1, asOf: (asOf, LocalClock("UTC")!))
        #expect(r.table[Provenance.line]?.int64Values == [2, 4, 6])
        #expect(r.quarantine.map(\.rule) == ["window", "window", "window"])
        #expect(r.quarantine.map(\.reason) == [
            "at: 2026-07-01T00:00:00Z is after the as-of window, which ends 2026-07-01T00:00:00Z (days_after: 0)",
            "at: 2026-06-28T23:59:59.999999Z is before the as-of window, which starts 2026-06-29T00:00:00Z (days_before: 2)",
            "day: 2026-07-02 is after the as-of window, which ends 2026-07-01 (days_after: 1)",
        ])
    }

    /// The window counts local calendar days: on the 25-hour day (Berlin, 2026-10-25) `days_before: 1` is that
    /// day from its local midnight (22:00Z the day before), not 24 hours back from its end (23:00Z); on the 23-hour
    /// day (2026-03-29) an event at 23:30 the evening before is out.
    @Test func theWindowCountsLocalDaysAcrossDaylightSavingChanges() throws {
        var at = ColumnDecl(.timestamp)
        at.window = AsOfWindow(daysBefore: 1, daysAfter: 0)
        let spec = SourceSpec(name: "e", files: [], columns: [("at", at)])
        let berlin = try #require(LocalClock("Europe/Berlin"))
        // "2026-10-24T22:30:00Z" as µs since 1970.
        func utc(_ text: String) throws -> Int64 {
            let day = try #require(CivilDate(iso: String(text.prefix(10)))).daysSinceEpoch
            let h = Int64(text.dropFirst(11).prefix(2))!, m = Int64(text.dropFirst(14).prefix(2))!
            return day * microsPerDay + (h * 60 + m) * 60_000_000
        }
        func kept(_ asOf: String, _ times: [String]) throws -> [Int64] {
            let t = Table(name: "raw_e", columns: [
                Column("at", .timestamp, int64: try times.map(utc)),
                Column(Provenance.file, strings: times.map { _ in "e.csv" }),
                Column(Provenance.line, .int, int64: times.indices.map { Int64($0 + 2) }),
            ])
            let day = try #require(CivilDate(iso: asOf)).daysSinceEpoch
            return Cleaner.clean(spec, table: t, references: [:], threads: 1, asOf: (day, berlin)).table[Provenance.line]!.int64Values
        }
        // 00:30 local on the as-of day (22:30Z) is in; 23:59 local the day before (21:59Z) is out.
        #expect(try kept("2026-10-25", ["2026-10-24T22:30:00Z", "2026-10-24T21:59:00Z", "2026-10-25T22:59:00Z"]) == [2, 4])
        // 23:30 local on 28 March (22:30Z) is out; 00:30 local on the 29th (23:30Z) in; 23:59 local (21:59Z) in.
        #expect(try kept("2026-03-29", ["2026-03-28T22:30:00Z", "2026-03-28T23:30:00Z", "2026-03-29T21:59:00Z"]) == [3, 4])
    }

    @Test func onInvalidNullKeepsTheRowAndCountsTheNulledValues() {
        let r = Cleaner.clean(spec(onInvalid: .null), table: customers(rows), references: [:], threads: 1)
        // Only the id pattern (on_invalid: reject, the default) still rejects a row.
        #expect(r.quarantine.map(\.rule) == ["pattern"])
        #expect(r.table.rowCount == 5)
        let country = r.table["country"]!, birth = r.table["birth_year"]!
        #expect((0..<5).map { country.string(at: $0) } == ["DE", nil, "IT", nil, nil])
        #expect((0..<5).map { birth.int64(at: $0) } == [1980, 1970, nil, nil, nil])
        #expect(r.nulled.map { "\($0.column) \($0.rule) \($0.count)" } == ["birth_year min 1", "birth_year max 1", "country length 2"])
        #expect(r.nulled.last?.example == "country: \"FRA\" has 3 characters, more than 2")
    }

    @Test func freshnessFailsWhenTheNewestRowIsTooOld() {
        var s = SourceSpec(name: "orders", files: [], columns: [("ordered_at", ColumnDecl(.timestamp))])
        s.freshness = Freshness(column: "ordered_at", maxAgeHours: 48)
        let end = (CivilDate(year: 2026, month: 6, day: 30).daysSinceEpoch + 1) * microsPerDay
        let hour = 3_600_000_000 as Int64
        func table(_ ts: [Int64]) -> Table { Table(name: "stg_orders", columns: [Column("ordered_at", .timestamp, int64: ts)]) }
        #expect(Cleaner.staleness(s, table: table([end - 100 * hour, end - 47 * hour]), cutoff: end) == nil)
        // A row after the cutoff does not make the data fresh.
        let stale = Cleaner.staleness(s, table: table([end - 50 * hour, end + hour]), cutoff: end)
        #expect(stale == "sources.orders.freshness: the newest ordered_at is 2026-06-28T22:00:00Z, 50 hours before the end of the as-of day (limit 48); check that the latest files arrived")
        #expect(Cleaner.staleness(s, table: table([]), cutoff: end)?.contains("no rows with ordered_at") == true)
    }
}

/// Row checks across columns (`checks:`).
struct RowCheckTests {
    let table = Table(name: "raw_orders", columns: [
        Column("quantity", .int, int64: [2, 1, 3, 0], validity: [true, true, true, false]),
        Column("unit_price", .decimal, int64: [1000, 500, 200, 100], scale: 2),
        Column("discount", .decimal, int64: [500, 600, 0, 0], scale: 2),
        Column("status", strings: ["completed", "completed", "returned", "completed"]),
        Column("started_at", .timestamp, int64: [10, 10, 10, 10]),
        Column("ended_at", .timestamp, int64: [20, 5, 10, 30]),
        Column(Provenance.file, strings: ["o.csv", "o.csv", "o.csv", "o.csv"]),
        Column(Provenance.line, .int, int64: [2, 3, 4, 5]),
    ])
    let names = ["quantity", "unit_price", "discount", "status", "started_at", "ended_at"]

    @Test func checksRejectFailingRowsWithTheirValues() throws {
        var s = SourceSpec(name: "orders", files: [], columns: names.map { ($0, ColumnDecl(.string)) })
        s.checks = [try RowExpression("quantity * unit_price >= discount", columns: names),
                    try RowExpression("ended_at >= started_at", columns: names)]
        let r = Cleaner.clean(s, table: table, references: [:], threads: 1)
        // Row 2: 1 × 5.00 < 6.00; row 3 fails the second check. Row 5 has a null quantity: unknown passes.
        #expect(r.quarantine.map(\.line) == [3])
        #expect(r.quarantine.first?.reason == "check failed: quantity * unit_price >= discount (quantity=1, unit_price=5.00, discount=6.00)")
        #expect(r.table.rowCount == 3)
    }

    @Test(arguments: [
        ("status = 'completed' and quantity > 1", [true, false, false, true]),  // row 4: true and unknown → unknown → passes
        ("not (status = 'returned') or quantity >= 3", [true, true, true, true]),
        ("(unit_price - discount) / quantity > 2", [true, false, false, true]),  // row 4: null quantity → unknown → passes
        ("-discount < 0 or discount == 0", [true, true, true, true]),
        ("ended_at - started_at <> 0", [true, true, false, true]),
        ("unit_price * 1e2 >= 1.5e4", [false, false, false, false]),
    ])
    func theGrammarEvaluatesLikeSQL(_ text: String, _ expected: [Bool]) throws {
        let e = try RowExpression(text, columns: names, text: ["status"])
        #expect((0..<4).map { e.passes(table, row: $0) } == expected, "\(text)")
        // Bound once to the table's columns (what the clean stage runs per row): the same answers.
        let bound = e.bind(table)
        #expect((0..<4).map { bound.passes($0) } == expected, "\(text) (bound)")
    }

    /// Money is exact fixed point, and so is arithmetic on it: `3 × 0.10 = 0.30` and `7 × 1.10 − 0.70 = 7.00` were
    /// rejected in binary floating point, and a one-cent tolerance failed at exactly one cent (2.2% of a generated
    /// shop's order lines, all consistent as written).
    @Test func decimalArithmeticIsExact() throws {
        let t = Table(name: "raw_orders", columns: [
            Column("quantity", .int, int64: [3, 7, 1, 1]),
            Column("unit_price", .decimal, int64: [10, 110, 7869, 2001], scale: 2),
            Column("discount", .decimal, int64: [0, 70, 0, 0], scale: 2),
            Column("net", .decimal, int64: [30, 700, 7868, 2000], scale: 2),
            Column("rate", .decimal, int64: [1, 1, 1, 1], scale: 1),
        ])
        let cols = ["quantity", "unit_price", "discount", "net", "rate"]
        let exact = try RowExpression("net = quantity * unit_price - discount", columns: cols)
        #expect((0..<2).map { exact.passes(t, row: $0) } == [true, true])
        let tolerance = try RowExpression("quantity * unit_price - discount - net <= 0.01", columns: cols)
        #expect((0..<4).map { tolerance.passes(t, row: $0) } == [true, true, true, true])
        // Scales meet (0.1 × 3 at scale 1 against 0.30 at scale 2), and a literal is exact too.
        #expect(try RowExpression("rate * quantity = 0.3", columns: cols).passes(t, row: 0))
        #expect(try RowExpression("net - 0.30 = 0", columns: cols).passes(t, row: 0))
    }

    /// Timestamps subtract in seconds and dates in days; a date never compares with a timestamp (days against
    /// microseconds: the check rejected every row, or passed every row, without a word).
    @Test func timesSubtractInTheirUnitsAndDoNotMix() throws {
        let t = Table(name: "raw_orders", columns: [
            Column("ordered_at", .timestamp, int64: [1_000_000_000_000, 1_000_000_000_000]),
            Column("shipped_at", .timestamp, int64: [1_000_005_000_000, 1_000_000_000_000 + 90_000_000_000]),
            Column("ordered_on", .date, int64: [20_000, 20_000]),
            Column("delivered_on", .date, int64: [20_002, 20_010]),
        ])
        let cols = ["ordered_at", "shipped_at", "ordered_on", "delivered_on"]
        let times: [String: ColumnType] = ["ordered_at": .timestamp, "shipped_at": .timestamp, "ordered_on": .date, "delivered_on": .date]
        let day = try RowExpression("shipped_at - ordered_at <= 86400", columns: cols, times: times)
        #expect((0..<2).map { day.passes(t, row: $0) } == [true, false])
        let week = try RowExpression("delivered_on <= ordered_on + 7", columns: cols, times: times)
        #expect((0..<2).map { week.passes(t, row: $0) } == [true, false])
        for (text, message) in [
            ("delivered_on >= ordered_at", "compares delivered_on (date, in days) with ordered_at (timestamp, in seconds), which never agree"),
            ("delivered_on - ordered_at < 3", "- mixes delivered_on (date, in days) with ordered_at (timestamp, in seconds)"),
            ("ordered_at + shipped_at > 0", "+ adds two times"),
            ("2 - ordered_on > 0", "- needs a number beside ordered_on"),
        ] {
            #expect(throws: ConfigValueError.self, "\(text)") { try RowExpression(text, columns: cols, times: times) }
            do { _ = try RowExpression(text, columns: cols, times: times) } catch let e as ConfigValueError {
                #expect(e.message.contains(message), "\(e.message)")
            } catch {}
        }
    }

    @Test(arguments: [
        ("quantity * unit_price >=", "expected a value at the end"),
        ("quantity >= qty", "unknown column qty"),
        ("quantity + 1", "must be a comparison"),
        ("status = 'open", "unterminated string at character 10"),
        ("quantity ? 2", "unexpected \"?\" at character 10"),
        ("(quantity > 1", "expected ) at the end"),
        // Mixed types would be unknown on every row, so the check would pass everything without a word.
        ("status > 1", "compares status (text) with 1 (number); compare like with like"),
        ("status * 2 > quantity", "* needs numbers, found status (text)"),
        ("quantity = 'three'", "compares quantity (number) with 'three' (text)"),
        ("not quantity", "not needs a comparison"),
        ("quantity and status = 'x'", "and joins comparisons, found quantity"),
        ("(quantity > 1) = (discount > 1)", "compares (…) (true or false) with (…) (true or false)"),
    ])
    func badChecksAreConfigErrors(_ text: String, _ message: String) {
        do {
            _ = try RowExpression(text, columns: names, text: ["status"])
            Issue.record("accepted \(text)")
        } catch let e as ConfigValueError {
            #expect(e.message.contains(message), "\(e.message)")
        } catch { Issue.record("\(error)") }
    }
}

/// Currency conversion and dedupe by a declared column.
struct CurrencyAndDedupeTests {
    @Test func amountsConvertToTheReportingCurrencyAndUnknownCurrenciesAreRejected() {
        var s = SourceSpec(name: "orders", files: [], columns: [
            ("order_id", ColumnDecl(.string)), ("currency", ColumnDecl(.string)), ("unit_price", ColumnDecl(.decimal, scale: 2)),
            ("fee", ColumnDecl(.double)),
        ])
        s.currency = CurrencyConversion(column: "currency", amounts: ["unit_price", "fee"], to: "EUR", rates: ["USD": 0.92, "GBP": 1.17])
        let t = Table(name: "raw_orders", columns: [
            Column("order_id", strings: ["A", "B", "C", "D", "E"]),
            Column("currency", strings: ["EUR", "USD", "GBP", "JPY", nil]),
            Column("unit_price", .decimal, int64: [1000, 1000, 1999, 500, 700], scale: 2),
            Column("fee", double: [1, 2, 3, 4, 5]),
            Column(Provenance.file, strings: ["o.csv", "o.csv", "o.csv", "o.csv", "o.csv"]),
            Column(Provenance.line, .int, int64: [2, 3, 4, 5, 6]),
        ])
        let r = Cleaner.clean(s, table: t, references: [:], threads: 1)
        #expect(r.quarantine.map(\.rule) == ["currency"])
        #expect(r.quarantine.first?.reason == "currency: \"JPY\" has no rate to EUR; add it under currency.rates")
        // 10.00 EUR; 10.00 USD → 9.20; 19.99 GBP → 23.3883 → 23.39 (cents, rounded); no currency: as is.
        #expect(r.table["unit_price"]!.int64Values == [1000, 920, 2339, 700])
        #expect(r.table["fee"]!.doubleValues == [1, 2 * 0.92, 3 * 1.17, 5])
    }

    /// Conversion is exact fixed point and comes after the rules: an amount past 2^53 units lost cents even at rate 1,
    /// a result past Int64 crashed the run (exit 132), and checks saw amounts each rounded in the reporting currency.
    @Test func conversionIsExactAndAfterTheRules() throws {
        var s = SourceSpec(name: "orders", files: [], columns: [
            ("currency", ColumnDecl(.string)), ("quantity", ColumnDecl(.int)), ("unit_price", ColumnDecl(.decimal, scale: 2)),
            ("net", ColumnDecl(.decimal, scale: 2)),
        ])
        s.currency = CurrencyConversion(column: "currency", amounts: ["unit_price", "net"], to: "EUR", rates: ["USD": 0.9, "BTC": 1_600_000_000])
        s.checks = [try RowExpression("net = quantity * unit_price", columns: ["currency", "quantity", "unit_price", "net"])]
        let t = Table(name: "raw_orders", columns: [
            Column("currency", strings: ["EUR", "USD", "BTC", nil]),
            Column("quantity", .int, int64: [1, 10, 1, 1]),
            Column("unit_price", .decimal, int64: [9_223_372_036_854_775_807, 333, 1_000_000_000_000, 9_007_199_254_740_993], scale: 2),
            Column("net", .decimal, int64: [9_223_372_036_854_775_807, 3330, 1_000_000_000_000, 9_007_199_254_740_993], scale: 2),
            Column(Provenance.file, strings: ["o.csv", "o.csv", "o.csv", "o.csv"]),
            Column(Provenance.line, .int, int64: [2, 3, 4, 5]),
        ])
        let r = Cleaner.clean(s, table: t, references: [:], threads: 1)
        // 10 × 3.33 USD = 33.30 holds as written (in EUR 10 × 3.00 ≠ 29.97); 10,000,000,000.00 BTC does not fit.
        #expect(r.quarantine.map(\.line) == [4])
        #expect(r.quarantine.first?.rule == "currency")
        #expect(r.quarantine.first?.reason.contains("beyond what a decimal of scale 2 holds") == true, "\(r.quarantine)")
        #expect(r.table["unit_price"]!.int64Values == [9_223_372_036_854_775_807, 300, 9_007_199_254_740_993])
        #expect(r.table["net"]!.int64Values == [9_223_372_036_854_775_807, 2997, 9_007_199_254_740_993])
        #expect(Decimal128(exactly: 0.9)?.convert(-5) == -5)  // -0.045 → -0.05: half away from zero
        #expect(Decimal128(exactly: 1e-5)?.text == "0.00001" && Decimal128(exactly: 1.6e20)?.text == "160000000000000000000")
    }

    /// The quarantine's raw text of a row the clean stage rejects is a line of the source's dialect: it was joined by
    /// commas whatever the delimiter, with `a, b` unquoted, so it could not be split back into its fields.
    @Test func rawLinesOfCleanRejectsFollowTheSourceDialect() {
        var qty = ColumnDecl(.int)
        qty.min = 1
        var s = SourceSpec(name: "orders", files: [], columns: [("order_id", ColumnDecl(.string)), ("quantity", qty), ("note", ColumnDecl(.string))])
        s.delimiter = ";"
        let t = Table(name: "raw_orders", columns: [
            Column("order_id", strings: ["O1"]), Column("quantity", .int, int64: [-1]), Column("note", strings: ["a; \"b\""]),
            Column(Provenance.file, strings: ["o.csv"]), Column(Provenance.line, .int, int64: [2]),
        ])
        #expect(Cleaner.clean(s, table: t, references: [:], threads: 1).quarantine.map(\.raw) == ["O1;-1;\"a; \"\"b\"\"\""])
        s.delimiter = ","
        #expect(Cleaner.rawLine(["a, b", "", "c"], s) == "\"a, b\",,c")
        s.delimiter = "whitespace"
        #expect(Cleaner.rawLine(["a b", "", "c"], s) == "\"a b\" \"\" c")
    }

    /// `pattern` matches the whole value: a trailing line break inside quotes ("FR\n") passed `[A-Z]{2}`.
    @Test func aPatternMatchesTheWholeValueLineBreaksToo() {
        var country = ColumnDecl(.string)
        country.pattern = "[A-Z]{2}"
        let s = SourceSpec(name: "customers", files: [], columns: [("country", country)])
        let t = Table(name: "raw_customers", columns: [
            Column("country", strings: ["FR", "FR\n", "DE\r\n", "DEX"]),
            Column(Provenance.file, strings: ["c.csv", "c.csv", "c.csv", "c.csv"]),
            Column(Provenance.line, .int, int64: [2, 3, 5, 7]),
        ])
        let r = Cleaner.clean(s, table: t, references: [:], threads: 1)
        #expect(r.quarantine.map(\.line) == [3, 5, 7])
        #expect(r.quarantine.allSatisfy { $0.rule == "pattern" })
    }

    /// -0.0 and 0.0 are one key (both print 0): the clean table held both, a visible duplicate.
    @Test func negativeZeroIsZeroInAKey() {
        var s = SourceSpec(name: "rates", files: [], columns: [("bucket", ColumnDecl(.double))])
        s.key = ["bucket"]
        let t = Table(name: "raw_rates", columns: [
            Column("bucket", double: [0.0, -0.0, 1.5]),
            Column(Provenance.file, strings: ["r.csv", "r.csv", "r.csv"]), Column(Provenance.line, .int, int64: [2, 3, 4]),
        ])
        let r = Cleaner.clean(s, table: t, references: [:], threads: 1)
        #expect(r.quarantine.map(\.line) == [3])
        #expect(r.quarantine.first?.rule == "duplicate")
    }

    @Test func dedupeKeepsTheLatestByTheDeclaredColumn() {
        var s = SourceSpec(name: "customers", files: [], columns: [("customer_id", ColumnDecl(.string)), ("updated_at", ColumnDecl(.timestamp)),
                                                                  ("email", ColumnDecl(.string))])
        s.key = ["customer_id"]
        s.dedupe = .last
        s.dedupeBy = "updated_at"
        let t = Table(name: "raw_customers", columns: [
            Column("customer_id", strings: ["C1", "C1", "C2", "C1", "C2"]),
            Column("updated_at", .timestamp, int64: [30, 10, 5, 20, 5]),
            Column("email", strings: ["newest", "oldest", "c2-first", "middle", "c2-second"]),
            Column(Provenance.file, strings: ["c.csv", "c.csv", "c.csv", "c.csv", "c.csv"]),
            Column(Provenance.line, .int, int64: [2, 3, 4, 5, 6]),
        ])
        let r = Cleaner.clean(s, table: t, references: [:], threads: 1)
        // C1: the row updated at 30 wins although it came first; C2: a tie on updated_at keeps the later row.
        #expect(Set((0..<r.table.rowCount).map { r.table["email"]!.string(at: $0)! }) == ["newest", "c2-second"])
        #expect(r.quarantine.map(\.rule) == ["duplicate", "duplicate", "duplicate"])
    }
}

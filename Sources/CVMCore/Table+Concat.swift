extension Table {
    /// Stacks tables with the same column names and types, in the given order
    /// (string dictionaries are merged in first-seen order, so the result is deterministic).
    ///
    /// Columns are merged by `threads` workers; a column's parts are released as soon as it is
    /// merged, so when the caller hands over its only references (`consume`), peak memory is the
    /// result plus the columns in flight rather than twice the table.
    /// - Precondition: every table has the same schema as the first.
    public static func concatenating(_ tables: consuming [Table], name: String, threads: Int = 1) -> Table {
        guard let first = tables.first else { return Table(name: name) }
        let specs = first.schema.columns
        let rowCount = tables.reduce(0) { $0 + $1.rowCount }
        let boxes = specs.indices.map { i in ColumnParts(tables.map { $0.columns[i] }) }
        for (i, spec) in specs.enumerated() {
            for p in boxes[i].parts { precondition(p.type == spec.type && p.name == spec.name, "concatenating \(name): column \(p.name) differs") }
        }
        tables = []  // the boxes now hold the only references this function keeps
        // Largest storage first (strings merge dictionaries, the slow part).
        let columns = parallelMap(startingWith: specs.stringColumnsFirst, threads: threads) { i -> Column in
            let column = merge(boxes[i].parts, spec: specs[i], rows: rowCount)
            boxes[i].parts = []
            return column
        }
        return Table(name: name, columns: columns, rowCount: rowCount)
    }


    private static func merge(_ parts: [Column], spec: ColumnSpec, rows: Int) -> Column {
        var validity: [Bool]?
        if parts.contains(where: { $0.validity != nil }) {
            var v: [Bool] = []
            v.reserveCapacity(rows)
            for p in parts {
                if let pv = p.validity { v += pv } else { v += repeatElement(true, count: p.count) }
            }
            validity = v
        }
        switch spec.type.storageKind {
        case .int64:
            var out: [Int64] = []
            out.reserveCapacity(rows)
            for p in parts { out += p.int64Values }
            return Column(spec, .int64(out), validity: validity)
        case .double:
            var out: [Double] = []
            out.reserveCapacity(rows)
            for p in parts { out += p.doubleValues }
            return Column(spec, .double(out), validity: validity)
        case .string:
            // Byte-hashed interning: the merge of per-file dictionaries is hot for id columns.
            var interner = ByteInterner(recordingHashes: false)
            interner.reserveCapacity(min(rows, parts.reduce(0) { $0 + $1.dictionary.count }))
            var codes: [Int32] = []
            codes.reserveCapacity(rows)
            for p in parts {
                let remap = interner.intern(contentsOf: p.dictionary)
                if remap.isEmpty {
                    codes += repeatElement(0, count: p.count)
                } else {
                    remap.withUnsafeBufferPointer { r in
                        for c in p.stringCodes { codes.append(r[Int(c)]) }
                    }
                }
            }
            return Column(spec, .string(codes: codes, dictionary: interner.dictionary()), validity: validity)
        }
    }
}

/// One column's parts, owned by the one worker that merges that column (it drops them once merged).
public final class ColumnParts<Part>: @unchecked Sendable {
    public var parts: [Part]
    public init(_ parts: [Part]) { self.parts = parts }
}

extension [ColumnSpec] {
    /// Column indices, string columns first (merging their dictionaries is the slow part of stacking), then the
    /// rest, each in column order: the order to start per-column work in.
    public var stringColumnsFirst: [Int] {
        indices.sorted { a, b in
            let (x, y) = (self[a].type.storageKind == .string, self[b].type.storageKind == .string)
            return x != y ? x : a < b
        }
    }
}

extension QuarantineRecord {
    /// The schema of the `quarantine` table: source, file, line, column, rule, reason, raw.
    public static let schema = Schema([
        ColumnSpec("source", .string, nullable: false), ColumnSpec("file", .string, nullable: false),
        ColumnSpec("line", .int, nullable: false), ColumnSpec("column", .int),
        ColumnSpec("rule", .string, nullable: false), ColumnSpec("reason", .string, nullable: false),
        ColumnSpec("raw", .string, nullable: false),
    ])

    /// Records as a `quarantine`-shaped table, in the given order.
    public static func table(_ records: [QuarantineRecord], name: String = "quarantine") -> Table {
        Table(name: name, columns: [
            Column("source", strings: records.map(\.source)),
            Column("file", strings: records.map(\.file)),
            Column("line", .int, int64: records.map { Int64($0.line) }),
            Column("column", .int, int64: records.map { Int64($0.column ?? 0) }, validity: records.map { $0.column != nil }),
            Column("rule", strings: records.map(\.rule)),
            Column("reason", strings: records.map(\.reason)),
            Column("raw", strings: records.map(\.raw)),
        ], rowCount: records.count)
    }

    /// Reads records back from a `quarantine`-shaped table.
    public static func records(from table: Table) -> [QuarantineRecord] {
        guard let s = table["source"], let f = table["file"], let l = table["line"], let c = table["column"],
              let r = table["rule"], let why = table["reason"], let raw = table["raw"] else { return [] }
        return (0..<table.rowCount).map { i in
            QuarantineRecord(source: s.string(at: i) ?? "", file: f.string(at: i) ?? "", line: Int(l.int64(at: i) ?? 0),
                             column: c.int64(at: i).map(Int.init), rule: r.string(at: i) ?? "",
                             reason: why.string(at: i) ?? "", raw: raw.string(at: i) ?? "")
        }
    }
}

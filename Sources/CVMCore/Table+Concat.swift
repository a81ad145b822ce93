extension Table {
    /// Stacks tables with the same column names and types, in the given order
    /// (string dictionaries are merged in first-seen order, so the result is deterministic).
    /// - Precondition: every table has the same schema as the first.
    public static func concatenating(_ tables: [Table], name: String) -> Table {
        guard let first = tables.first else { return Table(name: name) }
        var columns: [Column] = []
        for (i, spec) in first.schema.columns.enumerated() {
            let parts = tables.map { $0.columns[i] }
            for p in parts { precondition(p.type == spec.type && p.name == spec.name, "concatenating \(name): column \(p.name) differs") }
            let hasNull = parts.contains { $0.validity != nil }
            let validity: [Bool]? = hasNull ? parts.flatMap { $0.validity ?? [Bool](repeating: true, count: $0.count) } : nil
            switch spec.type.storageKind {
            case .int64: columns.append(Column(spec, .int64(parts.flatMap(\.int64Values)), validity: validity))
            case .double: columns.append(Column(spec, .double(parts.flatMap(\.doubleValues)), validity: validity))
            case .string:
                // Byte-hashed interning: the merge of per-file dictionaries is hot for id columns.
                var interner = ByteInterner()
                var codes: [Int32] = []
                codes.reserveCapacity(parts.reduce(0) { $0 + $1.count })
                for p in parts {
                    let remap = p.dictionary.map { interner.intern($0) }
                    for c in p.stringCodes { codes.append(remap.isEmpty ? 0 : remap[Int(c)]) }
                }
                columns.append(Column(spec, .string(codes: codes, dictionary: interner.strings()), validity: validity))
            }
        }
        return Table(name: name, columns: columns, rowCount: tables.reduce(0) { $0 + $1.rowCount })
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

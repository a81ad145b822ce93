/// A columnar table: named, typed columns of equal length.
///
/// Stages exchange data only as `Table`s with declared names (`stg_orders`,
/// `customer_features`, ...). Value semantics; copying is cheap until mutation.
public struct Table: Sendable, Equatable {
    public var name: String
    public private(set) var columns: [Column]
    public private(set) var rowCount: Int

    public init(name: String, columns: [Column] = [], rowCount: Int? = nil) {
        let n = rowCount ?? columns.first?.count ?? 0
        for c in columns { precondition(c.count == n, "table \(name): column \(c.name) has \(c.count) rows, expected \(n)") }
        self.name = name
        self.columns = columns
        self.rowCount = n
    }

    public var schema: Schema { Schema(columns.map(\.spec)) }
    public var columnNames: [String] { columns.map(\.name) }

    public func column(_ name: String) -> Column? { columns.first { $0.name == name } }

    public subscript(name: String) -> Column? { column(name) }

    /// Replaces the column of the same name (same row count).
    public mutating func replace(_ column: Column) {
        guard let i = columns.firstIndex(where: { $0.name == column.name }) else { preconditionFailure("table \(name): no column \(column.name)") }
        precondition(column.count == rowCount, "table \(name): column \(column.name) has \(column.count) rows, expected \(rowCount)")
        columns[i] = column
    }

    public mutating func append(_ column: Column) {
        if columns.isEmpty { rowCount = column.count }
        precondition(column.count == rowCount, "table \(name): column \(column.name) has \(column.count) rows, expected \(rowCount)")
        precondition(self.column(column.name) == nil, "table \(name): duplicate column \(column.name)")
        columns.append(column)
    }

    /// Rows selected by `indices`, in that order, the columns spread over `threads` workers (the result does not
    /// depend on it).
    public func gathering(_ indices: [Int], threads: Int = 1) -> Table {
        let columns = self.columns
        return Table(name: name, columns: parallelMap(chunks: columns.count, threads: threads) { columns[$0].gathering(indices) },
                     rowCount: indices.count)
    }

    /// The rows of `runs`, releasing each of this table's columns as soon as its rows are gathered. When the caller
    /// hands over its only reference (`consume`), peak memory is one table plus the columns in flight instead
    /// of two tables (clean on M's 15.8 M events: 1.1 GB less).
    public consuming func gatheringReleasing(_ runs: RowRuns, threads: Int = 1) -> Table {
        let boxes = columns.map { ColumnParts([$0]) }
        columns = []
        return Table(name: name, columns: parallelMap(chunks: boxes.count, threads: threads) { k -> Column in
            let column = boxes[k].parts[0]
            boxes[k].parts = []
            return column.gathering(runs)
        }, rowCount: runs.total)
    }
}

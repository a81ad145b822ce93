/// The logical type of a column, as declared in a pipeline config.
///
/// Physical storage (see `ColumnStorage`):
/// - `int`, `bool` (0/1): Int64
/// - `decimal`: Int64 fixed point, scaled by 10^`scale` (money sums exactly to the cent)
/// - `date`: Int64 days since 1970-01-01
/// - `timestamp`: Int64 microseconds since 1970-01-01T00:00:00Z (UTC)
/// - `double`: Double
/// - `string`, `enum`: dictionary-encoded Int32 codes
public enum ColumnType: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case int, double, decimal, string, bool, date, timestamp, `enum`

    public var description: String { rawValue }

    public var storageKind: ColumnStorage.Kind {
        switch self {
        case .int, .bool, .decimal, .date, .timestamp: .int64
        case .double: .double
        case .string, .enum: .string
        }
    }
}

/// One column of a schema.
public struct ColumnSpec: Sendable, Hashable, Codable {
    public var name: String
    public var type: ColumnType
    /// Decimal places for `decimal` columns; 0 otherwise.
    public var scale: Int
    public var nullable: Bool

    public init(_ name: String, _ type: ColumnType, scale: Int = 0, nullable: Bool = true) {
        self.name = name
        self.type = type
        self.scale = type == .decimal ? scale : 0
        self.nullable = nullable
    }
}

/// An ordered list of columns.
public struct Schema: Sendable, Hashable, Codable {
    public var columns: [ColumnSpec]
    public init(_ columns: [ColumnSpec]) { self.columns = columns }
    public func index(of name: String) -> Int? { columns.firstIndex { $0.name == name } }
    public subscript(name: String) -> ColumnSpec? { index(of: name).map { columns[$0] } }
}

/// Physical storage of a column: one contiguous typed array.
public enum ColumnStorage: Sendable, Equatable {
    public enum Kind: String, Sendable, Hashable, Codable { case int64, double, string }

    case int64([Int64])
    case double([Double])
    /// Dictionary-encoded strings: `codes[i]` indexes `dictionary`; null rows hold code 0
    /// and are marked in the column's validity mask.
    case string(codes: StringCodes, dictionary: StringDictionary)

    /// Dictionary-encoded strings from 32-bit codes, stored at the dictionary's width (`StringCodes.Width`).
    public static func string(codes: [Int32], dictionary: StringDictionary) -> ColumnStorage {
        .string(codes: StringCodes(codes, dictionaryCount: dictionary.count), dictionary: dictionary)
    }

    public var kind: Kind {
        switch self {
        case .int64: .int64
        case .double: .double
        case .string: .string
        }
    }

    public var count: Int {
        switch self {
        case .int64(let v): v.count
        case .double(let v): v.count
        case .string(let c, _): c.count
        }
    }
}

/// A named, typed column with an optional validity mask (`nil` means every row is valid).
///
/// Hot loops read `int64Values`, `doubleValues` or `stringCodes` directly; the
/// accessors returning `String`/`Optional` are for cold paths and tests.
public struct Column: Sendable, Equatable {
    public var spec: ColumnSpec
    public var storage: ColumnStorage
    /// `validity[i] == false` marks row i as null. `nil` when the column has no nulls.
    public var validity: [Bool]?

    public init(_ spec: ColumnSpec, _ storage: ColumnStorage, validity: [Bool]? = nil) {
        precondition(spec.type.storageKind == storage.kind, "column \(spec.name): \(spec.type) cannot be stored as \(storage.kind)")
        if let validity { precondition(validity.count == storage.count, "column \(spec.name): validity length mismatch") }
        self.spec = spec
        self.storage = storage
        self.validity = (validity?.allSatisfy { $0 } ?? true) ? nil : validity
    }

    public init(_ name: String, _ type: ColumnType, int64 values: [Int64], scale: Int = 0, validity: [Bool]? = nil) {
        self.init(ColumnSpec(name, type, scale: scale), .int64(values), validity: validity)
    }

    public init(_ name: String, double values: [Double], validity: [Bool]? = nil) {
        self.init(ColumnSpec(name, .double), .double(values), validity: validity)
    }

    /// Builds a dictionary-encoded string column; `nil` entries become nulls.
    public init(_ name: String, _ type: ColumnType = .string, strings values: [String?]) {
        var builder = StringColumnBuilder()
        builder.reserveCapacity(values.count)
        for v in values { builder.append(v) }
        self = builder.finish(name: name, type: type)
    }

    public var name: String { spec.name }
    public var type: ColumnType { spec.type }
    public var count: Int { storage.count }

    @inlinable public func isValid(_ row: Int) -> Bool { validity?[row] ?? true }

    public var int64Values: [Int64] {
        if case .int64(let v) = storage { return v }
        preconditionFailure("column \(name) is \(storage.kind), not int64")
    }
    public var doubleValues: [Double] {
        if case .double(let v) = storage { return v }
        preconditionFailure("column \(name) is \(storage.kind), not double")
    }
    public var stringCodes: StringCodes {
        if case .string(let c, _) = storage { return c }
        preconditionFailure("column \(name) is \(storage.kind), not string")
    }
    public var dictionary: StringDictionary {
        if case .string(_, let d) = storage { return d }
        preconditionFailure("column \(name) is \(storage.kind), not string")
    }

    /// The value as a `Double` (decimals unscaled, timestamps in microseconds); nil when null or a string.
    public func double(at row: Int) -> Double? {
        guard isValid(row) else { return nil }
        switch storage {
        case .int64(let v):
            if spec.type == .decimal { return Double(v[row]) / Double(pow10(spec.scale)) }
            return Double(v[row])
        case .double(let v): return v[row]
        case .string: return nil
        }
    }

    public func int64(at row: Int) -> Int64? {
        guard isValid(row), case .int64(let v) = storage else { return nil }
        return v[row]
    }

    public func string(at row: Int) -> String? {
        guard isValid(row), case .string(let c, let d) = storage else { return nil }
        return d[Int(c[row])]
    }

    /// Text rendering for exports and messages (dates ISO, timestamps ISO UTC, decimals with their scale).
    public func formatted(at row: Int) -> String {
        guard isValid(row) else { return "" }
        switch storage {
        case .double(let v): return formatDouble(v[row])
        case .string(let c, let d): return d[Int(c[row])]
        case .int64(let v):
            let x = v[row]
            switch spec.type {
            case .decimal: return formatDecimal(x, scale: spec.scale)
            case .date: return CivilDate(daysSinceEpoch: x).description
            case .timestamp: return formatTimestampMicros(x)
            case .bool: return x != 0 ? "true" : "false"
            default: return String(x)
            }
        }
    }

    /// Rows selected by `indices`, in that order.
    public func gathering(_ indices: [Int]) -> Column {
        let v = validity.map { m in indices.map { m[$0] } }
        switch storage {
        case .int64(let a): return Column(spec, .int64(indices.map { a[$0] }), validity: v)
        case .double(let a): return Column(spec, .double(indices.map { a[$0] }), validity: v)
        case .string(let c, let d): return Column(spec, .string(codes: c.gathering(indices), dictionary: d), validity: v)
        }
    }

    /// The rows of `runs`, in order (the same column as `gathering(runs.indices)`).
    public func gathering(_ runs: RowRuns) -> Column {
        let v = validity.map { runs.gathering($0) }
        switch storage {
        case .int64(let a): return Column(spec, .int64(runs.gathering(a)), validity: v)
        case .double(let a): return Column(spec, .double(runs.gathering(a)), validity: v)
        case .string(let c, let d): return Column(spec, .string(codes: c.gathering(runs), dictionary: d), validity: v)
        }
    }

    /// This column renamed.
    public func renamed(_ name: String) -> Column {
        var c = self
        c.spec.name = name
        return c
    }
}

@inlinable public func pow10(_ n: Int) -> Int64 {
    var r: Int64 = 1
    for _ in 0..<n { r &*= 10 }
    return r
}

/// Shortest round-trip text of a double; integers print without ".0"; non-finite as "nan"/"inf".
public func formatDouble(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
    return "\(d)"
}

public func formatDecimal(_ v: Int64, scale: Int) -> String {
    guard scale > 0 else { return String(v) }
    let p = pow10(scale)
    let neg = v < 0
    let m = v.magnitude
    let whole = m / UInt64(p), frac = m % UInt64(p)
    var f = String(frac)
    while f.count < scale { f = "0" + f }
    return (neg ? "-" : "") + String(whole) + "." + f
}

/// Interns strings into a dictionary-encoded column. Codes are assigned in first-seen order,
/// so the encoding is deterministic for a given input order.
public struct StringColumnBuilder: Sendable {
    public private(set) var codes: [Int32] = []
    public private(set) var dictionary = StringDictionary()
    private var index: [String: Int32] = [:]
    private var validity: [Bool] = []
    private var hasNull = false

    public init() {}

    public mutating func reserveCapacity(_ n: Int) {
        codes.reserveCapacity(n)
        validity.reserveCapacity(n)
    }

    /// Returns the code of `s`, adding it to the dictionary if new.
    public mutating func intern(_ s: String) -> Int32 {
        if let c = index[s] { return c }
        let c = Int32(dictionary.count)
        dictionary.append(s)
        index[s] = c
        return c
    }

    public mutating func append(_ s: String?) {
        if let s {
            codes.append(intern(s))
            validity.append(true)
        } else {
            codes.append(0)
            validity.append(false)
            hasNull = true
        }
    }

    public mutating func appendCode(_ code: Int32) {
        codes.append(code)
        validity.append(true)
    }

    public func finish(name: String, type: ColumnType = .string) -> Column {
        Column(ColumnSpec(name, type), .string(codes: codes, dictionary: dictionary), validity: hasNull ? validity : nil)
    }
}

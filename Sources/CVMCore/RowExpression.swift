import Foundation
/// A row check across columns (`checks:` of a source), e.g. `quantity * unit_price >= discount`
/// or `ended_at >= started_at`: arithmetic (`+ - * /`), comparisons (`= != < <= > >=`),
/// `and`, `or`, `not`, parentheses, numbers, 'strings' and column names.
///
/// Integers, decimals, dates (days since 1970) and timestamps (seconds since 1970, to the microsecond) are exact
/// decimal numbers: `+ - *` and comparisons on them are exact, as the money they hold (`3 * 0.10 = 0.30`; in binary
/// floating point it is not, and such rows were rejected). Doubles, a literal with an exponent, `/`, and results
/// beyond 38 digits are floating point. A date and a timestamp neither compare nor subtract (days against seconds:
/// a config error). Strings compare by equality and order. As in SQL CHECK constraints, a check whose value is
/// unknown because an operand is null passes: `required` is the rule for missing values.
public struct RowExpression: Sendable, CustomStringConvertible {
    public let text: String
    let root: Node
    /// The columns the expression reads.
    public let columns: [String]

    indirect enum Node: Sendable {
        /// A literal: its value, and exactly (digits, decimal places) when written without an exponent.
        case number(Double, exact: Decimal128?)
        case string(String)
        case column(String)
        case negate(Node)
        case not(Node)
        case binary(String, Node, Node)
    }

    public enum Value: Equatable, Sendable {
        case number(Double), exact(Decimal128), string(String), bool(Bool), null
    }

    public var description: String { text }

    /// - Parameter text: the columns that hold text (string, enum), so a comparison of text with a number, or
    ///   arithmetic on text, is reported here: at run time it would be unknown for every row, so the check
    ///   would pass them all without a word.
    /// - Throws: `ConfigValueError` with the position of a syntax error, an unknown column or mixed types.
    /// - Parameter times: the date and timestamp columns, so a date is not compared with a timestamp.
    public init(_ text: String, columns known: [String], text textColumns: Set<String> = [], times: [String: ColumnType] = [:]) throws {
        self.text = text
        var p = Parser(tokens: try RowExpression.tokenize(text), text: text)
        root = try p.parseOr()
        guard p.index == p.tokens.count else { throw ConfigValueError("check \"\(text)\": unexpected \(p.tokens[p.index].text) at character \(p.tokens[p.index].offset + 1)") }
        var used: [String] = []
        func walk(_ n: Node) {
            switch n {
            case .column(let c): if !used.contains(c) { used.append(c) }
            case .negate(let a), .not(let a): walk(a)
            case .binary(_, let a, let b): walk(a); walk(b)
            default: break
            }
        }
        walk(root)
        for c in used where !known.contains(c) {
            throw ConfigValueError("check \"\(text)\": unknown column \(c) (declared: \(known.joined(separator: ", ")))")
        }
        columns = used
        guard case .bool = RowExpression.kind(root) else {
            throw ConfigValueError("check \"\(text)\": must be a comparison (e.g. a >= b), not a value")
        }
        _ = try RowExpression.type(root, text: textColumns, times: times, check: text)
    }

    enum ValueType: String { case number, text, bool = "true or false", date = "date, in days", timestamp = "timestamp, in seconds" }

    /// The type a node gives; throws where the operands cannot meet.
    static func type(_ n: Node, text: Set<String>, times: [String: ColumnType] = [:], check: String) throws -> ValueType {
        func type(_ n: Node, text: Set<String>, check: String) throws -> ValueType {
            try RowExpression.type(n, text: text, times: times, check: check)
        }
        func describe(_ n: Node) -> String {
            switch n {
            case .number(let x, _): return x.rounded() == x && abs(x) < 1e15 ? String(Int64(x)) : String(x)
            case .string(let s): return "'\(s)'"
            case .column(let c): return c
            default: return "(…)"
            }
        }
        func fail(_ what: String) -> ConfigValueError { ConfigValueError("check \"\(check)\": \(what)") }
        switch n {
        case .number: return .number
        case .string: return .text
        case .column(let c):
            if text.contains(c) { return .text }
            switch times[c] { case .date?: return .date; case .timestamp?: return .timestamp; default: return .number }
        case .negate(let a):
            guard try type(a, text: text, check: check) == .number else { throw fail("- needs a number, found \(describe(a))") }
            return .number
        case .not(let a):
            guard try type(a, text: text, check: check) == .bool else { throw fail("not needs a comparison, found \(describe(a))") }
            return .bool
        case .binary(let op, let a, let b):
            let (x, y) = (try type(a, text: text, check: check), try type(b, text: text, check: check))
            switch op {
            case "and", "or":
                guard x == .bool, y == .bool else { throw fail("\(op) joins comparisons, found \(x == .bool ? describe(b) : describe(a))") }
                return .bool
            case "+", "-", "*", "/":
                let isTime = { (t: ValueType) in t == .date || t == .timestamp }
                if op == "-" || op == "+", isTime(x) || isTime(y) {
                    // A time minus a time of its kind is a duration (days or seconds); a time plus or minus a number
                    // is a time of its kind.
                    if isTime(x), isTime(y) {
                        guard x == y else { throw fail("\(op) mixes \(describe(a)) (\(x.rawValue)) with \(describe(b)) (\(y.rawValue)); declare both as dates or both as timestamps") }
                        guard op == "-" else { throw fail("+ adds two times, \(describe(a)) and \(describe(b)); subtract them for the time between") }
                        return .number
                    }
                    let (time, other) = isTime(x) ? (x, y) : (y, x)
                    guard other == .number, op == "+" || isTime(x) else { throw fail("\(op) needs a number beside \(describe(isTime(x) ? a : b)) (\(time.rawValue))") }
                    return time
                }
                guard x == .number, y == .number else {
                    let bad = x == .number ? b : a
                    throw fail("\(op) needs numbers, found \(describe(bad)) (\(x == .number ? y.rawValue : x.rawValue))")
                }
                return .number
            default:
                if (x == .date && y == .timestamp) || (x == .timestamp && y == .date) {
                    throw fail("compares \(describe(a)) (\(x.rawValue)) with \(describe(b)) (\(y.rawValue)), which never agree; declare both as dates or both as timestamps")
                }
                // A time compares with a number (its days or seconds since 1970).
                if (x == .date || x == .timestamp) && y == .number || x == .number && (y == .date || y == .timestamp) { return .bool }
                guard x == y, x != .bool else {
                    throw fail("compares \(describe(a)) (\(x.rawValue)) with \(describe(b)) (\(y.rawValue)); compare like with like, e.g. text with 'quoted text'")
                }
                return .bool
            }
        }
    }

    enum Kind { case bool, value }
    static func kind(_ n: Node) -> Kind {
        switch n {
        case .not: return .bool
        case .binary(let op, _, _): return ["=", "==", "!=", "<>", "<", "<=", ">", ">=", "and", "or"].contains(op) ? .bool : .value
        default: return .value
        }
    }

    /// Does row `i` of `table` pass? Unknown (null operand) passes. For many rows, `bind` once.
    public func passes(_ table: Table, row i: Int) -> Bool {
        bind(table).passes(i)
    }

    /// The expression with its columns and operators resolved against `table` once, for checking every row
    /// (looking each column up by name and comparing operator strings per row was most of the clean stage's rule
    /// time on M's 2.6 M order lines).
    public func bind(_ table: Table) -> BoundRowExpression {
        func bind(_ n: Node) -> BoundRowExpression.Node {
            switch n {
            case .number(let x, let exact): return .constant(exact.map { .exact($0) } ?? .number(x))
            case .string(let s): return .constant(.string(s))
            case .column(let name):
                guard let c = table[name] else { return .constant(.null) }
                switch c.storage {
                case .int64(let v):
                    // Decimals at their scale; timestamps (µs) as seconds to six places; ints and dates (days) whole.
                    let scale = c.type == .decimal ? c.spec.scale : c.type == .timestamp ? 6 : 0
                    return .ints(v, scale: scale, validity: c.validity)
                case .double(let v): return .doubles(v, validity: c.validity)
                case .string(let codes, let dict): return .strings(codes, dict, validity: c.validity)
                }
            case .negate(let a): return .negate(bind(a))
            case .not(let a): return .not(bind(a))
            case .binary(let op, let a, let b): return .binary(BoundRowExpression.Op(op), bind(a), bind(b))
            }
        }
        return BoundRowExpression(root: bind(root))
    }

    /// The values of the expression's columns in row `i`, for the reason text: `quantity=2, unit_price=1.5`.
    public func operands(_ table: Table, row i: Int) -> String {
        columns.map { c in "\(c)=\(table[c].map { $0.isValid(i) ? $0.formatted(at: i) : "null" } ?? "?")" }.joined(separator: ", ")
    }

    // MARK: - Parsing

    struct Token { var text: String; var offset: Int; var kind: TokenKind }
    enum TokenKind { case number, string, word, symbol }

    static func tokenize(_ s: String) throws -> [Token] {
        let chars = Array(s)
        var out: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" { i += 1; continue }
            if c.isNumber || (c == "." && i + 1 < chars.count && chars[i + 1].isNumber) {
                var j = i
                while j < chars.count && (chars[j].isNumber || chars[j] == "." || chars[j] == "e" || chars[j] == "E"
                                          || ((chars[j] == "-" || chars[j] == "+") && j > i && (chars[j - 1] == "e" || chars[j - 1] == "E"))) { j += 1 }
                out.append(Token(text: String(chars[i..<j]), offset: i, kind: .number))
                i = j
            } else if c.isLetter || c == "_" {
                var j = i
                while j < chars.count && (chars[j].isLetter || chars[j].isNumber || chars[j] == "_") { j += 1 }
                out.append(Token(text: String(chars[i..<j]), offset: i, kind: .word))
                i = j
            } else if c == "'" || c == "\"" {
                var j = i + 1
                while j < chars.count && chars[j] != c { j += 1 }
                guard j < chars.count else { throw ConfigValueError("check \"\(s)\": unterminated string at character \(i + 1)") }
                out.append(Token(text: String(chars[(i + 1)..<j]), offset: i, kind: .string))
                i = j + 1
            } else {
                let two = i + 1 < chars.count ? String(chars[i...(i + 1)]) : ""
                if ["<=", ">=", "!=", "<>", "=="].contains(two) {
                    out.append(Token(text: two, offset: i, kind: .symbol))
                    i += 2
                } else if "+-*/()<>=".contains(c) {
                    out.append(Token(text: String(c), offset: i, kind: .symbol))
                    i += 1
                } else {
                    throw ConfigValueError("check \"\(s)\": unexpected \"\(c)\" at character \(i + 1)")
                }
            }
        }
        return out
    }

    struct Parser {
        var tokens: [Token]
        let text: String
        var index = 0

        func peek(_ t: String) -> Bool { index < tokens.count && tokens[index].kind != .string && tokens[index].text.lowercased() == t }
        mutating func take(_ t: String) -> Bool { if peek(t) { index += 1; return true }; return false }
        func fail(_ what: String) -> ConfigValueError {
            index < tokens.count ? ConfigValueError("check \"\(text)\": expected \(what) at character \(tokens[index].offset + 1), found \(tokens[index].text)")
                                 : ConfigValueError("check \"\(text)\": expected \(what) at the end")
        }

        mutating func parseOr() throws -> Node {
            var a = try parseAnd()
            while take("or") { a = .binary("or", a, try parseAnd()) }
            return a
        }
        mutating func parseAnd() throws -> Node {
            var a = try parseNot()
            while take("and") { a = .binary("and", a, try parseNot()) }
            return a
        }
        mutating func parseNot() throws -> Node {
            if take("not") { return .not(try parseNot()) }
            return try parseComparison()
        }
        mutating func parseComparison() throws -> Node {
            let a = try parseSum()
            for op in ["<=", ">=", "!=", "<>", "==", "=", "<", ">"] where take(op) {
                return .binary(op, a, try parseSum())
            }
            return a
        }
        mutating func parseSum() throws -> Node {
            var a = try parseTerm()
            while true {
                if take("+") { a = .binary("+", a, try parseTerm()) } else if take("-") { a = .binary("-", a, try parseTerm()) } else { return a }
            }
        }
        mutating func parseTerm() throws -> Node {
            var a = try parseUnary()
            while true {
                if take("*") { a = .binary("*", a, try parseUnary()) } else if take("/") { a = .binary("/", a, try parseUnary()) } else { return a }
            }
        }
        mutating func parseUnary() throws -> Node {
            if take("-") { return .negate(try parseUnary()) }
            return try parsePrimary()
        }
        mutating func parsePrimary() throws -> Node {
            guard index < tokens.count else { throw fail("a value") }
            let t = tokens[index]
            switch t.kind {
            case .number:
                guard let x = Double(t.text) else { throw fail("a number") }
                index += 1
                return .number(x, exact: Decimal128(t.text))
            case .string:
                index += 1
                return .string(t.text)
            case .word where !["and", "or", "not"].contains(t.text.lowercased()):
                index += 1
                return .column(t.text)
            case .symbol where t.text == "(":
                index += 1
                let e = try parseOr()
                guard take(")") else { throw fail(")") }
                return e
            default:
                throw fail("a value")
            }
        }
    }
}

/// A `RowExpression` bound to one table's columns (`RowExpression.bind`).
public struct BoundRowExpression: Sendable {
    enum Op: Sendable {
        case add, sub, mul, div, eq, ne, lt, le, gt, ge, and, or, other

        init(_ s: String) {
            switch s {
            case "+": self = .add
            case "-": self = .sub
            case "*": self = .mul
            case "/": self = .div
            case "=", "==": self = .eq
            case "!=", "<>": self = .ne
            case "<": self = .lt
            case "<=": self = .le
            case ">": self = .gt
            case ">=": self = .ge
            case "and": self = .and
            case "or": self = .or
            default: self = .other
            }
        }
    }

    indirect enum Node: Sendable {
        case constant(RowExpression.Value)
        /// An int64 column's values as exact numbers with `scale` decimal places (a decimal's; 6 for timestamps).
        case ints([Int64], scale: Int, validity: [Bool]?)
        case doubles([Double], validity: [Bool]?)
        case strings(StringCodes, StringDictionary, validity: [Bool]?)
        case negate(Node)
        case not(Node)
        case binary(Op, Node, Node)
    }

    let root: Node

    /// Does row `i` pass? Unknown (null operand) passes.
    public func passes(_ i: Int) -> Bool {
        if case .bool(false) = evaluate(root, i) { return false }
        return true
    }

    func evaluate(_ n: Node, _ i: Int) -> RowExpression.Value {
        switch n {
        case .constant(let v): return v
        case .ints(let v, let scale, let valid):
            guard valid?[i] ?? true else { return .null }
            return .exact(Decimal128(units: Int128(v[i]), scale: scale))
        case .doubles(let v, let valid):
            guard valid?[i] ?? true else { return .null }
            return .number(v[i])
        case .strings(let codes, let dict, let valid):
            guard valid?[i] ?? true else { return .null }
            return .string(dict[Int(codes[i])])
        case .negate(let a):
            switch evaluate(a, i) {
            case .number(let x): return .number(-x)
            case .exact(let x): return x.negated().map { .exact($0) } ?? .number(-x.double)
            default: return .null
            }
        case .not(let a):
            if case .bool(let b) = evaluate(a, i) { return .bool(!b) }
            return .null
        case .binary(let op, let a, let b):
            let x = evaluate(a, i)
            if op == .and, case .bool(false) = x { return .bool(false) }
            if op == .or, case .bool(true) = x { return .bool(true) }
            let y = evaluate(b, i)
            switch (op, x, y) {
            case (.and, .bool(let p), .bool(let q)): return .bool(p && q)
            case (.and, _, .bool(false)): return .bool(false)
            case (.or, .bool(let p), .bool(let q)): return .bool(p || q)
            case (.or, _, .bool(true)): return .bool(true)
            case (_, .exact(let p), .exact(let q)):
                switch op {
                case .add: return p.adding(q).map { .exact($0) } ?? .number(p.double + q.double)
                case .sub: return p.subtracting(q).map { .exact($0) } ?? .number(p.double - q.double)
                case .mul: return p.multiplied(by: q).map { .exact($0) } ?? .number(p.double * q.double)
                case .div: return q.isZero ? .null : .number(p.double / q.double)
                default:
                    if let order = p.compare(q) { return compare(op, order < 0, order == 0) }
                    return compare(op, p.double < q.double, p.double == q.double)
                }
            case (_, .exact(let p), .number(let q)): return floating(op, p.double, q)
            case (_, .number(let p), .exact(let q)): return floating(op, p, q.double)
            case (_, .number(let p), .number(let q)): return floating(op, p, q)
            case (_, .string(let p), .string(let q)):
                switch op {
                case .add, .sub, .mul, .div: return .null
                default: return compare(op, p < q, p == q)
                }
            default: return .null
            }
        }
    }

    /// Two floating-point numbers under an arithmetic or comparison operator.
    func floating(_ op: Op, _ p: Double, _ q: Double) -> RowExpression.Value {
        switch op {
        case .add: return .number(p + q)
        case .sub: return .number(p - q)
        case .mul: return .number(p * q)
        case .div: return q == 0 ? .null : .number(p / q)
        default: return compare(op, p < q, p == q)
        }
    }

    func compare(_ op: Op, _ less: Bool, _ equal: Bool) -> RowExpression.Value {
        switch op {
        case .eq: return .bool(equal)
        case .ne: return .bool(!equal)
        case .lt: return .bool(less)
        case .le: return .bool(less || equal)
        case .gt: return .bool(!less && !equal)
        case .ge: return .bool(!less)
        default: return .null
        }
    }
}

/// An exact decimal number: `units` × 10^-`scale` (the check expressions' money, days and seconds).
///
/// Written here rather than with Foundation's `Decimal` (38 digits too, but each operation a call through
/// NSDecimal's C functions with a rounding mode) because checks run per row over millions of order lines and only
/// need `+ - *` and comparison, which are native `Int128` operations. Operations return nil where the result does
/// not fit; the caller then goes on in floating point.
public struct Decimal128: Equatable, Sendable {
    public var units: Int128
    public var scale: Int

    public init(units: Int128, scale: Int) { (self.units, self.scale) = (units, scale) }

    /// A number written in decimal digits with an optional point (`12`, `0.01`, `.5`); nil for exponents or more
    /// than 36 digits.
    public init?(_ text: String) {
        var units: Int128 = 0, scale = 0, digits = 0, point = false
        for c in text.utf8 {
            if c == UInt8(ascii: ".") { if point { return nil }; point = true; continue }
            guard c >= 48 && c <= 57 else { return nil }
            digits += 1
            guard digits <= 36 else { return nil }
            units = units * 10 + Int128(c - 48)
            if point { scale += 1 }
        }
        guard digits > 0 else { return nil }
        self.init(units: units, scale: scale)
    }

    public var double: Double { Double(units) / pow(10, Double(scale)) }
    public var isZero: Bool { units == 0 }

    public func negated() -> Decimal128? { units == .min ? nil : Decimal128(units: -units, scale: scale) }

    /// `self` with `scale` decimal places (more than now), nil when it does not fit.
    func rescaled(to target: Int) -> Decimal128? {
        var u = units
        for _ in scale..<target {
            let (m, o) = u.multipliedReportingOverflow(by: 10)
            if o { return nil }
            u = m
        }
        return Decimal128(units: u, scale: target)
    }

    func aligned(_ other: Decimal128) -> (Int128, Int128, Int)? {
        let s = Swift.max(scale, other.scale)
        guard let a = rescaled(to: s), let b = other.rescaled(to: s) else { return nil }
        return (a.units, b.units, s)
    }

    public func adding(_ other: Decimal128) -> Decimal128? {
        guard let (a, b, s) = aligned(other) else { return nil }
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : Decimal128(units: r, scale: s)
    }

    public func subtracting(_ other: Decimal128) -> Decimal128? {
        guard let (a, b, s) = aligned(other) else { return nil }
        let (r, o) = a.subtractingReportingOverflow(b)
        return o ? nil : Decimal128(units: r, scale: s)
    }

    public func multiplied(by other: Decimal128) -> Decimal128? {
        let (r, o) = units.multipliedReportingOverflow(by: other.units)
        return o || scale + other.scale > 36 ? nil : Decimal128(units: r, scale: scale + other.scale)
    }

    /// -1, 0 or 1; nil when the two cannot be brought to one scale.
    public func compare(_ other: Decimal128) -> Int? {
        guard let (a, b, _) = aligned(other) else { return nil }
        return a < b ? -1 : a == b ? 0 : 1
    }
}

extension Decimal128 {
    /// A Double exactly as its shortest decimal text reads (`0.9` is 9/10, not the binary fraction nearest it):
    /// what a rate written `0.9` in a config means. Nil for NaN and infinities.
    public init?(exactly x: Double) {
        guard x.isFinite else { return nil }
        let text = "\(x)".lowercased()
        let parts = text.split(separator: "e", maxSplits: 1).map(String.init)
        let negative = parts[0].hasPrefix("-")
        guard var m = Decimal128(negative ? String(parts[0].dropFirst()) : parts[0]) else { return nil }
        if parts.count == 2 {
            guard let e = Int(parts[1].hasPrefix("+") ? String(parts[1].dropFirst()) : parts[1]) else { return nil }
            m.scale -= e
            if m.scale < 0 {
                guard let r = Decimal128(units: m.units, scale: 0).rescaled(to: -m.scale) else { return nil }
                m = Decimal128(units: r.units, scale: 0)
            }
        }
        self = negative ? Decimal128(units: -m.units, scale: m.scale) : m
    }

    /// The number in decimal digits (`0.9`, `1600000000`).
    public var text: String {
        let digits = String(units.magnitude)
        let sign = units < 0 ? "-" : ""
        guard scale > 0 else { return sign + digits }
        let padded = String(repeating: "0", count: Swift.max(0, scale + 1 - digits.count)) + digits
        var frac = String(padded.suffix(scale))
        while frac.hasSuffix("0") { frac.removeLast() }
        return sign + String(padded.dropLast(scale)) + (frac.isEmpty ? "" : "." + frac)
    }

    /// `value` (fixed point at any scale) times this number, rounded half away from zero at the same scale; nil when
    /// the result does not fit an Int64.
    public func convert(_ value: Int64) -> Int64? {
        let (product, o) = Int128(value).multipliedReportingOverflow(by: units)
        if o { return nil }
        var q = product
        // Past 38 places the divisor exceeds twice any product: the result rounds to zero.
        if scale > 38 { return 0 }
        if scale > 0 {
            var d: Int128 = 1
            for _ in 0..<scale { d *= 10 }
            let (quotient, remainder) = product.quotientAndRemainder(dividingBy: d)
            q = quotient
            if remainder.magnitude * 2 >= d.magnitude { q += product < 0 ? -1 : 1 }
        }
        return Int64(exactly: q)
    }
}

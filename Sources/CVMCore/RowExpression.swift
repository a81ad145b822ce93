/// A row check across columns (`checks:` of a source), e.g. `quantity * unit_price >= discount`
/// or `ended_at >= started_at`: arithmetic (`+ - * /`), comparisons (`= != < <= > >=`),
/// `and`, `or`, `not`, parentheses, numbers, 'strings' and column names.
///
/// Numbers, decimals, dates (days) and timestamps (µs) compare as numbers; strings compare by
/// equality and order. As in SQL CHECK constraints, a check whose value is unknown because an
/// operand is null passes: `required` is the rule for missing values.
public struct RowExpression: Sendable, CustomStringConvertible {
    public let text: String
    let root: Node
    /// The columns the expression reads.
    public let columns: [String]

    indirect enum Node: Sendable {
        case number(Double)
        case string(String)
        case column(String)
        case negate(Node)
        case not(Node)
        case binary(String, Node, Node)
    }

    public enum Value: Equatable, Sendable {
        case number(Double), string(String), bool(Bool), null
    }

    public var description: String { text }

    /// - Parameter text: the columns that hold text (string, enum), so a comparison of text with a number, or
    ///   arithmetic on text, is reported here: at run time it would be unknown for every row, so the check
    ///   would pass them all without a word.
    /// - Throws: `ConfigValueError` with the position of a syntax error, an unknown column or mixed types.
    public init(_ text: String, columns known: [String], text textColumns: Set<String> = []) throws {
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
        _ = try RowExpression.type(root, text: textColumns, check: text)
    }

    enum ValueType: String { case number, text, bool = "true or false" }

    /// The type a node gives; throws where the operands cannot meet.
    static func type(_ n: Node, text: Set<String>, check: String) throws -> ValueType {
        func describe(_ n: Node) -> String {
            switch n {
            case .number(let x): return x.rounded() == x && abs(x) < 1e15 ? String(Int64(x)) : String(x)
            case .string(let s): return "'\(s)'"
            case .column(let c): return c
            default: return "(…)"
            }
        }
        func fail(_ what: String) -> ConfigValueError { ConfigValueError("check \"\(check)\": \(what)") }
        switch n {
        case .number: return .number
        case .string: return .text
        case .column(let c): return text.contains(c) ? .text : .number
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
                guard x == .number, y == .number else {
                    let bad = x == .number ? b : a
                    throw fail("\(op) needs numbers, found \(describe(bad)) (\(x == .number ? y.rawValue : x.rawValue))")
                }
                return .number
            default:
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
            case .number(let x): return .constant(.number(x))
            case .string(let s): return .constant(.string(s))
            case .column(let name):
                guard let c = table[name] else { return .constant(.null) }
                switch c.storage {
                case .int64(let v): return .ints(v, divisor: c.type == .decimal ? Double(pow10(c.spec.scale)) : 1, validity: c.validity)
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
                return .number(x)
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
        /// An int64 column's values as numbers (decimals divided by 10^scale, as `Column.double(at:)`).
        case ints([Int64], divisor: Double, validity: [Bool]?)
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
        case .ints(let v, let divisor, let valid):
            guard valid?[i] ?? true else { return .null }
            return .number(Double(v[i]) / divisor)
        case .doubles(let v, let valid):
            guard valid?[i] ?? true else { return .null }
            return .number(v[i])
        case .strings(let codes, let dict, let valid):
            guard valid?[i] ?? true else { return .null }
            return .string(dict[Int(codes[i])])
        case .negate(let a):
            if case .number(let x) = evaluate(a, i) { return .number(-x) }
            return .null
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
            case (_, .number(let p), .number(let q)):
                switch op {
                case .add: return .number(p + q)
                case .sub: return .number(p - q)
                case .mul: return .number(p * q)
                case .div: return q == 0 ? .null : .number(p / q)
                default: return compare(op, p < q, p == q)
                }
            case (_, .string(let p), .string(let q)):
                switch op {
                case .add, .sub, .mul, .div: return .null
                default: return compare(op, p < q, p == q)
                }
            default: return .null
            }
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

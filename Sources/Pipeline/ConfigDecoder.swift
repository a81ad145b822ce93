import Foundation
public import CVMCore
import Yams

/// Decodes `Decodable` config types from a composed YAML node tree and reports
/// **every** problem at once, each with the config file, line, column and key path.
///
/// Why not `YAMLDecoder`: it stops at the first error and its errors carry only a
/// coding path, no line (BUILD_NOTES, "YAML error locations"). This decoder keeps
/// the node (with its `mark`) for every value, so:
/// - unknown keys are found when a keyed container is opened (its `CodingKeys`
///   must be `CaseIterable`), with a "did you mean" suggestion;
/// - wrong types, missing keys and `ConfigValueError`s thrown by a type's
///   `init(from:)` are recorded with the value's position;
/// - recording an error and throwing `Recorded` lets `decodeIfPresent` return nil
///   and `KeyedList` skip the entry, so decoding goes on and finds the next error.
public final class ConfigDecoder {
    /// The config file path as it should appear in messages.
    public let path: String
    public private(set) var diagnostics: [Diagnostic] = []
    /// Position of every decoded key path (`sources.orders.files` → 12:5), for checks after decoding.
    public private(set) var positions: [String: SourcePosition] = [:]
    /// Every setting the YAML writes, by key path (`sources.orders.columns.amount.divide_by` → `100`): mappings are
    /// followed, a list or scalar is one setting (`settingText`). What each stage's outputs were built with is
    /// recorded from these (`StageSettings`), so a stage run alone sees a config changed since.
    public private(set) var settings: [String: String] = [:]

    struct Recorded: Error {}

    public init(path: String) { self.path = path }

    /// Parses YAML text and decodes `T` from it. Returns nil when any error was recorded.
    public func decode<T: Decodable>(_ type: T.Type, fromYAML text: String) -> T? {
        let value = decodePartially(type, fromYAML: text)
        return diagnostics.contains { $0.severity == .error } ? nil : value
    }

    /// Decodes as much as possible: the value may be present although errors were recorded
    /// (entries with errors are left out), so later checks can still report their findings.
    public func decodePartially<T: Decodable>(_ type: T.Type, fromYAML text: String) -> T? {
        let root: Node
        // Hostile configs: YAML aliases are copied when composed, so nested ones ("billion laughs") grow
        // exponentially. Refuse large files and many aliases before composing.
        if text.utf8.count > ConfigDecoder.maxBytes {
            record(at: SourcePosition(path: path, line: 1, column: 1), key: "", "the config is \(text.utf8.count) bytes, more than \(ConfigDecoder.maxBytes); a pipeline config is a few kilobytes")
            return nil
        }
        if let (line, column) = ConfigDecoder.tooManyAliases(text) {
            record(at: SourcePosition(path: path, line: line, column: column), key: "",
                   "more than \(ConfigDecoder.maxAliases) YAML aliases (*name); write the values out (a guard against alias bombs)")
            return nil
        }
        do {
            guard let node = try Yams.compose(yaml: text) else {
                record(at: SourcePosition(path: path, line: 1, column: 1), key: "", "the config is empty; expected a mapping with pipeline, warehouse, sources and stages")
                return nil
            }
            root = node
            settings = [:]
            collectSettings(node, path: "")
        } catch let error as YamlError {
            record(yamlError: error, text: text)
            return nil
        } catch {
            record(at: SourcePosition(path: path, line: 1, column: 1), key: "", "cannot parse YAML: \(error)")
            return nil
        }
        let decoder = NodeDecoder(node: root, owner: self, codingPath: [])
        return try? T(from: decoder)
    }

    static let maxBytes = 1 << 20

    private func collectSettings(_ node: Node, path: String) {
        guard case .mapping(let m) = node else { settings[path] = settingText(node); return }
        let last = path.split(separator: ".").last.map(String.init) ?? ""
        // A column's `map` is tried in order (the first pattern matching wins): one setting, its entries in order.
        if last == "map" { settings[path] = settingText(node, ordered: true); return }
        // Named lists whose order shapes the outputs (a table's column order, sources cleaned in config order):
        // their names in order are a setting of their own.
        if ["sources", "columns", "clusterings"].contains(last) {
            settings[path + " (order)"] = "[" + m.map { $0.key.scalar?.string ?? settingText($0.key) }.joined(separator: ", ") + "]"
        }
        for (k, v) in m {
            let key = k.scalar?.string ?? settingText(k)
            collectSettings(v, path: path.isEmpty ? key : path + "." + key)
        }
    }
    static let maxAliases = 64

    /// The position of the first alias beyond `maxAliases`: `*name` where a YAML node starts (after `key: `,
    /// `- `, `[`, `{` or `,`), outside quotes and comments. Globs such as `orders/**/*.csv` do not start a node.
    static func tooManyAliases(_ text: String) -> (Int, Int)? {
        var count = 0
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let chars = Array(line)
            var quote: Character? = nil
            var startOfNode = true  // at the line start (after indentation) a node may begin
            for (i, c) in chars.enumerated() {
                if let q = quote { if c == q { quote = nil }; continue }
                switch c {
                case "\"", "'": quote = c; startOfNode = false
                case "#" where i == 0 || chars[i - 1] == " ": break
                case " ", "\t": continue
                case "*" where startOfNode:
                    count += 1
                    if count > maxAliases { return (n + 1, i + 1) }
                    startOfNode = false
                case ":", "-", "[", "{", ",": startOfNode = (c != ":" && c != "-") || (i + 1 < chars.count && chars[i + 1] == " ") || i + 1 == chars.count
                default: startOfNode = false
                }
                if c == "#" && (i == 0 || chars[i - 1] == " ") { break }
            }
        }
        return nil
    }

    /// Records an error found after decoding, at the position of `key` (or its nearest recorded parent).
    public func error(_ key: String, _ message: String) {
        record(at: position(of: key), key: key, message)
    }

    /// Records a warning at `key`.
    public func warning(_ key: String, _ message: String) {
        diagnostics.append(Diagnostic(.warning, at: position(of: key), key: key, message))
    }

    /// The position of `key`, or of its nearest parent that was seen.
    public func position(of key: String) -> SourcePosition {
        var k = key
        while !k.isEmpty {
            if let p = positions[k] { return p }
            if let cut = k.lastIndex(where: { $0 == "." || $0 == "[" }) { k = String(k[..<cut]) } else { break }
        }
        return positions[""] ?? SourcePosition(path: path, line: 1, column: 1)
    }

    /// True when a key was present in the document (even if its value failed to decode).
    public func wasPresent(_ key: String) -> Bool { positions[key] != nil }

    func record(at position: SourcePosition, key: String, _ message: String) {
        let d = Diagnostic(.error, at: position, key: key, message)
        if !diagnostics.contains(d) { diagnostics.append(d) }
    }

    func note(_ key: String, _ node: Node) {
        if positions[key] == nil { positions[key] = sourcePosition(node) }
    }

    func sourcePosition(_ node: Node) -> SourcePosition {
        let m = node.mark
        return SourcePosition(path: path, line: m?.line ?? 1, column: m?.column ?? 1)
    }

    /// Where a key written twice in one mapping is written the second time: the first line, after the mapping's
    /// start, that writes `key:` at the indentation of its first writing (a block mapping) or anywhere in a flow
    /// mapping on the line. Nil when not found.
    static func secondWriting(of key: String, in text: String, from line: Int) -> (line: Int, column: Int)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var firstIndent: Int?
        for n in max(0, line - 1)..<lines.count {
            let l = lines[n]
            let indent = l.prefix { $0 == " " }.count
            let body = l.dropFirst(indent).drop { $0 == "-" || $0 == " " }
            let col = l.count - body.count
            guard body.hasPrefix(key + ":") || body.hasPrefix("\"\(key)\":") || body.hasPrefix("'\(key)':") else { continue }
            if let f = firstIndent {
                if col == f { return (n + 1, col + 1) }
            } else {
                firstIndent = col
            }
        }
        return nil
    }

    private func record(yamlError: YamlError, text: String) {
        switch yamlError {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let ctx = context.map { "\($0.text) " } ?? ""
            record(at: SourcePosition(path: path, line: mark.line, column: mark.column), key: "",
                   "invalid YAML: \(ctx)\(problem); check indentation, colons and quotes")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.sorted()
            let at = keys.first.flatMap { ConfigDecoder.secondWriting(of: $0, in: text, from: context.mark.line) }
                ?? (context.mark.line, context.mark.column)
            record(at: SourcePosition(path: path, line: at.0, column: at.1), key: "",
                   "invalid YAML: the key\(keys.count == 1 ? "" : "s") \(keys.map { "\"\($0)\"" }.joined(separator: ", ")) appear\(keys.count == 1 ? "s" : "") twice in one mapping; each key may appear once (remove or merge the second)")
        default:
            record(at: SourcePosition(path: path, line: 1, column: 1), key: "", "invalid YAML: \(yamlError)")
        }
    }
}

/// Renders a coding path the way users write keys: `sources.orders.columns[2]`.
func keyPath(_ path: [any CodingKey]) -> String {
    var s = ""
    for k in path {
        if let i = k.intValue, k.stringValue.hasPrefix("Index") || k.stringValue == String(i) {
            s += "[\(i)]"
        } else {
            if !s.isEmpty { s += "." }
            s += k.stringValue
        }
    }
    return s
}

struct IndexKey: CodingKey {
    var stringValue: String { "Index \(intValue ?? 0)" }
    var intValue: Int?
    init(_ i: Int) { intValue = i }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// Describes a node's kind for "expected X, found Y" messages.
func describe(_ node: Node) -> String {
    switch node {
    case .scalar(let s):
        if isNull(node) { return "null" }
        return "\"\(s.string)\""
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    }
}

/// A setting's value as text, the same for the same YAML value however it is laid out: a scalar as written (null
/// as `null`), a list `[a, "b c"]` with items quoted where they are not plain words, a mapping with its keys sorted.
/// Booleans are written one way (`True` is `true`; numbers stay as written: `2026.10` and `2026.1` differ to a
/// string column), and a list of one item is that item (`key: [id]` is `key: id`: every list setting takes either). `ordered`: a mapping keeps
/// its entries' order (`map`).
func settingText(_ node: Node, nested: Bool = false, ordered: Bool = false) -> String {
    switch node {
    case .scalar(let s):
        if isNull(node) { return "null" }
        if s.style == .plain || s.style == .any {
            switch s.string {
            case "true", "True", "TRUE": return "true"
            case "false", "False", "FALSE": return "false"
            // Numbers stay as written: `2026.10` and `2026.1` are different texts to a string column.
            default: break
            }
        }
        let plain = !s.string.isEmpty && s.string.allSatisfy { $0.isLetter || $0.isNumber || "._-+:/*".contains($0) }
        return nested && !plain ? "\"" + s.string.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" : s.string
    case .sequence(let items):
        if items.count == 1, case .scalar = items[0] { return settingText(items[0], nested: nested) }
        return "[" + items.map { settingText($0, nested: true, ordered: ordered) }.joined(separator: ", ") + "]"
    case .mapping(let m):
        let entries = m.map { "\(settingText($0.key, nested: true)): \(settingText($0.value, nested: true, ordered: ordered))" }
        return "{" + (ordered ? entries : entries.sorted()).joined(separator: ", ") + "}"
    case .alias: return "*alias"
    }
}

func isNull(_ node: Node) -> Bool {
    guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { return false }
    return ["", "~", "null", "Null", "NULL"].contains(s.string)
}

/// The edit distance used for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}

/// The closest candidate within a small distance, for "did you mean".
func suggestion(for word: String, among candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}

struct NodeDecoder: Decoder {
    let node: Node
    let owner: ConfigDecoder
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] {
        switch node {
        case .sequence: [StringList.isSequenceKey: true, ConfigNodeKind.key: "sequence"]
        case .mapping: [StringList.isSequenceKey: false, ConfigNodeKind.key: "mapping"]
        default: [StringList.isSequenceKey: false, ConfigNodeKind.key: "scalar"]
        }
    }

    var key: String { keyPath(codingPath) }

    func fail(_ message: String, at node: Node? = nil) -> ConfigDecoder.Recorded {
        owner.record(at: owner.sourcePosition(node ?? self.node), key: key, message)
        return ConfigDecoder.Recorded()
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        owner.note(key, node)
        guard case .mapping(let mapping) = node else {
            throw fail("expected a mapping (key: value lines), found \(describe(node))")
        }
        var pairs: [(String, Node, Node)] = []
        var seen: Set<String> = []
        for (k, v) in mapping {
            let name = k.string ?? ""
            if !seen.insert(name).inserted {
                owner.record(at: owner.sourcePosition(k), key: key.isEmpty ? name : "\(key).\(name)",
                             "duplicate key; each key may appear once")
                continue
            }
            pairs.append((name, k, v))
        }
        // Unknown keys are reported here, where the allowed keys are known.
        if let iterable = Key.self as? any (CaseIterable.Type) {
            let allowed = (iterable.allCases as any Collection).compactMap { ($0 as? any CodingKey)?.stringValue }
            for (name, kNode, _) in pairs where !allowed.contains(name) {
                let path = key.isEmpty ? name : "\(key).\(name)"
                var message = "unknown key"
                if let s = suggestion(for: name, among: allowed) { message += "; did you mean \"\(s)\"?" }
                message += " (expected one of \(allowed.joined(separator: ", ")))"
                owner.record(at: owner.sourcePosition(kNode), key: path, message)
            }
        }
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(decoder: self, pairs: pairs))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        owner.note(key, node)
        guard case .sequence(let seq) = node else {
            throw fail("expected a list, found \(describe(node))")
        }
        return UnkeyedNodeContainer(decoder: self, items: Array(seq))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        owner.note(key, node)
        return SingleNodeContainer(decoder: self)
    }

    /// Decodes a value of `T` at this node, recording any error with its position.
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try T(from: self)
        } catch let e as ConfigDecoder.Recorded {
            throw e
        } catch let e as ConfigValueError {
            throw fail(e.message)
        } catch let e as DecodingError {
            throw fail(message(for: e))
        } catch {
            throw fail("\(error)")
        }
    }

    private func message(for error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let t, _): return "expected \(typeName(t)), found \(describe(node))"
        case .valueNotFound(let t, _): return "expected \(typeName(t)), found nothing"
        case .keyNotFound(let k, _): return "missing required key \"\(k.stringValue)\""
        case .dataCorrupted(let c): return c.debugDescription
        @unknown default: return "\(error)"
        }
    }
}

func typeName(_ t: Any.Type) -> String {
    switch t {
    case is String.Type: "a string"
    case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type, is UInt32.Type: "an integer"
    case is Double.Type, is Float.Type: "a number"
    case is Bool.Type: "true or false"
    default: "\(t)"
    }
}

struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let pairs: [(String, Node, Node)]
    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] { pairs.compactMap { Key(stringValue: $0.0) } }

    func contains(_ key: Key) -> Bool { pairs.contains { $0.0 == key.stringValue } }

    private func value(_ key: Key) -> (Node, Node)? {
        pairs.first { $0.0 == key.stringValue }.map { ($0.1, $0.2) }
    }

    /// A missing key is reported at its mapping's position, under the key path it should have.
    private func missing(_ key: Key) -> ConfigDecoder.Recorded {
        let path = decoder.key.isEmpty ? key.stringValue : "\(decoder.key).\(key.stringValue)"
        decoder.owner.record(at: decoder.owner.sourcePosition(decoder.node), key: path,
                             "missing required key; add \"\(key.stringValue):\" here")
        return ConfigDecoder.Recorded()
    }

    private func child(_ key: Key, _ node: Node) -> NodeDecoder {
        NodeDecoder(node: node, owner: decoder.owner, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let (_, v) = value(key) else { return true }
        return isNull(v)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decodeGeneric(type, forKey: key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try decodeIfPresentGeneric(type, forKey: key) }

    // The protocol's default overloads for concrete types would bypass the error recovery
    // of the generic versions (a failed `decodeIfPresent` must return nil, not throw).
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try decodeIfPresentGeneric(type, forKey: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decodeGeneric(type, forKey: key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try decodeIfPresentGeneric(type, forKey: key) }

    func decodeGeneric<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let (_, v) = value(key) else { throw missing(key) }
        let d = child(key, v)
        d.owner.note(d.key, v)
        if isNull(v), !(T.self is any ExpressibleByNilLiteral.Type) {
            throw d.fail("\"\(key.stringValue)\" needs a value, found nothing")
        }
        return try d.decodeValue(type)
    }

    func decodeIfPresentGeneric<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let (_, v) = value(key), !isNull(v) else { return nil }
        let d = child(key, v)
        d.owner.note(d.key, v)
        // An error here is already recorded; returning nil lets decoding go on with the default.
        return try? d.decodeValue(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        guard let (_, v) = value(key) else { throw missing(key) }
        return try child(key, v).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        guard let (_, v) = value(key) else { throw missing(key) }
        return try child(key, v).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        guard let (_, v) = value(key) else { throw missing(key) }
        return child(key, v)
    }
}

struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let items: [Node]
    var currentIndex = 0
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> NodeDecoder {
        guard !isAtEnd else { throw decoder.fail("the list has too few items") }
        let d = NodeDecoder(node: items[currentIndex], owner: decoder.owner, codingPath: codingPath + [IndexKey(currentIndex)])
        d.owner.note(d.key, items[currentIndex])
        currentIndex += 1
        return d
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if isNull(items[currentIndex]) { currentIndex += 1; return true }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

struct SingleNodeContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    var node: Node { decoder.node }

    func decodeNil() -> Bool { isNull(node) }

    private func scalar(_ expected: String) throws -> String {
        guard case .scalar(let s) = node, !isNull(node) else {
            // An unquoted null, ~ or empty value is YAML's null, not text: say how to write the text.
            let hint = if case .scalar(let t) = node, expected == "a string" { t.string.isEmpty ? " (write \"\" for empty text)" : " (quote it for the text: \"\(t.string)\")" } else { "" }
            throw decoder.fail("expected \(expected), found \(describe(node))\(hint)")
        }
        return s.string
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        switch try scalar("true or false").lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw decoder.fail("expected true or false, found \(describe(node))")
        }
    }

    func decode(_ type: String.Type) throws -> String { try scalar("a string") }

    func decode(_ type: Double.Type) throws -> Double {
        let s = try scalar("a number")
        guard let v = Double(s.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            throw decoder.fail("expected a number, found \(describe(node))")
        }
        return v
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    private func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        let s = try scalar("an integer")
        let digits = s.replacingOccurrences(of: "_", with: "")
        guard let v = I(digits) else {
            // An integer out of the key's range (a negative seed, a count beyond 64 bits) says so.
            let body = digits.first == "-" || digits.first == "+" ? digits.dropFirst() : Substring(digits)
            if !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isNumber }) {
                throw decoder.fail("expected an integer from \(I.min) to \(I.max), found \(digits)")
            }
            throw decoder.fail("expected an integer, found \(describe(node))")
        }
        return v
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type) }
}

/// Helpers shared by every stage's `Configuration: Codable` so the pipeline's
/// config decoder can report precise, located, all-at-once errors.
///
/// Conventions for config types (see Pipeline/ConfigDecoder.swift):
/// - `CodingKeys: String, CodingKey, CaseIterable` (the decoder lists the allowed
///   keys and rejects unknown ones, with a "did you mean" suggestion);
/// - optional settings use `decodeIfPresent(...) ?? default` (defaults once, in `init`);
/// - value errors throw `ConfigValueError` with a message naming the allowed values.

/// A bad value in a config; the decoder adds file, line, column and key path.
public struct ConfigValueError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A closed set of words in a config (`type: int`, `on_file_error: fail`).
public protocol ConfigEnum: RawRepresentable, CaseIterable, Sendable, Decodable where RawValue == String {
    /// What the value is called in messages: `unknown type "integr" (expected ...)`.
    static var noun: String { get }
}

extension ConfigEnum {
    /// Decodes a word, or throws `unknown <noun> "<word>" (expected a, b, c)`.
    public static func decodeWord(from decoder: any Decoder) throws -> Self {
        let word = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: word) else {
            throw ConfigValueError("unknown \(noun) \"\(word)\" (expected \(allWords))")
        }
        return value
    }

    public static var allWords: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

extension ColumnType: ConfigEnum {
    public static var noun: String { "type" }
    public init(from decoder: any Decoder) throws { self = try Self.decodeWord(from: decoder) }
}

/// A YAML mapping decoded **in document order** (`columns:`, `sources:`), each
/// entry named by its key. Entries that fail to decode are skipped after the
/// decoder has recorded their error, so every error in a config is reported.
public struct KeyedList<Value: Decodable & Sendable>: Decodable, Sendable, Sequence {
    public var entries: [(key: String, value: Value)]

    public init(_ entries: [(key: String, value: Value)] = []) { self.entries = entries }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyConfigKey.self)
        var out: [(key: String, value: Value)] = []
        for k in c.allKeys {
            if let v = try? c.decode(Value.self, forKey: k) { out.append((k.stringValue, v)) }
        }
        entries = out
    }

    public var keys: [String] { entries.map(\.key) }
    public subscript(key: String) -> Value? { entries.first { $0.key == key }?.value }
    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }
    public func makeIterator() -> IndexingIterator<[(key: String, value: Value)]> { entries.makeIterator() }
}

/// A setting that may be one string or a list of strings (`files: a/*.gz` or `files: [a, b]`).
public struct StringList: Decodable, Sendable, Hashable {
    public var values: [String]
    public init(_ values: [String]) { self.values = values }
    /// Set by decoders that know the node kind, so probing does not record an error.
    public static let isSequenceKey = CodingUserInfoKey(rawValue: "cvm.isSequence")!

    public init(from decoder: any Decoder) throws {
        if let isSequence = decoder.userInfo[StringList.isSequenceKey] as? Bool {
            values = isSequence ? try decoder.singleValueContainer().decode([String].self)
                                : [try decoder.singleValueContainer().decode(String.self)]
            return
        }
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) {
            values = [one]
        } else {
            values = try c.decode([String].self)
        }
    }
}

/// A coding key for mappings whose keys are data (source names, column names).
public struct AnyConfigKey: CodingKey, Sendable {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

/// Decoders that know the YAML node kind put it in `userInfo` under this key ("scalar", "mapping",
/// "sequence"), so a type accepting several shapes can branch without a failing probe (which the
/// pipeline's decoder would report as an error).
public enum ConfigNodeKind {
    public static let key = CodingUserInfoKey(rawValue: "cvm.nodeKind")!

    /// True when the decoder says the node is a mapping; false when it says otherwise; nil when it does not say.
    public static func isMapping(_ decoder: any Decoder) -> Bool? {
        (decoder.userInfo[key] as? String).map { $0 == "mapping" }
    }
}

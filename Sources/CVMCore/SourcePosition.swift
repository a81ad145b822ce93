/// A place in an input file or config: `path:line:column`, 1-based.
///
/// Every user-facing error carries one so the message points at the data.
public struct SourcePosition: Sendable, Hashable, Codable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var column: Int

    public init(path: String, line: Int, column: Int) {
        (self.path, self.line, self.column) = (path, line, column)
    }

    public var description: String { "\(path):\(line):\(column)" }
}

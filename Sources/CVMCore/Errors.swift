/// Process exit codes, following the BSD sysexits convention that schedulers know.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case ok = 0
    case stageFailed = 1
    case usage = 64
    case dataQuality = 65
    case noInput = 66
    case `internal` = 70
    case ioError = 74
    case locked = 75
    case config = 78
}

/// The error protocol every stage's error type conforms to, so the CLI can
/// print one compiler-style message and pick the exit code.
public protocol CVMError: Error, Sendable, CustomStringConvertible {
    var exitStatus: ExitStatus { get }
}

/// A finding about an input or config, compiler style:
/// `path:line:col: error: key.path: what happened; what to do`.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable { case error, warning, note }
    public var severity: Severity
    public var position: SourcePosition?
    /// A config key path (`sources.orders.columns.qty.type`) or a data rule name; may be empty.
    public var key: String
    public var message: String

    public init(_ severity: Severity = .error, at position: SourcePosition?, key: String = "", _ message: String) {
        self.severity = severity
        self.position = position
        self.key = key
        self.message = message
    }

    public var description: String {
        var s = ""
        if let position { s += "\(position): " }
        s += "\(severity.rawValue): "
        if !key.isEmpty { s += "\(key): " }
        s += message
        return s
    }
}

/// A general error with an exit status and a ready-made message.
public struct CVMFailure: CVMError, Equatable {
    public var exitStatus: ExitStatus
    public var message: String
    public init(_ exitStatus: ExitStatus, _ message: String) {
        self.exitStatus = exitStatus
        self.message = message
    }
    public var description: String { message }
}

/// Several diagnostics reported at once (all errors in a config, not only the first).
public struct DiagnosticsError: CVMError, Equatable {
    public var exitStatus: ExitStatus
    public var diagnostics: [Diagnostic]
    public init(_ exitStatus: ExitStatus, _ diagnostics: [Diagnostic]) {
        self.exitStatus = exitStatus
        self.diagnostics = diagnostics
    }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

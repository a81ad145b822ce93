import Foundation
public import Logging
import Synchronization

/// How log lines are written to standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-06-30T02:00:01Z info  [extract] read 365 files rows=120345`
    case text
    /// One JSON object per line: `{"ts":..,"level":..,"stage":..,"msg":..,...}` for log shippers.
    case json
}

/// Writes swift-log records to stderr as text or JSON lines, and keeps the live
/// progress line (terminal only) from being torn by log output.
public struct CVMLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let format: LogFormat
    let progress: ProgressLine?

    public init(label: String, format: LogFormat, progress: ProgressLine?) {
        (self.label, self.format, self.progress) = (label, format, progress)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let ts = isoNow()
        var line: String
        switch format {
        case .text:
            let stage = merged["stage"].map { "[\($0)] " } ?? ""
            let rest = merged.filter { $0.key != "stage" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            line = "\(ts) \(event.level.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0))\(stage)\(event.message)"
            if !rest.isEmpty { line += " " + rest.joined(separator: " ") }
        case .json:
            var obj: [String: String] = ["ts": ts, "level": event.level.rawValue, "msg": "\(event.message)", "logger": label]
            for (k, v) in merged { obj[k] = "\(v)" }
            let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        }
        if let progress {
            progress.printAbove(line)
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}

func isoNow() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date())
}

/// A live one-line progress display per stage on a terminal (rows, rate, elapsed).
/// Never used when stderr is not a terminal, so logs stay clean in cron and CI.
public final class ProgressLine: @unchecked Sendable { // state behind a Mutex; the timer is only created and cancelled
    private struct State {
        var stage: String?
        var started = Date()
        var rows = 0
        /// Units of work done and expected (files for extract), for the ETA.
        var done = 0
        var total: Int?
        var shown = false
    }
    private let state = Mutex(State())
    private let ticker: any DispatchSourceTimer

    /// Returns nil when stderr is not a terminal.
    public static func makeIfTerminal() -> ProgressLine? {
        isatty(STDERR_FILENO) == 1 ? ProgressLine() : nil
    }

    private init() {
        ticker = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cvm.progress"))
        ticker.schedule(deadline: .now() + 0.25, repeating: 0.25)
        ticker.setEventHandler { [weak self] in self?.redraw() }
        ticker.resume()
    }

    deinit { ticker.cancel() }

    public func begin(stage: String, total: Int? = nil) {
        state.withLock { $0 = State(stage: stage, started: Date(), rows: 0, total: total, shown: false) }
        redraw()
    }

    public func update(rows: Int) { state.withLock { $0.rows = rows } }

    /// Adds finished units of work (e.g. one file) and the rows they held. Thread-safe.
    public func advance(units: Int, rows: Int) {
        state.withLock { s in
            s.done += units
            s.rows += rows
        }
    }

    /// Sets the expected number of units for the ETA.
    public func expect(units: Int) { state.withLock { $0.total = units } }

    public func end() {
        state.withLock { s in
            if s.shown { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            s.stage = nil
            s.shown = false
        }
    }

    func printAbove(_ line: String) {
        state.withLock { s in
            var out = s.shown ? "\r\u{1B}[2K" : ""
            out += line + "\n"
            FileHandle.standardError.write(Data(out.utf8))
            s.shown = false
        }
        redraw()
    }

    private func redraw() {
        state.withLock { s in
            guard let stage = s.stage else { return }
            let elapsed = Date().timeIntervalSince(s.started)
            var text = "\r\u{1B}[2K[\(stage)] running \(String(format: "%.1f", elapsed))s"
            if let total = s.total, total > 0 {
                text += "  \(s.done)/\(total) files"
                if s.done > 0, s.done < total {
                    text += "  ETA \(Int(elapsed / Double(s.done) * Double(total - s.done)))s"
                }
            }
            if s.rows > 0 {
                let rate = Double(s.rows) / max(elapsed, 0.001)
                text += "  \(s.rows) rows  \(Int(rate)) rows/s"
            }
            FileHandle.standardError.write(Data(text.utf8))
            s.shown = true
        }
    }
}

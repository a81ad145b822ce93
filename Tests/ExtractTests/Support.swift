import CVMCore
@testable import Extract
import Foundation
import TestSupport
import Testing

/// Writes `text` to a file in a fresh folder; gzips it with the system gzip when asked.
func writeInput(_ text: String, name: String = "in.csv", gzip: Bool = false, dir: String? = nil) throws -> String {
    try writeBytes(Array(text.utf8), name: name, gzip: gzip, dir: dir)
}

/// Writes raw bytes (for invalid UTF-8 and binary cases); gzips with the system gzip when asked.
func writeBytes(_ bytes: [UInt8], name: String = "in.csv", gzip: Bool = false, dir: String? = nil) throws -> String {
    let d = try dir ?? makeTemporaryDirectory("extract")
    let path = "\(d)/\(name)"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    guard gzip else { return path }
    try run("/bin/gzip", ["-n", "-f", path])
    return path + ".gz"
}

func run(_ exe: String, _ args: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw InputFileError(path: exe, message: "exit \(p.terminationStatus) for \(args)") }
}

func readData(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
func writeData(_ data: Data, _ path: String) throws { try data.write(to: URL(fileURLWithPath: path)) }

/// All records of a file as strings, through the real reader and scanner.
func scanAll(_ path: String, delimiter: CSVScanner.Delimiter = .byte(44), chunkSize: Int = 1 << 16) throws -> [[String]] {
    let scanner = CSVScanner(reader: try GzipReader(path: path), delimiter: delimiter, chunkSize: chunkSize)
    var out: [[String]] = []
    while try scanner.next() == .record {
        out.append(scanner.fields.map { f in scanner.withFieldBytes(f) { String(decoding: $0, as: UTF8.self) } })
    }
    return out
}

/// Records and their starting physical lines.
func scanLines(_ path: String, delimiter: CSVScanner.Delimiter = .byte(44), chunkSize: Int) throws -> [(line: Int, fields: [String])] {
    let scanner = CSVScanner(reader: try GzipReader(path: path), delimiter: delimiter, chunkSize: chunkSize)
    var out: [(line: Int, fields: [String])] = []
    while try scanner.next() == .record {
        out.append((scanner.recordLine, scanner.fields.map { f in scanner.withFieldBytes(f) { String(decoding: $0, as: UTF8.self) } }))
    }
    return out
}

/// Slow obvious RFC 4180 oracle over scalars (LF or CRLF endings, blank lines skipped, a one-character delimiter).
func oracleCSV(_ text: String, delimiter: Unicode.Scalar = ",") -> [[String]] {
    var rows: [[String]] = [], row: [String] = [], field = ""
    var quoted = false, wasQuoted = false
    let chars = Array(text.unicodeScalars)
    var i = 0
    while i < chars.count {
        let c = chars[i]
        if quoted {
            if c == "\"" {
                if i + 1 < chars.count && chars[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { quoted = false }
            } else { field.unicodeScalars.append(c) }
        } else if c == "\"" { quoted = true; wasQuoted = true }
        else if c == delimiter { row.append(field); field = "" }
        else if c == "\r" && i + 1 < chars.count && chars[i + 1] == "\n" { }  // CRLF outside quotes ends the record at the LF
        else if c == "\n" {
            row.append(field)
            if !(row.count == 1 && row[0].isEmpty && !wasQuoted) { rows.append(row) }
            row = []; field = ""; wasQuoted = false
        } else { field.unicodeScalars.append(c) }
        i += 1
    }
    if !field.isEmpty || !row.isEmpty || wasQuoted { row.append(field); rows.append(row) }
    return rows
}

/// Oracle for the whitespace delimiter on unquoted text: split each non-blank line on runs of spaces and tabs.
func oracleWhitespace(_ text: String) -> [[String]] {
    text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        .filter { !$0.isEmpty }
}

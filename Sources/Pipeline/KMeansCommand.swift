import Foundation
public import CVMCore
import Cluster
import Extract

/// `cvm kmeans`: k-means on any numeric CSV with a header row.
public struct KMeansRequest: Sendable {
    public var input: String
    public var k: Int
    public var initial: String?
    public var algorithm: String
    public var maxIterations: Int
    public var tolerance: Double
    public var nInit: Int
    public var seed: UInt64
    public var threads: Int
    public var labels: String?
    public var centroids: String?

    public init(input: String, k: Int, initial: String?, algorithm: String, maxIterations: Int, tolerance: Double, nInit: Int,
                seed: UInt64, threads: Int, labels: String?, centroids: String?) {
        (self.input, self.k, self.initial, self.algorithm, self.maxIterations) = (input, k, initial, algorithm, maxIterations)
        (self.tolerance, self.nInit, self.seed, self.threads, self.labels, self.centroids) = (tolerance, nInit, seed, threads, labels, centroids)
    }
}

public enum KMeansCommand {
    /// Reads a numeric CSV (header row; every column a number) into a matrix, through the Extract reader.
    /// - Throws: `CVMFailure` (66) when the file is missing, empty or has non-numeric values.
    public static func readMatrix(_ path: String, threads: Int) throws -> (names: [String], matrix: Matrix) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CVMFailure(.noInput, "\(path): error: no such file; check the path")
        }
        let scanner = CSVScanner(reader: try GzipReader(path: path), delimiter: .byte(UInt8(ascii: ",")))
        guard try scanner.next() == .record else { throw CVMFailure(.noInput, "\(path): error: the file is empty; expected a header row") }
        let names = scanner.fields.map { f in scanner.withFieldBytes(f) { String(decoding: $0, as: UTF8.self) } }
        let source = SourceSpec(name: "matrix", files: [path], columns: names.map { ($0, ColumnDecl(.double)) })
        let r = try Extractor.extract(source, files: [path], threads: threads)
        if let bad = r.rejects.first {
            throw CVMFailure(.noInput, "\(bad.file):\(bad.line):\(bad.column ?? 1): error: \(bad.reason); every column must be numeric")
        }
        let t = r.table
        let d = names.count, n = t.rowCount
        var values = [Double](repeating: 0, count: n * d)
        for j in 0..<d {
            let c = t.columns[j]
            for i in 0..<n {
                guard let v = c.double(at: i) else {
                    throw CVMFailure(.noInput, "\(path):\(Int(t[Provenance.line]?.int64(at: i) ?? 0)):\(j + 1): error: empty value in column \(names[j]); every cell must be a number")
                }
                guard v.isFinite else {
                    throw CVMFailure(.noInput, "\(path):\(Int(t[Provenance.line]?.int64(at: i) ?? 0)):\(j + 1): error: \(v) in column \(names[j]); every cell must be a finite number")
                }
                values[i * d + j] = v
            }
        }
        return (names, Matrix(rows: n, cols: d, values: values))
    }

    /// Returns the one-line JSON result: k, inertia, iterations, fit seconds (without reading), algorithm.
    public static func run(_ req: KMeansRequest) throws -> String {
        guard let algorithm = KMeans.Algorithm(rawValue: req.algorithm) else {
            throw CVMFailure(.usage, "error: --algorithm \(req.algorithm): expected one of \(KMeans.Algorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let (names, x) = try readMatrix(req.input, threads: req.threads)
        guard req.k >= 1, req.k <= x.rows else {
            throw CVMFailure(.usage, "error: --k \(req.k) must be between 1 and the number of rows (\(x.rows))")
        }
        guard req.nInit >= 1 else { throw CVMFailure(.usage, "error: --n-init \(req.nInit) must be at least 1") }
        guard req.maxIterations >= 1 else { throw CVMFailure(.usage, "error: --max-iter \(req.maxIterations) must be at least 1") }
        guard req.tolerance >= 0, req.tolerance.isFinite else { throw CVMFailure(.usage, "error: --tol \(req.tolerance) must be a number of at least 0") }
        var initialization = KMeans.Initialization.kMeansPlusPlus
        if let path = req.initial {
            let (initNames, c) = try readMatrix(path, threads: 1)
            guard initNames.count == names.count, c.rows == req.k else {
                throw CVMFailure(.usage, "\(path): error: expected \(req.k) rows of \(names.count) columns, found \(c.rows) of \(initNames.count)")
            }
            initialization = .given(c)
        }
        let km = KMeans(k: req.k, seed: req.seed, nInit: req.nInit, maxIterations: req.maxIterations, tolerance: req.tolerance,
                        initialization: initialization, threads: req.threads, algorithm: algorithm)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let fit = km.fit(x)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        guard fit.inertia.isFinite else {
            // Squared distances beyond Double's range (values near 1e154 and up): JSON has no infinity.
            throw CVMFailure(.noInput, "\(req.input): error: the squared distances overflow (values too large for Double arithmetic); rescale the columns (e.g. divide by a power of 10)")
        }
        if let path = req.labels {
            try write(path, "row,label\n" + fit.labels.enumerated().map { "\($0.offset),\($0.element)" }.joined(separator: "\n") + "\n")
        }
        if let path = req.centroids {
            var text = names.joined(separator: ",") + "\n"
            for r in 0..<fit.centroids.rows { text += fit.centroids.row(r).map { "\($0)" }.joined(separator: ",") + "\n" }
            try write(path, text)
        }
        return "{\"k\":\(req.k),\"inertia\":\(fit.inertia),\"iterations\":\(fit.iterations),\"seconds\":\(seconds),\"algorithm\":\"\(fit.algorithm.rawValue)\",\"converged\":\(fit.converged)}"
    }

    static func write(_ path: String, _ text: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw CVMFailure(.ioError, "\(path): error: cannot write: \(error.localizedDescription)")
        }
    }
}

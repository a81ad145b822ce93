// Extract kernels: the gzip reader, the CSV tokenizer, a source's typing and timestamp parsing, on one core.
import Benchmark
import CVMCore
@_spi(Benchmarks) import Extract
import Foundation
import Generate

/// The synthetic shop's gz CSV files (orders, events, customers of 4,000 customers, a year of orders and
/// 14 days of clicks, seed 42), made once per process by the project's own generator and kept in memory.
struct ShopFiles: Sendable {
    /// Every file concatenated, in path order: one multi-member gzip stream.
    var gzip: [UInt8] = []
    /// The same bytes inflated: what the CSV tokenizer sees.
    var csv: [UInt8] = []
    /// The click-event files inflated, one after the other (each with its header: the later ones are skipped).
    var events: [UInt8] = []
    var files = 0

    static func make() -> ShopFiles {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = GeneratorConfiguration(customers: 4_000, orderDays: 365, clickDays: 14,
                                            endDate: CivilDate(year: 2026, month: 6, day: 30), seed: 42)
        do {
            _ = try ShopGenerator.generate(config, to: dir, threads: 1)
            var out = ShopFiles()
            let paths = (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? [])
                .filter { $0.hasSuffix(".gz") }.sorted()
            for p in paths {
                let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/" + p)))
                out.gzip += bytes
                if p.hasPrefix("events/") {
                    let reader = try GzipReader(bytes: bytes, name: p)
                    while try reader.read(into: &out.events, max: 1 << 20) > 0 {}
                }
            }
            out.files = paths.count
            let reader = try GzipReader(bytes: out.gzip, name: "shop.gz")
            while try reader.read(into: &out.csv, max: 1 << 20) > 0 {}
            return out
        } catch {
            fatalError("benchmark input: \(error)")
        }
    }
}

let shop = ShopFiles.make()

/// The generator's click events as a source declares them (as in the demo pipeline).
let eventsSource: SourceSpec = {
    var s = SourceSpec(name: "events", files: [], columns: [
        ("event_id", ColumnDecl(.string)), ("customer_id", ColumnDecl(.string)),
        ("occurred_at", ColumnDecl(.timestamp, format: "epoch_ms")), ("event_type", ColumnDecl(.enum)),
        ("sku", ColumnDecl(.string)), ("category", ColumnDecl(.string)), ("device", ColumnDecl(.enum)),
        ("referrer", ColumnDecl(.string)),
    ])
    s.columns.entries[2].value.from = "ts"
    return s
}()

/// Timestamps spread over two years: ISO 8601 with the offset in the field, and the same local times
/// without an offset (the source's IANA zone applies). Packed into one byte array with offsets.
struct Stamps: Sendable {
    var withOffset: [UInt8] = [], withOffsetEnds: [Int] = []
    var local: [UInt8] = [], localEnds: [Int] = []
    static let count = 1_000

    static func make() -> Stamps {
        var s = Stamps()
        var rng = SeededRNG(seed: 42)
        let offsets = ["-05:00", "Z", "+01:00", "+08:00", "+09:00", "-03:00", "+05:30"]
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        for _ in 0..<count {
            let day = CivilDate(daysSinceEpoch: CivilDate(year: 2024, month: 7, day: 1).daysSinceEpoch + Int64(rng.next() % 730))
            let secs = Int64(rng.next() % 86_400)
            let local = "\(day) \(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60))"
            s.withOffset += Array((local.replacingOccurrences(of: " ", with: "T") + offsets[Int(rng.next() % 7)]).utf8)
            s.withOffsetEnds.append(s.withOffset.count)
            s.local += Array(local.utf8)
            s.localEnds.append(s.local.count)
        }
        return s
    }
}

let stamps = Stamps.make()

// Built once per process; the benchmarks of one process run one at a time (the IANA zone cache is not thread-safe).
nonisolated(unsafe) let isoWithOffset = TimestampParser(format: "iso8601", zone: "UTC")!
nonisolated(unsafe) let isoBerlin = TimestampParser(format: "iso8601", zone: "Europe/Berlin")!

extension BenchmarkMetric {
    static var bytesPerSecond: BenchmarkMetric { .custom("bytes/s (uncompressed)", polarity: .prefersLarger, useScalingFactor: false) }
    static var rowsPerSecond: BenchmarkMetric { .custom("rows/s", polarity: .prefersLarger, useScalingFactor: false) }
}

/// Times `body` (already inside the measured region) and records its rate per second for `amount`.
@inline(__always) func rate(_ amount: Int, _ body: () throws -> Void) rethrows -> Double {
    let t0 = ContinuousClock.now
    try body()
    let d = (ContinuousClock.now - t0).components
    return Double(amount) / (Double(d.seconds) + Double(d.attoseconds) * 1e-18)
}

/// Parses the fields of `bytes` (field i ends at `ends[i]`) with `parser`, 1,000 per iteration.
func timestampBenchmark(_ name: String, _ bytes: [UInt8], ends: [Int], _ parser: TimestampParser) {
    Benchmark(name, configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2),
                                         maxIterations: 100_000, setup: { blackHole(bytes.count) })) { benchmark in
        var sum: Int64 = 0
        bytes.withUnsafeBufferPointer { b in
            var start = 0
            for i in benchmark.scaledIterations {
                let end = ends[i]
                sum &+= parser.parse(UnsafeBufferPointer(rebasing: b[start..<end])) ?? -1
                start = end
            }
        }
        blackHole(sum)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .bytesPerSecond, .rowsPerSecond],
        units: [.bytesPerSecond: .mega, .rowsPerSecond: .kilo],
        warmupIterations: 2, maxDuration: .seconds(4), maxIterations: 100)

    Benchmark("gzip reader (inflate the shop's gz CSV, 256 KiB reads)",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal, .bytesPerSecond],
                                   units: [.bytesPerSecond: .mega], warmupIterations: 2, maxDuration: .seconds(4), maxIterations: 100,
                                   setup: { blackHole(shop.files) })) { benchmark in
        let reader = try GzipReader(bytes: shop.gzip, name: "shop.gz")
        var out: [UInt8] = []
        out.reserveCapacity(1 << 18)
        var total = 0
        benchmark.startMeasurement()
        let r = try rate(shop.csv.count) {
            while true {
                let n = try reader.read(into: &out, max: 1 << 18)
                if n == 0 { break }
                total += n
                out.removeAll(keepingCapacity: true)
            }
        }
        benchmark.stopMeasurement()
        precondition(total == shop.csv.count)
        benchmark.measurement(.bytesPerSecond, Int(r))
        blackHole(total)
    }

    Benchmark("CSV tokenizer (records and fields of the inflated shop CSV)",
              configuration: .init(units: [.bytesPerSecond: .mega, .rowsPerSecond: .kilo], warmupIterations: 2,
                                   maxDuration: .seconds(4), maxIterations: 100, setup: { blackHole(shop.files) })) { benchmark in
        // Plain bytes (no gzip magic) pass through the reader with one memcpy per chunk, so this times the tokenizer.
        let scanner = CSVScanner(reader: try GzipReader(bytes: shop.csv, name: "shop.csv"), delimiter: .byte(UInt8(ascii: ",")))
        var records = 0, fields = 0, malformed = 0
        benchmark.startMeasurement()
        let r = try rate(shop.csv.count) {
            loop: while true {
                switch try scanner.next() {
                case .record: records += 1; fields += scanner.fields.count
                case .end: break loop
                case .malformed, .tooLong: malformed += 1
                }
            }
        }
        benchmark.stopMeasurement()
        benchmark.measurement(.bytesPerSecond, Int(r))
        benchmark.measurement(.rowsPerSecond, Int(r * Double(records + malformed) / Double(shop.csv.count)))
        blackHole((records, fields, malformed))
    }

    // Extract's typing of a whole source held in memory: parse, type, intern into the file's dictionaries, build
    // the table. Common rows in C (`FastRows`), then every row through the general path; same result.
    for (path, inC) in [("common rows in C", true), ("general path only", false)] {
        Benchmark("extract typing (the shop's click events in memory, \(path))",
                  configuration: .init(units: [.bytesPerSecond: .mega, .rowsPerSecond: .kilo], warmupIterations: 2,
                                       maxDuration: .seconds(4), maxIterations: 100, setup: { blackHole(shop.events.count) })) { benchmark in
            var rows = 0
            benchmark.startMeasurement()
            let r = try rate(shop.events.count) {
                rows = try Extractor.extract(eventsSource, bytes: shop.events, name: "events.csv", typesCommonRowsInC: inC).table.rowCount
            }
            benchmark.stopMeasurement()
            precondition(rows > 0)
            benchmark.measurement(.bytesPerSecond, Int(r))
            benchmark.measurement(.rowsPerSecond, Int(r * Double(rows) / Double(shop.events.count)))
        }
    }

    // 1,000 parses per iteration (scalingFactor .kilo): throughput is parses per second, time is per parse.
    timestampBenchmark("timestamp parsing (iso8601 with offset)", stamps.withOffset, ends: stamps.withOffsetEnds, isoWithOffset)
    timestampBenchmark("timestamp parsing (iso8601 local time, Europe/Berlin)", stamps.local, ends: stamps.localEnds, isoBerlin)
}

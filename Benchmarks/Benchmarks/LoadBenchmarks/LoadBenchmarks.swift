// The warehouse load's SQLite bind loop: one prepared INSERT, values bound straight from the column arrays,
// into a fresh warehouse file in a temporary folder (WAL, synchronous=NORMAL, as `cvm run` opens it).
import Benchmark
import CVMCore
import Foundation
@_spi(Benchmarks) import Warehouse

/// 100,000 order lines in the landing table's shape (strings dictionary-encoded, decimals, timestamps), fixed seed.
struct OrderLines: Sendable {
    static let rows = 100_000
    var table: Table

    static func make() -> OrderLines {
        var rng = SeededRNG(seed: 42)
        let t0 = CivilDate(year: 2025, month: 7, day: 1).daysSinceEpoch * microsPerDay
        var order: [String?] = [], line: [Int64] = [], customer: [String?] = [], at: [Int64] = [], sku: [String?] = []
        var category: [String?] = [], qty: [Int64] = [], price: [Int64] = [], discount: [Int64] = [], status: [String?] = []
        var o = 0
        while order.count < rows {
            let c = "C\(100_000 + Int(rng.next() % 20_000))", t = t0 + Int64(rng.next() % (365 * 86_400)) * microsPerSecond
            let st = ["completed", "completed", "completed", "returned", "cancelled"][Int(rng.next() % 5)]
            for l in 1...(1 + Int(rng.next() % 3)) where order.count < rows {
                let k = Int(rng.next() % 240)
                order.append("O\(10_000_000 + o)"); line.append(Int64(l)); customer.append(c); at.append(t)
                sku.append("SKU-\(k)"); category.append(["electronics", "books", "fashion", "home", "toys", "music"][k % 6])
                qty.append(1 + Int64(rng.next() % 3)); price.append(199 + Int64(rng.next() % 20_000))
                discount.append(rng.next() % 4 == 0 ? 150 : 0); status.append(st)
            }
            o += 1
        }
        return OrderLines(table: Table(name: "bench_order_line", columns: [
            Column("order_id", strings: order), Column("line_no", .int, int64: line), Column("customer_id", strings: customer),
            Column("ordered_at", .timestamp, int64: at), Column("sku", strings: sku), Column("category", strings: category),
            Column("quantity", .int, int64: qty), Column("unit_price", .decimal, int64: price, scale: 2),
            Column("discount", .decimal, int64: discount, scale: 2), Column("status", .enum, strings: status),
        ]))
    }
}

let lines = OrderLines.make()
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cvm-bench-load-\(getpid())").path
let warehouse: Warehouse = {
    do { return try Warehouse(path: folder + "/cvm.sqlite") } catch { fatalError("benchmark warehouse: \(error)") }
}()

extension BenchmarkMetric {
    static var rowsPerSecond: BenchmarkMetric { .custom("rows/s", polarity: .prefersLarger, useScalingFactor: false) }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark("SQLite bind loop (100,000 order lines x 12 columns, one transaction)",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal, .rowsPerSecond],
                                   units: [.rowsPerSecond: .kilo], warmupIterations: 2, maxDuration: .seconds(4), maxIterations: 100,
                                   setup: { blackHole(lines.table.rowCount); blackHole(warehouse.path) },
                                   teardown: { try? warehouse.close(); try? FileManager.default.removeItem(atPath: folder) })) { benchmark in
        // Each iteration empties the table (SQLite's truncate) and inserts every row again, committed.
        let t0 = ContinuousClock.now
        try warehouse.replaceRows(of: lines.table, asOf: CivilDate(year: 2026, month: 6, day: 30), runID: "bench")
        let d = (ContinuousClock.now - t0).components
        benchmark.measurement(.rowsPerSecond, Int(Double(OrderLines.rows) / (Double(d.seconds) + Double(d.attoseconds) * 1e-18)))
    }
}

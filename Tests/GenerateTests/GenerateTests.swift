import CVMCore
import Foundation
import Generate
import TestSupport
import Testing

/// Every regular file below `dir`, by relative path, with its bytes.
func files(_ dir: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let base = URL(fileURLWithPath: dir).standardized
    guard let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else { return out }
    for case let url as URL in e where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
        out[String(url.standardized.path.dropFirst(base.path.count + 1))] = try Data(contentsOf: url)
    }
    return out
}

func gunzip(_ path: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["gzip", "-dc", path]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw CVMFailure(.noInput, "gzip failed on \(path)") }
    return String(decoding: data, as: UTF8.self)
}

struct ShopGeneratorTests {
    func small(seed: UInt64 = 5) -> GeneratorConfiguration {
        GeneratorConfiguration(customers: 120, orderDays: 60, clickDays: 3, endDate: CivilDate(year: 2026, month: 6, day: 30), seed: seed)
    }

    @Test func sameConfigurationGivesByteIdenticalFilesForAnyThreadCount() throws {
        let a = try makeTemporaryDirectory("gen"), b = try makeTemporaryDirectory("gen")
        let sa = try ShopGenerator.generate(small(), to: a, threads: 1)
        let sb = try ShopGenerator.generate(small(), to: b, threads: 2)
        #expect(sa == sb)
        #expect(try files(a) == files(b))
        let c = try makeTemporaryDirectory("gen")
        _ = try ShopGenerator.generate(small(seed: 6), to: c, threads: 2)
        #expect(try files(a) != files(c))
    }

    @Test func filesAreValidGzipWithTheDeclaredHeadersAndCounts() throws {
        let dir = try makeTemporaryDirectory("gen")
        let s = try ShopGenerator.generate(small(), to: dir, threads: 2)
        let all = try files(dir)
        #expect(s.files == all.count)
        #expect(s.bytes == all.values.reduce(0) { $0 + Int64($1.count) })
        #expect(all.keys.filter { $0.hasPrefix("orders/") }.count == 60)
        #expect(all.keys.filter { $0.hasPrefix("events/") }.count == 3 * 24)
        #expect(try gunzip("\(dir)/customers.csv.gz").hasPrefix("customer_id,email,signup_date,country,birth_year,acquisition_channel\n"))
        var orderLines = 0
        for f in all.keys where f.hasPrefix("orders/") {
            let text = try gunzip("\(dir)/\(f)").replacingOccurrences(of: "\u{FEFF}", with: "").replacingOccurrences(of: "\r\n", with: "\n")
            #expect(text.hasPrefix("order_id,line_no,customer_id,order_ts,sku,category,quantity,unit_price,discount,status"))
            orderLines += text.split(separator: "\n").count - 1
        }
        let duplicates = try String(contentsOfFile: "\(dir)/defects.csv", encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("orders/") && $0.hasSuffix(",duplicate") }.count
        #expect(orderLines == s.orderLines + duplicates)
    }

    @Test func plantedDefectsAreWhereTheGroundTruthSays() throws {
        let dir = try makeTemporaryDirectory("gen")
        var config = small()
        config.customers = 600
        config.orderDays = 200
        _ = try ShopGenerator.generate(config, to: dir, threads: 2)
        let defects = try String(contentsOfFile: "\(dir)/defects.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(defects.count > 5)
        var checked = 0
        for d in defects {
            let parts = d.split(separator: ",").map(String.init)
            let (file, line, kind) = (parts[0], Int(parts[1])!, parts[2])
            let lines = try gunzip("\(dir)/\(file)").replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            let text = String(lines[line - 1])
            switch kind {
            case "duplicate": #expect(lines[line - 2] == lines[line - 1], "\(file):\(line)")
            case "reference": #expect(text.contains("C999999"), "\(file):\(line)")
            case "enum": #expect(text.contains("shipped") || text.contains("unknown_click"), "\(file):\(line)")
            case "field_count": #expect(text.split(separator: ",", omittingEmptySubsequences: false).count == 9, "\(file):\(line)")
            case "min": #expect(text.contains(",-1,") || text.contains(",1850,"), "\(file):\(line)")
            case "required": #expect(text.contains(",,"), "\(file):\(line)")
            default: #expect(kind == "parse")
            }
            checked += 1
        }
        #expect(checked == defects.count)
    }

    @Test func archetypesBehaveDifferently() throws {
        let dir = try makeTemporaryDirectory("gen")
        var config = small()
        config.customers = 800
        config.orderDays = 365
        _ = try ShopGenerator.generate(config, to: dir, threads: 2)
        var archetype: [String: String] = [:]
        for l in try String(contentsOfFile: "\(dir)/ground_truth.csv", encoding: .utf8).split(separator: "\n").dropFirst() {
            let p = l.split(separator: ",")
            archetype[String(p[0])] = String(p[1])
        }
        var orders: [String: Set<String>] = [:]
        for f in try files(dir).keys where f.hasPrefix("orders/") {
            for l in try gunzip("\(dir)/\(f)").split(separator: "\n").dropFirst() {
                let p = l.split(separator: ",", omittingEmptySubsequences: false)
                if p.count > 2 { orders[String(p[2]), default: []].insert(String(p[0])) }
            }
        }
        func mean(_ a: String) -> Double {
            let ids = archetype.filter { $0.value == a }.map(\.key)
            return Double(ids.reduce(0) { $0 + (orders[$1]?.count ?? 0) }) / Double(max(1, ids.count))
        }
        #expect(mean("champion") > 3 * mean("one_timer"))
        #expect(mean("one_timer") <= 1)
        #expect(mean("loyal") > mean("browser"))
    }

    /// `make fixtures` must remake fixtures/demo byte for byte.
    @Test func theDemoFixturesAreUpToDate() throws {
        let dir = try makeTemporaryDirectory("gen")
        _ = try ShopGenerator.generate(.preset(.demo, seed: 42), to: dir, threads: 2)
        let fresh = try files(dir), committed = try files(Repo.path("fixtures/demo"))
        #expect(fresh.keys.sorted() == committed.keys.sorted())
        for (k, v) in fresh where committed[k] != v { Issue.record("fixtures/demo/\(k) differs: run make fixtures") }
        let size = committed.values.reduce(0) { $0 + $1.count }
        #expect(size < 5 * 1024 * 1024)
    }
}

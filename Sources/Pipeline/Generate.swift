import Foundation
import CVMCore
import Generate

/// `cvm generate`: the synthetic shop.
public func generateShop(preset: String, customers: Int?, days: Int?, seed: UInt64, out: String, threads: Int) throws -> String {
    guard let p = GeneratorConfiguration.Preset(rawValue: preset) else {
        throw CVMFailure(.usage, "error: unknown preset \"\(preset)\" (expected \(GeneratorConfiguration.Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    var config = GeneratorConfiguration.preset(p, seed: seed)
    if let customers { config.customers = customers }
    if let days { config.orderDays = days }
    let t0 = Date()
    let s = try ShopGenerator.generate(config, to: out, threads: threads)
    return "wrote \(s.files) files (\(s.bytes) bytes) to \(out): \(s.customers) customers, \(s.orderLines) order lines, \(s.events) events, \(s.plantedDefects) planted defects in \(String(format: "%.1f", Date().timeIntervalSince(t0)))s"
}

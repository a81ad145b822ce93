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
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: out, isDirectory: &isFolder), !isFolder.boolValue {
        throw CVMFailure(.ioError, "\(out): error: --out names a file, not a folder; choose a folder (it is created when missing)")
    }
    let s: GenerationSummary
    do {
        s = try ShopGenerator.generate(config, to: out, threads: threads)
    } catch let e as CVMFailure {
        throw e
    } catch {
        throw CVMFailure(.ioError, "\(out): error: cannot write the shop: \(error.localizedDescription); check free space and permissions")
    }
    return "wrote \(s.files) files (\(s.bytes) bytes) to \(out): \(s.customers) customers, \(s.orderLines) order lines, \(s.events) events, \(s.plantedDefects) planted defects in \(String(format: "%.1f", Date().timeIntervalSince(t0)))s"
}

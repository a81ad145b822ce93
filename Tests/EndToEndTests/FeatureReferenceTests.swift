import Foundation
import TestSupport
import Testing

/// A Python interpreter with pandas: bench/.venv (made by `make test` / `make bench`) or the system's.
enum ReferencePython {
    static let path: String? = {
        for candidate in [Repo.path("bench/.venv/bin/python"), "/usr/bin/python3", "/usr/local/bin/python3"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: candidate)
            p.arguments = ["-c", "import pandas"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { continue }
            p.waitUntilExit()
            if p.terminationStatus == 0 { return candidate }
        }
        return nil
    }()
}

/// Every feature of every demo customer against the independent pandas reference
/// (bench/reference/features_reference.py), at two as-of dates, to 1e-9.
struct FeatureReferenceTests {
    @Test(.enabled(if: ReferencePython.path != nil,
                   "no Python with pandas: `make test` installs bench/.venv from bench/requirements.txt; without it this check is skipped"),
          arguments: ["2026-06-30", "2026-04-15"])
    func everyFeatureMatchesThePandasReference(_ asOf: String) throws {
        let dir = try makeTemporaryDirectory("e2e-reference")
        let config = try makeDemoConfig(in: dir)
        let run = try runCVM(["run", config, "--as-of", asOf, "--until", "features"])
        #expect(run.status == 0, "\(run.stderr)")
        for table in ["stg_orders", "stg_sessions", "stg_events", "stg_customers", "customer_features", "feature_catalog"] {
            let r = try runCVM(["export", config, "--table", table, "--as-of", asOf, "--out", "\(dir)/\(table).csv"])
            #expect(r.status == 0, "\(table): \(r.stderr)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ReferencePython.path!)
        p.arguments = [Repo.path("bench/reference/features_reference.py"), "--dir", dir, "--as-of", asOf]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains(" features x ") && text.contains(": 0 differences"), "\(text)")
    }
}

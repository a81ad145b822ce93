import Foundation
import FuzzTargets
import TestSupport
import Testing

/// Replays the fuzz seed corpus (Fuzz/corpus) and every crash the fuzzers found (Fuzz/regressions)
/// through the same entry points the libFuzzer binaries call, so `make test` keeps them fixed
/// without a fuzzer build. A crash here is a failing test process.
@Suite(.serialized) struct FuzzRegressionTests {
    static func inputs(_ target: String) -> [String] {
        ["Fuzz/corpus", "Fuzz/regressions"].flatMap { folder -> [String] in
            let dir = Repo.path("\(folder)/\(target)")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(dir)/\($0)" }
        }
    }

    @Test(arguments: FuzzTargets.names)
    func everyCorpusAndRegressionInputRunsCleanly(target: String) throws {
        let files = Self.inputs(target)
        #expect(!files.isEmpty, "no seeds for fuzz target \(target)")
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            bytes.withUnsafeBufferPointer { FuzzTargets.run(target, $0) }
        }
    }

    @Test func theCSVTargetReallyExtracts() throws {
        // The first byte picks comma-with-header; one good row, one with a bad integer.
        let text = Array("\u{0}a,b,c,d,e,f,g,h\nx,1,1.00,2026-01-01T00:00:00Z,x,1,20260101,1\ny,zz,1,,,,,\n".utf8)
        let r = text.withUnsafeBufferPointer { FuzzTargets.csv($0) }
        #expect(r?.read == 2 && r?.kept == 1)
        // The second source is comma-positional, where b and c are `on_invalid: null`: the bad integer is nulled.
        let positional = Array("\u{1}x,1,1.00,2026-01-01T00:00:00Z,x,1,20260101,1\ny,zz,1,,,,,\n".utf8)
        let p = positional.withUnsafeBufferPointer { FuzzTargets.csv($0) }
        #expect(p?.read == 2 && p?.kept == 2)
    }
}

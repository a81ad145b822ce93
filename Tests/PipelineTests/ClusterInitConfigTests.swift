import CVMCore
import Foundation
import Pipeline
import TestSupport
import Testing

/// `stages.cluster.clusterings.<name>.init` in a pipeline config: bad values are config errors at that key.
struct ClusterInitConfigTests {
    /// The demo config with the `value` clustering's settings replaced by `settings`.
    func load(_ settings: String) throws -> LoadedConfig {
        var text = try String(contentsOfFile: Repo.path("pipelines/demo.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "../fixtures/", with: Repo.path("fixtures") + "/")
        let old = """
                  value:
                    features: [recency_days, orders_count_all, revenue_sum_all, aov_all]
                    transform: log1p
                    k: 4
            """
        #expect(text.contains(old))
        text = text.replacingOccurrences(of: old, with: """
                  value:
                    features: [recency_days, orders_count_all, revenue_sum_all, aov_all]
                    transform: log1p
            \(settings)
            """)
        let dir = try makeTemporaryDirectory("init")
        try text.write(toFile: "\(dir)/p.yaml", atomically: true, encoding: .utf8)
        return try ConfigLoader.load(path: "\(dir)/p.yaml")
    }

    /// k customers and no n_init load (n_init defaults to 1 with init; the stage checks the ids against the data).
    @Test func initNamesKCustomersAndImpliesOneRun() throws {
        _ = try load("        k: 3\n        init: {customers: [C000001, C000002, C000003]}")
        _ = try load("        k: 2\n        n_init: 1\n        init: {customers: [C000001, C000002]}")
    }

    @Test("a bad init is reported at stages.cluster.clusterings.value.init", arguments: [
        ("        k: 3\n        init: {customers: [a, b]}", "2 customers for k = 3"),
        ("        k: 2\n        init: {customers: [a, a]}", "customer \"a\" is listed twice"),
        ("        k: 2\n        n_init: 4\n        init: {customers: [a, b]}", "n_init must be 1"),
        ("        k: {min: 2, max: 3}\n        init: {customers: [a, b]}", "init needs a fixed k"),
        ("        k: 2\n        init: {customers: a}", "expected"),
    ])
    func rejects(settings: String, problem: String) throws {
        do {
            _ = try load(settings)
            Issue.record("accepted: \(settings)")
        } catch let e as DiagnosticsError {
            #expect(e.exitStatus == .config)
            let d = try #require(e.diagnostics.first { $0.severity == .error })
            #expect(d.key.hasPrefix("stages.cluster.clusterings.value.init"), "\(e.description)")
            #expect(d.message.contains(problem), "\(e.description)")
            #expect(d.position?.line ?? 0 > 60, "points into the clustering: \(e.description)")
        }
    }
}

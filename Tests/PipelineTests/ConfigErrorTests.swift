import CVMCore
import Foundation
import Pipeline
import Features
import TestSupport
import Testing

/// The bad-config corpus: every file under fixtures/bad/config gives exit 78 and
/// exactly the message in its `.expected` file (file:line:column, key path, what to do).
struct BadConfigCorpusTests {
    static let directory = Repo.path("fixtures/bad/config")
    static let cases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        .filter { $0.hasSuffix(".yaml") }.sorted()

    @Test func corpusHasAtLeastFifteenConfigs() {
        #expect(Self.cases.count >= 15)
    }

    @Test("each bad config fails with exit 78 and its exact message", arguments: cases)
    func reportsExactMessage(file: String) throws {
        let relative = "fixtures/bad/config/\(file)"
        var message = ""
        do {
            _ = try ConfigLoader.load(path: Repo.path(relative))
            Issue.record("\(file) loaded without error")
            return
        } catch let error as any CVMError {
            #expect(error.exitStatus == .config, "\(file): exit \(error.exitStatus.rawValue)")
            message = error.description.replacingOccurrences(of: Repo.root.path + "/", with: "") + "\n"
        }
        #expect(message.hasPrefix(relative + ":"), "message must start with file:line:column: \(message)")
        let golden = "bad/config/" + file.replacingOccurrences(of: ".yaml", with: ".expected")
        if let diff = try checkGolden(message, golden) { Issue.record("\(diff)") }
    }
}

/// The config decoder on small inline documents.
struct ConfigDecoderTests {
    struct Inner: Decodable, Sendable {
        var k: Int
        var name: String
        enum CodingKeys: String, CodingKey, CaseIterable { case k, name }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            k = try c.decodeIfPresent(Int.self, forKey: .k) ?? 3
            name = try c.decode(String.self, forKey: .name)
        }
    }
    struct Outer: Decodable, Sendable {
        var items: KeyedList<Inner>
        var types: [ColumnType]
        enum CodingKeys: String, CodingKey, CaseIterable { case items, types }
    }

    func diagnostics(_ yaml: String) -> [String] {
        let d = ConfigDecoder(path: "t.yaml")
        _ = d.decode(Outer.self, fromYAML: yaml)
        return d.diagnostics.map(\.description)
    }

    @Test func reportsEveryErrorNotOnlyTheFirst() {
        let yaml = """
        items:
          a: {k: two, name: x}
          b: {kk: 1}
        types: [int, integr]
        """
        #expect(diagnostics(yaml) == [
            "t.yaml:2:10: error: items.a.k: expected an integer, found \"two\"",
            "t.yaml:3:7: error: items.b.kk: unknown key; did you mean \"k\"? (expected one of k, name)",
            "t.yaml:3:6: error: items.b.name: missing required key; add \"name:\" here",
            "t.yaml:4:14: error: types[1]: unknown type \"integr\" (expected int, double, decimal, string, bool, date, timestamp, enum)",
        ])
    }

    @Test func keepsDocumentOrderOfKeyedLists() throws {
        let d = ConfigDecoder(path: "t.yaml")
        let v = try #require(d.decode(Outer.self, fromYAML: "items: {z: {name: a}, a: {name: b}, m: {name: c}}\ntypes: []\n"))
        #expect(v.items.keys == ["z", "a", "m"])
        #expect(v.items["z"]?.k == 3)
    }

    @Test func pointsSyntaxErrorsAtTheirLine() {
        let out = diagnostics("items:\n  a: {name: x\ntypes: []\n")
        #expect(out.count == 1)
        #expect(out.first?.hasPrefix("t.yaml:3:") == true || out.first?.hasPrefix("t.yaml:2:") == true)
        #expect(out.first?.contains("invalid YAML") == true)
    }
}

struct ConfigWarningTests {
    /// A column value the default null_values reads as null is said (Namibia's NA became null without a word).
    @Test func aValueThatNullValuesTakesIsWarnedAbout() throws {
        let dir = try makeTemporaryDirectory("warn-na")
        var text = try String(contentsOfFile: Repo.path("pipelines/demo.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "../fixtures/", with: Repo.path("fixtures") + "/")
        let kept = text.replacingOccurrences(of: "    null_values: [\"\", \"NULL\", \"null\", \"N/A\"]\n", with: "")
        #expect(kept != text)
        try kept.write(toFile: "\(dir)/p.yaml", atomically: true, encoding: .utf8)
        let warnings = try ConfigLoader.load(path: "\(dir)/p.yaml").warnings
        #expect(warnings.contains { $0.key == "sources.customers.columns.country" && $0.message.hasPrefix("\"NA\" is in null_values, so it is read as null, never as a value of country") },
                "\(warnings)")
        try text.write(toFile: "\(dir)/q.yaml", atomically: true, encoding: .utf8)
        #expect(!(try ConfigLoader.load(path: "\(dir)/q.yaml").warnings.contains { $0.key == "sources.customers.columns.country" }))
    }

    /// A source left out for an error of its own (a check comparing a date with a timestamp) is not also "declare
    /// at least one source": that second error sent users looking for a missing source.
    @Test func aSourceWithABadCheckGetsOneError() throws {
        let text = ordersConfig(source: "checks: [\"delivery_date >= ordered_at\"]",
                                columns: ["delivery_date: {type: date}", "amount: {type: decimal, scale: 2}"])
        do {
            _ = try ConfigLoader.load(data: Data(text.utf8), path: "/tmp/p.yaml", checkFiles: false)
            Issue.record("accepted")
        } catch let e as DiagnosticsError {
            let errors = e.diagnostics.filter { $0.severity == .error }.map(\.message)
            #expect(errors.count == 1 && errors[0].contains("compares delivery_date (date, in days) with ordered_at (timestamp, in seconds)"), "\(errors)")
        }
    }

    /// A named pipe matched by a glob is said at load, so `cvm validate` shows it (the run hung on it before).
    @Test func aNamedPipeMatchedByAGlobIsWarnedAbout() throws {
        let dir = try makeTemporaryDirectory("warn-fifo")
        try "customer_id,order_id,ordered_at,amount\n".write(toFile: "\(dir)/a.csv", atomically: true, encoding: .utf8)
        #expect(mkfifo("\(dir)/b.csv", 0o600) == 0)
        try ordersConfig(files: "\"*.csv\"").write(toFile: "\(dir)/p.yaml", atomically: true, encoding: .utf8)
        let warnings = try ConfigLoader.load(path: "\(dir)/p.yaml").warnings
        #expect(warnings.contains { $0.key == "sources.orders.files" && $0.message.contains("b.csv is not a regular file") }, "\(warnings)")
    }

    /// Orders with both unit_price and amount: amount is never read by the features, which was not said.
    @Test func ordersWithUnitPriceAndAmountAreWarnedAbout() throws {
        let text = ordersConfig(columns: ["unit_price: {type: decimal, scale: 2}", "amount: {type: decimal, scale: 2}"])
        let loaded = try ConfigLoader.load(data: Data(text.utf8), path: "/tmp/p.yaml", checkFiles: false)
        #expect(loaded.warnings.contains { $0.key == "sources.orders.columns.amount" && $0.message.hasPrefix("the orders declare both unit_price and amount") }, "\(loaded.warnings)")
    }

    /// A status listed under two outcomes was counted as returned without a word.
    @Test func aStatusWithTwoOutcomesIsAConfigError() throws {
        let text = ordersConfig(rest: "stages: {features: {statuses: {completed: [ok, Done], returned: [done]}}}")
        do {
            _ = try ConfigLoader.load(data: Data(text.utf8), path: "/tmp/p.yaml", checkFiles: false)
            Issue.record("accepted")
        } catch let e as DiagnosticsError {
            #expect(e.diagnostics.contains { $0.key == "stages.features.statuses" && $0.message.hasPrefix("\"done\" is listed under both completed and returned") }, "\(e.diagnostics)")
        }
    }

    /// A session count listing an event type the enum column never holds stays 0 in every session: said at load.
    @Test func sessionEventTypesTheColumnNeverHoldsAreWarnedAbout() throws {
        let dir = try makeTemporaryDirectory("warn-sessions")
        var text = try String(contentsOfFile: Repo.path("pipelines/visitors.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "../fixtures/", with: Repo.path("fixtures") + "/")
        text = text.replacingOccurrences(of: "        add_to_cart: [basket]", with: "        add_to_cart: [basket, add_to_cart]")
        try text.write(toFile: "\(dir)/p.yaml", atomically: true, encoding: .utf8)
        let warnings = try ConfigLoader.load(path: "\(dir)/p.yaml").warnings
        #expect(warnings.contains { $0.key == "stages.clean.sessions.event_types.add_to_cart"
            && $0.message.hasPrefix("add_to_cart is not among sources.clicks.columns.event_type.values") }, "\(warnings)")
        // The defaults of keys not written (checkout: [checkout]) are not warned about.
        #expect(!warnings.contains { $0.key == "stages.clean.sessions.event_types.checkout" })
    }

    @Test func validateWarnsAboutRFMSegmentsThatCanNeverMatch() throws {
        let dir = try makeTemporaryDirectory("warn")
        var text = try String(contentsOfFile: Repo.path("pipelines/demo.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "../fixtures/", with: Repo.path("fixtures") + "/")
        text = text.replacingOccurrences(of: "    rfm: {bins: 5}", with: """
            rfm:
              bins: 5
              segments:
                - {name: Recent, r: 4-5}
                - {name: Best, r: "5", f: "5"}
                - {name: Rest}
        """)
        try text.write(toFile: "\(dir)/p.yaml", atomically: true, encoding: .utf8)
        let loaded = try ConfigLoader.load(path: "\(dir)/p.yaml")
        // With its own segments the default campaigns for Champions and Hibernating would stay empty: said too.
        #expect(loaded.warnings.contains { $0.message.hasPrefix("the default campaign vip_early_access selects rfm_segment Champions, which this config never gives") })
        let w = try #require(loaded.warnings.first { $0.key.hasPrefix("stages.value.rfm") })
        #expect(w.severity == .warning)
        #expect(w.key == "stages.value.rfm.segments[1]")
        let bestLine = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("{name: Best") }! + 1
        #expect(w.position?.line == bestLine)  // the second list item
        #expect(w.message == "segment \"Best\" can never match: earlier rules take every score it covers")
    }
}

/// `data_root`: globs and outputs cannot leave it, by `..`, absolute paths or symbolic links.
struct DataRootTests {
    /// A root folder holding a copy of the demo data and a config at its top; `edit` changes the config text.
    func setUp(_ edit: (String) -> String = { $0 }) throws -> (root: String, config: String) {
        let root = try makeTemporaryDirectory("root")
        try FileManager.default.copyItem(atPath: Repo.path("fixtures/demo"), toPath: "\(root)/demo")
        var text = try String(contentsOfFile: Repo.path("pipelines/demo.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "../fixtures/demo/", with: "demo/")
            .replacingOccurrences(of: "warehouse: ../out/demo/cvm.sqlite", with: "warehouse: out/cvm.sqlite")
            .replacingOccurrences(of: "report: ../out/demo/report", with: "report: out/report")
        text = "data_root: .\n" + text
        try edit(text).write(toFile: "\(root)/p.yaml", atomically: true, encoding: .utf8)
        return (root, "\(root)/p.yaml")
    }

    func errors(_ config: String) -> [Diagnostic] {
        do { _ = try ConfigLoader.load(path: config); return [] } catch let e as DiagnosticsError {
            return e.diagnostics.filter { $0.severity == .error }
        } catch { return [] }
    }

    @Test func aConfigInsideItsRootLoads() throws {
        let (_, config) = try setUp()
        let loaded = try ConfigLoader.load(path: config)
        #expect(loaded.files["orders"]?.isEmpty == false)
    }

    @Test func outputsOutsideTheRootAreRefused() throws {
        let (_, config) = try setUp {
            $0.replacingOccurrences(of: "warehouse: out/cvm.sqlite", with: "warehouse: ../cvm.sqlite")
                .replacingOccurrences(of: "report: out/report", with: "report: /tmp/elsewhere/report")
        }
        let e = errors(config)
        #expect(e.map(\.key) == ["warehouse", "report"])
        #expect(e[0].message == "the warehouse \"../cvm.sqlite\" is outside data_root \".\"; keep it under the data root")
        #expect(e[1].message == "the report folder \"/tmp/elsewhere/report\" is outside data_root \".\"; keep it under the data root")
        #expect(e[0].position != nil)
    }

    @Test func globsThatClimbOutAreRefused() throws {
        let (_, config) = try setUp {
            $0.replacingOccurrences(of: "files: demo/customers.csv.gz", with: "files: demo/../../x/customers.csv.gz")
                .replacingOccurrences(of: "files: demo/orders/**/*.csv.gz", with: "files: demo/orders/*/../../../x/*.csv.gz")
                // `..` that stays inside is fine.
                .replacingOccurrences(of: "files: demo/events/**/*.csv.gz", with: "files: demo/orders/../events/**/*.csv.gz")
        }
        let e = errors(config).filter { !$0.message.contains("matches no file") }
        #expect(e.map(\.key) == ["sources.customers.files", "sources.orders.files"])
        #expect(e[0].message.hasPrefix("the glob's folder \"demo/../../x/customers.csv.gz\" is outside data_root \".\""))
        #expect(e[1].message.contains("has \"..\" after a wildcard"))
    }

    @Test func aSymbolicLinkToAFileOutsideIsRefused() throws {
        let (root, config) = try setUp()
        let outside = try makeTemporaryDirectory("outside")
        try FileManager.default.copyItem(atPath: "\(root)/demo/customers.csv.gz", toPath: "\(outside)/secret.csv.gz")
        let day = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(root)/demo/orders").sorted().first)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/demo/orders/\(day)/zz.csv.gz", withDestinationPath: "\(outside)/secret.csv.gz")
        let e = errors(config)
        #expect(e.count == 1)
        #expect(e.first?.key == "sources.orders.files")
        #expect(e.first?.message.contains("(through a symbolic link), outside data_root") == true)
    }

    @Test func anOutputFolderThatIsALinkOutsideIsRefused() throws {
        let (root, config) = try setUp()
        let outside = try makeTemporaryDirectory("outside")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/out", withDestinationPath: outside)
        let e = errors(config)
        #expect(Set(e.map(\.key)) == ["warehouse", "report"])
        #expect(e.allSatisfy { $0.message.contains("(through a symbolic link, to ") })
    }

    @Test func aMissingRootIsAConfigError() throws {
        let (_, config) = try setUp { $0.replacingOccurrences(of: "data_root: .", with: "data_root: nowhere") }
        let e = errors(config)
        #expect(e.map(\.key) == ["data_root"])
        #expect(e[0].message.contains("is not an existing folder"))
    }
}

/// Which event types the features stage counts: `features.event_types`, else the events source's `event_type` enum.
struct FeatureEventTypeTests {
    func load(_ name: String, _ edit: (String) -> String = { $0 }) throws -> LoadedConfig {
        let dir = try makeTemporaryDirectory("event-types")
        var text = try String(contentsOfFile: Repo.path("pipelines/\(name).yaml"), encoding: .utf8)
        text = edit(text.replacingOccurrences(of: "../fixtures/", with: Repo.path("fixtures") + "/"))
        try text.write(toFile: "\(dir)/p.yaml", atomically: true, encoding: .utf8)
        return try ConfigLoader.load(path: "\(dir)/p.yaml")
    }

    @Test func theEventsEnumIsCountedUnlessTypesAreListed() throws {
        #expect(featuresConfiguration(try load("demo").config).eventTypes == [
            "page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase", "review", "share", "referral", "support_contact"])
        #expect(featuresConfiguration(try load("visitors").config).eventTypes == ["view", "pdp", "search", "basket", "order"])
        let listed = try load("demo") {
            $0.replacingOccurrences(of: "    windows: [7, 30, 90, 180, 365]\n", with: "    windows: [7, 30, 90, 180, 365]\n    event_types: [purchase, page_view]\n")
        }
        #expect(featuresConfiguration(listed.config).eventTypes == ["purchase", "page_view"])
        #expect(listed.warnings.isEmpty)
        // A listed type the enum cannot hold is warned about (its counts would always be 0).
        let typo = try load("demo") {
            $0.replacingOccurrences(of: "    windows: [7, 30, 90, 180, 365]\n",
                                    with: "    windows: [7, 30, 90, 180, 365]\n    event_types: [purchase, page_veiw]\n    value_events: {reputation: [shares]}\n")
        }
        #expect(typo.warnings.map(\.key) == ["stages.features.event_types", "stages.features.value_events.reputation"])
        #expect(typo.warnings.first?.message == "page_veiw is not among sources.events.columns.event_type.values, so its count is always 0")
        // A string column leaves the choice to the data (the builder's most frequent types).
        let text = try load("demo") { t in
            t.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.contains("event_type: {type: enum,") ? "      event_type: {type: string, required: true}" : String($0) }
                .joined(separator: "\n")
        }
        #expect(featuresConfiguration(text.config).eventTypes == nil)
    }
}

/// A config of one orders source with the columns the orders role needs: `source` written under the source,
/// `columns` after the three ids and times, `rest` at the top level (each a line of YAML).
func ordersConfig(files: String = "o.csv", source: String? = nil, columns: [String] = ["amount: {type: decimal, scale: 2}"],
                  rest: String? = nil) -> String {
    var lines = ["pipeline: p", "warehouse: w.sqlite", "sources:", "  orders:", "    files: \(files)"]
    if let source { lines.append("    \(source)") }
    lines += ["    columns:", "      customer_id: {type: string, required: true}", "      order_id: {type: string, required: true}",
              "      ordered_at: {type: timestamp, required: true}"] + columns.map { "      \($0)" }
    if let rest { lines.append(rest) }
    return lines.joined(separator: "\n") + "\n"
}

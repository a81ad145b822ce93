import Foundation
public import CVMCore
public import Report

/// The declarative pipeline config (`pipelines/*.yaml`), decoded and checked.
///
/// Paths in the file are relative to the file; `resolve(_:)` makes them absolute.
public struct PipelineConfig: Decodable, Sendable {
    /// The pipeline's name (letters, digits, `_`, `-`).
    public var pipeline: String
    /// Pinned as-of date `YYYY-MM-DD`; when absent, runs default to yesterday (UTC).
    public var asOf: String?
    public var seed: UInt64
    /// Worker threads; absent or 0 means one per core.
    public var threads: Int?
    /// SQLite warehouse file.
    public var warehouse: String
    /// Columnar artifacts folder; default `<warehouse folder>/artifacts`.
    public var artifacts: String?
    /// Report folder; default `<warehouse folder>/report`.
    public var report: String?
    public var privacy: PrivacyConfiguration
    public var sources: KeyedList<SourceSpec>
    public var stages: StagesConfiguration
    /// Campaign lists written with the report (defaults: the five actions of BACKGROUND.md).
    public var campaigns: CampaignConfiguration
    /// When set, every input glob and output path must stay inside this folder (after `..` and symbolic
    /// links are resolved): a shared config cannot read or overwrite files elsewhere.
    public var dataRoot: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case pipeline, asOf = "as_of", seed, threads, warehouse, artifacts, report, privacy, sources, stages, campaigns
        case dataRoot = "data_root"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pipeline = (try? c.decode(String.self, forKey: .pipeline)) ?? ""
        asOf = try c.decodeIfPresent(String.self, forKey: .asOf)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        warehouse = (try? c.decode(String.self, forKey: .warehouse)) ?? ""
        artifacts = try c.decodeIfPresent(String.self, forKey: .artifacts)
        report = try c.decodeIfPresent(String.self, forKey: .report)
        privacy = try c.decodeIfPresent(PrivacyConfiguration.self, forKey: .privacy) ?? PrivacyConfiguration()
        sources = (try? c.decode(KeyedList<SourceSpec>.self, forKey: .sources)) ?? KeyedList()
        for i in sources.entries.indices { sources.entries[i].value.name = sources.entries[i].key }
        stages = try c.decodeIfPresent(StagesConfiguration.self, forKey: .stages) ?? StagesConfiguration()
        campaigns = try c.decodeIfPresent(CampaignConfiguration.self, forKey: .campaigns) ?? CampaignConfiguration()
        dataRoot = try c.decodeIfPresent(String.self, forKey: .dataRoot)
    }
}

/// Personal data handling (BACKGROUND.md, "Data privacy").
public struct PrivacyConfiguration: Decodable, Sendable {
    /// Columns replaced by an HMAC-SHA256 pseudonym before they reach the warehouse.
    public var pseudonymize: [String] = ["email"]
    /// The environment variable holding the HMAC key (never the key itself in the config).
    public var keyEnv: String = "CVM_PSEUDONYM_KEY"
    /// `pseudonymize` was written in the config (not the default): a name no source declares is then warned about.
    public var listed = false

    enum CodingKeys: String, CodingKey, CaseIterable { case pseudonymize, keyEnv = "key_env" }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let names = try c.decodeIfPresent([String].self, forKey: .pseudonymize) { (pseudonymize, listed) = (names, true) }
        keyEnv = try c.decodeIfPresent(String.self, forKey: .keyEnv) ?? keyEnv
    }
}

import Clean
import Cluster
import Features
import Value
public import CVMCore

/// Settings per stage, under `stages:` in the pipeline config. Each stage module
/// owns its `Configuration`; this type only gathers them.
public struct StagesConfiguration: Decodable, Sendable {
    public var clean: CleanConfiguration
    public var features: FeaturesConfiguration
    public var cluster: ClusterConfiguration
    public var value: ValueConfiguration
    public var load: LoadConfiguration

    enum CodingKeys: String, CodingKey, CaseIterable { case clean, features, cluster, value, load }

    public init() {
        clean = CleanConfiguration()
        features = FeaturesConfiguration()
        cluster = ClusterConfiguration()
        value = ValueConfiguration()
        load = LoadConfiguration()
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        clean = try c.decodeIfPresent(CleanConfiguration.self, forKey: .clean) ?? clean
        features = try c.decodeIfPresent(FeaturesConfiguration.self, forKey: .features) ?? features
        cluster = try c.decodeIfPresent(ClusterConfiguration.self, forKey: .cluster) ?? cluster
        value = try c.decodeIfPresent(ValueConfiguration.self, forKey: .value) ?? value
        load = try c.decodeIfPresent(LoadConfiguration.self, forKey: .load) ?? load
    }
}

/// What the load stage writes to the warehouse.
public struct LoadConfiguration: Decodable, Sendable {
    /// Also load the cleaned click events (large; they always stay in artifacts).
    public var events: Bool = false
    /// Write the snapshot with SQLite's rollback journal when no other connection has the warehouse open
    /// (each page written once; queries started meanwhile wait). false: always WAL (queries see the previous
    /// snapshot during the load, at about a quarter more load time).
    public var exclusive: Bool = true

    enum CodingKeys: String, CodingKey, CaseIterable { case events, exclusive }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        events = try c.decodeIfPresent(Bool.self, forKey: .events) ?? events
        exclusive = try c.decodeIfPresent(Bool.self, forKey: .exclusive) ?? exclusive
    }
}

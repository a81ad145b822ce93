// TEMPORARY until the stage modules land: replaced by Clean.Configuration etc.
public struct AnyStageConfig: Decodable, Sendable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
}
public typealias CleanConfiguration = AnyStageConfig
public typealias FeaturesConfiguration = AnyStageConfig
public typealias ClusterConfiguration = AnyStageConfig
public typealias ValueConfiguration = AnyStageConfig
func featuresOrders(_ f: FeaturesConfiguration) -> String? { "orders" }
func featuresEvents(_ f: FeaturesConfiguration) -> String? { "events" }
func featuresCustomers(_ f: FeaturesConfiguration) -> String? { "customers" }
func sessionsSource(_ c: CleanConfiguration) -> String? { "events" }

import Warehouse
import CVMCore
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
import Logging
public func listRuns(warehouse path: String, limit: Int) throws -> String { "" }
public enum ExpectationCheck {
    public static func run(_ loaded: LoadedConfig, expectations path: String, update: Bool, asOf: CivilDate?, threads: Int?, logger: Logger) throws -> String { "" }
}
extension PipelineRunner {
    func execute(_ stage: StageName, warehouse: Warehouse, selected: [StageName], logger: Logger) throws -> StageStats { StageStats() }
    func writeSchedulerFiles(status: String, exit: ExitStatus, warehouse: Warehouse, message: String?) {}
}

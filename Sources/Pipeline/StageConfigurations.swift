import Clean
import Cluster
import Features
import Value

// Each stage module owns its settings; the pipeline config nests them under `stages:`.
public typealias CleanConfiguration = Clean.Configuration
public typealias FeaturesConfiguration = Features.Configuration
public typealias ClusterConfiguration = Cluster.Configuration
public typealias ValueConfiguration = Value.Configuration

/// The source playing each role, as the stage settings declare it.
func featuresOrders(_ f: FeaturesConfiguration) -> String? { f.orders }
func featuresEvents(_ f: FeaturesConfiguration) -> String? { f.events }
func featuresCustomers(_ f: FeaturesConfiguration) -> String? { f.customers }
/// The event-type lists of `stages.features` by key (the listed types and the value family's), to check against the enum.
func featuresEventTypeLists(_ f: FeaturesConfiguration) -> [(key: String, list: [String])] {
    [("event_types", f.eventTypes ?? []), ("value_events.reputation", f.valueEvents.reputation), ("value_events.knowledge", f.valueEvents.knowledge)]
}
func sessionsSource(_ c: CleanConfiguration) -> String? { c.sessions?.source }
/// The event-type lists of `stages.clean.sessions.event_types` by key (each a session count), to check against the enum.
func sessionsEventTypeLists(_ c: CleanConfiguration) -> [(key: String, list: [String])] {
    guard let t = c.sessions?.eventTypes else { return [] }
    return [("page_view", t.pageView), ("product_view", t.productView), ("search", t.search), ("add_to_cart", t.addToCart),
            ("checkout", t.checkout), ("purchase", t.purchase)]
}
/// The events columns `stages.clean.sessions` names (visitor, page, product), with their keys.
func sessionsNamedColumns(_ c: CleanConfiguration) -> [(key: String, column: String)] { c.sessions?.namedColumns ?? [] }

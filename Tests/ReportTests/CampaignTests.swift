import CVMCore
import Foundation
import Report
import TestSupport
import Testing

/// Campaign lists on a hand-computed shop: who each action selects, in which order, and the suggestions.
struct CampaignTests {
    static let asOf = CivilDate(year: 2026, month: 6, day: 30)

    static func customerValue() -> Table {
        Table(name: "customer_value", columns: [
            Column("customer_id", strings: ["A", "B", "C"]),
            Column("rfm_segment", strings: ["Champions", "Champions", "Hibernating"]),
            Column("lifecycle_stage", strings: ["active", "loyal", "at_risk"]),
            Column("clv", double: [50, 100, 10]),
            Column("pareto_top20", .bool, int64: [1, 1, 0]),
        ])
    }

    /// o1 A{s1,s2}, o2 B{s1,s3}, o3 C{s2,s3}, o4 B{s1,s2}, o5 C{s4}; o6 A{s5} is older than the window.
    static func orders() -> Table {
        let day = { (d: Int64) in (asOf.daysSinceEpoch - d) * microsPerDay }
        let lines: [(String, String, String, Int64)] = [
            ("o1", "A", "s1", day(10)), ("o1", "A", "s2", day(10)), ("o2", "B", "s1", day(20)), ("o2", "B", "s3", day(20)),
            ("o3", "C", "s2", day(30)), ("o3", "C", "s3", day(30)), ("o4", "B", "s1", day(5)), ("o4", "B", "s2", day(5)),
            ("o5", "C", "s4", day(3)), ("o6", "A", "s5", day(400)), ("o7", "A", "s9", day(-2)),  // o7: after as-of
        ]
        return Table(name: "stg_orders", columns: [
            Column("order_id", strings: lines.map(\.0)), Column("customer_id", strings: lines.map(\.1)),
            Column("sku", strings: lines.map(\.2)), Column("ordered_at", .timestamp, int64: lines.map(\.3)),
        ])
    }

    func config(_ yaml: [(String, CampaignConfiguration.Action)], suggestions: Int = 2) -> CampaignConfiguration {
        var c = CampaignConfiguration()
        c.actions = KeyedList(yaml.map { (key: $0.0, value: $0.1) })
        c.suggestions = suggestions
        return c
    }

    @Test func listsHoldTheSelectedCustomersBestFirstWithSuggestions() {
        let cfg = config([
            ("vip", .init(action: "VIP early access", conditions: [("rfm_segment", .oneOf(["Champions"]))])),
            ("win_back", .init(action: "win-back call", conditions: [("lifecycle_stage", .oneOf(["at_risk", "churned"])), ("clv", .range(min: 5, max: nil))])),
            ("nobody", .init(action: "none", conditions: [("pareto_top20", .oneOf(["true"])), ("clv", .range(min: nil, max: 20))])),
        ])
        let lists = Campaigns.build(customerValue: Self.customerValue(), orders: Self.orders(), asOf: Self.asOf, configuration: cfg)
        #expect(lists.map(\.name) == ["vip", "win_back", "nobody"])
        #expect(lists[0].header == ["customer_id", "action", "rfm_segment", "lifecycle_stage", "clv", "suggestion_1", "suggestion_2"])
        // B (CLV 100) before A (50). A bought s1, s2 (and s5 long ago): s3 co-occurs with both (score 2); then the
        // best sellers: Champions' (s1, s2, s3: all bought or taken), then everyone's: s2, s1, s3, s4 -> s4.
        // B bought s1, s2, s3; nothing co-occurs with those that B lacks; the only product left is s4.
        #expect(lists[0].rows == [
            ["B", "VIP early access", "Champions", "loyal", "100", "s4", ""],
            ["A", "VIP early access", "Champions", "active", "50", "s3", "s4"],
        ])
        // C bought s2, s3, s4: s1 co-occurs with s2 (twice) and s3 (once).
        #expect(lists[1].rows == [["C", "win-back call", "Hibernating", "at_risk", "10", "s1", ""]])
        #expect(lists[2].rows.isEmpty)
        // s9 was ordered after the as-of day: nobody is offered it, and A's purchase of it does not count.
        #expect(!lists.flatMap(\.rows).joined().contains("s9"))
    }

    @Test func idsArePseudonymisedWhenAskedAndCSVIsQuoted() {
        var cfg = config([("vip", .init(action: "VIP, early", conditions: [("rfm_segment", .oneOf(["Champions"]))]))], suggestions: 0)
        cfg.ids = .pseudonymized
        let lists = Campaigns.build(customerValue: Self.customerValue(), orders: nil, asOf: Self.asOf, configuration: cfg, pseudonym: { "h(\($0))" })
        #expect(lists[0].rows.map { $0[0] } == ["h(B)", "h(A)"])
        #expect(Campaigns.csv(lists[0]).hasPrefix("customer_id,action,rfm_segment,lifecycle_stage,clv\nh(B),\"VIP, early\",Champions,loyal,100\n"))
    }

    @Test func theDefaultsAreTheFiveActions() {
        #expect(CampaignConfiguration().actions.map(\.key) == ["win_back_call", "onboarding_series", "vip_early_access", "reactivation_offer", "tier_reminder"])
        #expect(CampaignConfiguration().suggestions == 5)
    }
}

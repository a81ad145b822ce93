import CVMCore
import Foundation

/// What a run did, for `summary.json`, `metrics.prom` and the report.
public struct RunSummary: Codable, Sendable, Equatable {
    public var pipeline: String
    public var runID: String
    public var asOf: String
    public var status: String
    public var exitCode: Int
    public var startedAt: String
    public var endedAt: String
    public var durationSeconds: Double
    public var configHash: String
    public var threads: Int
    public var stages: [StageSummary]
    public var sources: [SourceSummary]
    public var kpis: [KPI]
    public var warehouse: String
    public var message: String?

    public init(pipeline: String, runID: String, asOf: String, status: String, exitCode: Int, startedAt: String, endedAt: String,
                durationSeconds: Double, configHash: String, threads: Int, stages: [StageSummary], sources: [SourceSummary],
                kpis: [KPI], warehouse: String, message: String?) {
        (self.pipeline, self.runID, self.asOf, self.status, self.exitCode) = (pipeline, runID, asOf, status, exitCode)
        (self.startedAt, self.endedAt, self.durationSeconds, self.configHash, self.threads) = (startedAt, endedAt, durationSeconds, configHash, threads)
        (self.stages, self.sources, self.kpis, self.warehouse, self.message) = (stages, sources, kpis, warehouse, message)
    }
}

public struct StageSummary: Codable, Sendable, Equatable {
    public var name: String
    public var status: String
    public var durationSeconds: Double
    public var rowsIn: Int
    public var rowsOut: Int
    public var rowsRejected: Int
    public init(name: String, status: String, durationSeconds: Double, rowsIn: Int, rowsOut: Int, rowsRejected: Int) {
        (self.name, self.status, self.durationSeconds, self.rowsIn, self.rowsOut, self.rowsRejected) = (name, status, durationSeconds, rowsIn, rowsOut, rowsRejected)
    }
}

public struct SourceSummary: Codable, Sendable, Equatable {
    public var name: String
    public var files: Int
    public var bytes: Int64
    public var rowsRead: Int
    public var rowsAccepted: Int
    public var rowsRejected: Int
    public var rejectsByRule: [RuleCount]
    public init(name: String, files: Int, bytes: Int64, rowsRead: Int, rowsAccepted: Int, rowsRejected: Int, rejectsByRule: [RuleCount]) {
        (self.name, self.files, self.bytes, self.rowsRead, self.rowsAccepted, self.rowsRejected, self.rejectsByRule) =
            (name, files, bytes, rowsRead, rowsAccepted, rowsRejected, rejectsByRule)
    }
}

public struct RuleCount: Codable, Sendable, Equatable {
    public var rule: String
    public var count: Int
    public init(rule: String, count: Int) { (self.rule, self.count) = (rule, count) }
}

public struct KPI: Codable, Sendable, Equatable {
    public var name: String
    public var value: Double
    public var unit: String?
    public init(name: String, value: Double, unit: String?) { (self.name, self.value, self.unit) = (name, value, unit) }
}

/// Tables the report draws from; each is optional and the report degrades gracefully.
public struct ReportInputs: Sendable {
    public var summary: RunSummary
    public var customerValue: Table?
    public var clusterProfiles: Table?
    public var quarantine: Table?
    public var paretoSummary: Table?
    public var dataQuality: Table?
    /// Model selection per k (`cluster_selection`), centroids (`cluster_centroids`).
    public var clusterSelection: Table?
    public var clusterCentroids: Table?
    /// The previous snapshot's customer_value, for the migration matrix.
    public var previousCustomerValue: Table?
    /// Clean order lines, for campaign product suggestions.
    public var orders: Table?
    /// Campaign exports to write (nil: none).
    public var campaigns: CampaignConfiguration?
    /// Pseudonymises customer ids in campaign lists when they ask for it.
    public var pseudonym: (@Sendable (String) -> String)?

    public init(summary: RunSummary, customerValue: Table?, clusterProfiles: Table?, quarantine: Table?,
                paretoSummary: Table?, dataQuality: Table?) {
        (self.summary, self.customerValue, self.clusterProfiles, self.quarantine, self.paretoSummary, self.dataQuality) =
            (summary, customerValue, clusterProfiles, quarantine, paretoSummary, dataQuality)
    }
}

/// Number formatting for people: thousands separators, percentages, currency.
public enum Format {
    public static func thousands(_ v: Int) -> String {
        let s = String(abs(v))
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (v < 0 ? "-" : "") + out
    }

    public static func money(_ v: Double) -> String {
        guard v.isFinite, abs(v) < 9e15 else { return "n/a" }
        let cents = Int((abs(v) * 100).rounded())
        let s = thousands(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") + String(cents % 100)
        return (v < 0 ? "-" : "") + s
    }

    public static func percent(_ share: Double) -> String {
        guard share.isFinite, abs(share) < 9e14 else { return "n/a" }
        let tenths = Int((share * 1000).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))%"
    }

    public static func seconds(_ s: Double) -> String {
        s < 1 ? "\(Int((s * 1000).rounded())) ms" : "\(Int(s * 10) / 10).\(Int(s * 10) % 10) s"
    }
}

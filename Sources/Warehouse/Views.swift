import GRDB

/// Analyst views over the latest snapshot, rebuilt inside each load transaction.
/// A view is created only when its base tables and columns exist.
enum Views {
    struct View {
        var name: String
        var needs: [String: [String]]  // table -> columns
        var sql: String
    }

    static let latest = "(SELECT MAX(as_of) FROM customer_value)"

    static let all: [View] = [
        View(name: "v_latest_snapshot", needs: ["customer_value": ["as_of"]],
             sql: "SELECT MAX(as_of) AS as_of, COUNT(DISTINCT as_of) AS snapshots FROM customer_value"),
        View(name: "v_customer_360", needs: ["customer_value": ["customer_id"], "cluster_assignments": ["clustering", "cluster"]],
             sql: """
             SELECT cv.*, (SELECT group_concat(a.clustering || ':' || a.cluster, ' ') FROM cluster_assignments a
                           WHERE a.as_of = cv.as_of AND a.customer_id = cv.customer_id) AS clusters
             FROM customer_value cv WHERE cv.as_of = \(latest)
             """),
        View(name: "v_segment_summary", needs: ["customer_value": ["rfm_segment", "monetary"]],
             sql: """
             SELECT rfm_segment, COUNT(*) AS customers, ROUND(SUM(monetary), 2) AS revenue,
                    ROUND(SUM(monetary) / NULLIF((SELECT SUM(monetary) FROM customer_value WHERE as_of = \(latest)), 0), 4) AS revenue_share,
                    ROUND(AVG(recency_days), 1) AS avg_recency_days, ROUND(AVG(frequency), 2) AS avg_frequency
             FROM customer_value WHERE as_of = \(latest) GROUP BY rfm_segment ORDER BY revenue DESC
             """),
        View(name: "v_lifecycle_funnel", needs: ["customer_value": ["lifecycle_stage"]],
             sql: """
             SELECT lifecycle_stage, COUNT(*) AS customers, ROUND(SUM(monetary), 2) AS revenue
             FROM customer_value WHERE as_of = \(latest) GROUP BY lifecycle_stage ORDER BY customers DESC
             """),
        View(name: "v_segment_migration", needs: ["customer_value": ["rfm_segment"]],
             sql: """
             SELECT p.rfm_segment AS from_segment, c.rfm_segment AS to_segment, COUNT(*) AS customers
             FROM customer_value c
             JOIN customer_value p ON p.customer_id = c.customer_id
              AND p.as_of = (SELECT MAX(as_of) FROM customer_value WHERE as_of < \(latest))
             WHERE c.as_of = \(latest)
             GROUP BY 1, 2 ORDER BY 3 DESC
             """),
        View(name: "v_pareto", needs: ["pareto_summary": ["as_of"]],
             sql: "SELECT * FROM pareto_summary WHERE as_of = (SELECT MAX(as_of) FROM pareto_summary)"),
        View(name: "v_data_quality", needs: ["data_quality": ["as_of"]],
             sql: "SELECT * FROM data_quality WHERE as_of = (SELECT MAX(as_of) FROM data_quality)"),
        // The latest snapshot's quarantine (not the latest date that had one), and per rule the first row in file
        // and line order (a text MIN put line 112 before line 73).
        View(name: "v_quarantine_summary", needs: ["quarantine": ["source", "rule", "file", "line"], "customer_value": ["as_of"]],
             sql: """
             SELECT q.source, q.rule, COUNT(*) AS rows,
                    (SELECT f.file || ':' || f.line FROM quarantine f
                     WHERE f.as_of = q.as_of AND f.source = q.source AND f.rule = q.rule ORDER BY f.file, f.line LIMIT 1) AS first_example
             FROM quarantine q WHERE q.as_of = \(latest) GROUP BY q.source, q.rule ORDER BY q.source, q.rule
             """),
    ]

    static func create(_ db: Database) throws {
        for v in all {
            try db.execute(sql: "DROP VIEW IF EXISTS \(quote(v.name))")
            var ok = true
            for (table, cols) in v.needs {
                guard try db.tableExists(table) else { ok = false; break }
                let have = Set(try db.columns(in: table).map(\.name))
                if !cols.allSatisfy(have.contains) { ok = false; break }
            }
            if ok { try db.execute(sql: "CREATE VIEW \(quote(v.name)) AS \(v.sql)") }
        }
    }
}

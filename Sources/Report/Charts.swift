import CVMCore

/// Escapes text for SVG/HTML.
func xml(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

func f1(_ d: Double) -> String { String(Double(Int((d * 10).rounded())) / 10) }

/// Inline SVG charts drawn from the run's tables; each has a fixed viewBox and non-zero size.
enum Charts {
    /// Lorenz curve points (customer share, revenue share), from the top customers down: monotone, ending at (1, 1).
    static func lorenzPoints(_ revenue: [Double]) -> [(Double, Double)] {
        // Over the buyers (net revenue above zero), as pareto_summary.
        let sorted = revenue.filter { $0 > 0 }.sorted(by: >)
        let total = sorted.reduce(0, +), n = sorted.count
        guard n > 0, total > 0 else { return [] }
        var points: [(Double, Double)] = [(0, 0)]
        var acc = 0.0
        let step = max(1, n / 200)
        for (i, r) in sorted.enumerated() {
            acc += r
            if (i + 1) % step == 0 || i == n - 1 { points.append((Double(i + 1) / Double(n), acc / total)) }
        }
        return points
    }

    static func lorenz(_ cv: Table) -> (svg: String, note: String)? {
        guard let m = cv["monetary"] else { return nil }
        let pts = lorenzPoints((0..<cv.rowCount).map { m.double(at: $0) ?? 0 })
        guard !pts.isEmpty else { return nil }
        let w = 520.0, h = 320.0, pad = 40.0
        func x(_ v: Double) -> Double { pad + v * (w - 2 * pad) }
        func y(_ v: Double) -> Double { h - pad - v * (h - 2 * pad) }
        let path = pts.map { "\(f1(x($0.0))),\(f1(y($0.1)))" }.joined(separator: " ")
        let top20 = pts.first { $0.0 >= 0.2 }?.1 ?? 1
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\" aria-label=\"Lorenz curve\">"
        svg += "<line class=\"axis\" x1=\"\(pad)\" y1=\"\(h - pad)\" x2=\"\(w - pad)\" y2=\"\(h - pad)\"/><line class=\"axis\" x1=\"\(pad)\" y1=\"\(pad)\" x2=\"\(pad)\" y2=\"\(h - pad)\"/>"
        svg += "<line class=\"diag\" x1=\"\(x(0))\" y1=\"\(y(0))\" x2=\"\(x(1))\" y2=\"\(y(1))\"/>"
        svg += "<polyline class=\"series\" fill=\"none\" points=\"\(path)\"/>"
        svg += "<line class=\"mark\" x1=\"\(f1(x(0.2)))\" y1=\"\(f1(y(0)))\" x2=\"\(f1(x(0.2)))\" y2=\"\(f1(y(top20)))\"/>"
        svg += "<text x=\"\(f1(x(0.2) + 6))\" y=\"\(f1(y(top20) + 14))\">top 20%: \(xml(Format.percent(top20))) of revenue</text>"
        svg += "<text x=\"\(w / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\">share of buyers (largest first)</text>"
        svg += "<text x=\"12\" y=\"\(h / 2)\" transform=\"rotate(-90 12 \(h / 2))\" text-anchor=\"middle\">share of revenue</text></svg>"
        return (svg, "The top 20% of buyers bring \(Format.percent(top20)) of their net revenue.")
    }

    static func rfmGrid(_ cv: Table) -> String? {
        guard let r = cv["r_score"], let f = cv["f_score"], let m = cv["monetary"] else { return nil }
        var count = [[Int]](repeating: [Int](repeating: 0, count: 6), count: 6)
        var sum = [[Double]](repeating: [Double](repeating: 0, count: 6), count: 6)
        for i in 0..<cv.rowCount {
            let ri = Int(r.int64(at: i) ?? 0), fi = Int(f.int64(at: i) ?? 0)
            guard (1...5).contains(ri), (1...5).contains(fi) else { continue }
            count[ri][fi] += 1
            sum[ri][fi] += m.double(at: i) ?? 0
        }
        var maxMean = 1e-9
        for ri in 1...5 {
            for fi in 1...5 where count[ri][fi] > 0 {
                let mean: Double = sum[ri][fi] / Double(count[ri][fi])
                maxMean = max(maxMean, mean)
            }
        }
        let cell = 64.0, left = 70.0, top = 20.0
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(left + 5 * cell + 20)) \(Int(top + 5 * cell + 50))\" width=\"\(Int(left + 5 * cell + 20))\" height=\"\(Int(top + 5 * cell + 50))\" role=\"img\" aria-label=\"RFM grid\">"
        for ri in 1...5 {
            for fi in 1...5 {
                let mean = count[ri][fi] > 0 ? sum[ri][fi] / Double(count[ri][fi]) : 0
                let x = left + Double(fi - 1) * cell, y = top + Double(5 - ri) * cell
                let opacity = count[ri][fi] == 0 ? 0.05 : 0.15 + 0.85 * mean / maxMean
                svg += "<rect class=\"cell\" x=\"\(x)\" y=\"\(y)\" width=\"\(cell - 2)\" height=\"\(cell - 2)\" fill-opacity=\"\(String(Double(Int(opacity * 100)) / 100))\"><title>R\(ri) F\(fi): \(count[ri][fi]) customers, mean revenue \(xml(Format.money(mean)))</title></rect>"
                svg += "<text x=\"\(x + cell / 2 - 1)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"middle\">\(count[ri][fi])</text>"
            }
            svg += "<text x=\"\(left - 8)\" y=\"\(top + Double(5 - ri) * cell + cell / 2 + 4)\" text-anchor=\"end\">R \(ri)</text>"
        }
        for fi in 1...5 { svg += "<text x=\"\(left + Double(fi - 1) * cell + cell / 2)\" y=\"\(top + 5 * cell + 16)\" text-anchor=\"middle\">F \(fi)</text>" }
        svg += "<text x=\"\(left + 2.5 * cell)\" y=\"\(top + 5 * cell + 40)\" text-anchor=\"middle\">frequency score →  (darker: higher mean revenue)</text></svg>"
        return svg
    }

    /// Column labels of a grid, rotated so long names fit above narrow columns (labels already escaped).
    static func columnHeaders(_ labels: [String], left: Double, width: Double, baseline: Double) -> String {
        labels.enumerated().map { j, label in
            let x = f1(left + Double(j) * width + width / 2)
            return "<text x=\"\(x)\" y=\"\(baseline)\" transform=\"rotate(-35 \(x) \(baseline))\">\(label)</text>"
        }.joined()
    }

    /// Approximate width in pixels of `characters` characters of 12 px sans-serif text.
    static func textWidth(_ characters: Int) -> Double { Double(characters) * 6.6 }

    /// Horizontal bars of customer counts per label, with revenue in the label.
    static func bars(_ t: Table, column: String, value: String) -> String? {
        guard let c = t[column] else { return nil }
        let v = t[value]
        var counts: [String: Int] = [:], revenue: [String: Double] = [:]
        for i in 0..<t.rowCount {
            let k = c.formatted(at: i).isEmpty ? "(none)" : c.formatted(at: i)
            counts[k, default: 0] += 1
            revenue[k, default: 0] += v?.double(at: i) ?? 0
        }
        let keys = counts.keys.sorted { (counts[$0]!, $1) > (counts[$1]!, $0) }
        guard !keys.isEmpty else { return nil }
        let maxCount = Double(counts.values.max() ?? 1)
        let row = 26.0, left = max(170, textWidth(keys.map(\.count).max() ?? 10) + 16), width = 300.0
        let h = Double(keys.count) * row + 10
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(left + width + 200)) \(Int(h))\" width=\"\(Int(left + width + 200))\" height=\"\(Int(h))\" role=\"img\" aria-label=\"\(xml(column))\">"
        for (i, k) in keys.enumerated() {
            let y = Double(i) * row + 4
            let bw = max(2, width * Double(counts[k]!) / maxCount)
            svg += "<text x=\"\(left - 8)\" y=\"\(y + 15)\" text-anchor=\"end\">\(xml(k))</text>"
            svg += "<rect class=\"bar\" x=\"\(left)\" y=\"\(y)\" width=\"\(f1(bw))\" height=\"\(row - 6)\"/>"
            svg += "<text x=\"\(f1(left + bw + 6))\" y=\"\(y + 15)\">\(Format.thousands(counts[k]!)) · \(xml(Format.money(revenue[k]!)))</text>"
        }
        return svg + "</svg>"
    }

    static func clusters(_ p: Table) -> String? {
        guard let name = p["name"], let size = p["size"], let cl = p["clustering"], let id = p["cluster"], p.rowCount > 0 else { return nil }
        let maxSize = Double((0..<p.rowCount).compactMap { size.int64(at: $0) }.max() ?? 1)
        let longest = (0..<p.rowCount).map { "\(cl.formatted(at: $0)) \(id.formatted(at: $0)): \(name.formatted(at: $0))".count }.max() ?? 20
        let row = 26.0, left = textWidth(longest) + 16, width = 260.0
        let h = Double(p.rowCount) * row + 10
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(left + width + 90)) \(Int(h))\" width=\"\(Int(left + width + 90))\" height=\"\(Int(h))\" role=\"img\" aria-label=\"clusters\">"
        for i in 0..<p.rowCount {
            let y = Double(i) * row + 4
            let s = Double(size.int64(at: i) ?? 0)
            let bw = max(2, width * s / maxSize)
            svg += "<text x=\"\(left - 8)\" y=\"\(y + 15)\" text-anchor=\"end\">\(xml(cl.formatted(at: i))) \(id.formatted(at: i)): \(xml(name.formatted(at: i)))</text>"
            svg += "<rect class=\"bar alt\" x=\"\(left)\" y=\"\(y)\" width=\"\(f1(bw))\" height=\"\(row - 6)\"/>"
            svg += "<text x=\"\(f1(left + bw + 6))\" y=\"\(y + 15)\">\(Format.thousands(Int(s)))</text>"
        }
        return svg + "</svg>"
    }

    static func open(_ w: Double, _ h: Double, _ label: String) -> String {
        "<svg class=\"chart\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\" aria-label=\"\(xml(label))\">"
    }

    /// Per clustering with a k range: inertia (left axis) and silhouette (right axis) against k, chosen k marked.
    static func kSelection(_ sel: Table) -> [(String, String)] {
        guard let cl = sel["clustering"], let k = sel["k"], let inertia = sel["inertia"], let sil = sel["silhouette"] else { return [] }
        var out: [(String, String)] = []
        var names: [String] = []
        for i in 0..<sel.rowCount where !names.contains(cl.formatted(at: i)) { names.append(cl.formatted(at: i)) }
        for name in names {
            let rows = (0..<sel.rowCount).filter { cl.formatted(at: $0) == name }.sorted { (k.int64(at: $0) ?? 0) < (k.int64(at: $1) ?? 0) }
            guard rows.count >= 2 else { continue }
            let ks = rows.map { Double(k.int64(at: $0) ?? 0) }, ins = rows.map { inertia.double(at: $0) ?? 0 }, ss = rows.map { sil.double(at: $0) ?? 0 }
            let w = 520.0, h = 280.0, pad = 48.0
            let k0 = ks.first!, k1 = max(ks.last!, k0 + 1)
            let iMax = max(ins.max()!, 1e-12), sMin = min(ss.min()!, 0), sMax = max(ss.max()!, sMin + 1e-9)
            func x(_ v: Double) -> Double { pad + (v - k0) / (k1 - k0) * (w - 2 * pad) }
            func yi(_ v: Double) -> Double { h - pad - v / iMax * (h - 2 * pad) }
            func ys(_ v: Double) -> Double { h - pad - (v - sMin) / (sMax - sMin) * (h - 2 * pad) }
            var svg = open(w, h, "k selection \(name)")
            svg += "<line class=\"axis\" x1=\"\(pad)\" y1=\"\(h - pad)\" x2=\"\(w - pad)\" y2=\"\(h - pad)\"/>"
            svg += "<polyline class=\"series\" fill=\"none\" points=\"\(zip(ks, ins).map { "\(f1(x($0))),\(f1(yi($1)))" }.joined(separator: " "))\"/>"
            svg += "<polyline class=\"series alt\" fill=\"none\" points=\"\(zip(ks, ss).map { "\(f1(x($0))),\(f1(ys($1)))" }.joined(separator: " "))\"/>"
            for (i, kv) in ks.enumerated() {
                svg += "<text x=\"\(f1(x(kv)))\" y=\"\(h - pad + 16)\" text-anchor=\"middle\">\(Int(kv))</text>"
                if let chosen = sel["chosen"], chosen.int64(at: rows[i]) == 1 {
                    svg += "<line class=\"mark\" x1=\"\(f1(x(kv)))\" y1=\"\(pad)\" x2=\"\(f1(x(kv)))\" y2=\"\(h - pad)\"/>"
                    svg += "<text x=\"\(f1(x(kv) + 4))\" y=\"\(pad - 6)\">chosen k = \(Int(kv))</text>"
                }
            }
            svg += "<text x=\"\(pad)\" y=\"16\">inertia (blue, falls with k) · silhouette (green, higher is better)</text>"
            svg += "<text x=\"\(w / 2)\" y=\"\(h - 10)\" text-anchor=\"middle\">k</text></svg>"
            out.append(("k selection for clustering \(name)", svg))
        }
        return out
    }

    /// Per clustering: clusters × the most distinguishing features, cells coloured by centroid z-score.
    static func heatmaps(_ centroids: Table, _ profiles: Table?) -> [(String, String)] {
        guard let cl = centroids["clustering"], let id = centroids["cluster"], let f = centroids["feature"], let z = centroids["value"] else { return [] }
        var names: [String] = []
        for i in 0..<centroids.rowCount where !names.contains(cl.formatted(at: i)) { names.append(cl.formatted(at: i)) }
        var out: [(String, String)] = []
        for name in names {
            let rows = (0..<centroids.rowCount).filter { cl.formatted(at: $0) == name }
            var features: [String] = [], strength: [String: Double] = [:], cell: [String: Double] = [:]
            var clusters: [Int64] = []
            for r in rows {
                let feature = f.formatted(at: r), c = id.int64(at: r) ?? 0, v = z.double(at: r) ?? 0
                if !features.contains(feature) { features.append(feature) }
                if !clusters.contains(c) { clusters.append(c) }
                strength[feature] = max(strength[feature] ?? 0, abs(v))
                cell["\(c)|\(feature)"] = v
            }
            let top = features.sorted { (strength[$0]!, $1) > (strength[$1]!, $0) }.prefix(8)
            clusters.sort()
            var label: [Int64: String] = [:]
            if let p = profiles, let pc = p["clustering"], let pid = p["cluster"], let pn = p["name"] {
                for i in 0..<p.rowCount where pc.formatted(at: i) == name { label[pid.int64(at: i) ?? -1] = pn.formatted(at: i) }
            }
            let longest = clusters.map { "\($0): \(label[$0] ?? "")".count }.max() ?? 10
            let cw = 86.0, ch = 28.0, left = textWidth(longest) + 16, top0 = 110.0
            let w = left + Double(top.count) * cw + 110, h = top0 + Double(clusters.count) * ch + 10
            var svg = open(w, h, "cluster heatmap \(name)")
            svg += columnHeaders(top.map(xml), left: left, width: cw, baseline: top0 - 8)
            for (i, c) in clusters.enumerated() {
                let y = top0 + Double(i) * ch
                svg += "<text x=\"\(left - 8)\" y=\"\(f1(y + 18))\" text-anchor=\"end\">\(c): \(xml(label[c] ?? ""))</text>"
                for (j, feature) in top.enumerated() {
                    let v = cell["\(c)|\(feature)"] ?? 0
                    let opacity = min(1, abs(v) / 2) * 0.85 + 0.1
                    svg += "<rect class=\"\(v >= 0 ? "pos" : "neg")\" x=\"\(f1(left + Double(j) * cw))\" y=\"\(f1(y))\" width=\"\(cw - 2)\" height=\"\(ch - 2)\" fill-opacity=\"\(f1(opacity))\"><title>\(xml(feature)): z = \(f1(v))</title></rect>"
                    svg += "<text x=\"\(f1(left + Double(j) * cw + cw / 2))\" y=\"\(f1(y + 18))\" text-anchor=\"middle\">\(v >= 0 ? "+" : "")\(f1(v))</text>"
                }
            }
            out.append(("Cluster profiles for \(name): centroid z-scores of the most distinguishing features", svg + "</svg>"))
        }
        return out
    }

    /// Histogram of a non-negative measure, bins up to its 99th percentile (the rest in the last bin).
    static func histogram(_ values: [Double], label: String, bins: Int = 20) -> String? {
        let v = values.filter { $0.isFinite }.sorted()
        guard v.count >= 2, let last = v.last, last > 0 else { return nil }
        let cap = max(v[Int(Double(v.count - 1) * 0.99)], 1e-9)
        var counts = [Int](repeating: 0, count: bins)
        for x in v { counts[min(bins - 1, max(0, Int(x / cap * Double(bins))))] += 1 }
        let w = 560.0, h = 260.0, pad = 44.0
        let bw = (w - 2 * pad) / Double(bins), top = Double(counts.max() ?? 1)
        var svg = open(w, h, label)
        svg += "<line class=\"axis\" x1=\"\(pad)\" y1=\"\(h - pad)\" x2=\"\(w - pad)\" y2=\"\(h - pad)\"/>"
        for (i, c) in counts.enumerated() {
            let bh = (h - 2 * pad) * Double(c) / top
            svg += "<rect class=\"bar\" x=\"\(f1(pad + Double(i) * bw))\" y=\"\(f1(h - pad - bh))\" width=\"\(f1(bw - 1))\" height=\"\(f1(max(bh, 0.5)))\"><title>\(Format.thousands(c)) customers</title></rect>"
        }
        svg += "<text x=\"\(pad)\" y=\"\(h - pad + 16)\">0</text><text x=\"\(w - pad)\" y=\"\(h - pad + 16)\" text-anchor=\"end\">\(xml(Format.money(cap)))+</text>"
        svg += "<text x=\"\(w / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\">\(xml(label))</text></svg>"
        return svg
    }

    /// Value score against strategic match, one dot per customer (at most 2,000, evenly sampled), counts per quadrant.
    static func quadrant(_ cv: Table) -> String? {
        guard let vs = cv["value_score"], let ms = cv["match_score"], let q = cv["quadrant"], cv.rowCount > 0 else { return nil }
        var counts: [String: Int] = [:]
        for i in 0..<cv.rowCount { counts[q.formatted(at: i), default: 0] += 1 }
        let w = 460.0, h = 400.0, pad = 44.0
        let xs = (0..<cv.rowCount).compactMap { vs.double(at: $0) }, ys = (0..<cv.rowCount).compactMap { ms.double(at: $0) }
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else { return nil }
        func x(_ v: Double) -> Double { pad + (v - x0) / max(x1 - x0, 1e-12) * (w - 2 * pad) }
        func y(_ v: Double) -> Double { h - pad - (v - y0) / max(y1 - y0, 1e-12) * (h - 2 * pad) }
        var svg = open(w, h, "value and strategic match quadrant")
        svg += "<line class=\"axis\" x1=\"\(pad)\" y1=\"\(h - pad)\" x2=\"\(w - pad)\" y2=\"\(h - pad)\"/><line class=\"axis\" x1=\"\(pad)\" y1=\"\(pad)\" x2=\"\(pad)\" y2=\"\(h - pad)\"/>"
        let step = max(1, cv.rowCount / 2000)
        for i in stride(from: 0, to: cv.rowCount, by: step) {
            guard let a = vs.double(at: i), let b = ms.double(at: i) else { continue }
            svg += "<circle class=\"dot q-\(xml(q.formatted(at: i)))\" cx=\"\(f1(x(a)))\" cy=\"\(f1(y(b)))\" r=\"2.2\"/>"
        }
        let corners: [(String, Double, Double, String)] = [("strategic", w - pad - 4, pad + 14, "end"), ("profit", w - pad - 4, h - pad - 8, "end"),
                                                          ("potential", pad + 6, pad + 14, "start"), ("ordinary", pad + 6, h - pad - 8, "start")]
        for (name, cx, cy, anchor) in corners {
            svg += "<text x=\"\(f1(cx))\" y=\"\(f1(cy))\" text-anchor=\"\(anchor)\">\(name): \(Format.thousands(counts[name] ?? 0))</text>"
        }
        svg += "<text x=\"\(w / 2)\" y=\"\(h - 10)\" text-anchor=\"middle\">value score →</text>"
        svg += "<text x=\"14\" y=\"\(h / 2)\" transform=\"rotate(-90 14 \(h / 2))\" text-anchor=\"middle\">strategic match →</text></svg>"
        return svg
    }

    /// From → to counts of a column between the previous and this snapshot (customers in both).
    static func migration(_ previous: Table, _ current: Table, column: String) -> String? {
        guard let pid = previous["customer_id"], let pc = previous[column], let cid = current["customer_id"], let cc = current[column] else { return nil }
        var before: [String: String] = [:]
        for i in 0..<previous.rowCount { if let id = pid.string(at: i) { before[id] = pc.formatted(at: i) } }
        var counts: [String: Int] = [:], states: Set<String> = []
        for i in 0..<current.rowCount {
            guard let id = cid.string(at: i), let from = before[id] else { continue }
            let to = cc.formatted(at: i)
            counts["\(from)\u{0}\(to)", default: 0] += 1
            states.insert(from); states.insert(to)
        }
        guard !counts.isEmpty else { return nil }
        let order = states.sorted()
        let cw = 78.0, ch = 26.0, left = textWidth((order.map(\.count).max() ?? 8) + 2) + 16, top = 90.0
        let w = left + Double(order.count) * cw + 90, h = top + Double(order.count) * ch + 30
        let peak = Double(counts.values.max() ?? 1)
        var svg = open(w, h, "\(column) migration")
        svg += columnHeaders(order.map { "→ \(xml($0))" }, left: left, width: cw, baseline: top - 8)
        for (i, from) in order.enumerated() {
            let y = top + Double(i) * ch
            svg += "<text x=\"\(left - 8)\" y=\"\(f1(y + 17))\" text-anchor=\"end\">\(xml(from)) →</text>"
            for (j, to) in order.enumerated() {
                let c = counts["\(from)\u{0}\(to)"] ?? 0
                let opacity = c == 0 ? 0.04 : 0.15 + 0.85 * Double(c) / peak
                svg += "<rect class=\"cell\" x=\"\(f1(left + Double(j) * cw))\" y=\"\(f1(y))\" width=\"\(cw - 2)\" height=\"\(ch - 2)\" fill-opacity=\"\(f1(opacity))\"/>"
                svg += "<text x=\"\(f1(left + Double(j) * cw + cw / 2))\" y=\"\(f1(y + 17))\" text-anchor=\"middle\">\(Format.thousands(c))</text>"
            }
        }
        svg += "<text x=\"\(left)\" y=\"\(h - 8)\">rows: previous snapshot · columns: this snapshot · diagonal: unchanged</text></svg>"
        return svg
    }
}

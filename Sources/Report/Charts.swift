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
        let sorted = revenue.map { max(0, $0) }.sorted(by: >)
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
        svg += "<text x=\"\(w / 2)\" y=\"\(h - 8)\" text-anchor=\"middle\">share of customers (largest first)</text>"
        svg += "<text x=\"12\" y=\"\(h / 2)\" transform=\"rotate(-90 12 \(h / 2))\" text-anchor=\"middle\">share of revenue</text></svg>"
        return (svg, "The top 20% of customers bring \(Format.percent(top20)) of net revenue.")
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

    /// Horizontal bars of customer counts per label, with revenue in the label.
    static func bars(_ t: Table, column: String, value: String) -> String? {
        guard let c = t[column] else { return nil }
        let v = t[value]
        var counts: [String: Int] = [:], revenue: [String: Double] = [:]
        for i in 0..<t.rowCount {
            let k = c.formatted(at: i)
            counts[k, default: 0] += 1
            revenue[k, default: 0] += v?.double(at: i) ?? 0
        }
        let keys = counts.keys.sorted { (counts[$0]!, $1) > (counts[$1]!, $0) }
        guard !keys.isEmpty else { return nil }
        let maxCount = Double(counts.values.max() ?? 1)
        let row = 26.0, left = 170.0, width = 300.0
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
        let row = 26.0, left = 260.0, width = 260.0
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
}

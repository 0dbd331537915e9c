import Foundation

/// One process's chart in the HTML report: a stacked step chart of open
/// descriptors over time for its leading sites and "other" (everything else
/// the process held: other sites, inherited and standard descriptors), the
/// soft limit, and marks at EMFILE and snapshots. Drawn as inline SVG here
/// (it reads without JavaScript); the script adds the readout and the
/// drag window from `data`.
struct HTMLChart {
    static let width = 960.0
    static let height = 280.0
    static let left = 56.0, right = 16.0, top = 18.0, bottom = 34.0
    /// Columns drawn at most (buckets beyond merge, keeping the most).
    static let columns = 480
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"]
    static let otherColor = "#bab0ac"

    struct Series: Encodable {
        var label: String
        var call: String
        var color: String
        /// The site's row in the leak table, when it leaked.
        var row: Int?
        var values: [Int]
    }

    /// What the script needs (embedded as JSON).
    struct Data: Encodable {
        var id: String
        var start: Double
        var column: Double
        var end: Double
        var limit: Double?
        var series: [Series]
        var other: [Int]
        var total: [Int]
        /// Descriptors open at exit with the time they were opened:
        /// [seconds, row in the leak table, 1 when the runtime closed it].
        var fds: [[Double]]
        var fdsOmitted: Int
    }

    let id: String
    let process: ProcessReport
    let timeline: TimelineReport
    /// Each site's label and row in the leak table (by index in
    /// timeline.sites).
    let labels: [String]
    let rows: [Int?]

    /// The leading sites, each bucket column's most, merged to `columns`.
    func data(fds: [[Double]], omitted: Int) -> Data {
        let n = timeline.buckets
        let factor = max(1, (n + Self.columns - 1) / Self.columns)
        func merged(_ v: [Int]) -> [Int] {
            stride(from: 0, to: v.count, by: factor).map { v[$0..<min(v.count, $0 + factor)].max() ?? 0 }
        }
        let total = merged(timeline.total.values)
        var series: [Series] = []
        for (i, s) in timeline.sites.enumerated() {
            series.append(
                Series(
                    label: labels[i], call: s.call, color: Self.palette[i % Self.palette.count],
                    row: rows[i], values: merged(s.counts.values)))
        }
        let other = total.indices.map { j in max(0, total[j] - series.reduce(0) { $0 + ($1.values.count > j ? $1.values[j] : 0) }) }
        let column = timeline.bucketSeconds * Double(factor)
        let end = max(process.durationSeconds, timeline.startSeconds + column * Double(total.count))
        let soft = process.rlimitSoft
        return Data(
            id: id, start: timeline.startSeconds, column: column, end: end,
            limit: soft == UInt64.max || soft == 0 ? nil : Double(soft),
            series: series, other: other, total: total, fds: fds, fdsOmitted: omitted)
    }

    /// Long: the SVG in drawing order (grid and axes, the stacked layers,
    /// the soft limit, the marks, the window), all in the plot's local
    /// coordinates (x, y) set up at the top.
    func svg(_ d: Data) -> String {
        let w = Self.width, h = Self.height
        let plotW = w - Self.left - Self.right, plotH = h - Self.top - Self.bottom
        let columns = d.total.count
        // Stacked from the bottom: the leading site first, "other" on top.
        var layers: [(values: [Int], color: String, label: String, cls: String, call: String)] =
            d.series.map { ($0.values, $0.color, $0.label, "series", $0.call) }
        layers.append((d.other, Self.otherColor, "other", "series other", ""))
        var cumulative: [[Int]] = []
        var running = [Int](repeating: 0, count: columns)
        for l in layers {
            for j in 0..<columns { running[j] += j < l.values.count ? l.values[j] : 0 }
            cumulative.append(running)
        }
        let stackedMax = running.max() ?? 0
        let peak = max(1, stackedMax)
        var yMax = Double(peak) * 1.1
        var limitOnScale = false
        if let limit = d.limit, limit <= Double(peak) * 2 {
            yMax = max(yMax, limit * 1.05)
            limitOnScale = true
        }
        let x0 = 0.0, x1 = max(d.end, 1e-9)
        func x(_ t: Double) -> Double { Self.left + max(0, min(1, (t - x0) / (x1 - x0))) * plotW }
        func y(_ v: Double) -> Double { Self.top + plotH - v / yMax * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var out =
            "<svg class=\"chart\" id=\"\(d.id)-svg\" viewBox=\"0 0 \(f(w)) \(f(h))\" role=\"img\" data-chart=\"\(d.id)\" data-x0=\"\(x0)\" data-x1=\"\(x1)\" data-left=\"\(Self.left)\" data-plot-width=\"\(plotW)\" preserveAspectRatio=\"none\">\n"
        out += "<title>Open descriptors of pid \(process.pid) over time</title>\n"
        // Grid and y axis.
        for v in Self.ticks(yMax) {
            out += "<line class=\"grid\" x1=\"\(f(Self.left))\" x2=\"\(f(w - Self.right))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\"/>"
            out += "<text class=\"axis\" x=\"\(f(Self.left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(Self.number(v))</text>\n"
        }
        for t in Self.ticks(x1) {
            out += "<text class=\"axis\" x=\"\(f(x(t)))\" y=\"\(f(h - Self.bottom + 16))\" text-anchor=\"middle\">\(HTMLRenderer.esc(Self.time(t)))</text>"
        }
        out += "<text class=\"axis\" x=\"\(f(w - Self.right))\" y=\"\(f(h - 4))\" text-anchor=\"end\">seconds after the process started</text>\n"
        // Layers, top edge then bottom edge back, as steps.
        for (i, l) in layers.enumerated() {
            let topEdge = cumulative[i]
            let bottomEdge = i == 0 ? [Int](repeating: 0, count: columns) : cumulative[i - 1]
            guard zip(topEdge, bottomEdge).contains(where: { $0 > $1 }) else { continue }
            var path = ""
            func colX(_ j: Int) -> Double { x(d.start + d.column * Double(j)) }
            path += "M\(f(colX(0))) \(f(y(Double(bottomEdge.first ?? 0))))"
            var lastY = Double.nan
            for j in 0..<columns {
                let yy = y(Double(topEdge[j]))
                if yy != lastY { path += "V\(f(yy))"; lastY = yy }
                path += "H\(f(j == columns - 1 ? x(x1) : colX(j + 1)))"
            }
            lastY = .nan
            for j in stride(from: columns - 1, through: 0, by: -1) {
                let yy = y(Double(bottomEdge[j]))
                if yy != lastY { path += "V\(f(yy))"; lastY = yy }
                path += "H\(f(colX(j)))"
            }
            path += "Z"
            let peakOf = zip(topEdge, bottomEdge).map { $0 - $1 }.max() ?? 0
            out +=
                "<path class=\"\(l.cls)\" fill=\"\(l.color)\" data-label=\"\(HTMLRenderer.esc(l.label))\" data-call=\"\(HTMLRenderer.esc(l.call))\" data-peak=\"\(peakOf)\" d=\"\(path)\"><title>\(HTMLRenderer.esc(l.label + (l.call.isEmpty ? "" : " " + l.call))): at most \(peakOf) open</title></path>\n"
        }
        // The soft limit.
        if let limit = d.limit {
            let yy = limitOnScale ? y(limit) : Self.top
            let text = limitOnScale ? "soft limit \(Self.number(limit))" : "soft limit \(Self.number(limit)) (above the scale)"
            out += "<line class=\"limit\" data-limit=\"\(Int(limit))\" x1=\"\(f(Self.left))\" x2=\"\(f(w - Self.right))\" y1=\"\(f(yy))\" y2=\"\(f(yy))\"/>"
            out += "<text class=\"limit-label\" x=\"\(f(w - Self.right - 4))\" y=\"\(f(yy - 4 < 10 ? yy + 12 : yy - 4))\" text-anchor=\"end\">\(text)</text>\n"
        } else {
            out += "<text class=\"limit-label\" x=\"\(f(w - Self.right - 4))\" y=\"\(f(Self.top - 4))\" text-anchor=\"end\">no soft limit</text>\n"
        }
        // Marks: EMFILE, snapshots.
        for m in timeline.marks {
            let xx = x(m.atSeconds)
            out +=
                "<line class=\"mark\" data-reason=\"\(HTMLRenderer.esc(m.reason))\" data-at=\"\(m.atSeconds)\" x1=\"\(f(xx))\" x2=\"\(f(xx))\" y1=\"\(f(Self.top))\" y2=\"\(f(h - Self.bottom))\"><title>\(HTMLRenderer.esc(m.reason)) at \(HTMLRenderer.esc(Self.time(m.atSeconds))) s</title></line>"
            out += "<text class=\"mark-label\" x=\"\(f(xx + 3))\" y=\"\(f(Self.top + 10))\">\(HTMLRenderer.esc(m.reason))</text>\n"
        }
        out += "<line class=\"axis-line\" x1=\"\(f(Self.left))\" x2=\"\(f(w - Self.right))\" y1=\"\(f(h - Self.bottom))\" y2=\"\(f(h - Self.bottom))\"/>\n"
        out += "<rect class=\"window\" x=\"0\" y=\"\(f(Self.top))\" width=\"0\" height=\"\(f(plotH))\" visibility=\"hidden\"/>\n"
        out += "<line class=\"cursor\" x1=\"0\" x2=\"0\" y1=\"\(f(Self.top))\" y2=\"\(f(h - Self.bottom))\" visibility=\"hidden\"/>\n"
        out += "</svg>\n"
        return out
    }

    /// The legend (HTML): a swatch, the site, the most it held.
    func legend(_ d: Data) -> String {
        var out = "<ul class=\"legend\">"
        for s in d.series {
            let peak = s.values.max() ?? 0
            let name = s.row.map { "<a href=\"#g-\($0)\">\(HTMLRenderer.esc(s.label))</a>" } ?? HTMLRenderer.esc(s.label)
            out +=
                "<li><span class=\"swatch\" style=\"background:\(s.color)\"></span>\(name) <span class=\"call\">\(HTMLRenderer.esc(s.call))</span> <span class=\"dim\">at most \(peak)\(s.row == nil ? ", none leaked" : "")</span></li>"
        }
        out +=
            "<li><span class=\"swatch\" style=\"background:\(Self.otherColor)\"></span>other <span class=\"dim\">(other sites, inherited and standard descriptors)</span></li>"
        out += "</ul>\n"
        return out
    }

    /// About four round steps from 0 up to `max`.
    static func ticks(_ max: Double) -> [Double] {
        guard max > 0 else { return [0] }
        let raw = max / 4
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        return stride(from: 0.0, through: max + step * 1e-9, by: step).map { $0 }
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: "%.1f", v)
    }

    static func time(_ t: Double) -> String {
        if t == 0 { return "0" }
        if t < 0.01 { return String(format: "%.4f", t) }
        if t < 1 { return String(format: "%.3f", t) }
        if t < 100 { return String(format: "%.2f", t) }
        return String(format: "%.0f", t)
    }
}

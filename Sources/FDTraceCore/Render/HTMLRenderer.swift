import Foundation

/// The report as one self-contained HTML file (`--html FILE`): no network,
/// no external URL, inline CSS and script, charts as inline SVG. The
/// summary, the table of leak groups and the per-process sections are in
/// the HTML itself (they read, print and grep without JavaScript); the
/// script sorts and filters the table, and adds the charts' readout and
/// drag window from data embedded as JSON, every string escaped for a
/// script element (`<`, `>`, `&`, U+2028, U+2029 as \u escapes) and shown
/// with textContent.
public struct HTMLRenderer {
    public var maxFrames: Int
    /// Rows of the leak table at most, and their size: the largest groups
    /// are kept, the rest counted (a run with thousands of leaking sites
    /// still gives a file of a few MB).
    public static let maxRows = 5000
    public static let tableBudget = 2_500_000
    /// Process sections at most, and their size.
    public static let maxSections = 100
    public static let sectionBudget = 1_000_000
    /// Items listed per section (sites, descriptors of each kind).
    static let sectionItems = 20
    /// Processes charted at most (those with the most leaked, then the
    /// highest peak).
    public static let maxCharts = 8
    /// Descriptors (with the time they were opened) embedded for the drag
    /// windows, over all charts.
    public static let maxWindowFDs = 20000

    public init(maxFrames: Int = 12) { self.maxFrames = maxFrames }

    struct Row {
        var group: LeakGroup
        var process: ProcessReport
        /// In report.processes.
        var processIndex: Int
        /// In the process's leaks.
        var groupIndex: Int
        /// In the table.
        var index: Int
        var label: String
        var cells: String
    }

    struct Embedded: Encodable {
        struct RowData: Encodable {
            var label: String
            var call: String
            var summary: String
            var pid: Int32
            var count: Int
        }
        var version = 1
        var rows: [RowData]
        var charts: [HTMLChart.Data]
    }

    /// Long: the page in document order (head, summary, tree, table,
    /// sections, embedded data), each part a few lines of markup over the
    /// same rows and charts computed at the top.
    public func render(_ report: Report) -> String {
        var text = TextRenderer(maxFrames: maxFrames)
        text.live = report.snapshot != nil
        text.attach = report.attach
        // Rows: every leak group, in process order, largest first within;
        // beyond maxRows or tableBudget, the smallest groups are left out.
        var all: [(processIndex: Int, groupIndex: Int, count: Int)] = []
        for (i, p) in report.processes.enumerated() {
            for (k, g) in p.leaks.enumerated() { all.append((i, k, g.count)) }
        }
        let largest = all.indices.sorted { all[$0].count != all[$1].count ? all[$0].count > all[$1].count : $0 < $1 }.prefix(Self.maxRows)
        var kept: [Int: String] = [:]
        var bytes = 0
        for c in largest {
            let p = report.processes[all[c].processIndex], g = p.leaks[all[c].groupIndex]
            let cells = rowCells(g, in: p, processIndex: all[c].processIndex)
            if bytes + cells.utf8.count > Self.tableBudget && !kept.isEmpty { break }
            bytes += cells.utf8.count
            kept[c] = cells
        }
        var rows: [Row] = []
        for c in all.indices {
            guard let cells = kept[c] else { continue }
            let p = report.processes[all[c].processIndex], g = p.leaks[all[c].groupIndex]
            rows.append(
                Row(
                    group: g, process: p, processIndex: all[c].processIndex, groupIndex: all[c].groupIndex, index: rows.count,
                    label: Self.siteLabel(g, in: p), cells: cells))
        }
        let omittedRows = all.count - rows.count
        let charts = chartedProcesses(report)
        var chartData: [HTMLChart.Data] = []
        var budget = Self.maxWindowFDs
        var chartHTML: [Int: String] = [:]
        for (n, i) in charts.enumerated() {
            let p = report.processes[i]
            guard let t = p.timeline else { continue }
            var fds: [[Double]] = []
            var omitted = 0
            for r in rows where r.processIndex == i {
                for f in r.group.fds {
                    guard let at = f.openedAt else { continue }
                    if budget > 0 {
                        fds.append([(at * 1e6).rounded() / 1e6, Double(r.index), f.closed == nil ? 0 : 1])
                        budget -= 1
                    } else {
                        omitted += 1
                    }
                }
            }
            let rowOf = Dictionary(rows.filter { $0.processIndex == i }.map { ($0.groupIndex, $0.index) }) { a, _ in a }
            let chart = HTMLChart(
                id: "chart-\(n)", process: p, timeline: t, labels: Self.seriesLabels(t, in: p),
                rows: t.sites.map { $0.leakGroup.flatMap { rowOf[$0] } })
            let d = chart.data(fds: fds, omitted: omitted)
            chartData.append(d)
            chartHTML[i] =
                chart.svg(d) + chart.legend(d)
                + "<p class=\"readout\" id=\"chart-\(n)-readout\">Point at the chart for the counts at a moment; drag across it to see what was opened in that window and still open at its end.</p>\n"
                + "<div class=\"window-result\" id=\"chart-\(n)-window\"></div>\n"
        }

        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out +=
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<title>fdtrace: \(Self.esc(TextRenderer.commandLine(report.command, fallback: "report")))</title>\n"
        out += "<script>\(HTMLAssets.errorTrap)</script>\n"
        out += "<style>\(HTMLAssets.css)</style>\n</head>\n<body>\n"
        out += header(report, rows: rows, omittedRows: omittedRows)
        out +=
            "<nav class=\"dim\"><a href=\"#summary\">Process tree</a> · <a href=\"#leaks\">Leaks</a> · <a href=\"#processes\">Processes and charts</a></nav>\n"
        out += processTree(report, text: text)
        out += leakTable(rows, omitted: omittedRows)
        if let s = report.suppressions { out += Self.suppressionSection(s) }
        out += "<section id=\"processes\">\n<h2>Processes</h2>\n"
        let shown = report.processes.indices.filter { Self.isLoud(report.processes[$0]) || chartHTML[$0] != nil }
        // The charted processes, then the most leaked, within the budget.
        let ranked = shown.sorted { a, b in
            let (ca, cb) = (chartHTML[a] != nil, chartHTML[b] != nil)
            if ca != cb { return ca }
            let (la, lb) = (report.processes[a].leakedDescriptors, report.processes[b].leakedDescriptors)
            return la != lb ? la > lb : a < b
        }
        var sections: [Int: String] = [:]
        var sectionBytes = 0
        for i in ranked.prefix(Self.maxSections) {
            let html = processSection(report.processes[i], index: i, rows: rows, chart: chartHTML[i], text: text)
            if sectionBytes + html.utf8.count > Self.sectionBudget && chartHTML[i] == nil && !sections.isEmpty { break }
            sectionBytes += html.utf8.count
            sections[i] = html
        }
        for i in shown { if let html = sections[i] { out += html } }
        if sections.count < shown.count {
            out += "<p class=\"dim\">\(shown.count - sections.count) more processes with leaks or notes are in the JSON report.</p>\n"
        }
        let quiet = report.processes.filter { !Self.isLoud($0) }
        if !quiet.isEmpty {
            out += "<p class=\"quiet\">\(Self.esc(LeakFreeSummary.line(quiet, more: !shown.isEmpty)))</p>\n"
        }
        if charts.count < report.processes.filter({ $0.timeline != nil }).count {
            out +=
                "<p class=\"dim\">Charts are drawn for the \(charts.count) processes with the most leaked descriptors (then the highest peak); the JSON report has every process's timeline.</p>\n"
        }
        out += "</section>\n"
        for n in report.notes { out += "<p class=\"note\">\(Self.esc(n))</p>\n" }
        let embedded = Embedded(
            rows: rows.map { r in
                Embedded.RowData(label: r.label, call: r.group.call, summary: Self.what(r.group), pid: r.process.pid, count: r.group.count)
            }, charts: chartData)
        out += "<script type=\"application/json\" id=\"fdtrace-data\">\(Self.scriptJSON(embedded))</script>\n"
        out += "<script>\(HTMLAssets.script)</script>\n</body>\n</html>\n"
        return out
    }

    // MARK: - sections

    private func header(_ report: Report, rows: [Row], omittedRows: Int) -> String {
        var out = "<header>\n<h1>fdtrace report</h1>\n"
        out += "<p class=\"command\"><code>\(Self.esc(report.command.joined(separator: " ")))</code></p>\n"
        if let a = report.attach {
            let line = TextRenderer.attachLine(a).dropFirst("fdtrace: ".count).trimmingCharacters(in: .newlines)
            out += "<p class=\"attach\" id=\"attach\">\(Self.esc(line))</p>\n"
        }
        let leaked = report.processes.reduce(0) { $0 + $1.leakedDescriptors }
        let groups = report.leakGroupCount
        var line = "\(report.processes.count) process\(report.processes.count == 1 ? "" : "es") traced; "
        line +=
            leaked == 0 && groups == 0
            ? "no leaks"
            : "\(leaked) \(report.snapshot != nil ? "open" : "leaked") descriptor\(leaked == 1 ? "" : "s") from \(groups) site\(groups == 1 ? "" : "s")"
        if let s = report.exitStatus { line += "; exit status \(s)" }
        if let snap = report.snapshot {
            line += "; snapshot (\(Self.esc(snap.reason.rawValue))\(snap.pid.map { " in pid \($0)" } ?? "")) taken at \(Self.esc(snap.takenAt))"
        }
        out += "<p class=\"totals\" id=\"totals\" data-groups=\"\(groups)\" data-leaked=\"\(leaked)\">\(Self.esc(line))</p>\n"
        if let c = report.collector {
            out += "<p class=\"dim\">collector: \(c.events) events, \(String(format: "%.2f", c.cpuSeconds)) s CPU, \(c.maxRssKb) KiB</p>\n"
        }
        out += "</header>\n"
        return out
    }

    /// Processes as a tree by parent; the images one pid went through by
    /// exec are one node.
    private func processTree(_ report: Report, text: TextRenderer) -> String {
        var images: [Int32: [Int]] = [:]
        var order: [Int32] = []
        for (i, p) in report.processes.enumerated() {
            if images[p.pid] == nil { order.append(p.pid) }
            images[p.pid, default: []].append(i)
        }
        var children: [Int32: [Int32]] = [:]
        var roots: [Int32] = []
        for pid in order {
            let parent = report.processes[images[pid]![0]].ppid
            if parent != pid, images[parent] != nil { children[parent, default: []].append(pid) } else { roots.append(pid) }
        }
        var out = "<section id=\"summary\">\n<h2>Process tree</h2>\n"
        var shown = 0
        let limit = 500
        func node(_ pid: Int32, depth: Int) -> String {
            guard shown < limit, depth < 64 else { return "" }
            shown += 1
            var s = "<li>"
            for (k, i) in images[pid]!.enumerated() {
                let p = report.processes[i]
                if k > 0 { s += "<br><span class=\"dim\">then exec →</span> " }
                s += "<span class=\"pid\">pid \(p.pid)</span>"
                if k == 0 && p.ppid > 0 { s += " <span class=\"dim\">parent \(p.ppid)</span>" }
                s += " <code>\(Self.esc(TextRenderer.commandLine(p.command, fallback: p.executable)))</code> "
                s += "<span class=\"dim\">\(Self.esc(text.endText(p))) after \(Self.esc(TextRenderer.seconds(p.durationSeconds)))</span>"
                if ReportFields.ended(p) != "exec" {
                    s +=
                        " · open at exit \(p.openAtExit) · peak \(p.peakOpen) · limit \(Self.esc(TextRenderer.limit(p.rlimitSoft)))/\(Self.esc(TextRenderer.limit(p.rlimitHard)))"
                    if p.leakedDescriptors > 0 { s += " · <a href=\"#proc-\(i)\" class=\"leaked\">\(p.leakedDescriptors) leaked</a>" }
                    if p.incomplete != nil { s += " · <span class=\"warn\">incomplete</span>" }
                }
            }
            if let kids = children[pid], !kids.isEmpty {
                s += "<ul>" + kids.map { node($0, depth: depth + 1) }.joined() + "</ul>"
            }
            return s + "</li>"
        }
        out += "<ul class=\"tree\">" + roots.map { node($0, depth: 0) }.joined() + "</ul>\n"
        if shown >= limit { out += "<p class=\"dim\">\(order.count - shown) more processes are in the JSON report.</p>\n" }
        out += "</section>\n"
        return out
    }

    private func leakTable(_ rows: [Row], omitted: Int) -> String {
        var out = "<section id=\"leaks\">\n<h2>Leaks</h2>\n"
        guard !rows.isEmpty else { return out + "<p>No leak groups.</p>\n</section>\n" }
        out +=
            "<p class=\"tools\"><input id=\"filter\" type=\"search\" placeholder=\"filter: file, line, call, path…\" aria-label=\"filter\"> <span id=\"shown\">\(rows.count) group\(rows.count == 1 ? "" : "s")</span></p>\n"
        out += "<table id=\"groups\">\n<thead><tr>"
        out += "<th data-sort=\"count\" data-type=\"num\">Count</th><th data-sort=\"kind\">Kind</th><th>What</th><th>States</th>"
        out += "<th data-sort=\"growth\" data-type=\"num\">Growth</th><th data-sort=\"line\">Your line (click for the stack)</th>"
        out += "<th data-sort=\"call\">Call</th><th data-sort=\"pid\" data-type=\"num\">Process</th></tr></thead>\n<tbody>\n"
        for r in rows {
            let g = r.group
            let kind = ReportFields.kindClass(g)
            let growth = g.growing == true ? (g.growthPerSecond ?? 0) : 0
            out +=
                "<tr class=\"group\" id=\"g-\(r.index)\" data-row=\"\(r.index)\" data-count=\"\(g.count)\" data-kind=\"\(Self.esc(kind))\" data-growth=\"\(growth)\" data-line=\"\(Self.esc(r.label))\" data-call=\"\(Self.esc(g.call))\" data-pid=\"\(r.process.pid)\">"
            out += r.cells + "</tr>\n"
        }
        out += "</tbody>\n</table>\n"
        if omitted > 0 {
            out += "<p class=\"dim\" id=\"omitted\" data-omitted=\"\(omitted)\">\(omitted) more groups (the smallest) are in the JSON report.</p>\n"
        }
        out += "</section>\n"
        return out
    }

    /// A row's cells (the row's own tag carries its place).
    private func rowCells(_ g: LeakGroup, in p: ProcessReport, processIndex: Int) -> String {
        let kind = ReportFields.kindClass(g)
        let label = Self.siteLabel(g, in: p)
        var out = "<td class=\"num count\">\(g.count)</td>"
        out += "<td>\(Self.esc(kind))</td>"
        out += "<td class=\"what\">\(Self.esc(Self.what(g)))</td>"
        out += "<td>\(Self.esc(Self.states(g)))</td>"
        var grew = ""
        if let rate = g.growthPerSecond, g.growing == true {
            grew = String(format: "%+.1f/s", rate) + (g.growthSeconds.map { String(format: " over %.0f s", $0) } ?? "")
        }
        out += "<td class=\"num\">\(Self.esc(grew))</td>"
        let function =
            ReportFields.highlighted(g)?.function.map { " <span class=\"dim\">\(Self.esc($0.count > 80 ? String($0.prefix(77)) + "..." : $0))</span>" } ?? ""
        out += "<td class=\"site\"><details><summary>\(Self.esc(label))\(function)</summary>\(stack(g, in: p))</details></td>"
        out += "<td><code>\(Self.esc(g.call))</code></td>"
        out += "<td class=\"num\"><a href=\"#proc-\(processIndex)\">\(p.pid)</a></td>"
        return out
    }

    private func processSection(_ p: ProcessReport, index i: Int, rows: [Row], chart: String?, text: TextRenderer) -> String {
        var out = "<section class=\"process\" id=\"proc-\(i)\" data-pid=\"\(p.pid)\">\n"
        let ids = p.ppid > 0 ? "pid \(p.pid), parent \(p.ppid)" : "pid \(p.pid)"
        out +=
            "<h3><code>\(Self.esc(TextRenderer.commandLine(p.command, fallback: p.executable)))</code> <span class=\"dim\">(\(ids)) \(Self.esc(text.endText(p))) after \(Self.esc(TextRenderer.seconds(p.durationSeconds)))</span></h3>\n"
        if ReportFields.ended(p) != "exec" {
            let apart = p.standard.count + p.inherited.count
            out +=
                "<p>\(p.openAtExit) descriptor\(p.openAtExit == 1 ? "" : "s") \(ReportFields.ended(p) == "running" ? "open now" : "open at exit") (peak \(p.peakOpen), limit \(Self.esc(TextRenderer.limit(p.rlimitSoft)))/\(Self.esc(TextRenderer.limit(p.rlimitHard))))\(apart > 0 ? ", \(apart) inherited or standard" : "")"
            if let rss = p.maxRssKb { out += " · max RSS \(rss) KiB" }
            if let cpu = p.cpuSeconds { out += String(format: " · CPU %.2f s", cpu) }
            out += " · \(p.events.opens) opens, \(p.events.closes) closes</p>\n"
        }
        if let why = p.incomplete { out += "<p class=\"warn\">incomplete: \(Self.esc(why))</p>\n" }
        let mine = rows.filter { $0.processIndex == i }
        if !mine.isEmpty {
            out +=
                "<p>\(p.leakedDescriptors) leaked descriptor\(p.leakedDescriptors == 1 ? "" : "s") from \(p.leaks.count) site\(p.leaks.count == 1 ? "" : "s"):</p>\n<ul class=\"sites\">"
            for r in mine.prefix(Self.sectionItems) {
                out +=
                    "<li><a href=\"#g-\(r.index)\">\(r.group.count) × \(Self.esc(r.label))</a> <code>\(Self.esc(r.group.call))</code> \(Self.esc(Self.what(r.group)))</li>"
            }
            if mine.count > Self.sectionItems { out += "<li class=\"dim\">\(mine.count - Self.sectionItems) more in the table above</li>" }
            out += "</ul>\n"
        }
        if let peak = p.peak, !peak.sites.isEmpty, peak.open > p.openAtExit {
            let sites = peak.sites.prefix(5).map { "\($0.count) from \(Self.frameLabel($0.site, in: p))" }.joined(separator: ", ")
            out += "<p>peak: \(peak.open) open at \(Self.esc(TextRenderer.seconds(peak.atSeconds))): \(Self.esc(sites))</p>\n"
        }
        out += badCloseList(p, text: text)
        if let chart { out += "<div class=\"chart-box\">\n<h4>Open descriptors over time</h4>\n\(chart)</div>\n" }
        if !p.inheritedLeaks.isEmpty {
            out += "<p>Inherited without close-on-exec (leaked into this program):</p>\n<ul class=\"sites\">"
            for g in p.inheritedLeaks.prefix(Self.sectionItems) {
                out += "<li>\(g.count) × \(Self.esc(Self.what(g))) <code>\(Self.esc(g.call))</code>"
                if let by = g.openedBy { out += " in <code>\(Self.esc(TextRenderer.commandLine(by.command, fallback: "?")))</code> (pid \(by.pid))" }
                out += "<details><summary>\(Self.esc(Self.siteLabel(g, in: p)))</summary>\(stack(g, in: p))</details></li>"
            }
            out += "</ul>\n"
        }
        func fdList(_ title: String, _ fds: [FDReport]) {
            guard !fds.isEmpty else { return }
            out += "<p>\(Self.esc(title)):</p>\n<ul class=\"fds\">"
            for f in fds.prefix(Self.sectionItems) { out += "<li>fd \(f.fd) \(Self.esc(TextRenderer.describe(f)))</li>" }
            if fds.count > Self.sectionItems { out += "<li class=\"dim\">\(fds.count - Self.sectionItems) more</li>" }
            out += "</ul>\n"
        }
        fdList("\(p.unknownOrigin.count) of origin unknown (opened where the shim cannot see, e.g. raw syscalls)", p.unknownOrigin)
        fdList(
            "\(p.internalErrors.count) internal error\(p.internalErrors.count == 1 ? "" : "s") (the tracer holds them, the kernel does not)", p.internalErrors)
        fdList("inherited (not leaks)", p.inherited)
        fdList("open before attach (from /proc: no site, age unknown; not leaks)", p.openBeforeAttach ?? [])
        for n in p.notes { out += "<p class=\"note\">note: \(Self.esc(n))</p>\n" }
        out += "</section>\n"
        return out
    }

    /// The group's stack, as the text report shows it (the arrow on the
    /// user's frame).
    private func stack(_ g: LeakGroup, in p: ProcessReport) -> String {
        let shown = TextRenderer.trimmed(g.frames).prefix(max(maxFrames, (g.highlight ?? 0) + 2))
        guard !shown.isEmpty else { return "<p class=\"dim\">(no stack)</p>" }
        var out = "<ol class=\"stack\">"
        for (i, f) in shown.enumerated() {
            var loc: String
            if let file = f.file {
                loc = SiteLabel.baseName(file) + (f.line.map { ":\($0)" } ?? "")
            } else {
                loc = "\(TextRenderer.moduleName(f.module, in: p))+\(f.address)"
            }
            if f.inlined { loc += " (inlined)" }
            let title = f.file.map { " title=\"\(Self.esc($0))\"" } ?? ""
            var fn = f.function ?? "??"
            if fn.count > 200 { fn = String(fn.prefix(197)) + "..." }
            out +=
                "<li\(i == g.highlight ? " class=\"hl\"" : "")><span class=\"fn\">\(i == g.highlight ? "→ " : "")\(Self.esc(fn))</span> <span class=\"loc\"\(title)>\(Self.esc(loc))</span></li>"
        }
        if g.frames.count > shown.count { out += "<li class=\"dim\">\(g.frames.count - shown.count) more frames in the JSON report</li>" }
        return out + "</ol>"
    }

    // MARK: - helpers

    static func isLoud(_ p: ProcessReport) -> Bool {
        !(p.leaks.isEmpty && p.inheritedLeaks.isEmpty && p.unknownOrigin.isEmpty && p.internalErrors.isEmpty && p.notes.isEmpty
            && p.incomplete == nil && p.badCloses == nil)
    }

    /// Processes charted: with a timeline, most leaked first, then the
    /// highest peak; at most maxCharts.
    func chartedProcesses(_ report: Report) -> [Int] {
        let candidates = report.processes.indices.filter { i in
            guard let t = report.processes[i].timeline else { return false }
            return t.buckets > 0 && (t.total.values.max() ?? 0) > 0
        }
        let ranked = candidates.sorted { a, b in
            let (pa, pb) = (report.processes[a], report.processes[b])
            if pa.leakedDescriptors != pb.leakedDescriptors { return pa.leakedDescriptors > pb.leakedDescriptors }
            if pa.peakOpen != pb.peakOpen { return pa.peakOpen > pb.peakOpen }
            return a < b
        }
        return Array(ranked.prefix(Self.maxCharts)).sorted()
    }

    static func siteLabel(_ g: LeakGroup, in p: ProcessReport) -> String {
        SiteLabel.of(g, module: { TextRenderer.moduleName($0, in: p) })
    }

    /// The chart's names for the timeline's sites: the user's line; where
    /// two share one, the functions that called it; then a number.
    static func seriesLabels(_ t: TimelineReport, in p: ProcessReport) -> [String] {
        var labels = t.sites.map { frameLabel($0.site, in: p) }
        func duplicated() -> Set<String> {
            var seen: [String: Int] = [:]
            for l in labels { seen[l, default: 0] += 1 }
            return Set(seen.filter { $0.value > 1 }.keys)
        }
        var twice = duplicated()
        if twice.isEmpty { return labels }
        for (i, s) in t.sites.enumerated() where twice.contains(labels[i]) {
            guard let k = s.leakGroup, p.leaks.indices.contains(k) else { continue }
            let g = p.leaks[k]
            let start = g.highlight ?? 0
            let chain = g.frames.dropFirst(start).prefix(3).compactMap(\.function)
            if !chain.isEmpty { labels[i] += " (" + chain.joined(separator: " ← ") + ")" }
        }
        twice = duplicated()
        var n: [String: Int] = [:]
        for i in labels.indices where twice.contains(labels[i]) {
            let base = labels[i]
            n[base, default: 0] += 1
            labels[i] = base + " #\(n[base]!)"
        }
        return labels
    }

    static func frameLabel(_ f: FrameReport?, in p: ProcessReport) -> String {
        SiteLabel.at(f, module: { TextRenderer.moduleName($0, in: p) }) ?? "(no stack)"
    }

    /// What a group's descriptors are.
    static func what(_ g: LeakGroup) -> String {
        if let bundle = g.bundle, let calls = g.calls { return "\(calls) × (\(bundle)), \(g.count) descriptors" }
        return g.summary
    }

    /// Socket states and who closed them, counted.
    static func states(_ g: LeakGroup) -> String {
        var counts: [String: Int] = [:]
        for f in g.fds { if let s = f.state { counts[s, default: 0] += 1 } }
        var parts = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        if let n = g.closedByGc { parts.append("\(n) closed by GC") }
        if let n = g.closedByFinalizer { parts.append("\(n) closed by a finalizer") }
        if let n = g.closedAtShutdown { parts.append("\(n) closed at shutdown") }
        return parts.joined(separator: ", ")
    }

    /// Text for HTML content and attribute values.
    public static func esc(_ s: String) -> String { replacing(s, htmlEscapes) }

    private static let htmlEscapes: [Unicode.Scalar: String] = [
        "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;",
    ]

    /// `s` with each scalar `table` names replaced by its text.
    private static func replacing(_ s: String, _ table: [Unicode.Scalar: String]) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            if let r = table[c] { out += r } else { out.unicodeScalars.append(c) }
        }
        return out
    }

    /// JSON for a <script type="application/json"> element: nothing in it
    /// can end the element or be read as markup (`<`, `>`, `&` and the two
    /// JavaScript line terminators as \u escapes; JSON allows them only
    /// inside strings, where the escape means the same character).
    static func scriptJSON<T: Encodable>(_ value: T) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? enc.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return escapeForScript(json)
    }

    public static func escapeForScript(_ json: String) -> String { replacing(json, scriptEscapes) }

    private static let scriptEscapes: [Unicode.Scalar: String] = [
        "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u{2028}": "\\u2028", "\u{2029}": "\\u2029",
    ]
}

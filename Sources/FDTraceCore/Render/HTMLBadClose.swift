/// A process's bad closes in the HTML page: one item per group, its three
/// stacks as the text report shows them.
extension HTMLRenderer {
    func badCloseList(_ p: ProcessReport, text: TextRenderer) -> String {
        guard let groups = p.badCloses, !groups.isEmpty else { return "" }
        let n = groups.reduce(0) { $0 + $1.count }
        var out = "<p class=\"warn\">\(n) bad close\(n == 1 ? "" : "s") from \(groups.count) site\(groups.count == 1 ? "" : "s"):</p>\n"
        out += "<ul class=\"sites bad-closes\">"
        for g in groups.prefix(Self.sectionItems) {
            let site = g.highlightedFrame.map { Self.frameLabel($0, in: p) } ?? "(no stack)"
            out += "<li>\(g.count) × <code>\(Self.esc(g.call))</code> of fd \(g.fds.map(String.init).joined(separator: ", "))"
            out += g.kind == .notOpen ? ", not open" : ", reused by another site"
            out += "<details><summary>\(Self.esc(site))</summary><pre>\(Self.esc(text.renderBadClose(g, in: p)))</pre></details></li>"
        }
        if groups.count > Self.sectionItems { out += "<li class=\"dim\">\(groups.count - Self.sectionItems) more in the JSON report</li>" }
        return out + "</ul>\n"
    }
}

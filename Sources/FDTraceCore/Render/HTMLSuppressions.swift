/// The HTML report's account of the suppression files: what each entry
/// left out of the leak table, and the entries that matched nothing.
extension HTMLRenderer {
    static func suppressionSection(_ s: SuppressionSummary) -> String {
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        var out = "<section id=\"suppressions\">\n<h2>Suppressed</h2>\n"
        out +=
            "<p id=\"suppressed\" data-groups=\"\(s.groups)\" data-descriptors=\"\(s.descriptors)\" data-stale=\"\(s.stale.count)\">"
            + "\(plural(s.groups, "leak group")) (\(plural(s.descriptors, "descriptor"))) left out of the table by \(s.entries.count - s.stale.count) of \(s.entries.count) suppression entries"
            + (s.stale.isEmpty ? "" : "; \(s.stale.count) stale (matched nothing)") + ".</p>\n"
        out += "<table id=\"suppression-entries\">\n<thead><tr><th>Entry</th><th>Groups</th><th>Descriptors</th><th>Where</th></tr></thead>\n<tbody>\n"
        for e in s.entries {
            out += "<tr\(e.stale ? " class=\"stale\"" : "")><td>\(esc(e.name))\(e.stale ? " <em>(stale: matched nothing)</em>" : "")</td>"
            out += "<td class=\"num\">\(e.groups)</td><td class=\"num\">\(e.descriptors)</td><td><code>\(esc("\(e.file):\(e.line)"))</code></td></tr>\n"
        }
        return out + "</tbody>\n</table>\n</section>\n"
    }
}

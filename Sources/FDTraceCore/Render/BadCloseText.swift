/// The text report's bad closes: each group with its close, the close
/// before and the opening (and, for a stale stream, the descriptor it hit).
extension TextRenderer {
    func renderBadCloses(_ p: ProcessReport) -> String {
        guard let groups = p.badCloses, !groups.isEmpty else { return "" }
        let n = groups.reduce(0) { $0 + $1.count }
        var out = "  \(n) bad close\(n == 1 ? "" : "s") from \(groups.count) site\(groups.count == 1 ? "" : "s"):\n"
        for g in groups { out += renderBadClose(g, in: p) }
        return out
    }

    func renderBadClose(_ g: BadCloseGroup, in p: ProcessReport) -> String {
        let fds = g.fds.map(String.init).joined(separator: ", ")
        let what =
            switch g.kind {
            case .notOpen: "\(g.call) of fd \(fds), which was not open"
            case .staleOwner: "\(g.call) of fd \(fds), which another site had opened since the stream's descriptor was closed"
            }
        var out = "  \(g.count) × \(what)    \(g.call)\n"
        out += renderFrames(g.frames, highlight: g.highlight, in: p)
        let sites: [(String, CallSiteReport?)] =
            switch g.kind {
            case .notOpen: [("closed before by", g.closedBefore), ("opened by", g.opened)]
            case .staleOwner:
                [
                    ("the stream was opened by", g.opened), ("its descriptor closed underneath it by", g.closedBefore),
                    ("this close closed instead, opened by", g.reusedBy),
                ]
            }
        for (label, site) in sites {
            guard let site else {
                if g.kind == .notOpen && label == "closed before by" { out += "      (no close of it seen before)\n" }
                continue
            }
            let summary = site.summary.map { " (\($0))" } ?? ""
            out += "      \(label) \(site.call)\(summary):\n"
            out += renderFrames(site.frames, highlight: site.highlight, in: p, indent: "    ")
        }
        return out
    }
}

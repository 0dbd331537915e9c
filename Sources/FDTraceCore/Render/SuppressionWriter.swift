/// `--gen-suppressions FILE`: a ready entry for each leak group a report
/// still lists (suppressed ones are not written again), entries separated
/// by a blank line, so a user keeps those they accept. Each names the
/// user's frame (the one the text report marks with its arrow) by function
/// and file:line, after `...`: the frames between the call and that line
/// (a library's, the standard library's) may change from one version to
/// the next.
public enum SuppressionWriter {
    public static func render(_ report: Report) -> String {
        var blocks: [String] = []
        var bodies: Set<String> = []
        var names: Set<String> = []
        for p in report.processes {
            for g in p.leaks + p.inheritedLeaks {
                let body = matchers(g)
                // Groups of other processes at the same line: one entry.
                guard bodies.insert(body).inserted else { continue }
                var name = SiteIdentity(g).label
                var n = 2
                while names.contains(name) {
                    name = SiteIdentity(g).label + " #\(n)"
                    n += 1
                }
                names.insert(name)
                blocks.append(comment(g, in: p) + "name: \(name)\n" + body)
            }
        }
        return blocks.joined(separator: "\n")
    }

    static func comment(_ g: LeakGroup, in p: ProcessReport) -> String {
        let what = g.bundle.map { "\(g.calls ?? g.count) × (\($0))" } ?? "\(g.count) × \(g.summary)"
        return "# \(what), in \(TextRenderer.commandLine(p.command, fallback: p.executable)) (pid \(p.pid))\n"
    }

    /// The entry's lines after its name: call, kind, and the user's frame;
    /// a group without a stack is named by its path when it has one.
    static func matchers(_ g: LeakGroup) -> String {
        var out = "call: \(Glob.escape(g.call))\n"
        let kind = ReportFields.kindClass(g)
        if SuppressionParser.isKnownKind(kind) { out += "kind: \(kind)\n" }
        let shown = ReportView.strip(g)
        if let f = shown.highlightedFrame, let frame = frame(f) {
            out += "frame: ...\nframe: \(frame)\n"
        } else if let path = g.fds.first?.path, g.fds.allSatisfy({ $0.path == path }) {
            out += "path: \(Glob.escape(path))\n"
        }
        return out
    }

    /// "reload_config @ leaky_server.c:13"; a frame without source by its
    /// module: "?? @ libfoo.so".
    static func frame(_ f: FrameReport) -> String? {
        let place: String? =
            f.file.map { SiteLabel.baseName($0) + (f.line.map { ":\($0)" } ?? "") } ?? f.module.map(SiteLabel.baseName)
        guard let place else { return f.function.map(Glob.escape) }
        return (f.function.map { Glob.escape($0) + " " } ?? "") + "@ " + Glob.escape(place)
    }
}

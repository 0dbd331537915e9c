import Foundation

/// One screen of `fdtrace top` from a live report: total open against the
/// soft limit, then the sites holding the most descriptors with their
/// growth over the last minute, the oldest one's age and socket states.
/// Every line fits `width` columns.
public struct TopRenderer {
    public var width: Int
    public var height: Int

    public init(width: Int = 80, height: Int = 24) {
        self.width = max(40, width)
        self.height = max(8, height)
    }

    public func render(_ report: Report, title: String, clock: String) -> [String] {
        var lines: [String] = []
        lines.append(fit("fdtrace top — \(title)", right: clock))
        let processes = report.processes
        if processes.isEmpty {
            lines.append("no traced process is running")
            return lines
        }
        var rows: [(count: Int, growth: Double?, oldest: Double?, site: String, what: String)] = []
        for p in processes {
            let open = p.openAtExit
            let pct = p.rlimitSoft > 0 && p.rlimitSoft < UInt64.max ? String(format: " (%.0f%%)", Double(open) * 100 / Double(p.rlimitSoft)) : ""
            let limit = p.rlimitSoft == UInt64.max ? "unlimited" : String(p.rlimitSoft)
            lines.append(
                fit(
                    "pid \(p.pid) \(TextRenderer.commandLine(p.command, fallback: p.executable))",
                    right: "open \(open)/\(limit)\(pct)  peak \(p.peakOpen)"))
            for g in p.leaks {
                let opened = g.fds.compactMap(\.openedAt).min()
                rows.append(
                    (
                        g.count, g.growthPerSecond, opened.map { max(0, p.durationSeconds - $0) }, SiteLabel.of(g),
                        g.bundle.map { "\(g.calls ?? 0) × (\($0))" } ?? g.summary
                    ))
            }
        }
        lines.append("")
        lines.append(fit(" COUNT  GROWTH/s  OLDEST  SITE", right: ""))
        let room = height - lines.count - 2
        for r in rows.sorted(by: { $0.count > $1.count }).prefix(max(1, room)) {
            let growth = r.growth.map { String(format: "%+9.1f", $0) } ?? String(repeating: " ", count: 8) + "-"
            let age = r.oldest.map(Self.age) ?? "-"
            let head = String(format: "%6d", r.count) + " " + growth + " " + age.leftPadded(7) + "  "
            lines.append(clip(head + r.site + "  " + r.what))
        }
        if rows.isEmpty { lines.append("  nothing the program opened is open") }
        lines.append("")
        lines.append("q: quit")
        return lines
    }

    static func age(_ s: Double) -> String {
        if s < 60 { return String(format: "%.1fs", s) }
        if s < 3600 { return "\(Int(s) / 60)m\(Int(s) % 60)s" }
        return "\(Int(s) / 3600)h\(Int(s) % 3600 / 60)m"
    }

    private func clip(_ s: String) -> String { s.count <= width ? s : String(s.prefix(width - 1)) + "…" }

    private func fit(_ left: String, right: String) -> String {
        let space = width - right.count - 1
        let l = left.count > space ? String(left.prefix(max(0, space - 1))) + "…" : left
        return l + String(repeating: " ", count: max(1, width - l.count - right.count)) + right
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

extension TextRenderer {
    /// The text form of a /proc view (`fdtrace snapshot --proc`): one
    /// header, then groups largest first.
    public func render(_ snapshot: ProcSnapshot) -> String {
        let s = snapshot
        let cmd = Self.commandLine(s.command, fallback: "?")
        var out = "fdtrace: \(cmd) (pid \(s.pid)): \(s.open) descriptor\(s.open == 1 ? "" : "s") open"
        if let soft = s.rlimitSoft, let hard = s.rlimitHard { out += " (limit \(Self.limit(soft))/\(Self.limit(hard)))" }
        out += " — from /proc: no call sites without tracing\n"
        for g in s.groups { out += "  \(g.count) × \(g.summary)\n" }
        return out
    }
}

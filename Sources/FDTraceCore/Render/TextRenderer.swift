import Foundation

/// The human-readable report: one header per process, then one group per
/// opening site, largest first, with the stack under it.
public struct TextRenderer {
    public var maxFrames: Int
    public var color: Bool
    /// Rendering a snapshot of processes that still run.
    var live = false
    /// Rendering an attach session's report.
    var attach: AttachInfo?

    public init(maxFrames: Int = 12, color: Bool = false) {
        self.maxFrames = maxFrames
        self.color = color
    }

    public func render(_ report: Report) -> String {
        var r = self
        r.live = report.snapshot != nil
        r.attach = report.attach
        return (report.attach.map(Self.attachLine) ?? "") + r.renderAll(report)
    }

    private func renderAll(_ report: Report) -> String {
        var out = ""
        let root = report.processes.first?.pid
        func isQuiet(_ p: ProcessReport) -> Bool {
            p.leaks.isEmpty && p.inheritedLeaks.isEmpty && p.unknownOrigin.isEmpty && p.internalErrors.isEmpty && p.notes.isEmpty
                && p.incomplete == nil && p.badCloses == nil
        }
        // A process that replaced itself by exec is one process: counted
        // once, as the program it became (its next section, same pid).
        let lastSection = Dictionary(report.processes.enumerated().map { ($1.pid, $0) }) { max($0, $1) }
        let quiet = report.processes.enumerated().filter { i, p in
            isQuiet(p) && !(p.ended == .exec && (lastSection[p.pid] ?? i) > i)
        }.map(\.element)
        let loud = report.processes.filter { !isQuiet($0) }
        for p in loud { out += renderProcess(p, root: root) }
        if !quiet.isEmpty {
            if loud.isEmpty && quiet.count == 1 {
                out += renderProcess(quiet[0], root: root)
            } else {
                out += "fdtrace: \(LeakFreeSummary.line(quiet, more: !loud.isEmpty))\n"
            }
        }
        if let s = report.suppressions { out += Self.suppressionLines(s) }
        for n in report.notes { out += "fdtrace: \(n)\n" }
        return out
    }

    /// What each suppression entry matched, and which matched nothing.
    static func suppressionLines(_ s: SuppressionSummary) -> String {
        let used = s.entries.count - s.stale.count
        var out = "fdtrace: suppressed \(plural(s.groups, "leak group")) (\(plural(s.descriptors, "descriptor")))"
        out += " by \(used) of \(plural(s.entries.count, "entry", "entries"))"
        out += s.stale.isEmpty ? "\n" : ", \(s.stale.count) stale:\n"
        let width = min(60, s.entries.map(\.name.count).max() ?? 0)
        for e in s.entries {
            let pad = String(repeating: " ", count: max(0, width - e.name.count))
            let what = e.stale ? "stale: matched nothing" : "\(plural(e.groups, "group")), \(plural(e.descriptors, "descriptor"))"
            out += "  \(e.name)\(pad)   \(what)   \(e.file):\(e.line)\n"
        }
        return out
    }

    static func plural(_ n: Int, _ one: String, _ many: String? = nil) -> String {
        "\(n) \(n == 1 ? one : many ?? one + "s")"
    }

    public static func commandLine(_ argv: [String], fallback: String) -> String {
        let words = argv.isEmpty ? [fallback] : argv
        // One string is shown as is, as ps shows it: mostly a title the
        // process gave itself ("nginx: worker process").
        let line = words.count == 1 ? words[0] : words.map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }.joined(separator: " ")
        return line.count > 80 ? String(line.prefix(77)) + "..." : line
    }

    func renderProcess(_ p: ProcessReport, root: Int32?) -> String {
        let ids = p.ppid > 0 && p.pid != root ? "pid \(p.pid), parent \(p.ppid)" : "pid \(p.pid)"
        var out = "fdtrace: \(Self.commandLine(p.command, fallback: p.executable)) (\(ids)) \(endText(p))"
        // The attached image's life in this report began at the attach.
        out += p.openBeforeAttach != nil ? ", \(Self.seconds(p.durationSeconds)) after the attach\n" : " after \(Self.seconds(p.durationSeconds))\n"
        if p.ended == .exec {
            for n in p.notes { out += "  note: \(n)\n" }
            return out
        }
        let apart = p.standard.count + p.inherited.count
        let limit = "limit \(Self.limit(p.rlimitSoft))/\(Self.limit(p.rlimitHard))"
        let when = p.ended != .running ? "open at exit" : attach != nil && !live ? "open at detach" : "open now"
        out += "  \(p.openAtExit) descriptor\(p.openAtExit == 1 ? "" : "s") \(when) (peak \(p.peakOpen), \(limit))"
        out += apart > 0 ? ", \(apart) inherited or standard" : ""
        out += "\n"
        if let why = p.incomplete {
            out += "  incomplete: \(why)\n"
        }
        out += leakCountLine(p)
        for g in p.leaks { out += renderGroup(g, now: live ? p.durationSeconds : nil, in: p) }
        let grew = p.leaks.filter { $0.growing == true }
        if !grew.isEmpty && !live {
            let list = grew.prefix(5).map {
                "\(SiteLabel.of($0, module: { Self.moduleName($0, in: p) })) \(String(format: "%+.1f/s", $0.growthPerSecond ?? 0))"
            }
            out += "  grew during the run: \(list.joined(separator: ", "))\n"
        }
        if let peak = p.peak, !peak.sites.isEmpty, peak.open > p.openAtExit {
            let sites = peak.sites.prefix(3).map { "\($0.count) from \(SiteLabel.at($0.site, module: { Self.moduleName($0, in: p) }) ?? "?")" }
            out += "  peak: \(peak.open) open at \(Self.seconds(peak.atSeconds)): \(sites.joined(separator: ", "))\(peak.sites.count > 3 ? ", …" : "")\n"
        }
        out += renderBadCloses(p)
        if !p.inheritedLeaks.isEmpty {
            let n = p.inheritedLeaks.reduce(0) { $0 + $1.count }
            out += "  \(n) descriptor\(n == 1 ? "" : "s") inherited without close-on-exec (leaked into this program):\n"
            for g in p.inheritedLeaks { out += renderGroup(g, in: p) }
        }
        out += renderApart(p)
        for n in p.notes { out += "  note: \(n)\n" }
        return out
    }

    /// The descriptors listed apart from the leaks: of unknown origin,
    /// internal errors, inherited, and those open before an attach.
    private func renderApart(_ p: ProcessReport) -> String {
        var out = ""
        if !p.unknownOrigin.isEmpty {
            out += "  \(p.unknownOrigin.count) of origin unknown (opened where the shim cannot see, e.g. raw syscalls):\n"
            for f in p.unknownOrigin.prefix(20) { out += "    fd \(f.fd)  \(Self.describe(f))\n" }
        }
        if !p.internalErrors.isEmpty {
            out += "  \(p.internalErrors.count) internal error\(p.internalErrors.count == 1 ? "" : "s") (the tracer holds them, the kernel does not):\n"
            for f in p.internalErrors.prefix(20) { out += "    fd \(f.fd)  \(Self.describe(f))\n" }
        }
        if !p.inherited.isEmpty {
            let list = p.inherited.prefix(8).map { "fd \($0.fd) \(Self.describe($0))" }.joined(separator: ", ")
            out += "  inherited (not leaks): \(list)\(p.inherited.count > 8 ? ", …" : "")\n"
        }
        if let before = p.openBeforeAttach, !before.isEmpty {
            // Grouped as the /proc view groups them: a service attached in
            // trouble may hold thousands.
            out += "  \(before.count) open before attach (from /proc: no site, age unknown; not leaks):\n"
            for g in ProcSnapshot.group(before).prefix(20) { out += "    \(g.count) × \(g.summary)\n" }
        }
        return out
    }

    /// The first line of an attach session's report: which process, how
    /// long, and what ended it.
    static func attachLine(_ a: AttachInfo) -> String {
        let how: String
        switch a.detached {
        case .exited: how = "until it exited"
        case .duration: how = "until --duration ran out; it runs on"
        case .signal: how = "until \(signalName(a.signal ?? 0)) stopped fdtrace; it runs on"
        }
        return "fdtrace: attached to pid \(a.pid) for \(seconds(a.attachedSeconds)), \(how) (what it held before the attach is listed apart)\n"
    }

    /// "151 leaked descriptors from 3 sites:", with what suppressions left out.
    func leakCountLine(_ p: ProcessReport) -> String {
        let suppressed = (p.suppressed ?? []).filter { $0.openedBy == nil }
        let count = suppressed.reduce(0) { $0 + $1.count }
        let sites = Self.plural(suppressed.count, "site")
        if p.leaks.isEmpty && !suppressed.isEmpty {
            return "  no leaks left: \(Self.plural(count, "leaked descriptor")) from \(sites) suppressed\n"
        } else if p.leaks.isEmpty && p.incomplete == nil {
            return "  no leaks: every descriptor the program opened was closed\n"
        } else if p.leaks.isEmpty {
            return "  no leaks among the descriptors the shim saw\n"
        }
        let what = live || p.ended == .running ? "open descriptor" : "leaked descriptor"
        var out = "  \(Self.plural(p.leakedDescriptors, what)) from \(Self.plural(p.leaks.count, "site"))"
        out += suppressed.isEmpty ? "" : " (\(count) more from \(sites) suppressed)"
        return out + ":\n"
    }

    /// `p`: the process whose section shows the group (names its executable).
    func renderGroup(_ g: LeakGroup, now: Double? = nil, in p: ProcessReport? = nil) -> String {
        var out: String
        if let bundle = g.bundle, let calls = g.calls {
            out = "  \(calls) × (\(bundle)), \(g.count) descriptors    \(g.call)"
        } else {
            out = "  \(g.count) × \(g.summary)    \(g.call)"
        }
        var closed: [String] = []
        if let n = g.closedAtShutdown { closed.append(n == g.count ? "closed at shutdown" : "\(n) closed at shutdown") }
        if let n = g.closedByGc { closed.append(n == g.count ? "closed by GC" : "\(n) closed by GC") }
        if let n = g.closedByFinalizer { closed.append(n == g.count ? "closed by a finalizer" : "\(n) closed by a finalizer") }
        if let rate = g.growthPerSecond, g.growing == true, let secs = g.growthSeconds {
            closed.insert(String(format: "growing %+.1f/s over %.0f s", rate, secs), at: 0)
        }
        if let now, let first = g.fds.compactMap(\.openedAt).min() {
            closed.append("oldest " + TopRenderer.age(max(0, now - first)))
        }
        if !closed.isEmpty { out += "  [\(closed.joined(separator: ", "))]" }
        if let by = g.openedBy { out += " in \(Self.commandLine(by.command, fallback: "?")) (pid \(by.pid))" }
        out += "\n"
        return out + renderFrames(g.frames, highlight: g.highlight, in: p)
    }

    /// A stack, the highlighted frame marked; `indent` more spaces than a group's.
    func renderFrames(_ frames: [FrameReport], highlight: Int?, in p: ProcessReport?, indent: String = "") -> String {
        var out = ""
        // Never cut the frame the group is named by.
        let shown = Self.trimmed(frames).prefix(max(maxFrames, (highlight ?? 0) + 2))
        let width = min(40, shown.map { ($0.function ?? "??").count }.max() ?? 0)
        for (i, f) in shown.enumerated() {
            let marker = i == highlight ? "→ " : "  "
            var fn = f.function ?? "??"
            if fn.count > 60 { fn = String(fn.prefix(57)) + "..." }
            let pad = String(repeating: " ", count: max(0, width - fn.count))
            var loc: String
            if let file = f.file {
                let short = file.split(separator: "/").last.map(String.init) ?? file
                loc = f.line.map { "\(short):\($0)" } ?? short
            } else {
                loc = "\(Self.moduleName(f.module, in: p))+\(f.address)"
            }
            if f.inlined { loc += " (inlined)" }
            var line = "    \(indent)\(marker)\(fn)\(pad)   \(loc)"
            if color && i == highlight { line = "\u{1b}[1m\(line)\u{1b}[0m" }
            out += line + "\n"
        }
        if frames.isEmpty { out += "      \(indent)(no stack)\n" }
        return out
    }

    /// Frames worth showing: the C runtime's entry frames below main (and
    /// below a thread's start routine) are dropped.
    static func trimmed(_ frames: [FrameReport]) -> [FrameReport] {
        if let main = frames.firstIndex(where: { $0.function == "main" }) { return Array(frames[...main]) }
        var end = frames.count
        while end > 1, frames[end - 1].python != true, RuntimeModule.contains(frames[end - 1].module) { end -= 1 }
        return Array(frames[..<end])
    }

    /// A module as the text names it: the process's own executable by the
    /// name it was started as (redis-server, not the redis-check-rdb file
    /// the symlink leads to), others by their file name.
    static func moduleName(_ path: String?, in p: ProcessReport?) -> String {
        guard let path else { return "?" }
        if let p, path == p.executable, let name = p.startedAs, !name.isEmpty { return name }
        return path.split(separator: "/").last.map(String.init) ?? path
    }

    static func describe(_ f: FDReport) -> String {
        f.described.summary + (f.state.map { " \($0)" } ?? "")
    }

    func endText(_ p: ProcessReport) -> String {
        switch p.ended {
        case .exited: return p.exitStatus.map { "exited \($0)" } ?? "exited"
        case .killed: return "was killed by \(Self.signalName(p.signal ?? 0))"
        case .exec: return "replaced itself by exec"
        case .running: return live ? "running" : attach != nil ? "was still running at detach" : "was still running"
        case .unknown: return "ended"
        }
    }

    static func signalName(_ s: Int32) -> String {
        let names: [Int32: String] = [
            1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS",
            8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
        ]
        return names[s] ?? "signal \(s)"
    }

    static func seconds(_ s: Double) -> String {
        if s < 0.1 { return String(format: "%.1f ms", s * 1000) }
        return String(format: "%.2f s", s)
    }

    static func limit(_ v: UInt64) -> String { v == UInt64.max ? "unlimited" : String(v) }
}

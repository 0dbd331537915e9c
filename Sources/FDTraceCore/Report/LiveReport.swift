/// The report of traced processes as they are now, while they run
/// (`fdtrace snapshot`, `fdtrace top`, --snapshot-dir): the exit report's
/// grouping, with limits, command lines and sockets read from /proc at the
/// moment, checked against /proc/PID/fd (LiveReconciliation).
public enum LiveReport {
    /// Whether any image among `processes` whose key is in `keys` (default:
    /// all) still runs: a live report of them has something to show.
    public static func hasRunning(_ processes: [TracedProcess], keys: Set<Int>? = nil) -> Bool {
        processes.contains { isShown($0, keys) }
    }

    private static func isShown(_ p: TracedProcess, _ keys: Set<Int>?) -> Bool {
        p.end == .running && keys?.contains(p.key) != false
    }

    /// The report of the images among `processes` (all the collector's)
    /// whose key is in `keys` (default: all) as they are now, those still
    /// running: their limits read again from /proc, durations up to now.
    public static func build(
        _ processes: [TracedProcess], keys: Set<Int>? = nil, registry: ModuleRegistry,
        command: [String], symbolizer: Symbolizing, nativeFrames: Bool
    ) -> Report {
        let now = monotonicNow()
        let running = processes.filter { isShown($0, keys) }.map { p -> TracedProcess in
            var p = p
            let (soft, hard) = ProcFiles.openFileLimits(p.pid)
            if let soft { p.rlimitSoft = soft }
            if let hard { p.rlimitHard = hard }
            // As it shows itself now (it may have renamed itself).
            if let argv = ProcFiles.commandLine(p.pid) { p.command = argv }
            p.endTime = now
            return p
        }
        var report = ReportBuilder(
            processes: running, images: processes, registry: registry, symbolizer: symbolizer,
            nativeFrames: nativeFrames
        )
        .build(command: command, exitStatus: nil)
        refreshRunning(&report)
        return report
    }

    /// The report's processes that still run, checked against /proc now
    /// (right after every source was drained) and their sockets described
    /// as they are now: a live report, or the end of an attach session that
    /// leaves them running.
    /// `views`: /proc as taken at a moment of the caller's choosing (attach
    /// takes them as it detaches); a process without one is read now.
    static func refreshRunning(_ report: inout Report, views: [Int32: ProcSnapshot] = [:]) {
        for i in report.processes.indices where report.processes[i].ended == .running {
            let pid = report.processes[i].pid
            if let view = views[pid] ?? (try? ProcSnapshot.take(pid: pid)) { report.processes[i].reconcile(with: view) }
            describeFromProc(&report.processes[i])
        }
    }

    /// What each socket is now, from /proc at report time (the opening call
    /// only said which kind): addresses and TCP state from ProcNet,
    /// unix peers from sock_diag. Group summaries follow.
    static func describeFromProc(_ p: inout ProcessReport) {
        let inodeOf = ProcNet.socketInodes(pid: p.pid)
        guard !inodeOf.isEmpty else { return }
        let fdOf = Dictionary(inodeOf.map { ($1, $0) }) { a, _ in a }
        let net = ProcNet(pid: p.pid, inodes: Set(inodeOf.values))
        let needPeers = net.byInode.values.contains { $0.proto.hasPrefix("unix") }
        let peers = needPeers ? ProcNet.unixPeers() : [:]
        func update(_ f: inout FDReport) {
            guard f.kind == .socket, let inode = inodeOf[f.fd], let e = net.byInode[inode] else { return }
            f.protocol = e.proto
            f.local = e.local.isEmpty ? f.local : e.local
            if e.proto.hasPrefix("unix") {
                if let peer = peers[inode] { f.peer = fdOf[peer].map { "fd \($0)" } ?? "socket:[\(peer)]" }
            } else {
                f.peer = e.peer
                f.state = e.state
            }
        }
        for g in p.leaks.indices {
            for k in p.leaks[g].fds.indices { update(&p.leaks[g].fds[k]) }
            if p.leaks[g].bundle == nil { p.leaks[g].summary = FDDescription.summary(of: p.leaks[g].fds.map(\.described)) }
        }
        for k in p.standard.indices { update(&p.standard[k]) }
        for k in p.inherited.indices { update(&p.inherited[k]) }
        for k in (p.openBeforeAttach ?? []).indices { update(&p.openBeforeAttach![k]) }
    }
}

import CFDTraceSys
import CFDTraceWire
import Foundation

/// `fdtrace run`: starts the program under the shim, collects until the
/// traced tree has ended, and builds the report.
public struct RunSession {
    public var command: [String]
    public var library: String
    public var depth: Int?
    /// How long to wait for other traced processes after the root ended.
    public var lingerSeconds: Double
    /// Trace fork children and exec'd programs too.
    public var follow: Bool
    /// Snapshots while the program runs (--snapshot-dir and triggers).
    public var snapshots: SnapshotOptions?
    /// The session's name for `fdtrace snapshot --name` (--name).
    public var name: String?

    public struct SnapshotOptions {
        public var directory: String
        /// --snapshot-at: a count, or a share of the soft limit.
        public var atCount: Int?
        public var atPercent: Double?
        /// --snapshot-every, seconds.
        public var every: Double?
        public init(directory: String, atCount: Int? = nil, atPercent: Double? = nil, every: Double? = nil) {
            self.directory = directory; self.atCount = atCount; self.atPercent = atPercent; self.every = every
        }
    }

    public init(command: [String], library: String, depth: Int? = nil, lingerSeconds: Double = 2, follow: Bool = true) {
        self.command = command
        self.library = library
        self.depth = depth
        self.lingerSeconds = lingerSeconds
        self.follow = follow
    }

    public struct Outcome {
        public var report: Report
        /// The program's status as a shell reports it (128+N for signal N).
        public var status: Int32
    }

    public func run(symbolizer: Symbolizing = LLVMSymbolizer(), nativeFrames: Bool = false) throws -> Outcome {
        let path = try Launcher.resolve(command[0])
        // An abstract socket with an unguessable name; peers are checked by
        // their credentials and ancestry (Collector.acceptAll).
        let socketPath = "@fdtrace-run-\(geteuid())-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let collector = Collector(sources: [try ShimSource(socketPath: socketPath)])
        let writer = try snapshots.map { try SnapshotWriter(directory: $0.directory) }
        let command = self.command
        /// A snapshot of the images `keys` (all) that still run, if any.
        func snapshot(_ collector: Collector, keys: Set<Int>?, reason: String, pid: Int32?) {
            guard let writer, LiveReport.hasRunning(collector.processes, keys: keys) else { return }
            writer.write(LiveReport.build(collector.processes, keys: keys, registry: collector.registry, command: command,
                                          symbolizer: symbolizer, nativeFrames: nativeFrames),
                         reason: reason, pid: pid)
        }
        if writer != nil, let opts = snapshots {
            collector.snapshotHook = { [unowned collector] key, reason in
                snapshot(collector, keys: [key], reason: reason, pid: collector.processes[key].pid)
            }
            if let n = opts.atCount {
                collector.snapshotThreshold = { _ in n }
            } else if let pct = opts.atPercent {
                collector.snapshotThreshold = { soft in max(1, Int(Double(min(soft, 1 << 30)) * pct / 100)) }
            }
        }
        var nextPeriodic = snapshots?.every.map { monotonicNow() + UInt64($0 * 1e9) }
        // Queries from other terminals; a session without one still runs.
        var queryNote: String?
        let queries: QueryServer?
        do { queries = try QueryServer(name: name, command: command, symbolizer: symbolizer, nativeFrames: nativeFrames) } catch {
            queries = nil
            queryNote = "this session cannot be queried: \(error)"
        }
        let sfd = fdtc_signalfd()
        defer { if sfd >= 0 { close(sfd) } }
        var env = Launcher.environment(library: library, socket: socketPath, depth: depth)
        if !follow { env.append("\(FDT_ENV_FOLLOW)=0") }
        let pid = try Launcher.spawn(path: path, argv: command, env: env)
        collector.treeRoots.insert(pid)
        let pidfd = fdtc_pidfd_open(pid)
        defer { if pidfd >= 0 { close(pidfd) } }

        var status: Int32? = nil
        var lingerDeadline: UInt64? = nil
        while true {
            var extra: [Int32] = []
            if sfd >= 0 { extra.append(sfd) }
            if let q = queries { extra.append(q.fd) }
            if pidfd >= 0 && status == nil { extra.append(pidfd) }
            let ready = collector.poll(timeoutMs: 20, extra: extra)
            if let q = queries, ready.contains(q.fd) { q.handle(collector) }
            if let due = nextPeriodic, let every = snapshots?.every, monotonicNow() >= due, status == nil {
                collector.drainAll()
                snapshot(collector, keys: nil, reason: "periodic", pid: nil)
                nextPeriodic = monotonicNow() + UInt64(every * 1e9)
            }
            if sfd >= 0 && ready.contains(sfd) {
                var fromUser: Int32 = 0
                let sig = fdtc_read_signal(sfd, &fromUser)
                // The terminal already sent SIGINT/SIGQUIT to the program;
                // anything else sent to us is passed on.
                if sig > 0 && status == nil && (fromUser != 0 || (sig != SIGINT && sig != SIGQUIT)) { kill(pid, sig) }
            }
            if status == nil && (pidfd < 0 || ready.contains(pidfd)) {
                var ws: Int32 = 0
                if fdtc_reap(pid, &ws) == 1 {
                    if fdtc_wifsignaled(ws) != 0 {
                        status = 128 + fdtc_wtermsig(ws)
                        collector.setWaitStatus(pid: pid, exitCode: nil, signal: fdtc_wtermsig(ws))
                    } else {
                        status = fdtc_wexitstatus(ws)
                        collector.setWaitStatus(pid: pid, exitCode: fdtc_wexitstatus(ws), signal: nil)
                    }
                    lingerDeadline = monotonicNow() + UInt64(lingerSeconds * 1e9)
                }
            }
            if status != nil {
                if collector.followedImages == 0 && collector.pendingChildren.isEmpty { break }
                if let d = lingerDeadline, monotonicNow() > d {
                    collector.abandonRemaining(wait: "--wait \(String(format: "%g", lingerSeconds)) s")
                    break
                }
            }
        }
        // The root's status may have been recorded before its image listed.
        if let s = status {
            collector.setWaitStatus(pid: pid, exitCode: s >= 128 ? nil : s, signal: s >= 128 ? s - 128 : nil)
        }
        var notes = collector.rejected
        if let queryNote { notes.append(queryNote) }
        if !collector.processes.contains(where: { $0.pid == pid }) {
            var st = stat()
            if stat(path, &st) == 0 && st.st_mode & (S_ISUID | S_ISGID) != 0 {
                notes.append("\(command[0]) is setuid/setgid: the loader ignores LD_PRELOAD for it, so it was not traced")
            } else {
                notes.append("\(command[0]) never connected to the collector: it is a static binary or bypasses the dynamic loader (Go programs do), so its call sites cannot be traced")
            }
        }
        let builder = ReportBuilder(processes: collector.processes, registry: collector.registry, symbolizer: symbolizer,
                                    nativeFrames: nativeFrames)
        var report = builder.build(command: command, exitStatus: status, notes: notes)
        report.collector = CollectorUsage.current(events: collector.recordsRead)
        return Outcome(report: report, status: status ?? ExitStatus.tracerFailure)
    }
}

import CFDTraceSys
import Foundation

/// `fdtrace attach`: traces a process that runs already, with the kernel
/// event source — all its threads, and the processes it forks or execs from
/// then on — until it exits, `duration` runs out, or fdtrace is told to stop
/// (SIGINT, SIGTERM, SIGHUP, SIGQUIT); then detaches and builds the report.
/// The process is never signalled nor ptraced and gets no descriptor of
/// ours: its pid goes into the kernel program's traced set and out again,
/// and the program is unloaded (its links destroyed) when the session ends.
public struct AttachSession {
    public var target: AttachTarget
    /// Seconds to stay attached (nil: until it exits or fdtrace is stopped).
    public var duration: Double?
    /// The session's name for `fdtrace snapshot --name` (--name).
    public var name: String?
    /// Snapshots while attached (--snapshot-dir and triggers).
    public var snapshots: SnapshotOptions?
    /// --metrics / --metrics-file (bound before the attach).
    public var metrics: MetricsExporter?

    public init(target: AttachTarget) { self.target = target }

    /// What ended the session.
    enum Stop: Equatable {
        case exited, duration
        case signal(Int32)
    }

    static let pythonNote =
        "a Python program: fdtrace attach shows native frames only (fdtrace run gives Python lines, through the shim)"

    /// Attaches, collects, detaches. Throws an FDTraceError with status
    /// `ExitStatus.procViewOnly` when the kernel source cannot be loaded
    /// here (nothing was attached).
    public func run(symbolizer: Symbolizing = SymbolizerChoice.fromEnvironment(), nativeFrames: Bool = false) throws -> Report {
        let kernel: KernelEventSource
        switch KernelEventSource.open() {
        case .success(let k): kernel = k
        case .failure(let e): throw FDTraceError(e.message, status: ExitStatus.procViewOnly)
        }
        defer { kernel.kernel.close() }
        // Blocked before the attach: from then on a Ctrl-C detaches.
        let signals = fdtc_signalfd()
        defer { if signals >= 0 { close(signals) } }
        let collector = Collector(sources: [kernel])
        let services = try SessionServices(
            collector: collector, name: name, command: target.command, snapshots: snapshots, symbolizer: symbolizer,
            nativeFrames: nativeFrames)
        let attachedAt = Date()
        let start = monotonicNow()
        let held = try kernel.attach(target.pid)
        let gone = !ProcFiles.isAlive(target.pid)
        _ = collector.poll(timeoutMs: 0)  // it appears, with what it holds
        if gone {
            // Its exit, if it came after the attach, is read now (and
            // ends it the round after): else there is none to wait for.
            _ = collector.poll(timeoutMs: 0)
            if collector.isFollowed(target.pid) {
                throw FDTraceError("process \(target.pid) exited before it could be attached", status: ExitStatus.failure)
            }
        }
        if target.isPython, let key = collector.processes.lastIndex(where: { $0.pid == target.pid }) {
            collector.feed(key) { $0.apply(.note(time: start, text: Self.pythonNote)) }
        }
        let until = duration.map { "for \(String(format: "%g", $0)) s, " } ?? ""
        SessionServices.say(
            "attached to pid \(target.pid) (\(TextRenderer.commandLine(target.command, fallback: target.executable))): "
                + "\(held) descriptor\(held == 1 ? "" : "s") open before attach; tracing \(until)until it exits or Ctrl-C")
        let stop = watch(collector, services: services, signals: signals, start: start, symbolizer: symbolizer, nativeFrames: nativeFrames)
        // Everything the process did up to now: the ring read to its end.
        _ = collector.poll(timeoutMs: 0)
        // What /proc shows at the detach, not when the report is done: the
        // process runs on, and what it opens after the detach is not ours.
        var views: [Int32: ProcSnapshot] = [:]
        for p in collector.processes where collector.isFollowed(p.pid) { views[p.pid] = try? ProcSnapshot.take(pid: p.pid) }
        let root = target.pid
        collector.abandon { pid in
            if pid != root { return "still running when fdtrace detached (it runs on)" }
            return ProcFiles.isAlive(pid) ? nil : "it ended, but its end never reached fdtrace (events lost): its table is as last seen"
        }
        kernel.kernel.close()
        let seconds = Double(monotonicNow() &- start) / 1e9
        return report(
            collector, stop: stop, services: services, attachedAt: attachedAt, seconds: seconds, views: views, symbolizer: symbolizer,
            nativeFrames: nativeFrames)
    }

    /// Rounds until the process exits, the duration runs out or a signal
    /// comes; snapshots and queries are served meanwhile.
    private func watch(
        _ collector: Collector, services: SessionServices, signals: Int32, start: UInt64, symbolizer: Symbolizing, nativeFrames: Bool
    ) -> Stop {
        let deadline = duration.map { start + UInt64($0 * 1e9) }
        let root = target.pid
        var stop = Stop.exited
        // Rounds that found it gone and still followed: its exit event was
        // lost (a full ring); after two, nothing will come.
        var goneRounds = 0
        var loop = SessionLoop(collector: collector, queries: services.queries, lingerSeconds: 0, waitName: "")
        if let metrics {
            loop.metrics = SessionMetrics(exporter: metrics, command: target.command, symbolizer: symbolizer, nativeFrames: nativeFrames)
            loop.metrics?.start(root: root)
        }
        loop.run(extra: { signals >= 0 ? [signals] : [] }) { ready in
            if signals >= 0 && ready.contains(signals) {
                var fromUser: Int32 = 0
                let sig = fdtc_read_signal(signals, &fromUser)
                if sig > 0 {
                    stop = .signal(sig)
                    return .givenUp
                }
            }
            if !collector.isFollowed(root) { return .givenUp }
            goneRounds = ProcFiles.isAlive(root) ? 0 : goneRounds + 1
            if goneRounds > 2 { return .givenUp }
            if let d = deadline, monotonicNow() >= d {
                stop = .duration
                return .givenUp
            }
            services.live?.periodic(collector)
            return .running
        }
        return stop
    }

    /// The report of the session: the images followed, those still running
    /// checked against /proc now, and what the attach was.
    private func report(
        _ collector: Collector, stop: Stop, services: SessionServices, attachedAt: Date, seconds: Double,
        views: [Int32: ProcSnapshot], symbolizer: Symbolizing, nativeFrames: Bool
    ) -> Report {
        var notes = collector.rejected
        if let n = services.queryNote { notes.append(n) }
        let exit = stop == .exited ? collector.processes.last { $0.pid == target.pid }?.exitBegin?.status : nil
        var report = collector.report(
            command: target.command, exitStatus: exit, notes: notes, symbolizer: symbolizer, nativeFrames: nativeFrames)
        LiveReport.refreshRunning(&report, views: views)
        let detached: AttachInfo.Detach
        var signal: Int32?
        switch stop {
        case .exited: detached = .exited
        case .duration: detached = .duration
        case .signal(let s):
            detached = .signal
            signal = s
        }
        report.attach = AttachInfo(
            pid: target.pid, attachedAt: ISO8601DateFormatter().string(from: attachedAt), attachedSeconds: seconds,
            detached: detached, signal: signal)
        return report
    }
}

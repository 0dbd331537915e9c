import CFDTraceSys
import Foundation

/// The collector: follows the traced process images its event sources
/// find, drives each image's tables from the records they hand over, links
/// images into processes (an exec's next image, a fork child starting from
/// its parent's table), samples growth and limits, and takes snapshots at
/// thresholds; in one thread with one poll loop. It does not know which
/// source fed a record.
public final class Collector: EventSourceHost {
    public private(set) var processes: [TracedProcess] = []
    public var registry: ModuleRegistry { sink.registry }
    /// Refused processes, for the report (the first 100).
    public private(set) var rejected: [String] = []
    /// Pids whose descendants may connect whatever their uid (the program
    /// started by `fdtrace run`, the owner in bare mode).
    public var treeRoots: Set<Int32> = []
    /// Called to take a snapshot of process `key` (EMFILE, ENFILE, a
    /// threshold); the process that asked waits until it returns.
    public var snapshotHook: ((_ key: Int, _ reason: SnapshotReason) -> Void)?
    /// Answers a scope question of image `key` (ScopeAnswerer writes the
    /// answer file): 0, or an errno saying why not. The program waits.
    public var scopeHook: ((_ key: Int, _ question: ScopeQuestion) -> Int32)?
    /// Open descriptors (given the soft limit) at which a process is
    /// snapshotted, once per crossing.
    public var snapshotThreshold: ((_ softLimit: UInt64) -> Int)?
    /// Calls that failed with EMFILE/ENFILE, as the shim reports them (once
    /// per burst): the metrics' fdtrace_emfile_total.
    public private(set) var exhaustedCalls = 0

    private let sources: [EventSource]
    /// The images being followed, by key, and the source that feeds each.
    private var following: [Int: EventSource] = [:]
    /// Where sources write records; holds the image being fed.
    private var sink = RecordSink(process: .placeholder)
    private var idleRounds = 0
    /// When the last poll returned: rounds with work pending are paced
    /// from it.
    private var lastPoll: UInt64 = 0
    /// The shortest time between two rounds while records keep coming.
    /// Unpaced, the collector polled again at once after every round (each
    /// a poll of every descriptor, a look at every ring): in a build of
    /// many short processes that was most of its CPU, taken from the
    /// program's compilers on a small machine ((13): 1.36x -> 1.26x,
    /// (12): 1.99x -> 1.71x, its CPU in (4) 0.45 -> 0.25 s). A ring holds
    /// far more than a millisecond of records; one filling up, or a
    /// process waiting for an answer, is served at once.
    static let busyRoundInterval: UInt64 = 1_000_000
    private var blindVerdicts = BlindRuntimeVerdicts()
    private var aboveThreshold: Set<Int> = []
    private var lastGrowthSample: UInt64 = 0

    public init(sources: [EventSource]) {
        self.sources = sources
        sink.attributeInherited = { [unowned self] k, p in self.attributeInherited(k, in: &p) }
    }

    /// Images followed now.
    public var followedImages: Int { following.count }
    /// Records applied, from every source.
    public var recordsRead: Int { sink.records }

    /// Processes known to a source and not taken in yet (their hellos).
    public var hasNewcomers: Bool { sources.contains { $0.hasNewcomers } }

    /// Children announced by a fork that have not connected and still live.
    public var pendingChildren: [Int32] {
        let connected = Set(processes.map(\.pid))
        return processes.flatMap { $0.expectedChildren.keys }.filter { pid in
            !connected.contains(pid) && ProcFiles.isRunning(pid)
        }
    }

    /// Whether the latest image of `pid` asked for the report.
    public func reportRequested(by pid: Int32) -> Bool {
        processes.last { $0.pid == pid }?.reportRequested ?? false
    }

    /// Tells the owner that its report is written (it waits at exit).
    public func sendReportDone(to pid: Int32) {
        for (key, source) in following where processes[key].pid == pid { source.reportWritten(key) }
    }

    /// Whether any image of `pid` is still followed.
    public func isFollowed(_ pid: Int32) -> Bool {
        following.keys.contains { processes[$0].pid == pid }
    }

    public func setWaitStatus(pid: Int32, exitCode: Int32?, signal: Int32?) {
        if let i = processes.lastIndex(where: { $0.pid == pid }) { processes[i].waitStatus = (exitCode, signal) }
    }

    // MARK: - the round

    /// One round: waits up to `timeoutMs` for activity on the sources and
    /// `extra` descriptors, admits newcomers, drains records, samples, serves
    /// requests and finishes images whose process ended. Returns the extra
    /// descriptors that are readable.
    public func poll(timeoutMs: Int32, extra: [Int32] = []) -> Set<Int32> {
        let readable = wait(timeoutMs: timeoutMs, extra: extra)
        // Newcomers are taken in now; the rest of the round is for the
        // images followed while the poll waited.
        let followed = following.keys.sorted()
        for s in sources { s.admit(readable: readable, host: self) }
        for key in followed { drain(key, limit: 1 << 16) }
        for key in followed where following[key] != nil { answerScopes(key) }
        let now = monotonicNow()
        for key in followed where processes[key].blindness != nil { sampleProc(key, now: now) }
        sampleGrowth(followed, now: now)
        for key in followed where following[key] != nil { checkThreshold(key) }
        for key in followed { following[key]?.serveRequests(key, host: self) }
        let wasFollowed = Set(followed)
        for s in sources {
            for key in s.ended(readable: readable) where wasFollowed.contains(key) && following[key] === s { finish(key) }
        }
        return readable.intersection(extra)
    }

    /// The questions image `key` asked of its scopes, answered in order; it
    /// waits for each answer.
    private func answerScopes(_ key: Int) {
        guard !processes[key].table.scopes.questions.isEmpty else { return }
        for q in processes[key].table.scopes.takeQuestions() {
            let status = scopeHook?(key, q) ?? ENOTSUP
            following[key]?.scopeAnswered(key, request: q.request, status: status)
        }
    }

    /// Polls the sources' descriptors and `extra`; returns the readable ones.
    /// Records fill shared memory without a syscall, so nothing wakes the
    /// poll for them: it waits briefly after activity (1, 2, 4 ... ms) and
    /// longer only when idle.
    private func wait(timeoutMs: Int32, extra: [Int32]) -> Set<Int32> {
        var fds = (sources.flatMap(\.pollDescriptors) + extra).map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let busy = sources.contains { $0.hasPendingWork }
        idleRounds = busy ? 0 : min(idleRounds + 1, 8)
        let wait = busy ? 0 : min(timeoutMs, Int32(1) << (idleRounds - 1))
        if busy {
            let since = monotonicNow() &- lastPoll
            if since < Self.busyRoundInterval && !sources.contains(where: { $0.hasUrgentWork }) {
                var pause = timespec(tv_sec: 0, tv_nsec: Int(Self.busyRoundInterval - since))
                nanosleep(&pause, nil)
            }
        }
        _ = Glibc.poll(&fds, nfds_t(fds.count), wait)
        lastPoll = monotonicNow()
        return Set(fds.filter { $0.revents != 0 }.map(\.fd))
    }

    /// Marks the timeline of every image still followed (a periodic snapshot).
    public func markTimelines(_ reason: SnapshotReason) {
        let now = monotonicNow()
        for key in following.keys { processes[key].table.timeline.mark(reason.rawValue, at: now) }
    }

    /// Every image's records read to the end (before a live report).
    public func drainAll() {
        for s in sources { s.drain(nil, limit: .max, into: self) }
    }

    private func drain(_ key: Int, limit: Int) {
        following[key]?.drain(key, limit: limit, into: self)
    }

    /// The /proc view of an image the shim is blind to, every 200 ms: the
    /// last one is what the exit report can say about it.
    private func sampleProc(_ key: Int, now: UInt64) {
        let pid = processes[key].pid
        guard now &- processes[key].lastProcViewTime >= 200_000_000,
            let view = try? ProcSnapshot.take(pid: pid)
        else { return }
        // A process in exit has lost its memory (and its exe link) before
        // the kernel closes its descriptors: a table read then is half gone.
        guard ProcFiles.hasExecutable(pid) else { return }
        processes[key].lastProcView = view
        processes[key].lastProcViewTime = now
    }

    /// Open descriptors per site, once a second; the limits too, when a
    /// threshold depends on them (programs raise or lower their own).
    private func sampleGrowth(_ keys: [Int], now: UInt64) {
        guard now &- lastGrowthSample >= 1_000_000_000 else { return }
        lastGrowthSample = now
        for key in keys where following[key] != nil {
            processes[key].growth.add(time: now, counts: processes[key].table.stacksNow())
            if snapshotThreshold != nil {
                let (soft, hard) = ProcFiles.openFileLimits(processes[key].pid)
                if let soft { processes[key].rlimitSoft = soft }
                if let hard { processes[key].rlimitHard = hard }
            }
        }
    }

    /// A snapshot, once per crossing, when a process holds the threshold.
    private func checkThreshold(_ key: Int) {
        guard let threshold = snapshotThreshold, let hook = snapshotHook else { return }
        let p = processes[key]
        if p.table.count >= threshold(p.rlimitSoft) {
            if aboveThreshold.insert(key).inserted {
                processes[key].table.timeline.mark(SnapshotReason.threshold.rawValue, at: monotonicNow())
                hook(key, .threshold)
            }
        } else {
            aboveThreshold.remove(key)
        }
    }

    private func finish(_ key: Int) {
        drain(key, limit: .max)
        guard let source = following.removeValue(forKey: key) else { return }
        let counters = source.stopFollowing(key, processEnded: true)
        var p = processes[key]
        p.fullWaits = counters.fullWaits
        p.fullWaitNanoseconds = counters.fullWaitNanoseconds
        p.recordsLost = counters.recordsLost
        if p.end == .running { p.end = .exited(reconciled: p.kernelViewComplete) }
        if p.endTime == nil { p.endTime = monotonicNow() }
        processes[key] = p
    }

    /// Stops following an image that may run on (it exec'd, its stream
    /// broke, it outlived the program).
    private func stopFollowing(_ key: Int) {
        following.removeValue(forKey: key)?.stopFollowing(key, processEnded: false)
    }

    /// Stops following the processes still followed (but `except`) when
    /// the wait after the program ended ran out (`wait` names it, e.g.
    /// "--wait 2 s"): they outlived the program. Each keeps its table as of
    /// now, the command line it shows now, and a note saying so.
    public func abandonRemaining(wait: String, except: Int32? = nil) {
        abandon(except: except) { pid in
            // setsid (daemon(3) calls it): a session of its own.
            let what = ProcFiles.sessionID(pid) == pid ? " (a daemon: it started a session of its own)" : ""
            return "still running after \(wait): it outlived the program\(what); its descriptors are as they were when the wait ran out"
        }
    }

    /// Stops following the processes still followed (but `except`), which
    /// run on: each keeps its table as of now, the command line it shows
    /// now, and the note `note` gives for its pid, if any (`fdtrace attach`
    /// detaching, the wait after the program running out).
    public func abandon(except: Int32? = nil, note: (Int32) -> String?) {
        let now = monotonicNow()
        for key in following.keys.sorted() where processes[key].pid != except {
            drain(key, limit: .max)
            let pid = processes[key].pid
            if let argv = ProcFiles.commandLine(pid) { processes[key].command = argv }
            processes[key].abandonedAt = now
            if let n = note(pid) { processes[key].notes.append(n) }
            stopFollowing(key)
        }
    }

    // MARK: - EventSourceHost

    public func appeared(_ start: ProcessStart, from source: EventSource) -> Int? {
        if start.forkParent == 0 { adoptSilentForkChild(pid: start.pid) }
        let key = processes.count
        // A fork child's parent is the process that forked it, even if that
        // one exited before the child said hello (a daemonizing parent).
        var p = TracedProcess(
            key: key, pid: start.pid, ppid: start.forkParent != 0 ? start.forkParent : start.ppid,
            forkParent: start.forkParent, command: start.command, executable: start.executable,
            startTime: start.startTime, rlimitSoft: start.rlimitSoft, rlimitHard: start.rlimitHard)
        p.blindness = start.seesSystemCalls ? nil : blindVerdicts.reason(executable: start.executable)
        p.attached = start.attached
        p.kernelStartTime = ProcFiles.kernelStartTime(start.pid)
        if let refusal = followExec(into: &p) {
            refused(refusal)
            return nil
        }
        if start.forkParent != 0 { startFromParent(&p, forkID: start.forkID) }
        processes.append(p)
        following[key] = source
        return key
    }

    /// A new image of a pid whose previous image did not exit: exec. The
    /// previous image ends here (its records read to the end), and the new
    /// one knows it came from it. Returns a refusal when the previous image
    /// is still there: the same process appearing twice.
    private func followExec(into p: inout TracedProcess) -> String? {
        let pid = p.pid, startTime = p.kernelStartTime
        // A start time is unknown when the process had ended before its
        // hello was read (the shim does not wait for the collector).
        guard let prev = processes.lastIndex(where: { $0.pid == pid && $0.end != .execed }),
            processes[prev].exitBegin == nil,
            processes[prev].kernelStartTime == startTime || processes[prev].kernelStartTime == nil || startTime == nil
        else { return nil }
        if let source = following[prev] {
            guard source.isReplaced(prev) else { return "refused pid \(pid): it is already connected" }
            drain(prev, limit: .max)
            stopFollowing(prev)
        }
        processes[prev].end = .execed
        if processes[prev].endTime == nil { processes[prev].endTime = p.startTime }
        p.execPredecessor = prev
        return nil
    }

    public var hasForksInFlight: Bool {
        following.keys.contains { !processes[$0].forksInFlight.isEmpty }
    }

    public func awaitsFork(_ start: ProcessStart) -> Bool {
        guard start.forkParent == 0, !processes.contains(where: { $0.pid == start.pid && $0.end == .running }) else {
            return false
        }
        let parents = following.keys.filter { processes[$0].pid == start.ppid }
        for key in parents { drain(key, limit: .max) }
        if isAnnouncedChild(start.pid) { return false }
        return parents.contains { following[$0] != nil && !processes[$0].forksInFlight.isEmpty }
    }

    /// A fork child connects at its first record (the shim's
    /// fdt_connect_deferred): one that exec'd without recording anything
    /// never did. Its image is made here, when its program appears, from
    /// what its parent said: the fork (its table then) and the child's pid.
    /// The program then follows it as after any exec.
    private func adoptSilentForkChild(pid: Int32) {
        guard let parent = processes.lastIndex(where: { $0.expectedChildren[pid] != nil }),
            let expected = processes[parent].expectedChildren[pid],
            !hasImage(of: pid, forkedBy: processes[parent].pid)
        else { return }
        let from = processes[parent]
        var child = TracedProcess(
            key: processes.count, pid: pid, ppid: from.pid, forkParent: from.pid, command: from.command,
            executable: from.executable, startTime: expected.forkedAt, rlimitSoft: from.rlimitSoft,
            rlimitHard: from.rlimitHard)
        startFromParent(&child, forkID: expected.forkID, parent: parent)
        processes.append(child)
    }

    /// Fork children that never connected and whose program never said
    /// hello (they recorded nothing: killed, ended by a raw exit, or still
    /// running when the session ends) get their images at the end, from
    /// what their parents said, so that the report still lists them.
    public func settleSilentChildren() {
        let now = monotonicNow()
        let silent = processes.flatMap { p in p.expectedChildren.keys.map { (p.key, $0) } }.sorted { $0 < $1 }
        for (parent, pid) in silent where processes[parent].expectedChildren[pid] != nil {
            guard !hasImage(of: pid, forkedBy: processes[parent].pid) else { continue }
            let running = ProcFiles.isRunning(pid)
            adoptSilentForkChild(pid: pid)
            guard let key = processes.indices.last, processes[key].pid == pid else { continue }
            processes[key].notes.append("it recorded nothing after its fork: the tracer's table is what it inherited")
            if running {
                processes[key].abandonedAt = now
            } else {
                processes[key].end = .exited(reconciled: false)
                processes[key].endTime = now
            }
        }
    }

    /// A traced parent said it forked `pid`, and the child has not connected.
    private func isAnnouncedChild(_ pid: Int32) -> Bool {
        processes.contains { $0.expectedChildren[pid] != nil }
    }

    /// An image of `pid` runs, or the child connected itself (its parent's
    /// child record may be read after its hello: the entry is stale then).
    private func hasImage(of pid: Int32, forkedBy parent: Int32) -> Bool {
        processes.contains { $0.pid == pid && ($0.end == .running || $0.forkParent == parent) }
    }

    /// A fork child starts with its parent's table as of the fork: the
    /// parent wrote that record before the child existed.
    private func startFromParent(_ p: inout TracedProcess, forkID: UInt64, parent known: Int? = nil) {
        let forkParent = p.forkParent
        guard let parent = known ?? processes.lastIndex(where: { $0.pid == forkParent }) else { return }
        drain(parent, limit: .max)
        if let snap = processes[parent].forkSnapshots.removeValue(forKey: forkID) {
            p.table = snap.copy(to: p.key)
        } else {
            p.table = processes[parent].table.copy(to: p.key)
        }
        processes[parent].expectedChildren.removeValue(forKey: p.pid)
        // Its hello shows the parent's title by now, not its name.
        p.startedAs = processes[parent].startedAs
    }

    public func refused(_ reason: String) {
        if rejected.count < 100 { rejected.append(reason) }
    }

    public func isInTracedTree(_ pid: Int32, connecting: Set<Int32> = []) -> Bool {
        // A child forked by a traced process (its parent named it), even if
        // it never connected before its program (of another uid, after a
        // privilege drop) did, and has ended since: no /proc to walk.
        for key in following.keys.sorted() { drain(key, limit: .max) }
        if isAnnouncedChild(pid) { return true }
        var traced = Set(processes.map(\.pid))
        traced.formUnion(treeRoots)
        traced.formUnion(connecting)
        var p = pid
        for _ in 0..<64 {
            if traced.contains(p) { return true }
            guard p > 1, let parent = ProcFiles.parentPID(p) else { return false }
            p = parent
        }
        return false
    }

    public func feed(_ key: Int, _ body: (inout RecordSink) throws -> Void) {
        swap(&sink.process, &processes[key])
        defer { swap(&sink.process, &processes[key]) }
        do {
            try body(&sink)
        } catch {
            sink.process.streamError = "pid \(sink.process.pid): \(error); its events are no longer read"
            stopFollowing(key)
            if sink.process.end == .running { sink.process.end = .exited(reconciled: false) }
        }
    }

    public func snapshotRequested(_ key: Int, errno: Int32) {
        // Everything the process did before the failing call is in its
        // records: take them all (a threshold it crossed on the way first),
        // then the snapshot; the process goes on when this returns.
        drain(key, limit: .max)
        checkThreshold(key)
        exhaustedCalls += 1
        let reason: SnapshotReason = errno == ENFILE ? .enfile : .emfile
        processes[key].table.timeline.mark(reason.rawValue, at: monotonicNow())
        snapshotHook?(key, reason)
    }

    public func reportRequested(_ key: Int) {
        guard !processes[key].reportRequested else { return }
        drain(key, limit: .max)
        processes[key].reportRequested = true  // answered by sendReportDone
    }

    /// Finds where an inherited descriptor was opened: in the image this
    /// one replaced by exec, or else in the traced parent that spawned it
    /// (checked by inode, since the parent's numbers may have moved on).
    private func attributeInherited(_ k: KernelFD, in p: inout TracedProcess) {
        guard k.fd > 2 else { return }
        var source: TracedProcess? = p.execPredecessor.map { processes[$0] }
        var sameInode = true
        let ppid = p.ppid
        if source == nil, let parent = processes.lastIndex(where: { $0.pid == ppid && $0.end == .running }) {
            source = processes[parent]
            sameInode = ProcFiles.inode(pid: ppid, fd: k.fd) == k.inode
        }
        guard let src = source, sameInode, let t = src.table[k.fd] else { return }
        let origin: InheritedOrigin
        if t.origin == .inherited, let earlier = src.table.inheritedOrigins[k.fd] {
            origin = earlier  // carried through several execs
        } else if t.origin == .traced || t.origin == .forked {
            origin = InheritedOrigin(
                processKey: src.key, pid: src.pid, command: src.command, call: t.call,
                stack: t.stack, cloexec: t.cloexec)
        } else {
            return
        }
        p.table.attribute(fd: k.fd, to: origin)
        if p.inheritedLeaks.count < 65536 {
            p.inheritedLeaks.append(InheritedLeak(fd: k.fd, view: k, origin: origin))
        }
    }
}

extension Collector {
    /// The report of every image the collector followed (at the end of a
    /// session), with the collector's own cost.
    public func report(
        command: [String], exitStatus: Int32?, notes: [String], symbolizer: Symbolizing,
        nativeFrames: Bool
    ) -> Report {
        settleSilentChildren()
        var report = ReportBuilder(processes: processes, registry: registry, symbolizer: symbolizer, nativeFrames: nativeFrames)
            .build(command: command, exitStatus: exitStatus, notes: notes)
        report.collector = CollectorUsage.current(events: recordsRead)
        return report
    }
}

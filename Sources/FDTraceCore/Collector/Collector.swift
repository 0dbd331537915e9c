import CFDTraceSys
import CFDTraceWire
import Foundation

/// The collector: accepts traced processes on the session socket (a
/// handshake; the process then closes its end), maps each one's event ring,
/// watches it through a pidfd, and drives its tables from the records, in
/// one thread with one poll loop.
public final class Collector {
    public private(set) var processes: [TracedProcess] = []
    public var registry: ModuleRegistry { applier.registry }
    /// Refused connections, for the report (the first 100).
    public private(set) var rejected: [String] {
        get { refusals }
        set { if newValue.count <= 100 { refusals = newValue } else { refusalsDropped += 1 } }
    }
    private var refusals: [String] = []
    public private(set) var refusalsDropped = 0
    private var applier = RecordApplier()
    /// Accepted connections waiting for their hello: peer pid, deadline.
    private var pending: [Int32: (pid: pid_t, deadline: UInt64)] = [:]
    /// Pids whose descendants may connect whatever their uid (the program
    /// started by `fdtrace run`, the owner in bare mode).
    public var treeRoots: Set<Int32> = []
    private var idleRounds = 0
    /// Called to take a snapshot of process `key` ("EMFILE", "ENFILE",
    /// "threshold"); the process that asked waits until it returns.
    public var snapshotHook: ((_ key: Int, _ reason: String) -> Void)?
    /// Open descriptors (given the soft limit) at which a process is
    /// snapshotted, once per crossing.
    public var snapshotThreshold: ((_ softLimit: UInt64) -> Int)?
    private var aboveThreshold: Set<Int> = []
    private var lastGrowthSample: UInt64 = 0
    public let socketPath: String
    private let listenFD: Int32
    /// Traced images being read, by the collector's pidfd of the process.
    private var connections: [Int32: Connection] = [:]

    private final class Connection {
        let pidfd: Int32
        let ring: RingReader
        let key: Int
        init(pidfd: Int32, ring: RingReader, key: Int) { self.pidfd = pidfd; self.ring = ring; self.key = key }
    }

    /// `socketPath` starting with "@" names an abstract socket (no file:
    /// reachable only to processes that know the name; peers are checked).
    public init(socketPath: String) throws {
        if !socketPath.hasPrefix("@") { unlink(socketPath) }
        let fd = fdtc_listen_unix(socketPath)
        guard fd >= 0 else {
            throw FDTraceError("cannot listen on \(socketPath): \(String(cString: strerror(-fd)))", status: ExitStatus.tracerFailure)
        }
        self.listenFD = fd
        self.socketPath = socketPath
        fdtc_raise_nofile()
    }

    deinit {
        for c in connections.values {
            c.ring.detach()
            close(c.pidfd)
        }
        for sock in pending.keys { close(sock) }
        close(listenFD)
        if !socketPath.hasPrefix("@") { unlink(socketPath) }
        // The shims' "warned once in this session" markers (state.c).
        let prefix = "warned-" + String(socketPath.map { $0 == "/" || $0 == "." ? "_" : $0 }) + "-"
        let dir = SessionDirectory.path()
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where f.hasPrefix(prefix) {
            unlink("\(dir)/\(f)")
        }
    }

    public var openConnections: Int { connections.count }
    /// Records consumed from all rings.
    public var recordsRead: Int { applier.records }
    /// The process that started this collector (bare mode).
    public private(set) var ownerPID: Int32?

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
        for c in connections.values where processes[c.key].pid == pid { c.ring.complete(FDT_RING_REQ_REPORT) }
    }

    /// Whether any image of `pid` is still connected.
    public func isConnected(_ pid: Int32) -> Bool {
        connections.values.contains { processes[$0.key].pid == pid }
    }

    /// One round: waits up to `timeoutMs` for activity on the session, the
    /// connections and `extra` descriptors, accepts newcomers, drains rings
    /// and finishes processes whose connection ended. Returns the extra
    /// descriptors that are readable.
    public func poll(timeoutMs: Int32, extra: [Int32] = []) -> Set<Int32> {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
        let waiting = Array(pending.keys)
        fds += waiting.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let base = 1 + waiting.count
        let conns = Array(connections.values)
        fds += conns.map { pollfd(fd: $0.pidfd, events: Int16(POLLIN), revents: 0) }
        fds += extra.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        // Rings fill without waking anyone: keep the wait short while busy.
        // Rings fill without a syscall, so nothing wakes us: wait briefly
        // after activity (1, 2, 4 ... ms) and longer only when idle.
        let busy = conns.contains { $0.ring.pendingBytes > 0 || $0.ring.snapshotRequest != 0 } || !pending.isEmpty
        idleRounds = busy ? 0 : min(idleRounds + 1, 8)
        let wait = busy ? 0 : min(timeoutMs, Int32(1) << (idleRounds - 1))
        _ = Glibc.poll(&fds, nfds_t(fds.count), wait)
        if fds[0].revents != 0 { acceptAll() }
        let now = monotonicNow()
        for (i, sock) in waiting.enumerated() {
            guard let (pid, deadline) = pending[sock] else { continue }
            if fds[1 + i].revents != 0 {
                pending.removeValue(forKey: sock)
                handshake(sock, peerPID: pid)
            } else if now > deadline {
                pending.removeValue(forKey: sock)
                if ProcFiles.isAlive(pid) { rejected.append("refused pid \(pid): no hello within 2 s") }
                close(sock)
            }
        }
        for c in conns { drain(c, limit: 1 << 16) }
        for c in conns where processes[c.key].blindness != nil { sampleProc(c, now: now) }
        if now &- lastGrowthSample >= 1_000_000_000 {
            lastGrowthSample = now
            for c in conns where connections[c.pidfd] != nil {
                processes[c.key].growth.add(time: now, counts: processes[c.key].table.stacksNow())
                // Programs raise or lower their limit after they start.
                if snapshotThreshold != nil {
                    let (soft, hard) = ProcFiles.openFileLimits(processes[c.key].pid)
                    if let soft { processes[c.key].rlimitSoft = soft }
                    if let hard { processes[c.key].rlimitHard = hard }
                }
            }
        }
        for c in conns where connections[c.pidfd] != nil { checkThreshold(c) }
        for c in conns where connections[c.pidfd] != nil { serveRequests(c) }
        // A readable pidfd: the process has ended.
        for (i, c) in conns.enumerated() where fds[base + i].revents != 0 && connections[c.pidfd] != nil { finish(c) }
        var ready = Set<Int32>()
        for (i, fd) in extra.enumerated() where fds[base + conns.count + i].revents != 0 { ready.insert(fd) }
        return ready
    }

    /// The /proc view of an image the shim is blind to, every 200 ms: the
    /// last one is what the exit report can say about it.
    private func sampleProc(_ c: Connection, now: UInt64) {
        let pid = processes[c.key].pid
        guard now &- processes[c.key].lastProcViewTime >= 200_000_000,
              let view = try? ProcSnapshot.take(pid: pid) else { return }
        // A process in exit has lost its memory (and its exe link) before
        // the kernel closes its descriptors: a table read then is half gone.
        guard ProcFiles.hasExecutable(pid) else { return }
        processes[c.key].lastProcView = view
        processes[c.key].lastProcViewTime = now
    }

    /// Every ring read to its head (before a live report).
    public func drainAll() {
        for c in connections.values { drain(c, limit: .max) }
    }

    /// A snapshot, once per crossing, when a process holds the threshold.
    private func checkThreshold(_ c: Connection) {
        guard let threshold = snapshotThreshold, let hook = snapshotHook else { return }
        let p = processes[c.key]
        if p.table.count >= threshold(p.rlimitSoft) {
            if aboveThreshold.insert(c.key).inserted { hook(c.key, "threshold") }
        } else {
            aboveThreshold.remove(c.key)
        }
    }

    /// Requests waiting in a ring header (the process waits for the answer).
    private func serveRequests(_ c: Connection) {
        let snapshot = c.ring.snapshotRequest
        if snapshot != 0 {
            // Everything the process did before the failing call is in its
            // ring: take it all (a threshold it crossed on the way first),
            // then the snapshot, then let it go on.
            drain(c, limit: .max)
            checkThreshold(c)
            snapshotHook?(c.key, snapshot == UInt32(ENFILE) ? "ENFILE" : "EMFILE")
            c.ring.complete(FDT_RING_REQ_SNAPSHOT)
        }
        if c.ring.reportRequested && !processes[c.key].reportRequested {
            drain(c, limit: .max)
            processes[c.key].reportRequested = true // answered by sendReportDone
        }
    }

    /// Stops following the processes still connected (but `except`) when
    /// the wait after the program ended ran out (`wait` names it, e.g.
    /// "--wait 2 s"): they outlived the program. Each keeps its table as of
    /// now, the command line it shows now, and a note saying so.
    public func abandonRemaining(wait: String, except: Int32? = nil) {
        let now = monotonicNow()
        for c in Array(connections.values) where processes[c.key].pid != except {
            drain(c, limit: .max)
            let pid = processes[c.key].pid
            if let argv = ProcFiles.commandLine(pid) { processes[c.key].command = argv }
            processes[c.key].abandonedAt = now
            // setsid (daemon(3) calls it): a session of its own.
            let what = ProcFiles.sessionID(pid) == pid ? " (a daemon: it started a session of its own)" : ""
            processes[c.key].notes.append("still running after \(wait): it outlived the program\(what); its descriptors are as they were when the wait ran out")
            drop(c)
        }
    }


    public func setWaitStatus(pid: Int32, exitCode: Int32?, signal: Int32?) {
        if let i = processes.lastIndex(where: { $0.pid == pid }) { processes[i].waitStatus = (exitCode, signal) }
    }

    // MARK: - connections

    /// Accepts newcomers. Credentials are checked at once; the hello is
    /// read when it arrives (a peer that sends nothing stalls no one).
    private func acceptAll() {
        while true {
            let sock = fdtc_accept(listenFD)
            if sock < 0 { return }
            var peerPID: pid_t = 0, peerUID: uid_t = 0, peerGID: gid_t = 0
            guard fdtc_peer_cred(sock, &peerPID, &peerUID, &peerGID) == 0 else {
                rejected.append("refused a connection without credentials")
                close(sock)
                continue
            }
            guard peerUID == geteuid() || isInTracedTree(peerPID) else {
                rejected.append("refused a connection from uid \(peerUID) (pid \(peerPID)): not this user, not in the traced process tree")
                close(sock)
                continue
            }
            pending[sock] = (peerPID, monotonicNow() + 2_000_000_000)
        }
    }

    /// Whether `pid` descends from a process this session traces (a traced
    /// server may drop privileges before it forks or execs).
    private func isInTracedTree(_ pid: pid_t) -> Bool {
        var traced = Set(processes.map(\.pid))
        traced.formUnion(treeRoots)
        var p = pid
        for _ in 0..<64 {
            if traced.contains(p) { return true }
            guard p > 1, let parent = ProcFiles.parentPID(p) else { return false }
            p = parent
        }
        return false
    }



    /// Reads a pending connection's hello; refusals are logged.
    private func handshake(_ sock: Int32, peerPID: pid_t) {
        if let reason = accept(sock, peerPID: peerPID) { rejected.append(reason) }
        close(sock) // the process closes its end too: it keeps no descriptor of ours
    }

    /// Reads the HELLO with the ring's memfd; returns why it was refused.
    private func accept(_ sock: Int32, peerPID: pid_t) -> String? {
        var buf = [UInt8](repeating: 0, count: Int(FDT_HELLO_MAX_BYTES))
        var memfd: Int32 = -1
        let n = buf.withUnsafeMutableBytes { fdtc_recv_with_fd(sock, $0.baseAddress, $0.count, &memfd, 0) }
        defer { if memfd >= 0 { close(memfd) } }
        // A doorbell: some process posted a request in its ring header
        // (served in this round). Nothing to answer, nothing to log.
        if n == MemoryLayout<fdt_msg_wake>.size && memfd < 0,
           buf.withUnsafeBytes({ $0.loadUnaligned(as: fdt_msg_wake.self) }).type == FDT_MSG_WAKE.rawValue {
            return nil
        }
        let helloSize = MemoryLayout<fdt_msg_hello>.size
        guard n >= helloSize else {
            // Killed while connecting: it was still in the shim's
            // constructor (or fork hook), so none of its code ran to open
            // anything. Nothing was missed; nothing to say.
            if n == 0 && !ProcFiles.isAlive(peerPID) { return nil }
            return "refused pid \(peerPID): no valid hello"
        }
        let hello = buf.withUnsafeBytes { $0.loadUnaligned(as: fdt_msg_hello.self) }
        guard hello.type == FDT_MSG_HELLO.rawValue, hello.version == FDT_WIRE_VERSION else {
            return "refused pid \(peerPID): wire version \(hello.version), expected \(FDT_WIRE_VERSION)"
        }
        guard Int(hello.exe_len) + Int(hello.argv_len) + helloSize <= n, memfd >= 0 else {
            return "refused pid \(peerPID): malformed hello"
        }
        guard hello.pid == peerPID else {
            return "refused pid \(peerPID): its hello claims pid \(hello.pid)"
        }
        let ring: RingReader
        do { ring = try RingReader(memfd: memfd, capacity: hello.ring_capacity) } catch {
            return "refused pid \(peerPID): \(error)"
        }
        let pidfd = fdtc_peer_pidfd(sock, peerPID)
        guard pidfd >= 0 else { return "refused pid \(peerPID): it went away during the handshake" }
        var keepPidfd = false
        defer { if !keepPidfd { close(pidfd) } }
        let exe = String(decoding: buf[helloSize..<helloSize + Int(hello.exe_len)], as: UTF8.self)
        if hello.flags & FDT_HELLO_OWNER != 0 { ownerPID = hello.pid }
        let argvBytes = buf[helloSize + Int(hello.exe_len)..<helloSize + Int(hello.exe_len) + Int(hello.argv_len)]
        let command = ProcFiles.parseCommandLine(argvBytes)
        let key = processes.count
        // A fork child's parent is the process that forked it, even if that
        // one exited before the child said hello (a daemonizing parent).
        let ppid = hello.fork_parent != 0 ? hello.fork_parent : hello.ppid
        var p = TracedProcess(key: key, pid: hello.pid, ppid: ppid, forkParent: hello.fork_parent,
                              command: command, executable: exe, startTime: hello.start_time_ns,
                              rlimitSoft: hello.rlimit_soft, rlimitHard: hello.rlimit_hard)
        p.blindness = BlindRuntime.reason(executable: exe)
        // A new image of a pid whose previous image did not exit: exec.
        p.kernelStartTime = ProcFiles.kernelStartTime(hello.pid)
        if let prev = processes.lastIndex(where: { $0.pid == hello.pid && $0.end != .execed }),
           processes[prev].exitBegin == nil, processes[prev].kernelStartTime == p.kernelStartTime {
            if let c = connections.values.first(where: { $0.key == prev }) {
                // Exec unmaps the old image's ring before the new image
                // starts: a ring still mapped means a second connection.
                guard !ProcFiles.maps(pid: hello.pid, inode: c.ring.inode, name: "fdtrace-ring") else {
                    return "refused pid \(peerPID): it is already connected"
                }
                drain(c, limit: .max)
                drop(c)
            }
            processes[prev].end = .execed
            if processes[prev].endTime == nil { processes[prev].endTime = hello.start_time_ns }
            p.execPredecessor = prev
        }
        if hello.fork_parent != 0, let parent = processes.lastIndex(where: { $0.pid == hello.fork_parent }) {
            // A fork child starts with its parent's table as of the fork:
            // the parent wrote that record before the child existed.
            if let c = connections.values.first(where: { $0.key == parent }) { drain(c, limit: .max) }
            if let snap = processes[parent].forkSnapshots.removeValue(forKey: hello.fork_id) {
                p.table = snap.copy(to: key)
            } else {
                p.table = processes[parent].table.copy(to: key)
            }
            processes[parent].expectedChildren.removeValue(forKey: hello.pid)
            // Its hello shows the parent's title by now, not its name.
            p.startedAs = processes[parent].startedAs
        }
        processes.append(p)
        var ack = fdt_msg_ack(type: FDT_MSG_ACK.rawValue, status: 0)
        guard fdtc_send(sock, &ack, MemoryLayout<fdt_msg_ack>.size) == 0 else {
            processes[key].end = .exited(reconciled: false)
            processes[key].streamError = "the process went away during the handshake"
            return nil
        }
        keepPidfd = true
        connections[pidfd] = Connection(pidfd: pidfd, ring: ring, key: key)
        return nil
    }


    private func drain(_ c: Connection, limit: Int) {
        // Work on the process outside the array: no copy, no exclusivity
        // check per record.
        var p = TracedProcess.placeholder
        swap(&p, &processes[c.key])
        defer { swap(&p, &processes[c.key]) }
        let key = c.key
        do {
            try c.ring.drain(limit: limit) { bytes in
                try applier.apply(bytes, to: &p, key: key) { k, p in attributeInherited(k, in: &p) }
            }
        } catch {
            p.streamError = "pid \(p.pid): \(error); its events are no longer read"
            drop(c)
            if p.end == .running { p.end = .exited(reconciled: false) }
        }
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
            origin = earlier // carried through several execs
        } else if t.origin == .traced || t.origin == .forked {
            origin = InheritedOrigin(processKey: src.key, pid: src.pid, command: src.command, call: t.call,
                                     stack: t.stack, cloexec: t.cloexec)
        } else {
            return
        }
        p.table.attribute(fd: k.fd, to: origin)
        if p.inheritedLeaks.count < 65536 {
            p.inheritedLeaks.append(InheritedLeak(fd: k.fd, view: k, origin: origin))
        }
    }

    private func drop(_ c: Connection) {
        c.ring.detach()
        close(c.pidfd)
        connections.removeValue(forKey: c.pidfd)
    }

    private func finish(_ c: Connection) {
        guard connections[c.pidfd] != nil else { return }
        drain(c, limit: .max)
        guard connections[c.pidfd] != nil else { return }
        var p = processes[c.key]
        p.fullWaits = c.ring.fullWaits
        p.fullWaitNanoseconds = c.ring.fullWaitNanoseconds
        p.recordsLost = c.ring.recordsLost
        if p.end == .running { p.end = .exited(reconciled: p.kernelViewComplete) }
        if p.endTime == nil { p.endTime = monotonicNow() }
        processes[c.key] = p
        close(c.pidfd)
        connections.removeValue(forKey: c.pidfd)
    }
}

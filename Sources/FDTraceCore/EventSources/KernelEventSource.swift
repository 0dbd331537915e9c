import CFDTraceWire
import Foundation

/// The kernel event source as one of the collector's sources: KernelSource's
/// events, in the kernel's order, turned into images of the host. The root
/// appears at its exec (its pid is put in the traced set before: see
/// `fdtrace run --source kernel`), a fork child at its fork, an exec'd
/// program at its exec; records go to the current image of their pid; an
/// exit ends the image with the kernel's table as its exit view, the same
/// records (exit begin, one per descriptor, exit end) the shim writes.
///
/// The kernel's table names descriptors only; it describes the sockets
/// among them itself (family, type, TCP state, addresses). Every other
/// descriptor's description in the view is what this source last read of it
/// in /proc (every 200 ms while the process ran), else what its opening
/// call said.
public final class KernelEventSource: EventSource {
    public let kernel: KernelSource
    /// The current image of each followed pid.
    private var keys: [Int32: Int] = [:]
    private var starts: [Int: ProcessStart] = [:]
    /// Images whose process exited, and the events of theirs the ring lost
    /// (until the host stops following them: one that appeared this round
    /// is finished the next).
    private var exited: [Int: UInt64] = [:]
    /// Pids whose exec makes them a root image (put in the traced set by
    /// the caller before they exec'd).
    private var roots: Set<Int32> = []
    /// The last /proc view of each followed pid: descriptor → what it was.
    private var lastSeen: [Int32: (time: UInt64, fds: [Int32: KernelFD])] = [:]
    private var lastSample: UInt64 = 0
    /// Images an exec replaced: the host stops following them, their pid
    /// goes on as the next image.
    private var replaced: Set<Int> = []

    /// Follow fork children and exec'd programs (--no-follow: the first
    /// program only).
    public var follow = true
    /// Processes attached while they ran, to appear at the next `admit`,
    /// with the time of the attach and the end of the /proc read after it.
    private var attaching: [(pid: Int32, time: UInt64, settled: UInt64)] = []

    public init(kernel: KernelSource) { self.kernel = kernel }

    /// Traces `pid` (held before its exec): its next exec starts a root image.
    public func traceRoot(_ pid: Int32) throws {
        try kernel.trace(pid: pid)
        roots.insert(pid)
        sample(pid)  // what it will inherit, described (it may be gone when its exec is read)
    }

    /// Traces `pid`, a process that runs already (`fdtrace attach`), from
    /// now on: all its threads (the traced set holds processes) and every
    /// process it forks from then on. It appears at the next round as an
    /// image starting now, whose table is what /proc/PID/fd lists now
    /// (read after the tracing began: nothing it does from here is
    /// missed), those descriptors of origin before the attach. Returns how
    /// many descriptors it held.
    @discardableResult
    public func attach(_ pid: Int32) throws -> Int {
        let time = monotonicNow()
        try kernel.trace(pid: pid)
        sample(pid)
        attaching.append((pid, time, monotonicNow()))
        return lastSeen[pid]?.fds.count ?? 0
    }

    /// Whether the kernel source can be loaded here, and why not.
    /// FDTRACE_KERNEL_RING_KB sizes its ring buffer (tests make it tiny).
    public static func open() -> Result<KernelEventSource, FDTraceError> {
        let kib = ProcessInfo.processInfo.environment[FDT_ENV_KERNEL_RING_KB].flatMap { UInt32($0) } ?? 0
        let options = KernelSource.Options(ringBytes: kib.multipliedReportingOverflow(by: 1024).partialValue)
        do { return .success(KernelEventSource(kernel: try KernelSource(options: options))) } catch let e as FDTraceError {
            return .failure(e)
        } catch { return .failure(FDTraceError("\(error)", status: ExitStatus.tracerFailure)) }
    }

    // MARK: - EventSource

    public var pollDescriptors: [Int32] { [kernel.fileDescriptor] }

    public var hasPendingWork: Bool { false }

    public func admit(readable: Set<Int32>, host: EventSourceHost) {
        // Before their events: those go to their image.
        for a in attaching { appearAttached(a.pid, time: a.time, settled: a.settled, host: host) }
        attaching.removeAll()
        do { try kernel.poll(timeoutMs: 0) { handle($0, host: host) } } catch { host.refused("\(error)") }
        if kernel.ringDrops > 0 { endLost(host: host) }
        let now = monotonicNow()
        if now &- lastSample >= 200_000_000 {
            lastSample = now
            // Paths only: the kernel describes sockets at exit itself (asking
            // sock_diag here walked the host's whole TCP hash every time).
            for pid in keys.keys { sample(pid, sockets: false) }
        }
    }

    /// Records are handed over as the kernel gives them (in `admit`).
    public func drain(_ key: Int?, limit: Int, into host: EventSourceHost) {}

    public func serveRequests(_ key: Int, host: EventSourceHost) {}

    public func ended(readable: Set<Int32>) -> [Int] { exited.keys.sorted() }

    @discardableResult
    public func stopFollowing(_ key: Int, processEnded: Bool) -> StreamCounters {
        let lost = exited.removeValue(forKey: key) ?? 0
        let wasReplaced = replaced.remove(key) != nil
        guard let start = starts.removeValue(forKey: key) else { return StreamCounters(recordsLost: lost) }
        if !wasReplaced && keys[start.pid] == key {
            keys[start.pid] = nil
            lastSeen[start.pid] = nil
            if !processEnded { kernel.untrace(pid: start.pid) }
        }
        return StreamCounters(recordsLost: lost)
    }

    /// The kernel told of the exec: the old image is gone (its pid stays
    /// traced: the new image is followed next).
    public func isReplaced(_ key: Int) -> Bool {
        replaced.insert(key)
        return true
    }

    public func reportWritten(_ key: Int) {}

    // MARK: - events

    private func handle(_ event: KernelSource.Event, host: EventSourceHost) {
        switch event {
        case .record(let pid, let r):
            guard let key = keys[pid] else { return }
            host.feed(key) { $0.apply(r) }
        case .forked(let parent, let child, let forkID, let time):
            guard follow else { return kernel.untrace(pid: child) }
            guard let pk = keys[parent], let ps = starts[pk] else { return }
            var start = ps
            start.pid = child; start.ppid = parent; start.forkParent = parent; start.forkID = forkID
            start.startTime = time
            start.attached = false  // born traced: what it holds came from its parent
            appear(start, host: host)
        case .exec(let pid, let e, let command, let table):
            execed(pid: pid, e, command: command, table: table, host: host)
        case .exited(let pid, let x, let table):
            ended(pid: pid, x, table: table, host: host)
        }
    }

    /// `pid` exec'd: a root image (its pid was traced before it exec'd) or
    /// the next image of a followed pid, starting with what the exec kept.
    private func execed(pid: Int32, _ e: KernelExec, command: [String], table: KernelFDTable?, host: EventSourceHost) {
        guard keys[pid] != nil || roots.remove(pid) != nil else { return }
        if !follow, let key = keys[pid] {
            // The first program only: it ends here, as far as this session goes.
            kernel.untrace(pid: pid)
            keys[pid] = nil  // what its next images did is not this session's
            lastSeen[pid] = nil
            exited[key] = 0
            return
        }
        let previous = keys[pid].flatMap { starts[$0] }
        let (soft, hard) = ProcFiles.openFileLimits(pid)
        let start = ProcessStart(
            pid: pid, ppid: previous?.ppid ?? ProcFiles.parentPID(pid) ?? 0, command: command, executable: e.path,
            startTime: e.time, rlimitSoft: soft ?? 0, rlimitHard: hard ?? 0)
        guard let key = appear(start, host: host) else { return }
        // What it starts with: the descriptors the exec kept.
        if let table {
            sample(pid)
            let seen = lastSeen[pid]?.fds ?? [:]  // this sample, or the one before it exec'd
            host.feed(key) { sink in
                for fd in table.open {
                    var k = seen[fd] ?? KernelFD(fd: fd, target: "")
                    k.time = e.time; k.cloexec = false
                    sink.apply(.inherited(k))
                }
            }
        }
    }

    /// `pid` ended: its image gets the shim's exit records, the kernel's
    /// table as its exit view.
    private func ended(pid: Int32, _ x: KernelExit, table: KernelFDTable?, host: EventSourceHost) {
        guard let key = keys[pid] else { return }
        let seen = lastSeen[pid]
        host.feed(key) { sink in
            let status = x.exitCode ?? (128 + (x.signal ?? 0))
            sink.apply(
                .exitBegin(
                    ExitBegin(
                        time: x.time, status: status, how: .normal, rlimitSoft: x.rlimitSoft,
                        rlimitHard: x.rlimitHard, maxRSSKB: x.maxRSSKB, cpuMicroseconds: x.cpuMicroseconds)))
            if let table {
                for fd in table.open {
                    // The sample, unless the descriptor was opened after it.
                    let tracked = sink.process.table[fd]
                    let sampled = seen.flatMap { s in tracked.map { $0.origin == .traced && $0.openedAt > s.time } == true ? nil : s.fds[fd] }
                    var k = table.sockets[fd] ?? Self.described(sampled, else: tracked, fd: fd)
                    k.time = x.time; k.fd = fd; k.cloexec = table.cloexec.contains(fd)
                    sink.apply(.kernelFD(k))
                }
            }
            sink.apply(.exitEnd(time: x.time, viewFailed: table == nil || table?.truncated == true))
        }
        exited[key] = x.recordsLost
    }

    /// A process attached while it ran: an image from the attach on, its
    /// descriptors then as inherited ones (described from /proc, read
    /// until `settled` while its events already came).
    private func appearAttached(_ pid: Int32, time: UInt64, settled: UInt64, host: EventSourceHost) {
        let (soft, hard) = ProcFiles.openFileLimits(pid)
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
        var start = ProcessStart(
            pid: pid, ppid: ProcFiles.parentPID(pid) ?? 0, command: KernelSource.commandLine(pid) ?? [exe], executable: exe,
            startTime: time, rlimitSoft: soft ?? 0, rlimitHard: hard ?? 0)
        start.attached = true
        guard let key = appear(start, host: host) else { return }
        let fds = lastSeen[pid]?.fds ?? [:]
        host.feed(key) { sink in
            sink.process.table.settling = settled
            for fd in fds.keys.sorted() {
                guard var k = fds[fd] else { continue }
                k.time = time
                k.cloexec = ProcFiles.isCloseOnExec(pid: pid, fd: fd)
                sink.apply(.inherited(k))
            }
        }
    }

    /// Processes whose exit event the full ring lost (the kernel keeps them
    /// in the traced set, with their count): gone or zombies, with every
    /// event there was read. They end now, their table at exit unknown.
    private func endLost(host: EventSourceHost) {
        for (pid, key) in keys where exited[key] == nil && !ProcFiles.isAlive(pid) {
            guard let lost = kernel.recordsLost(pid: pid), lost > 0 else { continue }
            kernel.untrace(pid: pid)
            if let status = ProcFiles.zombieWaitStatus(pid) {
                let start = starts[key]
                ended(
                    pid: pid,
                    KernelExit(
                        time: monotonicNow(), waitStatus: status, rlimitSoft: start?.rlimitSoft ?? 0,
                        rlimitHard: start?.rlimitHard ?? 0, maxRSSKB: 0, cpuMicroseconds: 0, recordsLost: lost),
                    table: nil, host: host)
            } else {
                exited[key] = lost  // gone: how it ended is not known
            }
        }
    }

    @discardableResult
    private func appear(_ s: ProcessStart, host: EventSourceHost) -> Int? {
        var start = s
        start.seesSystemCalls = true
        guard let key = host.appeared(start, from: self) else { return nil }
        if let old = keys[start.pid] { starts[old] = nil }
        keys[start.pid] = key
        starts[key] = start
        return key
    }

    /// A descriptor at exit the kernel did not describe: its last sample,
    /// a socket's family and type from its opening call (samples name
    /// sockets only), or else what the opening call said.
    static func described(_ sampled: KernelFD?, else tracked: TrackedFD?, fd: Int32) -> KernelFD {
        guard var k = sampled else { return view(of: tracked, fd: fd) }
        if k.domain < 0, k.target.hasPrefix("socket:"), let t = tracked, t.domain >= 0 {
            k.domain = t.domain; k.sockType = t.sockType; k.proto = t.proto
        }
        return k
    }

    /// What /proc shows of `pid`'s descriptors now (the exit view's
    /// descriptions: at exit the table is gone from /proc). `sockets`: the
    /// sockets' addresses and states too, from sock_diag.
    private func sample(_ pid: Int32, sockets: Bool = true) {
        let time = monotonicNow()
        // A process in exit shows no descriptors: keep the sample before.
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"), !names.isEmpty,
            ProcFiles.hasExecutable(pid)
        else { return }
        var out: [Int32: KernelFD] = [:]
        for name in names {
            guard let fd = Int32(name) else { continue }
            let path = "/proc/\(pid)/fd/\(fd)"
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { continue }
            var st = stat()
            let mode = stat(path, &st) == 0 ? UInt32(st.st_mode) : 0
            out[fd] = KernelFD(fd: fd, mode: mode, inode: UInt64(st.st_ino), target: target)
        }
        guard sockets else {
            // What an earlier read said of the same sockets stays.
            if let before = lastSeen[pid]?.fds {
                for (fd, k) in out where k.inode != 0 {
                    if let b = before[fd], b.inode == k.inode, b.domain >= 0 { out[fd] = b }
                }
            }
            if !out.isEmpty { lastSeen[pid] = (time, out) }
            return
        }
        // Only this process's sockets (sock_diag leaves the host's others
        // out); inet ones only: a unix socket's entry adds nothing here.
        let net = ProcNet(pid: pid, inodes: Set(out.values.compactMap { ProcNet.socketInode($0.target) }), unix: false)
        for (fd, var k) in out {
            if let inode = ProcNet.socketInode(k.target), let e = net.byInode[inode] {
                // /proc/PID/net's words back into the kernel's numbers.
                switch e.proto {
                case "TCP", "TCP6": k.sockType = Self.SOCK_STREAM_VALUE; k.proto = Int32(IPPROTO_TCP)
                case "UDP", "UDP6": k.sockType = Self.SOCK_DGRAM_VALUE; k.proto = Int32(IPPROTO_UDP)
                default: break
                }
                if e.proto.hasPrefix("TCP") || e.proto.hasPrefix("UDP") {
                    k.domain = e.proto.hasSuffix("6") ? AF_INET6 : AF_INET
                }
                if let state = e.state, let n = Self.tcpStates.firstIndex(of: state) { k.tcpState = Int32(n) }
                k.local = e.localAddress
                k.peer = e.peerAddress
                out[fd] = k
            }
        }
        if !out.isEmpty { lastSeen[pid] = (time, out) }
    }

    private static let tcpStates = (0...12).map { FDClassifier.tcpStateName(Int32($0)) }
    private static let SOCK_STREAM_VALUE = Int32(SOCK_STREAM.rawValue)
    private static let SOCK_DGRAM_VALUE = Int32(SOCK_DGRAM.rawValue)

    /// Without a /proc view: what the descriptor's opening call said.
    static func view(of t: TrackedFD?, fd: Int32) -> KernelFD {
        guard let t else { return KernelFD(fd: fd, target: "") }
        let d = FDClassifier.describe(t.openingEvent)
        switch d.kind {
        case .socket:
            return KernelFD(
                fd: fd, mode: UInt32(S_IFSOCK), domain: t.domain, sockType: t.sockType, proto: t.proto, target: "socket:[0]")
        case .pipe: return KernelFD(fd: fd, mode: UInt32(S_IFIFO), target: "pipe:[0]")
        case .unknown: return KernelFD(fd: fd, target: t.path ?? "")
        default:
            if let path = t.path ?? d.path { return KernelFD(fd: fd, mode: UInt32(S_IFREG), target: path) }
            return KernelFD(fd: fd, target: "anon_inode:[\(d.kind.name)]")
        }
    }
}

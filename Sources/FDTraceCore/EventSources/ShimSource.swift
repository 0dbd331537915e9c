import CFDTraceSys
import CFDTraceWire
import Foundation

/// The shim's event source: traced processes connect to the session socket
/// (credentials, a hello with the ring's memfd; the process closes its end
/// at once and goes on without waiting), and write their records into that
/// ring, which is read here. Hellos are taken in the order the processes
/// connected: an exec'd image after the fork child that became it, a child
/// after its parent. Each image is watched through a pidfd of its own:
/// readable when the process has ended (a process that ended before its
/// hello was read has none: it is finished on the next round, its ring
/// read to the end). Requests (a snapshot at EMFILE, the bare
/// owner's report) are words in the ring's header.
public final class ShimSource: EventSource {
    public let socketPath: String
    private let listenFD: Int32
    /// Accepted connections waiting for their hello, in the order they
    /// connected: socket, peer pid, deadline, and the uid of a peer of
    /// another user not known yet to be in the traced tree.
    private var pending: [(sock: Int32, pid: pid_t, deadline: UInt64, stranger: uid_t?)] = []
    /// Images being read, by image key.
    private var connections: [Int: Connection] = [:]
    /// Hellos read whose image waits to appear (`EventSourceHost.awaitsFork`),
    /// in the order they came, each with its ring and pidfd; the deadline
    /// bounds the wait.
    private var parked: [(start: ProcessStart, ring: RingReader, pidfd: Int32, deadline: UInt64, stranger: uid_t?)] = []
    /// Strings of paths opened over and over, made once.
    private var paths = PathCache()
    /// One receive buffer for every hello (64 KiB zeroed per handshake cost
    /// more than the rest of reading it).
    private var helloBuffer = [UInt8](repeating: 0, count: Int(FDT_HELLO_MAX_BYTES))

    private final class Connection {
        /// -1: the process had ended before its hello was read.
        let pidfd: Int32
        let ring: RingReader
        let key: Int
        let pid: Int32
        init(pidfd: Int32, ring: RingReader, key: Int, pid: Int32) {
            self.pidfd = pidfd; self.ring = ring; self.key = key; self.pid = pid
        }
    }

    /// `socketPath` starting with "@" names an abstract socket (no file:
    /// reachable only to processes that know the name; peers are checked).
    public init(socketPath: String) throws {
        if !socketPath.hasPrefix("@") { unlink(socketPath) }
        let fd = fdtc_listen_unix(socketPath)
        guard fd >= 0 else {
            throw FDTraceError.tracer("cannot listen on \(socketPath)", errno: -fd)
        }
        self.listenFD = fd
        self.socketPath = socketPath
        fdtc_raise_nofile()
    }

    deinit {
        for c in connections.values {
            c.ring.detach()
            if c.pidfd >= 0 { close(c.pidfd) }
        }
        for p in pending { close(p.sock) }
        for p in parked {
            p.ring.detach()
            if p.pidfd >= 0 { close(p.pidfd) }
        }
        close(listenFD)
        if !socketPath.hasPrefix("@") { unlink(socketPath) }
        // The shims' "warned once in this session" markers (state.c).
        let prefix = "warned-" + String(socketPath.map { $0 == "/" || $0 == "." ? "_" : $0 }) + "-"
        let dir = SessionDirectory.path()
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where f.hasPrefix(prefix) {
            unlink("\(dir)/\(f)")
        }
    }

    // MARK: - EventSource

    public var pollDescriptors: [Int32] {
        [listenFD] + pending.map(\.sock) + connections.values.compactMap { $0.pidfd >= 0 ? $0.pidfd : nil }
    }

    public var hasPendingWork: Bool {
        !pending.isEmpty || !parked.isEmpty
            || connections.values.contains {
                $0.pidfd < 0 || $0.ring.pendingBytes > 0 || $0.ring.snapshotRequest != 0
            }
    }

    public var hasUrgentWork: Bool {
        connections.values.contains {
            $0.ring.pendingBytes > $0.ring.capacity / 4 || $0.ring.snapshotRequest != 0 || $0.ring.reportRequested
        }
    }

    public var hasNewcomers: Bool {
        if !pending.isEmpty || !parked.isEmpty { return true }
        var fd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, 0) > 0
    }

    /// Accepts newcomers (credentials are checked at once), then reads the
    /// hellos that arrived, in the order their processes connected; a peer
    /// that sends nothing stalls no one and is dropped after 2 s.
    public func admit(readable: Set<Int32>, host: EventSourceHost) {
        let now = monotonicNow()
        admitParked(host: host, now: now)
        let waiting = pending
        if readable.contains(listenFD) { acceptAll(host) }
        var done: Set<Int32> = []
        for (sock, pid, deadline, stranger) in waiting {
            if readable.contains(sock) {
                if let reason = handshake(sock, peerPID: pid, stranger: stranger, host: host) { host.refused(reason) }
            } else if now > deadline {
                if ProcFiles.isAlive(pid) { host.refused("refused pid \(pid): no hello within 2 s") }
            } else {
                continue
            }
            done.insert(sock)
            close(sock)
        }
        if !done.isEmpty { pending.removeAll { done.contains($0.sock) } }
    }

    public func drain(_ key: Int?, limit: Int, into host: EventSourceHost) {
        let chosen = key.map { connections[$0].map { [$0] } ?? [] } ?? Array(connections.values)
        for c in chosen {
            host.feed(c.key) { sink in
                try c.ring.drain(limit: limit) { bytes in try Self.apply(bytes, to: &sink, paths: &paths) }
            }
        }
    }

    /// One record of the ring into the sink: opens and closes straight
    /// from their bytes, the rest decoded into a `Record`. (The collector
    /// benchmark measures this.)
    @inline(__always)
    static func apply(_ bytes: UnsafeRawBufferPointer, to sink: inout RecordSink, paths: inout PathCache) throws {
        switch RecordDecoder.type(of: bytes) {
        case UInt16(FDT_REC_OPEN.rawValue):
            let (r, path) = try RecordDecoder.openRecord(bytes, paths: &paths)
            sink.open(
                fd: r.fd, call: Call(rawValue: r.call), cloexec: r.fd_flags & UInt16(FDT_FD_CLOEXEC) != 0, tid: r.tid,
                stackID: r.stack_id, time: RecordDecoder.time(of: bytes), group: r.group, sourceFD: r.source_fd,
                domain: r.domain, sockType: r.sock_type, proto: r.protocol, path: path)
        case UInt16(FDT_REC_CLOSE.rawValue): sink.close(try RecordDecoder.close(bytes))
        default: sink.apply(try RecordDecoder.decode(bytes))
        }
    }

    public func serveRequests(_ key: Int, host: EventSourceHost) {
        guard let c = connections[key] else { return }
        let snapshot = c.ring.snapshotRequest
        if snapshot != 0 {
            host.snapshotRequested(key, errno: Int32(bitPattern: snapshot))
            c.ring.complete(FDT_RING_REQ_SNAPSHOT)
        }
        if c.ring.reportRequested { host.reportRequested(key) }
    }

    /// A readable pidfd: the process has ended (or it had before its hello
    /// was read).
    public func ended(readable: Set<Int32>) -> [Int] {
        connections.values.filter { $0.pidfd < 0 || readable.contains($0.pidfd) }.map(\.key).sorted()
    }

    @discardableResult
    public func stopFollowing(_ key: Int, processEnded: Bool) -> StreamCounters {
        guard let c = connections.removeValue(forKey: key) else { return StreamCounters() }
        if !processEnded { c.ring.detach() }
        if c.pidfd >= 0 { close(c.pidfd) }
        return StreamCounters(
            fullWaits: c.ring.fullWaits, fullWaitNanoseconds: c.ring.fullWaitNanoseconds,
            recordsLost: c.ring.recordsLost)
    }

    /// Exec unmaps the old image's ring before the new image starts: a ring
    /// still mapped means the same image connecting a second time.
    public func isReplaced(_ key: Int) -> Bool {
        guard let c = connections[key] else { return true }
        return !ProcFiles.maps(pid: c.pid, inode: c.ring.inode, name: "fdtrace-ring")
    }

    public func reportWritten(_ key: Int) {
        connections[key]?.ring.complete(FDT_RING_REQ_REPORT)
    }

    public func scopeAnswered(_ key: Int, request: UInt32, status: Int32) {
        connections[key]?.ring.answerScope(request, status: status)
    }

    // MARK: - the handshake

    private func acceptAll(_ host: EventSourceHost) {
        while true {
            let sock = fdtc_accept(listenFD)
            if sock < 0 { return }
            var peerPID: pid_t = 0, peerUID: uid_t = 0, peerGID: gid_t = 0
            guard fdtc_peer_cred(sock, &peerPID, &peerUID, &peerGID) == 0 else {
                host.refused("refused a connection without credentials")
                close(sock)
                continue
            }
            // A process of another uid is admitted when it is in the traced
            // tree. Processes whose hellos wait here count (a fork child
            // connects at its first record: a worker that dropped its
            // privileges may connect before its parent's hello is read), and
            // so do children a traced parent said it forked (the program a
            // child exec'd may be gone, no /proc parent chain to walk, before
            // its hello is read). One not known yet while a traced parent has
            // not said which child a fork gave it, or while hellos read
            // before it may be its parent's, may be that child: it waits
            // (parked after its hello) until that is settled, or is refused.
            let connecting = Set(pending.map(\.pid) + parked.map(\.start.pid))
            let known = peerUID == geteuid() || host.isInTracedTree(peerPID, connecting: connecting)
            guard known || !connecting.isEmpty || host.hasForksInFlight else {
                host.refused(Self.stranger(peerUID, peerPID))
                close(sock)
                continue
            }
            pending.append((sock, peerPID, monotonicNow() + 2_000_000_000, known ? nil : peerUID))
        }
    }

    static func stranger(_ uid: uid_t, _ pid: pid_t) -> String {
        "refused a connection from uid \(uid) (pid \(pid)): not this user, not in the traced process tree"
    }

    /// Parked hellos whose wait is over appear, in order (a stranger once
    /// it is known to be in the traced tree, or is refused); one that still
    /// waits keeps those after it waiting too.
    private func admitParked(host: EventSourceHost, now: UInt64) {
        while var p = parked.first {
            if let uid = p.stranger {
                let connecting = Set(pending.map(\.pid) + parked.dropFirst().map(\.start.pid))
                if host.isInTracedTree(p.start.pid, connecting: connecting) {
                    p.stranger = nil
                    parked[0] = p
                } else if now <= p.deadline && (host.hasForksInFlight || !pending.isEmpty) {
                    return
                } else {
                    parked.removeFirst()
                    p.ring.detach()
                    if p.pidfd >= 0 { close(p.pidfd) }
                    host.refused(Self.stranger(uid, p.start.pid))
                    continue
                }
            }
            if now <= p.deadline && host.awaitsFork(p.start) { return }
            parked.removeFirst()
            follow(p.start, ring: p.ring, pidfd: p.pidfd, host: host)
        }
    }

    /// Has the host admit the image and follows it, or detaches its ring.
    @discardableResult
    private func follow(_ start: ProcessStart, ring: RingReader, pidfd: Int32, host: EventSourceHost) -> Bool {
        guard let key = host.appeared(start, from: self) else {
            ring.detach()
            if pidfd >= 0 { close(pidfd) }
            return false
        }
        connections[key] = Connection(pidfd: pidfd >= 0 ? pidfd : -1, ring: ring, key: key, pid: start.pid)
        return true
    }

    /// Reads the hello with the ring's memfd, maps the ring and has the
    /// host admit the image (or parks it). Returns why it was refused, if
    /// it was; a refused process finds its ring detached and stops
    /// recording.
    private func handshake(_ sock: Int32, peerPID: pid_t, stranger: uid_t?, host: EventSourceHost) -> String? {
        var memfd: Int32 = -1
        defer { if memfd >= 0 { close(memfd) } }
        let hello: (message: fdt_msg_hello, start: ProcessStart)
        switch readHello(sock, peerPID: peerPID, memfd: &memfd) {
        case .nothing: return nil
        case .refused(let reason):
            if memfd >= 0 { RingReader.refuse(memfd: memfd) }
            return reason
        case .hello(let message, let start): hello = (message, start)
        }
        let ring: RingReader
        do { ring = try RingReader(memfd: memfd, capacity: hello.message.ring_capacity) } catch {
            RingReader.refuse(memfd: memfd)
            return "refused pid \(peerPID): \(error)"
        }
        // Fails when the process ended, and was reaped, before its hello
        // was read (kernels before 6.16 give no pidfd of a reaped peer): its
        // ring holds all it did, read to the end next round.
        let pidfd = fdtc_peer_pidfd(sock, peerPID)
        // A program whose parent has not said yet which child it forked, or
        // a process whose parent is itself parked, appears after them.
        let start = hello.start
        if !parked.isEmpty || stranger != nil || host.awaitsFork(start) {
            parked.append((start, ring, pidfd, monotonicNow() + 2_000_000_000, stranger))
            admitParked(host: host, now: monotonicNow())
            return nil
        }
        guard follow(start, ring: ring, pidfd: pidfd, host: host) else { return nil }
        // The shim does not wait for this; a client that wants to know
        // whether it was accepted may (it is sent only when it was; not
        // to a parked one).
        var ack = fdt_msg_ack(type: FDT_MSG_ACK.rawValue, status: 0)
        _ = fdtc_send(sock, &ack, MemoryLayout<fdt_msg_ack>.size)
        return nil
    }

    private enum Hello {
        /// A doorbell (a request waits in some ring header, served this
        /// round), or a process killed while it connected: nothing to say.
        case nothing
        case refused(String)
        case hello(fdt_msg_hello, ProcessStart)
    }

    /// The first message of a connection, checked.
    private func readHello(_ sock: Int32, peerPID: pid_t, memfd: inout Int32) -> Hello {
        let n = helloBuffer.withUnsafeMutableBytes { fdtc_recv_with_fd(sock, $0.baseAddress, $0.count, &memfd, 0) }
        let buf = helloBuffer
        if n == MemoryLayout<fdt_msg_wake>.size && memfd < 0,
            buf.withUnsafeBytes({ $0.loadUnaligned(as: fdt_msg_wake.self) }).type == FDT_MSG_WAKE.rawValue
        {
            return .nothing
        }
        let helloSize = MemoryLayout<fdt_msg_hello>.size
        guard n >= helloSize else {
            // Killed while connecting: it was still in the shim's
            // constructor (or its first record's connect), so none of its
            // code ran to open anything. Nothing was missed; nothing to
            // say. Its socket closes early in its exit, before it is a
            // zombie: a process still exiting counts (a realworld run once
            // refused a process that way).
            if n <= 0 && ProcFiles.isEnding(peerPID) { return .nothing }
            return .refused("refused pid \(peerPID): no valid hello")
        }
        let hello = buf.withUnsafeBytes { $0.loadUnaligned(as: fdt_msg_hello.self) }
        guard hello.type == FDT_MSG_HELLO.rawValue, hello.version == FDT_WIRE_VERSION else {
            return .refused("refused pid \(peerPID): wire version \(hello.version), expected \(FDT_WIRE_VERSION)")
        }
        let exeEnd = helloSize + Int(hello.exe_len), argvEnd = exeEnd + Int(hello.argv_len)
        guard argvEnd <= n, memfd >= 0 else { return .refused("refused pid \(peerPID): malformed hello") }
        guard hello.pid == peerPID else { return .refused("refused pid \(peerPID): its hello claims pid \(hello.pid)") }
        let start = ProcessStart(
            pid: hello.pid, ppid: hello.ppid, forkParent: hello.fork_parent, forkID: hello.fork_id,
            command: ProcFiles.parseCommandLine(buf[exeEnd..<argvEnd]),
            executable: String(decoding: buf[helloSize..<exeEnd], as: UTF8.self),
            startTime: hello.start_time_ns, rlimitSoft: hello.rlimit_soft, rlimitHard: hello.rlimit_hard)
        return .hello(hello, start)
    }
}

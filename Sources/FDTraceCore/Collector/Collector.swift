import CFDTraceSys
import CFDTraceWire
import Foundation

/// The collector: accepts traced processes on the session socket, maps each
/// one's event ring, and drives its tables from the records, in one thread
/// with one poll loop.
public final class Collector {
    public private(set) var processes: [TracedProcess] = []
    public private(set) var registry = ModuleRegistry()
    public private(set) var rejected: [String] = []
    public let socketPath: String
    private let listenFD: Int32
    private var connections: [Int32: Connection] = [:]

    private final class Connection {
        let sock: Int32
        let ring: RingReader
        let key: Int
        init(sock: Int32, ring: RingReader, key: Int) { self.sock = sock; self.ring = ring; self.key = key }
    }

    public init(socketPath: String) throws {
        unlink(socketPath)
        let fd = fdtc_listen_unix(socketPath)
        guard fd >= 0 else {
            throw FDTraceError("cannot listen on \(socketPath): \(String(cString: strerror(-fd)))", status: ExitStatus.tracerFailure)
        }
        self.listenFD = fd
        self.socketPath = socketPath
    }

    deinit {
        for c in connections.values { close(c.sock) }
        close(listenFD)
        unlink(socketPath)
    }

    public var openConnections: Int { connections.count }

    /// One round: waits up to `timeoutMs` for activity on the session, the
    /// connections and `extra` descriptors, accepts newcomers, drains rings
    /// and finishes processes whose connection ended. Returns the extra
    /// descriptors that are readable.
    public func poll(timeoutMs: Int32, extra: [Int32] = []) -> Set<Int32> {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
        let conns = Array(connections.values)
        fds += conns.map { pollfd(fd: $0.sock, events: Int16(POLLIN), revents: 0) }
        fds += extra.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        // Rings fill without waking anyone: keep the wait short while busy.
        let busy = conns.contains { $0.ring.pendingBytes > 0 }
        _ = Glibc.poll(&fds, nfds_t(fds.count), busy ? 0 : timeoutMs)
        if fds[0].revents != 0 { acceptAll() }
        for c in conns { drain(c, limit: 1 << 16) }
        for (i, c) in conns.enumerated() where fds[1 + i].revents != 0 {
            var b: UInt8 = 0
            if recv(c.sock, &b, 1, Int32(MSG_DONTWAIT)) == 0 || fds[1 + i].revents & Int16(POLLHUP | POLLERR) != 0 {
                finish(c)
            }
        }
        var ready = Set<Int32>()
        for (i, fd) in extra.enumerated() where fds[1 + conns.count + i].revents != 0 { ready.insert(fd) }
        return ready
    }

    /// Marks processes still connected as running (used when giving up).
    public func abandonRemaining() {
        for c in Array(connections.values) {
            drain(c, limit: .max)
            close(c.sock)
            connections.removeValue(forKey: c.sock)
        }
    }

    public func setWaitStatus(pid: Int32, exitCode: Int32?, signal: Int32?) {
        if let i = processes.lastIndex(where: { $0.pid == pid }) { processes[i].waitStatus = (exitCode, signal) }
    }

    // MARK: - connections

    private func acceptAll() {
        while true {
            let sock = fdtc_accept(listenFD)
            if sock < 0 { return }
            if let reason = accept(sock) {
                rejected.append(reason)
                close(sock)
            }
        }
    }

    /// Reads the HELLO with the ring's memfd; returns why it was refused.
    private func accept(_ sock: Int32) -> String? {
        var peerPID: pid_t = 0, peerUID: uid_t = 0, peerGID: gid_t = 0
        guard fdtc_peer_cred(sock, &peerPID, &peerUID, &peerGID) == 0 else { return "connection without credentials" }
        guard peerUID == getuid() || getuid() == 0 else { return "refused a connection from uid \(peerUID) (pid \(peerPID))" }
        var buf = [UInt8](repeating: 0, count: Int(FDT_HELLO_MAX_BYTES))
        var memfd: Int32 = -1
        let n = buf.withUnsafeMutableBytes { fdtc_recv_with_fd(sock, $0.baseAddress, $0.count, &memfd, 2000) }
        defer { if memfd >= 0 { close(memfd) } }
        let helloSize = MemoryLayout<fdt_msg_hello>.size
        guard n >= helloSize else { return "pid \(peerPID): no valid hello" }
        let hello = buf.withUnsafeBytes { $0.loadUnaligned(as: fdt_msg_hello.self) }
        guard hello.type == FDT_MSG_HELLO.rawValue, hello.version == FDT_WIRE_VERSION else {
            return "pid \(peerPID): wire version \(hello.version), expected \(FDT_WIRE_VERSION)"
        }
        guard Int(hello.exe_len) + Int(hello.argv_len) + helloSize <= n, memfd >= 0 else {
            return "pid \(peerPID): malformed hello"
        }
        let ring: RingReader
        do { ring = try RingReader(memfd: memfd, capacity: hello.ring_capacity) } catch {
            return "pid \(peerPID): \(error)"
        }
        let exe = String(decoding: buf[helloSize..<helloSize + Int(hello.exe_len)], as: UTF8.self)
        let argvBytes = buf[helloSize + Int(hello.exe_len)..<helloSize + Int(hello.exe_len) + Int(hello.argv_len)]
        let argv = argvBytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let command = argv.last == "" ? Array(argv.dropLast()) : argv
        // A new image of a pid whose previous image is still listed: exec.
        if let prev = processes.lastIndex(where: { $0.pid == hello.pid && $0.end != .execed }),
           processes[prev].exitBegin == nil {
            processes[prev].end = .execed
        }
        let key = processes.count
        var p = TracedProcess(key: key, pid: hello.pid, ppid: hello.ppid, forkParent: hello.fork_parent,
                              command: command, executable: exe, startTime: hello.start_time_ns,
                              rlimitSoft: hello.rlimit_soft, rlimitHard: hello.rlimit_hard)
        if hello.fork_parent != 0, let parent = processes.lastIndex(where: { $0.pid == hello.fork_parent }) {
            // A fork child starts with a copy of its parent's table.
            p.table = processes[parent].table.copy(to: key)
        }
        processes.append(p)
        var ack = fdt_msg_ack(type: FDT_MSG_ACK.rawValue, status: 0)
        guard fdtc_send(sock, &ack, MemoryLayout<fdt_msg_ack>.size) == 0 else {
            processes[key].end = .exited(reconciled: false)
            processes[key].streamError = "the process went away during the handshake"
            return nil
        }
        connections[sock] = Connection(sock: sock, ring: ring, key: key)
        return nil
    }

    private func drain(_ c: Connection, limit: Int) {
        do {
            try c.ring.drain(limit: limit) { bytes in
                let record = try RecordDecoder.decode(bytes)
                processes[c.key].apply(record, registry: &registry)
            }
        } catch {
            let p = processes[c.key]
            processes[c.key].streamError = "pid \(p.pid): \(error); its events are no longer read"
            close(c.sock)
            connections.removeValue(forKey: c.sock)
            if processes[c.key].end == .running { processes[c.key].end = .exited(reconciled: false) }
        }
    }

    private func finish(_ c: Connection) {
        guard connections[c.sock] != nil else { return }
        drain(c, limit: .max)
        guard connections[c.sock] != nil else { return }
        var p = processes[c.key]
        p.fullWaits = c.ring.fullWaits
        p.fullWaitNanoseconds = c.ring.fullWaitNanoseconds
        p.recordsLost = c.ring.recordsLost
        if p.end == .running { p.end = .exited(reconciled: p.kernelViewComplete) }
        if p.endTime == nil { p.endTime = monotonicNow() }
        processes[c.key] = p
        close(c.sock)
        connections.removeValue(forKey: c.sock)
    }
}

func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

import FDTraceCore
import Foundation
import Testing

/// ProcNet from sock_diag against ProcNet from /proc/PID/net, on real
/// sockets of this process: the same entries, string for string.
@Suite struct ProcNetTests {
    /// A loopback socket bound to an ephemeral port.
    static func bound(v6: Bool, type: Int32) throws -> Int32 {
        let fd = socket(v6 ? AF_INET6 : AF_INET, type, 0)
        guard fd >= 0 else { throw FixtureError(message: "socket: \(errno)") }
        var ss = Self.loopback(v6: v6, port: 0)
        let rc = withUnsafePointer(to: &ss) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard rc == 0 else { throw FixtureError(message: "bind: \(errno)") }
        return fd
    }

    static func loopback(v6: Bool, port: UInt16) -> sockaddr_in6 {
        var a = sockaddr_in6()
        a.sin6_port = port.bigEndian
        if v6 {
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_addr.__in6_u.__u6_addr8.15 = 1
        } else {
            withUnsafeMutablePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    $0.pointee.sin_family = sa_family_t(AF_INET)
                    $0.pointee.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                }
            }
        }
        return a
    }

    static func port(_ fd: Int32) -> UInt16 {
        var ss = sockaddr_in6(), len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: ss.sin6_port)
    }

    static func connectTo(_ fd: Int32, v6: Bool, port: UInt16) throws {
        var ss = loopback(v6: v6, port: port)
        let rc = withUnsafePointer(to: &ss) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard rc == 0 else { throw FixtureError(message: "connect: \(errno)") }
    }

    /// A listener, an ESTABLISHED pair and a CLOSE_WAIT / FIN_WAIT2 pair (the
    /// client closed its writing side), plus a TIME_WAIT left by a closed pair.
    static func tcpSockets(v6: Bool) throws -> [Int32] {
        let stream = Int32(SOCK_STREAM.rawValue)
        let listener = try bound(v6: v6, type: stream)
        listen(listener, 16)
        let port = port(listener)
        var fds = [listener]
        for _ in 0..<3 {
            let c = socket(v6 ? AF_INET6 : AF_INET, stream, 0)
            try connectTo(c, v6: v6, port: port)
            fds += [c, accept(listener, nil, nil)]
        }
        shutdown(fds[3], Int32(SHUT_WR))  // fds[4]: CLOSE_WAIT, fds[3]: FIN_WAIT2
        close(fds[5])  // the client closes first: TIME_WAIT on its side, no descriptor
        close(fds[6])
        return Array(fds[0..<5])
    }

    static func udpSockets(v6: Bool) throws -> [Int32] {
        let dgram = Int32(SOCK_DGRAM.rawValue)
        let a = try bound(v6: v6, type: dgram), b = try bound(v6: v6, type: dgram)
        try connectTo(b, v6: v6, port: port(a))
        return [a, b]
    }

    static func inode(_ fd: Int32) -> UInt64? {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    @Test("sock_diag gives the /proc parser's entries for TCP and UDP, IPv4 and IPv6")
    func sockDiagEqualsProcFiles() throws {
        let fds = try Self.tcpSockets(v6: false) + Self.tcpSockets(v6: true) + Self.udpSockets(v6: false) + Self.udpSockets(v6: true)
        defer { for fd in fds { close(fd) } }
        usleep(50_000)  // the FIN's effects (CLOSE_WAIT, FIN_WAIT2) settle
        let inodes = Set(fds.compactMap(Self.inode))
        #expect(inodes.count == fds.count)
        let proc = ProcNet(pid: getpid(), source: .procFiles).byInode.filter { inodes.contains($0.key) }
        let diag = ProcNet(pid: getpid()).byInode.filter { inodes.contains($0.key) }
        let only = ProcNet(pid: getpid(), inodes: inodes).byInode.filter { !$0.value.proto.hasPrefix("unix") }
        #expect(ProcNet(pid: getpid()).fromSockDiag)
        #expect(!ProcNet(pid: getpid(), source: .procFiles).fromSockDiag)
        #expect(proc.count == fds.count)
        #expect(diag == proc)
        #expect(only == proc)
        let seen = Set(proc.values.map { "\($0.proto) \($0.state ?? "-") \($0.peer == nil ? "unconnected" : "connected")" })
        for proto in ["TCP", "TCP6"] {
            for state in ["LISTEN unconnected", "ESTABLISHED connected", "CLOSE_WAIT connected", "FIN_WAIT2 connected"] {
                #expect(seen.contains("\(proto) \(state)"), "\(seen)")
            }
        }
        for proto in ["UDP", "UDP6"] {
            #expect(seen.contains("\(proto) - unconnected") && seen.contains("\(proto) - connected"), "\(seen)")
        }
        let v6 = try #require(proc.values.first { $0.proto == "TCP6" && $0.state == "LISTEN" })
        #expect(v6.local.hasPrefix("[::1]:"))
        #expect(v6.localAddress.count == 24)
    }

    @Test("Only the asked inodes, and none for an empty set")
    func inodeFilter() throws {
        let fds = try Self.udpSockets(v6: false)
        defer { for fd in fds { close(fd) } }
        let one = try #require(Self.inode(fds[1]))
        let net = ProcNet(pid: getpid(), inodes: [one])
        #expect(net.byInode.filter { !$0.value.proto.hasPrefix("unix") }.keys.sorted() == [one])
        #expect(ProcNet(pid: getpid(), inodes: []).byInode.allSatisfy { $0.value.proto.hasPrefix("unix") })
    }

    @Test("A process in another network namespace: read from /proc (a netlink socket sees ours)")
    func otherNamespace() throws {
        guard geteuid() == 0 else { return }  // unshare -n needs root
        let dir = scratch()
        let ready = dir.appendingPathComponent("ready").path
        let script = """
            import os, socket, sys, time
            s = socket.socket(); s.bind(("0.0.0.0", 0)); s.listen()
            # Written, then renamed: the file never exists empty.
            with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(s.getsockname()[1]))
            os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            time.sleep(30)
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["-n", "python3", "-c", script, ready]
        try p.run()
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: ready) { usleep(10_000) }
        let port = try String(contentsOfFile: ready, encoding: .utf8)
        // unshare execs python3: the same pid.
        let net = ProcNet(pid: p.processIdentifier)
        #expect(!net.fromSockDiag)
        #expect(net.byInode.values.contains { $0.proto == "TCP" && $0.local == "0.0.0.0:\(port)" && $0.state == "LISTEN" })
    }
}

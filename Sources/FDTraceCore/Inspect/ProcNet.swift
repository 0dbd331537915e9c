import CFDTraceSys
import Foundation

/// Sockets of a network namespace as /proc/PID/net lists them (TCP and UDP
/// from sock_diag when it can: the same entries), by inode:
/// protocol, addresses and TCP state. (What `ss` shows, for joining with
/// the socket:[INODE] links of /proc/PID/fd.)
public struct ProcNet: Sendable {
    public struct Entry: Sendable, Equatable {
        public var proto: String
        public var local: String
        public var peer: String?
        public var state: String?
        /// The addresses as sockaddr bytes (inet sockets only).
        public var localAddress: [UInt8] = []
        public var peerAddress: [UInt8] = []
    }
    public private(set) var byInode: [UInt64: Entry] = [:]
    /// TCP and UDP came from sock_diag (not /proc/PID/net).
    public private(set) var fromSockDiag = false

    /// Where TCP and UDP sockets are read from.
    public enum Source: Sendable {
        /// sock_diag when the process shares our network namespace, else /proc.
        case automatic
        /// /proc/PID/net/{tcp,tcp6,udp,udp6}, whole (the kernel walks and
        /// formats every socket, TIME_WAIT included: slow on a busy host).
        case procFiles
    }

    static let inetTables: [(file: String, proto: String, family: Int32, ipProto: Int32)] = [
        ("tcp", "TCP", AF_INET, Int32(IPPROTO_TCP)), ("tcp6", "TCP6", AF_INET6, Int32(IPPROTO_TCP)),
        ("udp", "UDP", AF_INET, Int32(IPPROTO_UDP)), ("udp6", "UDP6", AF_INET6, Int32(IPPROTO_UDP)),
    ]

    /// `inodes`: the sockets the caller will look up; others may be left
    /// out (sock_diag keeps only these). `unix`: unix sockets too (their
    /// table is read whole).
    public init(pid: Int32, inodes: Set<UInt64>? = nil, source: Source = .automatic, unix: Bool = true) {
        let diag = source == .automatic && Self.sharesNetNamespace(pid)
        let want = inodes.map { $0.sorted() }
        fromSockDiag = diag
        for t in Self.inetTables {
            if diag, let sockets = Self.diagSockets(family: t.family, ipProto: t.ipProto, want: want) {
                for s in sockets { add(s, proto: t.proto, family: t.family) }
            } else {
                fromSockDiag = false
                guard let text = ProcFiles.read("/proc/\(pid)/net/\(t.file)") else { continue }
                parseInet(text, proto: t.proto)
            }
        }
        if unix, let text = ProcFiles.read("/proc/\(pid)/net/unix") { parseUnix(text) }
    }

    /// A netlink socket sees our network namespace, /proc/PID/net the
    /// process's: sock_diag only when they are the same (unknown: not).
    static func sharesNetNamespace(_ pid: Int32) -> Bool {
        var mine = stat(), theirs = stat()
        guard stat("/proc/self/ns/net", &mine) == 0, stat("/proc/\(pid)/ns/net", &theirs) == 0 else { return false }
        return mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev
    }

    /// Every state but TIME_WAIT (6): a TIME_WAIT socket has no descriptor.
    /// SYN_RECV stays (an accepted Fast Open socket has one and /proc lists
    /// it); the request sockets it brings have no inode and are dropped.
    /// NEW_SYN_RECV (12) and BOUND_INACTIVE (13) are not asked for.
    static let diagStates: UInt32 = 0xFFF & ~(1 << 6)

    /// One family × protocol from sock_diag, or nil if it failed (no
    /// inet_diag module, say: the caller reads /proc instead).
    static func diagSockets(family: Int32, ipProto: Int32, want: [UInt64]?) -> [fdtc_inet_socket]? {
        if want?.isEmpty == true { return [] }
        let w = (want ?? []).map { CUnsignedLongLong($0) }
        var cap = want?.count ?? 256
        while true {
            var out = [fdtc_inet_socket](repeating: fdtc_inet_socket(), count: cap)
            let n = out.withUnsafeMutableBufferPointer { o in
                w.withUnsafeBufferPointer { wp in
                    fdtc_inet_sockets(
                        family, ipProto, diagStates, want == nil ? nil : wp.baseAddress, Int32(want?.count ?? 0),
                        o.baseAddress, Int32(cap))
                }
            }
            if n < 0 { return nil }
            if Int(n) <= cap { return Array(out.prefix(Int(n))) }
            cap = Int(n) * 2  // sockets came meanwhile: ask again with room
        }
    }

    mutating func add(_ s: fdtc_inet_socket, proto: String, family: Int32) {
        let size = family == AF_INET ? 4 : 16
        let local = withUnsafeBytes(of: s.local) { Array($0.prefix(size)) }
        let peer = withUnsafeBytes(of: s.peer) { Array($0.prefix(size)) }
        add(
            inode: s.inode, proto: proto, local: Self.sockaddr(family: family, port: s.local_port, address: local),
            remote: Self.sockaddr(family: family, port: s.peer_port, address: peer), state: Int32(s.state))
    }

    /// One inet socket, from either source: the same strings for both.
    mutating func add(inode: UInt64, proto: String, local: [UInt8], remote: [UInt8], state: Int32) {
        guard let localText = SocketAddress.format(local), let remoteText = SocketAddress.format(remote) else { return }
        let unconnected = remoteText.hasSuffix(":0") && (remoteText.hasPrefix("0.0.0.0") || remoteText.hasPrefix("[::]"))
        byInode[inode] = Entry(
            proto: proto, local: localText, peer: unconnected ? nil : remoteText,
            state: proto.hasPrefix("TCP") ? FDClassifier.tcpStateName(state) : nil, localAddress: local,
            peerAddress: unconnected ? [] : remote)
    }

    /// "socket:[12345]" → 12345.
    static func socketInode(_ linkTarget: String) -> UInt64? {
        guard linkTarget.hasPrefix("socket:[") else { return nil }
        return UInt64(linkTarget.dropFirst(8).dropLast())
    }

    /// The sockets a process holds: descriptor → inode (empty if /proc/PID/fd cannot be read).
    static func socketInodes(pid: Int32) -> [Int32: UInt64] {
        let dir = "/proc/\(pid)/fd"
        var out: [Int32: UInt64] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            guard let fd = Int32(name), let t = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(name)"),
                let inode = socketInode(t)
            else { continue }
            out[fd] = inode
        }
        return out
    }

    /// Unix socket inode → its peer's inode, from sock_diag (this network
    /// namespace: the collector's, normally the program's too).
    public static func unixPeers() -> [UInt64: UInt64] {
        let cap = 1 << 16
        var inodes = [UInt64](repeating: 0, count: cap), peers = [UInt64](repeating: 0, count: cap)
        let n = inodes.withUnsafeMutableBufferPointer { i in
            peers.withUnsafeMutableBufferPointer { p in
                fdtc_unix_peers(
                    i.baseAddress!.withMemoryRebound(to: CUnsignedLongLong.self, capacity: cap) { $0 },
                    p.baseAddress!.withMemoryRebound(to: CUnsignedLongLong.self, capacity: cap) { $0 }, Int32(cap))
            }
        }
        var out: [UInt64: UInt64] = [:]
        for k in 0..<max(0, Int(n)) where peers[k] != 0 { out[inodes[k]] = peers[k] }
        return out
    }

    /// Lines of /proc/net/tcp: "sl local rem st tx:rx tr:when retr uid timeout inode ...".
    mutating func parseInet(_ text: String, proto: String) {
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 9, let inode = UInt64(f[9]), inode != 0,
                let local = Self.sockaddr(String(f[1])), let remote = Self.sockaddr(String(f[2])),
                let st = Int32(f[3], radix: 16)
            else { continue }
            add(inode: inode, proto: proto, local: local, remote: remote, state: st)
        }
    }

    /// Lines of /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path".
    mutating func parseUnix(_ text: String) {
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 7, let inode = UInt64(f[6]), let type = Int(f[4], radix: 16) else { continue }
            let kind = type == 1 ? "unix stream" : type == 2 ? "unix dgram" : type == 5 ? "unix seqpacket" : "unix"
            byInode[inode] = Entry(proto: kind, local: f.count > 7 ? String(f[7]) : "", peer: nil, state: nil)
        }
    }

    /// "0100007F:1388" → "127.0.0.1:5000"; IPv6 as 4 little-endian words.
    static func address(_ s: String) -> String? { sockaddr(s).flatMap(SocketAddress.format) }

    /// The same as a sockaddr_in or sockaddr_in6, as the shim sends
    /// addresses (family in host order, port and address in network order).
    public static func sockaddr(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16) else { return nil }
        let hex = Array(parts[0])
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var address: [UInt8] = []
        for w in 0..<hex.count / 8 {
            guard let v = UInt32(String(hex[w * 8..<w * 8 + 8]), radix: 16) else { return nil }
            address += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        return sockaddr(family: hex.count == 8 ? AF_INET : AF_INET6, port: (UInt8(port >> 8), UInt8(port & 0xff)), address: address)
    }

    /// Port bytes and address in network order.
    static func sockaddr(family: Int32, port: (UInt8, UInt8), address: [UInt8]) -> [UInt8] {
        let f = UInt16(family)
        let head = [UInt8(f & 0xff), UInt8(f >> 8), port.0, port.1]
        // sockaddr_in6 has its flow information before the address.
        return family == AF_INET ? head + address : head + [0, 0, 0, 0] + address
    }
}

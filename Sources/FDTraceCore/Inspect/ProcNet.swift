import CFDTraceSys
import Foundation

/// Sockets of a network namespace as /proc/PID/net lists them, by inode:
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

    public init(pid: Int32) {
        for (file, proto) in [("tcp", "TCP"), ("tcp6", "TCP6"), ("udp", "UDP"), ("udp6", "UDP6")] {
            if let text = ProcFiles.read("/proc/\(pid)/net/\(file)") { parseInet(text, proto: proto) }
        }
        if let text = ProcFiles.read("/proc/\(pid)/net/unix") { parseUnix(text) }
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
        let tcp = proto.hasPrefix("TCP")
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 9, let inode = UInt64(f[9]), inode != 0,
                let local = Self.address(String(f[1])), let remote = Self.address(String(f[2])),
                let st = Int32(f[3], radix: 16)
            else { continue }
            let unconnected = remote.hasSuffix(":0") && (remote.hasPrefix("0.0.0.0") || remote.hasPrefix("[::]"))
            byInode[inode] = Entry(
                proto: proto, local: local, peer: unconnected ? nil : remote,
                state: tcp ? FDClassifier.tcpStateName(st) : nil, localAddress: Self.sockaddr(String(f[1])) ?? [],
                peerAddress: unconnected ? [] : Self.sockaddr(String(f[2])) ?? [])
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
        let family = UInt16(hex.count == 8 ? AF_INET : AF_INET6)
        let head = [UInt8(family & 0xff), UInt8(family >> 8), UInt8(port >> 8), UInt8(port & 0xff)]
        // sockaddr_in6 has its flow information before the address.
        return hex.count == 8 ? head + address : head + [0, 0, 0, 0] + address
    }
}

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
                state: tcp ? FDClassifier.tcpStateName(st) : nil)
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
    static func address(_ s: String) -> String? {
        let parts = s.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1], radix: 16) else { return nil }
        let hex = Array(parts[0])
        if hex.count == 8, let v = UInt32(String(hex), radix: 16) {
            return "\(v & 0xff).\(v >> 8 & 0xff).\(v >> 16 & 0xff).\(v >> 24):\(port)"
        }
        guard hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        for w in 0..<4 {
            guard let v = UInt32(String(hex[w * 8..<w * 8 + 8]), radix: 16) else { return nil }
            bytes += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        return "[\(SocketAddress.ipv6(groups))]:\(port)"
    }
}

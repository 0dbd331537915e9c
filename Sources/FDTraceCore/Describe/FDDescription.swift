#if canImport(Glibc)
import Glibc
#endif

/// What a descriptor is, as shown in reports: a kind and the details that
/// tell one of its kind from another.
public struct FDDescription: Equatable, Hashable, Sendable, Codable {
    public var kind: FDKind
    public var path: String?  // files, directories, devices, memfd names
    public var deleted: Bool = false
    public var proto: String?  // TCP, UDP, unix stream, ...
    public var local: String?
    public var peer: String?
    public var state: String?  // TCP state
    public var inode: UInt64?

    public init(
        kind: FDKind, path: String? = nil, proto: String? = nil, local: String? = nil,
        peer: String? = nil, state: String? = nil, inode: UInt64? = nil, deleted: Bool = false
    ) {
        self.kind = kind; self.path = path; self.proto = proto; self.local = local
        self.peer = peer; self.state = state; self.inode = inode; self.deleted = deleted
    }

    /// One line: "file /etc/hostname", "TCP 127.0.0.1:80 ⇐ 127.0.0.1:5555".
    public var summary: String {
        if kind == .socket {
            if proto == nil, let path { return "socket file \(path)" }
            var s = proto ?? "socket"
            if let local, !local.isEmpty { s += " \(local)" }
            if let peer, !peer.isEmpty { s += " ⇐ \(peer)" }
            return s
        }
        guard kind.hasPath else { return kind.name }
        var s = kind.name
        if let path { s += " \(path)" }
        if deleted { s += " (deleted)" }
        return s
    }
}

/// Classifies descriptors from what the kernel said (readlink target,
/// st_mode, socket options and addresses) or, failing that, from the call
/// that made them.
public enum FDClassifier {
    public static func describe(_ k: KernelFD) -> FDDescription {
        let t = k.target
        let type = k.mode & UInt32(S_IFMT)
        // A descriptor of a socket's file (O_PATH), not of a socket: the
        // link is the file's path, and no socket option answers.
        if type == UInt32(S_IFSOCK) && t.hasPrefix("/") {
            return FDDescription(kind: .socket, path: t, inode: k.inode)
        }
        if t.hasPrefix("socket:") || type == UInt32(S_IFSOCK) {
            let local = SocketAddress.format(k.local)
            let peer = SocketAddress.format(k.peer)
            // A socket never bound nor connected shows no address, and its
            // TCP state (CLOSE) says nothing a reader needs.
            let unbound = local == "0.0.0.0:0" || local == "[::]:0"
            var state = k.tcpState >= 0 ? tcpStateName(k.tcpState) : nil
            if state == "CLOSE" && peer == nil && unbound { state = nil }
            return FDDescription(
                kind: .socket, proto: protocolName(domain: k.domain, type: k.sockType),
                local: unbound ? nil : local, peer: peer, state: state, inode: k.inode)
        }
        if t.hasPrefix("pipe:") { return FDDescription(kind: .pipe, inode: k.inode) }
        if t.hasPrefix("anon_inode:") {
            let name = t.dropFirst("anon_inode:".count).trimmingCharacters(in: "[]")
            return FDDescription(kind: name.isEmpty ? .anonInode : FDKind(name: name))
        }
        if t.hasPrefix("/memfd:") {
            var name = String(t.dropFirst("/memfd:".count))
            if name.hasSuffix(" (deleted)") { name.removeLast(" (deleted)".count) }
            return FDDescription(kind: .memfd, path: name)
        }
        let deleted = t.hasSuffix(" (deleted)")
        let path = deleted ? String(t.dropLast(" (deleted)".count)) : t
        switch type {
        case UInt32(S_IFDIR): return FDDescription(kind: .directory, path: path, deleted: deleted)
        case UInt32(S_IFCHR), UInt32(S_IFBLK): return FDDescription(kind: .device, path: path)
        case UInt32(S_IFIFO): return FDDescription(kind: .fifo, path: path, deleted: deleted)
        default:
            if path.hasPrefix("/dev/mqueue/") { return FDDescription(kind: .mqueue, path: path) }
            if path == "anon_inode:inotify" { return FDDescription(kind: .inotify) }
            if path.hasPrefix("/") || type == UInt32(S_IFREG) {
                return FDDescription(kind: .file, path: path, deleted: deleted)
            }
            return FDDescription(kind: .unknown, path: path)
        }
    }

    /// Best effort from the opening call alone (the kernel view is missing).
    public static func describe(_ e: OpenEvent) -> FDDescription {
        switch e.call.name {
        case "socket", "socketpair":
            return FDDescription(kind: .socket, proto: protocolName(domain: e.domain, type: e.sockType))
        case "accept", "accept4": return FDDescription(kind: .socket)
        case "pipe", "pipe2", "popen": return FDDescription(kind: .pipe)
        case "epoll_create", "epoll_create1": return FDDescription(kind: .eventpoll)
        case "eventfd": return FDDescription(kind: .eventfd)
        case "signalfd": return FDDescription(kind: .signalfd)
        case "timerfd_create": return FDDescription(kind: .timerfd)
        case "inotify_init", "inotify_init1": return FDDescription(kind: .inotify)
        case "fanotify_init": return FDDescription(kind: .fanotify)
        case "memfd_create": return FDDescription(kind: .memfd, path: e.path)
        case "pidfd_open": return FDDescription(kind: .pidfd)
        case "mq_open": return FDDescription(kind: .mqueue, path: e.path)
        case "opendir": return FDDescription(kind: .directory, path: e.path)
        case "posix_openpt", "getpt", "openpty", "forkpty": return FDDescription(kind: .device, path: e.path)
        default:
            if let p = e.path { return FDDescription(kind: .file, path: p) }
            return FDDescription(kind: .unknown)
        }
    }

    public static func protocolName(domain: Int32, type: Int32) -> String? {
        guard domain >= 0 else { return nil }
        let stream = type == Int32(SOCK_STREAM.rawValue)
        let dgram = type == Int32(SOCK_DGRAM.rawValue)
        let seq = type == Int32(SOCK_SEQPACKET.rawValue)
        switch domain {
        case AF_INET, AF_INET6:
            let v6 = domain == AF_INET6 ? "6" : ""
            if stream { return "TCP" + v6 }
            if dgram { return "UDP" + v6 }
            return (type == Int32(SOCK_RAW.rawValue) ? "raw" : "IP") + v6
        case AF_UNIX:
            return stream ? "unix stream" : dgram ? "unix dgram" : seq ? "unix seqpacket" : "unix"
        case AF_NETLINK: return "netlink"
        case AF_PACKET: return "packet"
        default: return "family \(domain)"
        }
    }

    public static func tcpStateName(_ s: Int32) -> String {
        let names = [
            "", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
            "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
        ]
        return s > 0 && Int(s) < names.count ? names[Int(s)] : "state \(s)"
    }
}

extension StringProtocol {
    func trimmingCharacters(in chars: String) -> String {
        var s = Substring(self)
        while let c = s.first, chars.contains(c) { s.removeFirst() }
        while let c = s.last, chars.contains(c) { s.removeLast() }
        return String(s)
    }
}

/// Formats raw sockaddr bytes as the shim captured them.
public enum SocketAddress {
    public static func format(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 2 else { return nil }
        let family = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        switch family {
        case AF_INET where bytes.count >= 8:
            let port = Int(bytes[2]) << 8 | Int(bytes[3])
            return "\(bytes[4]).\(bytes[5]).\(bytes[6]).\(bytes[7]):\(port)"
        case AF_INET6 where bytes.count >= 24:
            let port = Int(bytes[2]) << 8 | Int(bytes[3])
            let groups = stride(from: 8, to: 24, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
            return "[\(ipv6(groups))]:\(port)"
        case AF_UNIX:
            let path = bytes.dropFirst(2)
            if path.isEmpty { return nil }
            if path.first == 0 {
                let name = path.dropFirst().prefix { $0 != 0 }
                return "@" + String(decoding: name, as: UTF8.self)
            }
            return String(decoding: path.prefix { $0 != 0 }, as: UTF8.self)
        default:
            return nil
        }
    }

    static func ipv6(_ g: [UInt16]) -> String {
        // Longest run of zero groups collapses to "::" (RFC 5952).
        var best = (start: -1, len: 0), cur = (start: -1, len: 0)
        for (i, v) in g.enumerated() {
            if v == 0 { cur = cur.start < 0 ? (i, 1) : (cur.start, cur.len + 1); if cur.len > best.len { best = cur } } else { cur = (-1, 0) }
        }
        if g[0..<5].allSatisfy({ $0 == 0 }) && g[5] == 0xffff {
            return "::ffff:\(g[6] >> 8).\(g[6] & 0xff).\(g[7] >> 8).\(g[7] & 0xff)"
        }
        let hex = g.map { String($0, radix: 16) }
        if best.len < 2 { return hex.joined(separator: ":") }
        let head = hex[0..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.len)...].joined(separator: ":")
        return head + "::" + tail
    }
}

import Foundation

/// The descriptors of any process the user may inspect, read from /proc
/// alone (no tracing): what each is, grouped by kind and target, with
/// socket states and the limits. Works for static binaries and Go programs.
public struct ProcSnapshot: Codable, Sendable, Equatable {
    public struct Group: Codable, Sendable, Equatable {
        public var count: Int
        public var summary: String
        public var fds: [FDReport]
    }
    public var pid: Int32
    public var command: [String]
    public var open: Int
    public var rlimitSoft: UInt64?
    public var rlimitHard: UInt64?
    public var groups: [Group]
    public var byKind: [String: Int]

    public static func take(pid: Int32) throws -> ProcSnapshot {
        let dir = "/proc/\(pid)/fd"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            if kill(pid, 0) != 0 && errno == ESRCH { throw FDTraceError("no process \(pid)", status: ExitStatus.failure) }
            throw FDTraceError("cannot read \(dir): permission denied (same user or root only)", status: ExitStatus.failure)
        }
        let net = ProcNet(pid: pid)
        var fds = names.compactMap { name in Int32(name).flatMap { describe(fd: $0, of: pid, net: net) } }
        fds.sort { $0.fd < $1.fd }
        nameUnixPeers(&fds)
        var byKind: [String: Int] = [:]
        for f in fds { byKind[f.description.kind.name, default: 0] += 1 }
        let (soft, hard) = ProcFiles.openFileLimits(pid)
        return ProcSnapshot(
            pid: pid, command: ProcFiles.commandLine(pid) ?? [], open: fds.count, rlimitSoft: soft,
            rlimitHard: hard, groups: group(fds), byKind: byKind)
    }

    /// One descriptor as /proc shows it.
    struct Described {
        var fd: Int32
        var description: FDDescription
        var cloexec: Bool
        /// A socket's inode.
        var socket: UInt64?
    }

    /// What descriptor `fd` of `pid` is: its link, mode and flags, and for
    /// a socket what ProcNet says of it. Nil if it closed meanwhile.
    static func describe(fd: Int32, of pid: Int32, net: ProcNet) -> Described? {
        let path = "/proc/\(pid)/fd/\(fd)"
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return nil }
        var st = stat()
        let mode = stat(path, &st) == 0 ? UInt32(st.st_mode) : 0
        var d = Described(
            fd: fd, description: FDClassifier.describe(KernelFD(fd: fd, mode: mode, inode: UInt64(st.st_ino), target: target)),
            cloexec: ProcFiles.isCloseOnExec(pid: pid, fd: fd))
        if d.description.kind == .socket, let inode = ProcNet.socketInode(target) {
            d.socket = inode
            if let e = net.byInode[inode] {
                d.description.proto = e.proto
                d.description.local = e.local.isEmpty ? nil : e.local
                d.description.peer = e.peer
                d.description.state = e.state
            }
        }
        return d
    }

    /// Unix sockets: the peer, by sock_diag — another descriptor of this
    /// process (a socketpair), or the process holding it, if visible.
    static func nameUnixPeers(_ fds: inout [Described]) {
        func isUnix(_ f: Described) -> Bool { f.description.proto?.hasPrefix("unix") == true }
        guard fds.contains(where: isUnix) else { return }
        let fdOfInode = Dictionary(fds.compactMap { f in f.socket.map { ($0, f.fd) } }) { a, _ in a }
        let peers = ProcNet.unixPeers()
        var holders: [UInt64: Int32]? = nil
        for i in fds.indices where isUnix(fds[i]) {
            guard let inode = fds[i].socket, let peer = peers[inode] else { continue }
            if let fd = fdOfInode[peer] {
                fds[i].description.peer = "fd \(fd)"
            } else {
                if holders == nil { holders = Self.socketHolders() }
                fds[i].description.peer = holders?[peer].map { "pid \($0)" } ?? "socket:[\(peer)]"
            }
        }
    }

    /// Groups by kind and target, addresses merged (like the report),
    /// largest first.
    /// Descriptors a report lists, grouped as this view groups its own.
    public static func group(_ fds: [FDReport]) -> [Group] {
        group(fds.map { Described(fd: $0.fd, description: $0.described, cloexec: $0.cloexec) })
    }

    static func group(_ fds: [Described]) -> [Group] {
        var grouped: [String: [Described]] = [:]
        for f in fds {
            var key = f.description
            key.state = nil
            key.inode = nil
            if key.kind == .socket { key.peer = key.peer.map { FDDescription.mergeAddresses([$0, nil]) } }
            if key.kind == .pipe || key.kind == .socket && key.local == nil { key.path = nil }
            grouped["\(key.kind.name)|\(key.proto ?? "")|\(key.path ?? "")|\(key.local ?? "")|\(key.peer ?? "")", default: []].append(f)
        }
        return grouped.values.map { members in
            Group(
                count: members.count, summary: FDDescription.summary(of: members.map(\.description)),
                fds: members.map { FDReport(fd: $0.fd, $0.description, cloexec: $0.cloexec) })
        }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.summary < $1.summary }
    }

    /// Socket inode → a process holding it, among the processes we may read.
    static func socketHolders() -> [UInt64: Int32] {
        var out: [UInt64: Int32] = [:]
        for p in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(p) else { continue }
            for inode in ProcNet.socketInodes(pid: pid).values where out[inode] == nil { out[inode] = pid }
        }
        return out
    }
}

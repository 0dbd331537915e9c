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
            if kill(pid, 0) != 0 && errno == ESRCH { throw FDTraceError("no process \(pid)", status: 1) }
            throw FDTraceError("cannot read \(dir): permission denied (same user or root only)", status: 1)
        }
        let net = ProcNet(pid: pid)
        var descs: [(Int32, FDDescription, Bool)] = []
        var inodeOf: [Int32: UInt64] = [:]
        for name in names {
            guard let fd = Int32(name) else { continue }
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(name)") else { continue }
            var st = stat()
            let mode = stat("\(dir)/\(name)", &st) == 0 ? UInt32(st.st_mode) : 0
            let fdinfo = (try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(name)", encoding: .utf8)) ?? ""
            let flags = fdinfo.split(separator: "\n").first { $0.hasPrefix("flags:") }
                .flatMap { Int($0.dropFirst(6).trimmingCharacters(in: " \t"), radix: 8) } ?? 0
            var d = FDClassifier.describe(KernelFD(fd: fd, mode: mode, inode: UInt64(st.st_ino), target: target))
            if d.kind == "socket", let inode = ProcNet.socketInode(target) {
                inodeOf[fd] = inode
                if let e = net.byInode[inode] {
                    d.proto = e.proto
                    d.local = e.local.isEmpty ? nil : e.local
                    d.peer = e.peer
                    d.state = e.state
                }
            }
            descs.append((fd, d, flags & 0o2000000 != 0))
        }
        descs.sort { $0.0 < $1.0 }
        // Unix sockets: the peer, by sock_diag — another descriptor of this
        // process (a socketpair), or the process holding it, if visible.
        let fdOfInode = Dictionary(inodeOf.map { ($1, $0) }) { a, _ in a }
        if descs.contains(where: { $0.1.proto?.hasPrefix("unix") == true }) {
            let peers = ProcNet.unixPeers()
            var holders: [UInt64: Int32]? = nil
            for i in descs.indices where descs[i].1.proto?.hasPrefix("unix") == true {
                guard let inode = inodeOf[descs[i].0], let peer = peers[inode] else { continue }
                if let fd = fdOfInode[peer] {
                    descs[i].1.peer = "fd \(fd)"
                } else {
                    if holders == nil { holders = Self.socketHolders() }
                    descs[i].1.peer = holders?[peer].map { "pid \($0)" } ?? "socket:[\(peer)]"
                }
            }
        }
        var grouped: [String: [(Int32, FDDescription, Bool)]] = [:]
        var byKind: [String: Int] = [:]
        for d in descs {
            byKind[d.1.kind, default: 0] += 1
            // Group by kind and target, addresses merged (like the report).
            var key = d.1
            key.state = nil
            key.inode = nil
            if key.kind == "socket" { key.peer = key.peer.map { FDDescription.mergeAddresses([$0, nil]) } }
            if key.kind == "pipe" || key.kind == "socket" && key.local == nil { key.path = nil }
            grouped["\(key.kind)|\(key.proto ?? "")|\(key.path ?? "")|\(key.local ?? "")|\(key.peer ?? "")", default: []].append(d)
        }
        let groups = grouped.values.map { members in
            Group(count: members.count, summary: FDDescription.summary(of: members.map(\.1)),
                  fds: members.map { fd, d, cloexec in
                      FDReport(fd: fd, d, cloexec: cloexec)
                  })
        }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.summary < $1.summary }
        let (soft, hard) = ProcFiles.openFileLimits(pid)
        let command = ProcFiles.commandLine(pid) ?? []
        return ProcSnapshot(pid: pid, command: command, open: descs.count, rlimitSoft: soft, rlimitHard: hard,
                            groups: groups, byKind: byKind)
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

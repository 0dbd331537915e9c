import Foundation

/// Writes snapshots taken while the program runs (--snapshot-dir): one JSON
/// and one text file each, named by sequence, reason and pid, e.g.
/// `snapshot-003-EMFILE-4242.json`. The same report as at exit, for the
/// processes as they are now: open descriptors per site, with their age.
public final class SnapshotWriter {
    public let directory: String
    public var symbolizer: Symbolizing
    public var nativeFrames: Bool
    public private(set) var written: [String] = []
    private var sequence = 0

    public init(directory: String, symbolizer: Symbolizing, nativeFrames: Bool = false) throws {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw FDTraceError("cannot create the snapshot directory \(directory)", status: ExitStatus.tracerFailure)
            }
        } else if !isDir.boolValue {
            throw FDTraceError("--snapshot-dir \(directory) is not a directory", status: ExitStatus.tracerFailure)
        }
        guard access(directory, W_OK) == 0 else {
            throw FDTraceError("cannot write in the snapshot directory \(directory)", status: ExitStatus.tracerFailure)
        }
        self.directory = directory
        self.symbolizer = symbolizer
        self.nativeFrames = nativeFrames
    }

    /// The report of the images among `processes` (all the collector's)
    /// whose key is in `keys` (default: all) as they are now, those still
    /// running: their limits read again from /proc, durations up to now.
    public static func liveReport(_ processes: [TracedProcess], keys: Set<Int>? = nil, registry: ModuleRegistry,
                                  command: [String], symbolizer: Symbolizing, nativeFrames: Bool) -> Report {
        let now = monotonicNow()
        let running = processes.filter { $0.end == .running && keys?.contains($0.key) != false }.map { p -> TracedProcess in
            var p = p
            let (soft, hard) = ProcFiles.openFileLimits(p.pid)
            if let soft { p.rlimitSoft = soft }
            if let hard { p.rlimitHard = hard }
            // As it shows itself now (it may have renamed itself).
            if let argv = ProcFiles.commandLine(p.pid) { p.command = argv }
            p.endTime = now
            return p
        }
        var report = ReportBuilder(processes: running, images: processes, registry: registry, symbolizer: symbolizer,
                                   nativeFrames: nativeFrames)
            .build(command: command, exitStatus: nil)
        for i in report.processes.indices {
            if let view = try? ProcSnapshot.take(pid: report.processes[i].pid) { report.processes[i].reconcile(with: view) }
            describeFromProc(&report.processes[i])
        }
        return report
    }

    /// What each socket is now, from /proc at report time (the opening call
    /// only said which kind): addresses and TCP state from /proc/PID/net,
    /// unix peers from sock_diag. Group summaries follow.
    static func describeFromProc(_ p: inout ProcessReport) {
        let inodeOf = ProcNet.socketInodes(pid: p.pid)
        guard !inodeOf.isEmpty else { return }
        let fdOf = Dictionary(inodeOf.map { ($1, $0) }) { a, _ in a }
        let net = ProcNet(pid: p.pid)
        let needPeers = net.byInode.values.contains { $0.proto.hasPrefix("unix") }
        let peers = needPeers ? ProcNet.unixPeers() : [:]
        func update(_ f: inout FDReport) {
            guard f.kind == "socket", let inode = inodeOf[f.fd], let e = net.byInode[inode] else { return }
            f.protocol = e.proto
            f.local = e.local.isEmpty ? f.local : e.local
            if e.proto.hasPrefix("unix") {
                if let peer = peers[inode] { f.peer = fdOf[peer].map { "fd \($0)" } ?? "socket:[\(peer)]" }
            } else {
                f.peer = e.peer
                f.state = e.state
            }
        }
        for g in p.leaks.indices {
            for k in p.leaks[g].fds.indices { update(&p.leaks[g].fds[k]) }
            let ds = p.leaks[g].fds.map { FDDescription(kind: $0.kind, path: $0.path, proto: $0.protocol, local: $0.local,
                                                         peer: $0.peer, state: $0.state, deleted: $0.deleted ?? false) }
            if p.leaks[g].bundle == nil { p.leaks[g].summary = ReportBuilder.summarize(ds) }
        }
        for k in p.standard.indices { update(&p.standard[k]) }
        for k in p.inherited.indices { update(&p.inherited[k]) }
    }

    /// Snapshots the images of `processes` (all the collector's) whose key
    /// is in `keys` (default: all), the ones still running among them, and
    /// returns the JSON file's path.
    @discardableResult
    public func write(processes: [TracedProcess], keys: Set<Int>? = nil, registry: ModuleRegistry, command: [String],
                      reason: String, pid: Int32?) -> String? {
        guard processes.contains(where: { $0.end == .running && keys?.contains($0.key) != false }) else { return nil }
        sequence += 1
        var report = Self.liveReport(processes, keys: keys, registry: registry, command: command, symbolizer: symbolizer,
                                     nativeFrames: nativeFrames)
        let stamp = ISO8601DateFormatter().string(from: Date())
        report.snapshot = SnapshotInfo(reason: reason, pid: pid, takenAt: stamp)
        let base = "\(directory)/snapshot-\(String(format: "%03d", sequence))-\(reason)\(pid.map { "-\($0)" } ?? "")"
        do {
            try ReportFile(path: base + ".json").write(try JSONRenderer.render(report))
            let text = "fdtrace: snapshot \(sequence) (\(reason)\(pid.map { " in pid \($0)" } ?? "")) at \(stamp)\n"
                + TextRenderer().render(report)
            try ReportFile(path: base + ".txt").write(Data(text.utf8))
        } catch {
            FileHandle.standardError.write(Data("fdtrace: cannot write snapshot \(base): \(error)\n".utf8))
            return nil
        }
        written.append(base + ".json")
        return base + ".json"
    }
}

import ArgumentParser
import FDTraceCore
import Foundation

/// `fdtrace snapshot`: what is open now. A traced process (found by pid,
/// by session name, or the only session running) is answered by its
/// session with call sites; any other process from /proc.
struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Show what a process has open now: from its fdtrace session (call sites), or from /proc (any process).",
        discussion: "With no option, the one running fdtrace session is queried. Exit status 1 when there is nothing to show.")

    @OptionGroup var target: SessionTarget
    @Flag(help: "Read /proc only (needs --pid), even for a traced process.") var proc = false
    @Option(help: ArgumentHelp("Also write the snapshot as JSON to FILE.", valueName: "FILE")) var json: String?

    mutating func validate() throws {
        if proc && target.pid == nil { throw ValidationError("--proc needs --pid") }
        if proc && target.name != nil { throw ValidationError("--proc and --name cannot go together") }
    }

    func run() throws {
        if !proc, let (socket, _) = try LiveSession.find(target) {
            let report = try SessionQuery.snapshot(socket, pid: target.pid)
            print(TextRenderer().render(report), terminator: "")
            if let json { try ReportFile(path: json).write(try JSONRenderer.render(report)) }
            return
        }
        guard let pid = target.pid else {
            throw FDTraceError("no traced session is running (start one with fdtrace run, or give --pid N for any process)", status: ExitStatus.failure)
        }
        let snap = try ProcSnapshot.take(pid: pid)
        print(TextRenderer().render(snap), terminator: "")
        if let json { try ReportFile(path: json).write(try JSONRenderer.encode(snap)) }
    }
}

/// Which running session a query addresses.
enum LiveSession {
    /// nil when --pid names a process no session traces (the caller then
    /// reads /proc); errors when the choice is impossible or ambiguous.
    static func find(_ target: SessionTarget) throws -> (String, SessionInfo)? {
        let sessions = SessionQuery.sessions()
        if let name = target.name {
            guard let s = sessions.first(where: { $0.info.name == name }) else {
                throw FDTraceError(
                    "no running session named \(name)" + (sessions.isEmpty ? "" : " (running: \(describe(sessions)))"), status: ExitStatus.failure)
            }
            return s
        }
        if let pid = target.pid { return sessions.first { $0.info.pids.contains(pid) } }
        if sessions.count == 1 { return sessions[0] }
        if sessions.isEmpty { return nil }
        throw FDTraceError("\(sessions.count) sessions are running, choose one with --name or --pid: \(describe(sessions))", status: ExitStatus.failure)
    }

    static func describe(_ sessions: [(socket: String, info: SessionInfo)]) -> String {
        sessions.map { s in "\(s.info.name ?? "(unnamed)") pid \(s.info.pids.map(String.init).joined(separator: ",")) \(s.info.command.first ?? "")" }
            .joined(separator: "; ")
    }
}

/// `fdtrace watch --pid N`: samples a process's descriptors and shows the
/// growth by kind.
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Sample a process's open descriptors every few seconds and show growth by kind (from /proc).")

    @Option(help: "The process to watch.") var pid: Int32
    @Option(help: "Seconds between samples.") var interval: Double = 1
    @Option(help: "Stop after this many samples. (default: until the process ends)") var count: Int?
    @OptionGroup var metrics: MetricsOptions

    mutating func validate() throws {
        try PIDOption.validate(pid)
        guard interval >= 0.05, interval <= 3600 else { throw ValidationError("--interval must be from 0.05 to 3600 seconds") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let exporter = try metrics.exporter()
        // Scrapes read /proc themselves, on the exporter's thread.
        let watched = pid
        exporter?.start(direct: { (try? ProcSnapshot.take(pid: watched)).map(MetricsSample.init(proc:)) })
        var last: ProcSnapshot?
        defer { exporter?.finish(last.map(MetricsSample.init(proc:))) }
        var previous: (time: Date, snap: ProcSnapshot)?
        var n = 0
        while count.map({ n < $0 }) ?? true {
            let snap: ProcSnapshot
            do { snap = try ProcSnapshot.take(pid: pid) } catch let e as FDTraceError {
                if previous != nil { print("fdtrace: process \(pid) is gone"); return }
                throw e
            }
            last = snap
            let now = Date()
            var line = "\(Self.clock(now))  open \(snap.open)"
            if let p = previous { line += Self.rate(snap.open - p.snap.open, now.timeIntervalSince(p.time)) }
            for (kind, c) in snap.byKind.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                line += "  \(kind) \(c)"
                if let p = previous { line += Self.rate(c - (p.snap.byKind[kind] ?? 0), now.timeIntervalSince(p.time)) }
            }
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
            previous = (now, snap)
            n += 1
            if count.map({ n < $0 }) ?? true { usleep(useconds_t(interval * 1e6)) }
        }
    }

    static func rate(_ delta: Int, _ seconds: Double) -> String {
        guard delta != 0, seconds > 0 else { return "" }
        return String(format: " (%+.1f/s)", Double(delta) / seconds)
    }

    static func clock(_ d: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss"
        return f.string(from: d)
    }
}

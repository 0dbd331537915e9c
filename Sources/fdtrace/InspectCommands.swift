import ArgumentParser
import FDTraceCore
import Foundation

/// `fdtrace snapshot --pid N`: what any process has open now, from /proc.
struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the descriptors a process has open now, grouped (from /proc; works untraced).")

    @Option(help: "The process to inspect.") var pid: Int32?
    @Option(help: ArgumentHelp("Also write the snapshot as JSON to FILE.", valueName: "FILE")) var json: String?

    func run() throws {
        guard let pid else {
            throw ValidationError("--pid is required (queries of running fdtrace sessions are not available yet)")
        }
        do {
            let snap = try ProcSnapshot.take(pid: pid)
            print(snap.render(), terminator: "")
            if let json { try ReportFile(path: json).write(try JSONRenderer.encode(snap)) }
        } catch let e as FDTraceError {
            FileHandle.standardError.write(Data("fdtrace: \(e.message)\n".utf8))
            throw ExitCode(e.status)
        }
    }
}

/// `fdtrace watch --pid N`: samples a process's descriptors and shows the
/// growth by kind.
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample a process's open descriptors every few seconds and show growth by kind (from /proc).")

    @Option(help: "The process to watch.") var pid: Int32
    @Option(help: "Seconds between samples (default 1).") var interval: Double = 1
    @Option(help: "Stop after this many samples (default: until the process ends).") var count: Int?

    mutating func validate() throws {
        guard interval >= 0.05, interval <= 3600 else { throw ValidationError("--interval must be from 0.05 to 3600 seconds") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        var previous: (time: Date, snap: ProcSnapshot)?
        var n = 0
        while count.map({ n < $0 }) ?? true {
            let snap: ProcSnapshot
            do { snap = try ProcSnapshot.take(pid: pid) } catch let e as FDTraceError {
                if previous != nil { print("fdtrace: process \(pid) is gone"); return }
                FileHandle.standardError.write(Data("fdtrace: \(e.message)\n".utf8))
                throw ExitCode(e.status)
            }
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

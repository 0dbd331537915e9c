import CFDTraceSys
import CFDTraceWire
import Foundation

/// `fdtrace run`: starts the program under the shim, collects until the
/// traced tree has ended, and builds the report.
public struct RunSession {
    public var command: [String]
    public var library: String
    public var depth: Int?
    /// How long to wait for other traced processes after the root ended.
    public var lingerSeconds: Double
    /// Trace fork children and exec'd programs too.
    public var follow: Bool
    /// Snapshots while the program runs (--snapshot-dir and triggers).
    public var snapshots: SnapshotOptions?
    /// The session's name for `fdtrace snapshot --name` (--name).
    public var name: String?
    /// Where records come from (--source).
    public var source: SourceChoice = .auto
    /// --suppressions: applied to the answers of scope questions too.
    public var suppressions: Suppressions?
    /// --metrics / --metrics-file (bound before the program starts).
    public var metrics: MetricsExporter?

    /// --source: the shim, the kernel, or the kernel for a program the shim
    /// cannot see into (a Go program, a static binary) and the shim otherwise.
    public enum SourceChoice: String, CaseIterable, Sendable { case auto, shim, kernel }

    /// --snapshot-dir and its triggers (shared with `fdtrace attach`).
    public typealias SnapshotOptions = FDTraceCore.SnapshotOptions

    public init(command: [String], library: String, depth: Int? = nil, lingerSeconds: Double = 2, follow: Bool = true) {
        self.command = command
        self.library = library
        self.depth = depth
        self.lingerSeconds = lingerSeconds
        self.follow = follow
    }

    public struct Outcome {
        public var report: Report
        /// The program's status as a shell reports it (128+N for signal N).
        public var status: Int32
    }

    public func run(symbolizer: Symbolizing = SymbolizerChoice.fromEnvironment(), nativeFrames: Bool = false) throws -> Outcome {
        let path = try Launcher.resolve(command[0])
        // An abstract socket with an unguessable name; peers are checked by
        // their credentials and ancestry (ShimSource.acceptAll).
        let socketPath = "@fdtrace-run-\(geteuid())-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let kernel = kernelSource(path: path)
        let source: EventSource = try kernel ?? ShimSource(socketPath: socketPath)
        let collector = Collector(sources: [source])
        let services = try SessionServices(
            collector: collector, name: name, command: command, snapshots: snapshots, symbolizer: symbolizer,
            nativeFrames: nativeFrames)
        // Scope questions (the pytest plugin), answered with the session's
        // suppressions applied.
        let scopes = ScopeAnswerer(symbolizer: symbolizer, nativeFrames: nativeFrames)
        if let suppressions { scopes.suppression = { suppressions.match($0)?.name } }
        scopes.install(on: collector)
        var env = Launcher.environment(library: library, socket: socketPath, depth: depth)
        if !follow { env.append("\(FDT_ENV_FOLLOW)=0") }
        var program: LaunchedProgram
        if let kernel {
            kernel.follow = follow
            // Our environment as it is: no shim.
            let plain = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }.sorted()
            program = try LaunchedProgram(path: path, argv: command, env: plain, kernel: kernel)
        } else {
            program = try LaunchedProgram(path: path, argv: command, env: env)
        }
        defer { program.close() }
        collector.treeRoots.insert(program.pid)
        var loop = SessionLoop(collector: collector, queries: services.queries, lingerSeconds: lingerSeconds, waitName: "--wait")
        if let metrics {
            loop.metrics = SessionMetrics(exporter: metrics, command: command, symbolizer: symbolizer, nativeFrames: nativeFrames)
            loop.metrics?.start(root: program.pid)
        }
        loop.run(extra: { program.descriptors }) { ready in
            if program.status == nil { services.live?.periodic(collector) }
            program.handle(ready, collector: collector)
            return program.status == nil ? .running : .ended
        }
        return outcome(
            collector, program: program, path: path, viaKernel: kernel != nil, queryNote: services.queryNote, symbolizer: symbolizer,
            nativeFrames: nativeFrames)
    }

    /// The kernel source when --source or the program asks for it and it
    /// loads; else nil (the shim), with one line on stderr saying why.
    private func kernelSource(path: String) -> KernelEventSource? {
        var reason: String?
        switch source {
        case .shim: return nil
        case .kernel: reason = nil
        case .auto:
            if BlindRuntime.reason(executable: path) != nil {
                reason = "\(command[0]) is a Go program"
            } else if let elf = ElfSegments.read(path: path), elf.interpreter == nil {
                reason = "\(command[0]) is a static binary"
            } else {
                return nil
            }
        }
        switch KernelEventSource.open() {
        case .success(let k):
            if let reason { SessionServices.say("\(reason): traced by the kernel source") }
            return k
        case .failure(let e):
            SessionServices.say("\(reason.map { "\($0): " } ?? "")the kernel source cannot be used (\(e.message)): tracing with the shim")
            return nil
        }
    }

    /// The report once the traced tree is done, and the status to exit with.
    private func outcome(
        _ collector: Collector, program: LaunchedProgram, path: String, viaKernel: Bool, queryNote: String?,
        symbolizer: Symbolizing, nativeFrames: Bool
    ) -> Outcome {
        // The root's status may have been recorded before its image listed.
        if let s = program.status {
            collector.setWaitStatus(pid: program.pid, exitCode: s >= 128 ? nil : s, signal: s >= 128 ? s - 128 : nil)
        }
        var notes = collector.rejected
        if let queryNote { notes.append(queryNote) }
        if !collector.processes.contains(where: { $0.pid == program.pid }) {
            notes.append(
                viaKernel
                    ? "\(command[0]) did not start: exec failed (exit status \(program.status.map(String.init) ?? "unknown"))"
                    : untracedNote(path))
        }
        let report = collector.report(
            command: command, exitStatus: program.status, notes: notes, symbolizer: symbolizer,
            nativeFrames: nativeFrames)
        return Outcome(report: report, status: program.status ?? ExitStatus.tracerFailure)
    }

    /// Why the program never connected.
    private func untracedNote(_ path: String) -> String {
        var st = stat()
        if stat(path, &st) == 0 && st.st_mode & (S_ISUID | S_ISGID) != 0 {
            return "\(command[0]) is setuid/setgid: the loader ignores LD_PRELOAD for it, so it was not traced"
        }
        return
            "\(command[0]) never connected to the collector: it is a static binary or bypasses the dynamic loader (Go programs do), so its call sites cannot be traced"
    }
}

/// The program `fdtrace run` starts, as its session sees it: signals sent
/// to fdtrace are passed on to it, its pidfd tells when it exits, and its
/// status is taken then.
private struct LaunchedProgram {
    let pid: pid_t
    private let pidfd: Int32
    private let signals: Int32
    /// As a shell reports it (128+N for signal N), once it exited.
    private(set) var status: Int32?

    init(path: String, argv: [String], env: [String]) throws {
        // Blocked and read from a signalfd before the program starts (it
        // starts with default dispositions and an empty mask).
        signals = fdtc_signalfd()
        do { pid = try Launcher.spawn(path: path, argv: argv, env: env) } catch {
            if signals >= 0 { Glibc.close(signals) }
            throw error
        }
        pidfd = fdtc_pidfd_open(pid)
    }

    /// Started without the shim, its pid in the kernel source's traced set
    /// before it execs (held at a gate until then: nothing it does is missed).
    init(path: String, argv: [String], env: [String], kernel: KernelEventSource) throws {
        signals = fdtc_signalfd()
        let gate: Int32
        do { (pid, gate) = try Launcher.spawnGated(path: path, argv: argv, env: env) } catch {
            if signals >= 0 { Glibc.close(signals) }
            throw error
        }
        pidfd = fdtc_pidfd_open(pid)
        var go: UInt8 = 1
        do { try kernel.traceRoot(pid) } catch {
            Glibc.close(gate)  // it exits unstarted
            var ws: Int32 = 0
            while fdtc_reap(pid, &ws) == 0 { usleep(1000) }  // at once: it only waits for the gate
            if pidfd >= 0 { Glibc.close(pidfd) }
            if signals >= 0 { Glibc.close(signals) }
            throw error
        }
        _ = write(gate, &go, 1)
        Glibc.close(gate)
    }

    func close() {
        if pidfd >= 0 { Glibc.close(pidfd) }
        if signals >= 0 { Glibc.close(signals) }
    }

    /// What to wait on: signals for us, the program's end.
    var descriptors: [Int32] {
        (signals >= 0 ? [signals] : []) + (pidfd >= 0 && status == nil ? [pidfd] : [])
    }

    mutating func handle(_ ready: Set<Int32>, collector: Collector) {
        if signals >= 0 && ready.contains(signals) {
            var fromUser: Int32 = 0
            let sig = fdtc_read_signal(signals, &fromUser)
            // The terminal already sent SIGINT/SIGQUIT to the program;
            // anything else sent to us is passed on.
            if sig > 0 && status == nil && (fromUser != 0 || (sig != SIGINT && sig != SIGQUIT)) { kill(pid, sig) }
        }
        guard status == nil && (pidfd < 0 || ready.contains(pidfd)) else { return }
        var ws: Int32 = 0
        guard fdtc_reap(pid, &ws) == 1 else { return }
        if fdtc_wifsignaled(ws) != 0 {
            status = 128 + fdtc_wtermsig(ws)
            collector.setWaitStatus(pid: pid, exitCode: nil, signal: fdtc_wtermsig(ws))
        } else {
            status = fdtc_wexitstatus(ws)
            collector.setWaitStatus(pid: pid, exitCode: fdtc_wexitstatus(ws), signal: nil)
        }
    }
}

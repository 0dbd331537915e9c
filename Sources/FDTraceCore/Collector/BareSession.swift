import CFDTraceSys
import CFDTraceWire
import Foundation

/// The collector a bare `LD_PRELOAD=libfdtrace.so CMD` starts: it serves
/// the traced tree until the process that started it (the owner) asks for
/// the report at its exit, or is gone, and the rest of the tree has ended
/// or the bounded wait ran out.
public struct BareSession {
    public var socketPath: String
    public var rootPID: Int32
    public var lingerSeconds: Double
    /// Giving up when no process ever connects.
    public var idleTimeoutSeconds: Double = 30

    public init(socketPath: String, rootPID: Int32, lingerSeconds: Double) {
        self.socketPath = socketPath
        self.rootPID = rootPID
        self.lingerSeconds = lingerSeconds
    }

    /// Listens, reports readiness on `readyFD`, collects. Returns the
    /// collector (for the report) once the tree is done.
    public func serve(readyFD: Int32) throws -> Collector {
        let collector = Collector(sources: [try ShimSource(socketPath: socketPath)])
        collector.treeRoots.insert(rootPID)
        let env = ProcessInfo.processInfo.environment
        // Scope questions (the pytest plugin); FDTRACE_SUPPRESSIONS would
        // filter them through `scopes.suppression`.
        let scopes = ScopeAnswerer(symbolizer: LLVMSymbolizer(), nativeFrames: env[FDT_ENV_NATIVE] == "1")
        scopes.install(on: collector)
        var one: UInt8 = 1
        _ = write(readyFD, &one, 1)
        close(readyFD)
        let start = monotonicNow()
        // Queries from other terminals (fdtrace snapshot / top); optional.
        let queries = try? QueryServer(
            name: ProcessInfo.processInfo.environment[FDT_ENV_NAME],
            command: ProcFiles.commandLine(rootPID) ?? [], symbolizer: LLVMSymbolizer())
        // The owner waits for its report: it stays followed to the end.
        SessionLoop(collector: collector, queries: queries, lingerSeconds: lingerSeconds, waitName: FDT_ENV_WAIT, keep: rootPID)
            .run(extra: { [] }) { _ in
                let requested = collector.reportRequested(by: rootPID)
                let rootGone = !collector.isFollowed(rootPID) && !ProcFiles.isRunning(rootPID)
                if requested || rootGone { return .ended }
                if collector.processes.isEmpty && monotonicNow() - start > UInt64(idleTimeoutSeconds * 1e9) { return .givenUp }
                return .running
            }
        return collector
    }

    /// Starts the serving collector in its own session and waits until it
    /// listens. Used by the intermediate `fdtrace collect` the shim spawns.
    public static func startDaemon(executable: String, arguments: [String]) throws {
        var fds: [Int32] = [0, 0]
        guard fdtc_pipe_cloexec(&fds) == 0 else { throw FDTraceError("cannot create a pipe", status: ExitStatus.tracerFailure) }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "LD_PRELOAD")
        var pid: pid_t = 0
        let argv = [executable] + arguments
        let rc = withCStringArray(argv) { a in
            withCStringArray(env.map { "\($0.key)=\($0.value)" }) { e in fdtc_spawn_daemon(&pid, executable, a, e, fds[1]) }
        }
        close(fds[1])
        defer { close(fds[0]) }
        guard rc == 0 else { throw FDTraceError.tracer("cannot start the collector", errno: rc) }
        var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        var byte: UInt8 = 0
        guard poll(&p, 1, 10_000) == 1, read(fds[0], &byte, 1) == 1 else {
            throw FDTraceError("the collector did not start listening", status: ExitStatus.tracerFailure)
        }
    }
}

func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    ptrs.append(nil)
    defer { for p in ptrs { free(p) } }
    return body(ptrs)
}

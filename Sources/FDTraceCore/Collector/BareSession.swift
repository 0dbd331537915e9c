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
    public func serve(readyFD: Int32, symbolizer: Symbolizing, suppressions: Suppressions? = nil) throws -> Collector {
        let collector = Collector(sources: [try ShimSource(socketPath: socketPath)])
        collector.treeRoots.insert(rootPID)
        let env = ProcessInfo.processInfo.environment
        // Scope questions (the pytest plugin), FDTRACE_SUPPRESSIONS applied.
        let scopes = ScopeAnswerer(symbolizer: symbolizer, nativeFrames: env[FDT_ENV_NATIVE] == "1")
        if let suppressions { scopes.suppression = { suppressions.match($0)?.name } }
        scopes.install(on: collector)
        var one: UInt8 = 1
        _ = write(readyFD, &one, 1)
        close(readyFD)
        let start = monotonicNow()
        // Queries from other terminals (fdtrace snapshot / top); optional.
        let queries = try? QueryServer(
            name: ProcessInfo.processInfo.environment[FDT_ENV_NAME],
            command: ProcFiles.commandLine(rootPID) ?? [], symbolizer: symbolizer)
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

    /// Makes the serving collector out of the intermediate `fdtrace collect`
    /// the shim starts: a fork in its own session (fdtc_fork_daemon), not a
    /// second start of fdtrace. True in the child, which serves; false in the
    /// intermediate once the child listens.
    public static func forkDaemon() throws -> Bool {
        let rc = fdtc_fork_daemon()
        guard rc >= 0 else { throw FDTraceError.tracer("the collector did not start listening", errno: -rc) }
        return rc == 0
    }
}

func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    ptrs.append(nil)
    defer { for p in ptrs { free(p) } }
    return body(ptrs)
}

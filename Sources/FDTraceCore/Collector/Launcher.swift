import CFDTraceSys
import CFDTraceWire
import Foundation

/// Finds and starts the traced program with the shim preloaded, exactly as
/// a shell would start it otherwise (descriptors, signals, mask).
public enum Launcher {
    /// Resolves `name` like execvp. Throws the shell's statuses (127/126).
    public static func resolve(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) throws -> String {
        func check(_ p: String) -> Int32? {
            var st = stat()
            guard stat(p, &st) == 0 else { return nil }
            if st.st_mode & S_IFMT == S_IFDIR || access(p, X_OK) != 0 { return ExitStatus.notExecutable }
            return 0
        }
        if name.contains("/") {
            switch check(name) {
            case 0: return name
            case nil: throw FDTraceError("\(name): no such file", status: ExitStatus.notFound)
            default: throw FDTraceError("\(name): cannot execute: permission denied", status: ExitStatus.notExecutable)
            }
        }
        var denied = false
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            switch check(candidate) {
            case 0: return candidate
            case nil: continue
            default: denied = true
            }
        }
        if denied { throw FDTraceError("\(name): cannot execute: permission denied", status: ExitStatus.notExecutable) }
        throw FDTraceError("\(name): command not found", status: ExitStatus.notFound)
    }

    /// The environment of the traced program: ours, plus the shim.
    public static func environment(
        library: String, socket: String, depth: Int?,
        base: [String: String] = ProcessInfo.processInfo.environment
    ) -> [String] {
        var env = base
        let existing = env["LD_PRELOAD"].map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        env["LD_PRELOAD"] = existing.isEmpty ? library : "\(library) \(existing)"
        env[FDT_ENV_SOCKET] = socket
        if let depth { env[FDT_ENV_DEPTH] = String(depth) }
        return env.map { "\($0.key)=\($0.value)" }.sorted()
    }

    public static func spawn(path: String, argv: [String], env: [String]) throws -> pid_t {
        var pid: pid_t = 0
        let rc = withCStringArray(argv) { cargv in
            withCStringArray(env) { cenv in fdtc_spawn(&pid, path, cargv, cenv) }
        }
        guard rc == 0 else {
            let status = rc == ENOENT ? ExitStatus.notFound : ExitStatus.notExecutable
            throw FDTraceError("\(argv[0]): cannot execute: \(String(cString: strerror(rc)))", status: status)
        }
        return pid
    }

    /// `spawn`, held before its exec: the pid, and the gate (a pipe's write
    /// end) that lets it exec when a byte is written to it.
    public static func spawnGated(path: String, argv: [String], env: [String]) throws -> (pid: pid_t, gate: Int32) {
        var pid: pid_t = 0, gate: Int32 = -1
        let rc = withCStringArray(argv) { cargv in
            withCStringArray(env) { cenv in fdtc_spawn_gated(&pid, path, cargv, cenv, &gate) }
        }
        guard rc == 0 else { throw FDTraceError("\(argv[0]): cannot start: \(String(cString: strerror(rc)))", status: ExitStatus.tracerFailure) }
        return (pid, gate)
    }
}

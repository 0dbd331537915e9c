import Foundation

/// The private directory holding session sockets: /tmp/fdtrace-UID (or
/// $XDG_RUNTIME_DIR/fdtrace), mode 0700, owned by us, never a symlink.
public enum SessionDirectory {
    public static func path() -> String {
        let env = ProcessInfo.processInfo.environment
        if let d = env["FDTRACE_SESSION_DIR"], !d.isEmpty { return d }
        if let r = env["XDG_RUNTIME_DIR"], !r.isEmpty { return r + "/fdtrace" }
        return "/tmp/fdtrace-\(getuid())"
    }

    /// Creates or checks the directory. Throws a one-line reason.
    public static func prepare() throws -> String {
        let dir = path()
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw FDTraceError("cannot create \(dir): \(String(cString: strerror(errno)))", status: ExitStatus.tracerFailure)
        }
        var st = stat()
        guard lstat(dir, &st) == 0 else { throw FDTraceError("cannot inspect \(dir)", status: ExitStatus.tracerFailure) }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw FDTraceError("\(dir) is not a directory (refusing to use it)", status: ExitStatus.tracerFailure)
        }
        guard st.st_uid == getuid() else {
            throw FDTraceError("\(dir) belongs to another user (refusing to use it)", status: ExitStatus.tracerFailure)
        }
        if st.st_mode & 0o077 != 0 { chmod(dir, 0o700) }
        return dir
    }
}

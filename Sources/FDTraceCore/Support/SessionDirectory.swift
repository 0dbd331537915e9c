import CFDTraceWire
import Foundation

/// Where running sessions listen for queries: one directory per user,
/// mode 0700, one socket per collector (`<collector pid>.sock`).
public enum SessionDirectory {
    public static func path(uid: uid_t = geteuid()) -> String {
        let base = ProcessInfo.processInfo.environment[FDT_ENV_SESSION_DIR] ?? "/tmp"
        return "\(base)/fdtrace-\(uid)"
    }

    /// Creates (or checks) the directory: ours, a real directory, private.
    static func prepare() throws -> String {
        let dir = path()
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw FDTraceError.tracer("cannot create \(dir)", errno: errno)
        }
        var st = stat()
        guard lstat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid(), st.st_mode & 0o077 == 0 else {
            throw FDTraceError("\(dir) is not a private directory of this user", status: ExitStatus.tracerFailure)
        }
        return dir
    }

    /// The sockets of running sessions this user may query (root: all users').
    public static func sockets() -> [String] {
        var dirs = [path()]
        if geteuid() == 0 {
            let base = (path() as NSString).deletingLastPathComponent
            let others = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
            dirs += others.filter { $0.hasPrefix("fdtrace-") }.map { "\(base)/\($0)" }.filter { $0 != path() }
        }
        return dirs.flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".sock") }.sorted().map { "\(dir)/\($0)" }
        }
    }
}

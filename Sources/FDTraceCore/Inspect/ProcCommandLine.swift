import Foundation

/// A process's command line as the process shows it, as `ps` does: the
/// bytes of /proc/PID/cmdline split at NULs. A process that rewrote its
/// title (setproctitle: nginx, redis, postgres) writes it over its old
/// arguments and pads the rest with NULs; those empty strings are its
/// padding, not arguments, and are dropped (a genuine trailing '' argument
/// cannot be told apart; ps drops it too).
public enum ProcCommandLine {
    public static func parse<C: Collection>(_ bytes: C) -> [String] where C.Element == UInt8 {
        var argv = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        while argv.last == "" { argv.removeLast() }
        return argv
    }

    /// The command line now; nil when it cannot be read or is empty (a
    /// process that is gone or exiting has none left).
    public static func read(pid: Int32) -> [String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        let argv = parse(data)
        return argv.isEmpty ? nil : argv
    }
}

import CFDTraceSys
import Foundation

/// The small files of /proc/PID that the collector, the sessions and the
/// reports read about a process, one reader each: stat (state, parent,
/// session, start time), cmdline, limits, maps, the exe link and one
/// descriptor's inode. (Its whole descriptor table, /proc/PID/fd and
/// /proc/PID/net, is ProcSnapshot's and ProcNet's.)
public enum ProcFiles {
    // MARK: - reading

    /// The bytes of a /proc file, read to its end. /proc files report size
    /// 0 and are produced a page at a time: Foundation's whole-file readers
    /// (String(contentsOfFile:), FileManager.contents(atPath:)) stop after
    /// the first read, so a long maps, cmdline or net/tcp came cut short.
    public static func readData(_ path: String) -> Data? {
        // read(2) directly: FileHandle's reads cost the collector more than
        // the kernel's work for the small files it reads per process.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 0
        while true {
            if used == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + used, $0.count - used) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return used == 0 ? nil : Data(bytes[..<used]) }
            if n == 0 { return Data(bytes[..<used]) }
            used += n
        }
    }

    /// A /proc file as text, read to its end (see `readData`).
    public static func read(_ path: String) -> String? { readData(path).map { String(decoding: $0, as: UTF8.self) } }

    // MARK: - stat

    /// The fields of /proc/PID/stat after the command name (which may hold
    /// spaces and parentheses): [0] is the state, field 3 of proc(5).
    static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = read("/proc/\(pid)/stat"),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// Running (not gone, not a zombie).
    static func isAlive(_ pid: Int32) -> Bool {
        guard let fields = statFields(pid) else { return false }
        return fields.first != "Z"
    }

    /// Gone, a zombie, or on its way there: the kernel marks a task
    /// PF_EXITING (flags, field 9 of proc(5)) as its exit begins, before it
    /// closes the task's descriptors and long before it becomes a zombie.
    static func isEnding(_ pid: Int32) -> Bool {
        guard let fields = statFields(pid), fields.count > 6 else { return true }
        if fields[0] == "Z" || fields[0] == "X" { return true }
        let exiting: UInt64 = 0x4  // PF_EXITING, include/linux/sched.h
        return UInt64(fields[6]).map { $0 & exiting != 0 } ?? false
    }

    /// A zombie, or gone.
    static func isZombie(_ pid: Int32) -> Bool {
        guard let fields = statFields(pid) else { return true }
        return fields.first == "Z"
    }

    /// A zombie's wait status (exit_code, the last field of stat); nil
    /// when it is gone or not a zombie.
    static func zombieWaitStatus(_ pid: Int32) -> Int32? {
        guard let fields = statFields(pid), fields.first == "Z", let last = fields.last else { return nil }
        return Int32(last.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// This user may signal it (kill(pid, 0)), and it is not a zombie.
    static func isRunning(_ pid: Int32) -> Bool { kill(pid, 0) == 0 && !isZombie(pid) }

    static func parentPID(_ pid: Int32) -> Int32? {
        guard let fields = statFields(pid), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// The session a process belongs to (field 6).
    static func sessionID(_ pid: Int32) -> Int32? {
        guard let fields = statFields(pid), fields.count > 3 else { return nil }
        return Int32(fields[3])
    }

    /// The kernel's start time of a process (field 22): the same across
    /// exec, different when a pid is reused.
    static func kernelStartTime(_ pid: Int32) -> UInt64? {
        guard let fields = statFields(pid), fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    // MARK: - cmdline

    /// A process's command line as the process shows it, as `ps` does: the
    /// bytes of /proc/PID/cmdline split at NULs. A process that rewrote its
    /// title (setproctitle: nginx, redis, postgres) writes it over its old
    /// arguments and pads the rest with NULs; those empty strings are its
    /// padding, not arguments, and are dropped (a genuine trailing ''
    /// argument cannot be told apart; ps drops it too).
    public static func parseCommandLine<C: Collection>(_ bytes: C) -> [String] where C.Element == UInt8 {
        var argv = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        while argv.last == "" { argv.removeLast() }
        return argv
    }

    /// The command line now; nil when it cannot be read or is empty (a
    /// process that is gone or exiting has none left).
    public static func commandLine(_ pid: Int32) -> [String]? {
        guard let data = readData("/proc/\(pid)/cmdline") else { return nil }
        let argv = parseCommandLine(data)
        return argv.isEmpty ? nil : argv
    }

    // MARK: - limits, maps, exe, fd

    /// RLIMIT_NOFILE, soft and hard ("unlimited" is UInt64.max); nil when
    /// /proc/PID/limits cannot be read.
    static func openFileLimits(_ pid: Int32) -> (soft: UInt64?, hard: UInt64?) {
        guard let text = read("/proc/\(pid)/limits"),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") })
        else { return (nil, nil) }
        let f = line.dropFirst("Max open files".count).split(separator: " ", omittingEmptySubsequences: true)
        guard f.count >= 2 else { return (nil, nil) }
        return (UInt64(f[0]) ?? .max, UInt64(f[1]) ?? .max)
    }

    /// Whether /proc/PID/maps lists a mapping of `inode` whose path
    /// contains `name` (a memfd's name).
    static func maps(pid: Int32, inode: UInt64, name: String) -> Bool {
        // Bytes, not String: Foundation's substring search was most of the
        // collector's work for an exec'd process.
        // memmem, not Foundation's generic firstRange (still a tenth of the
        // collector's time in a shell loop): the lines naming `name`, each
        // checked for the inode.
        guard let text = readData("/proc/\(pid)/maps"), !name.isEmpty else { return false }
        let needle = Array(" \(inode) ".utf8), label = Array(name.utf8)
        return text.withUnsafeBytes { buf -> Bool in
            guard let base = buf.baseAddress else { return false }
            var from = 0
            while from < buf.count, let hit = fdtc_memmem(base + from, buf.count - from, label, label.count) {
                let at = base.distance(to: UnsafeRawPointer(hit))
                var start = at, end = at
                while start > 0 && buf[start - 1] != UInt8(ascii: "\n") { start -= 1 }
                while end < buf.count && buf[end] != UInt8(ascii: "\n") { end += 1 }
                if fdtc_memmem(base + start, end - start, needle, needle.count) != nil { return true }
                from = end
            }
            return false
        }
    }

    /// Whether the /proc/PID/exe link still reads: a process in exit has
    /// lost its memory, and its exe link, before the kernel closes its
    /// descriptors.
    static func hasExecutable(_ pid: Int32) -> Bool {
        var buf = [CChar](repeating: 0, count: 8)
        return readlink("/proc/\(pid)/exe", &buf, buf.count) > 0
    }

    /// Whether descriptor `fd` of `pid` is close-on-exec (the flags line of
    /// /proc/PID/fdinfo/FD, octal); false when it cannot be read.
    static func isCloseOnExec(pid: Int32, fd: Int32) -> Bool {
        let fdinfo = read("/proc/\(pid)/fdinfo/\(fd)") ?? ""
        let flags =
            fdinfo.split(separator: "\n").first { $0.hasPrefix("flags:") }
            .flatMap { Int($0.dropFirst(6).trimmingCharacters(in: " \t"), radix: 8) } ?? 0
        return flags & Int(O_CLOEXEC) != 0
    }

    /// The inode of descriptor `fd` of `pid` (stat of /proc/PID/fd/FD).
    static func inode(pid: Int32, fd: Int32) -> UInt64? {
        var st = stat()
        guard stat("/proc/\(pid)/fd/\(fd)", &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }
}

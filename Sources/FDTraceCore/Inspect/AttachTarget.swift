import Foundation

/// A process `fdtrace attach` may trace, checked before anything is loaded
/// or attached: it exists, it is a process of its own (not a thread of
/// another, not a kernel thread, not fdtrace itself), it has not exited,
/// and this user may read its /proc. Each refusal is one line and a status.
public struct AttachTarget: Sendable {
    public let pid: Int32
    /// Its command line as it shows it now.
    public let command: [String]
    /// /proc/PID/exe.
    public let executable: String

    /// PF_KTHREAD in the flags of /proc/PID/stat (field 9): a kernel thread.
    static let kernelThreadFlag: UInt64 = 0x0020_0000

    public init(pid: Int32) throws {
        func refuse(_ why: String) -> FDTraceError { FDTraceError(why, status: ExitStatus.failure) }
        guard pid != getpid() else { throw refuse("pid \(pid) is fdtrace itself") }
        guard let fields = ProcFiles.statFields(pid), fields.count > 6 else { throw refuse("no process \(pid)") }
        if let tgid = Self.threadGroup(pid), tgid != pid {
            throw refuse("pid \(pid) is a thread of process \(tgid): attach to \(tgid) (all its threads are traced)")
        }
        if let flags = UInt64(fields[6]), flags & Self.kernelThreadFlag != 0 {
            throw refuse("pid \(pid) is a kernel thread (\(Self.name(pid))): it has no descriptors of its own to trace")
        }
        if fields[0] == "Z" { throw refuse("process \(pid) has exited (a zombie its parent has not reaped)") }
        guard (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) != nil else {
            throw refuse("cannot read /proc/\(pid)/fd: permission denied (same user or root only)")
        }
        self.pid = pid
        executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
        command = ProcFiles.commandLine(pid) ?? [Self.name(pid)]
    }

    /// Whether it runs CPython (its executable, or libpython mapped): the
    /// kernel source gives native frames only.
    public var isPython: Bool {
        let base = executable.split(separator: "/").last.map(String.init) ?? ""
        if base.hasPrefix("python") { return true }
        let maps = ProcFiles.read("/proc/\(pid)/maps") ?? ""
        return maps.contains("/libpython")
    }

    /// The Tgid line of /proc/PID/status: a thread's process.
    static func threadGroup(_ pid: Int32) -> Int32? {
        guard let status = ProcFiles.read("/proc/\(pid)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") })
        else { return nil }
        return Int32(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
    }

    /// /proc/PID/comm.
    static func name(_ pid: Int32) -> String {
        (ProcFiles.read("/proc/\(pid)/comm") ?? "?").trimmingCharacters(in: .newlines)
    }
}

import ArgumentParser

/// `--pid N` of snapshot, top and watch: a real process id, not 0 or a
/// negative number (which /proc would answer with a misleading error).
enum PIDOption {
    static func validate(_ pid: Int32?) throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a process id (1 or more), not \(pid)") }
    }
}

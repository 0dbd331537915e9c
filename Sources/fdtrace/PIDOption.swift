import ArgumentParser

/// `--pid N` and `--name NAME` of snapshot and top: the traced process, or
/// the session, a query addresses.
struct SessionTarget: ParsableArguments {
    @Option(help: "A process: queried through its session if traced (snapshot reads any other from /proc).") var pid: Int32?
    @Option(help: "The session started with `fdtrace run --name NAME`.") var name: String?

    func validate() throws { try PIDOption.validate(pid) }
}

/// `--pid N` of snapshot, top and watch: a real process id, not 0 or a
/// negative number (which /proc would answer with a misleading error).
enum PIDOption {
    static func validate(_ pid: Int32?) throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a process id (1 or more), not \(pid)") }
    }
}

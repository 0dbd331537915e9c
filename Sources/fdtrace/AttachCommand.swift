import ArgumentParser
import FDTraceCore
import Foundation

struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Trace a process that runs already (the kernel event source: needs root), then report.",
        discussion: """
            From the attach on, every descriptor the process (all its threads, and the children it \
            forks or execs) creates or closes is recorded with its stack; what it held before is \
            listed apart. The report comes when the process exits, at --duration, or on Ctrl-C \
            (SIGINT/SIGTERM); the process runs on untouched. Exit status: 0 report written; 99 with \
            --fail-on-leak when a site holds descriptors; 1 the process cannot be traced (no such \
            process, a thread, a kernel thread, fdtrace itself, /proc not readable); 77 the kernel \
            event source cannot be used here (not root, no BTF): the /proc view is shown instead; \
            64 usage error; 70 tracer failure.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The process to attach to.", valueName: "N"))
    var pid: Int32

    @Option(name: .long, help: ArgumentHelp("Detach and report after SECONDS. (default: when it exits, or on Ctrl-C)", valueName: "SECONDS"))
    var duration: Double?

    @Option(name: .long, help: ArgumentHelp("Name this session for `fdtrace snapshot --name` and `fdtrace top --name`.", valueName: "NAME"))
    var name: String?

    @OptionGroup var snapshots: SnapshotArguments

    @OptionGroup var report: ReportOptions
    @OptionGroup var metrics: MetricsOptions

    mutating func validate() throws {
        try PIDOption.validate(pid)
        if let duration, !(duration > 0 && duration <= 31_536_000) {
            throw ValidationError("--duration must be more than 0 and at most a year of seconds")
        }
    }

    func run() throws {
        let target = try AttachTarget(pid: pid)
        let outputs = try report.outputs()
        // Bound before the attach: a bad address fails first.
        let exporter = try metrics.exporter()
        var session = AttachSession(target: target)
        session.duration = duration
        session.name = name
        session.snapshots = snapshots.options
        session.metrics = exporter
        let result: Report
        do { result = try session.run(nativeFrames: report.native) } catch let e as FDTraceError where e.status == ExitStatus.procViewOnly {
            try procView(outputs, reason: e.message)
            throw ExitCode(e.status)
        }
        throw ExitCode(try report.finish(result, program: 0, outputs: outputs))
    }

    /// Without the kernel source: one line saying what is missing, then
    /// what /proc shows of the process (`fdtrace snapshot --proc`), where
    /// the text report would have gone (its JSON to --json).
    private func procView(_ outputs: ReportOutputs, reason: String) throws {
        FileHandle.standardError.write(Data("fdtrace: cannot attach to pid \(pid): \(reason); what /proc shows instead:\n".utf8))
        let snap = try ProcSnapshot.take(pid: pid)
        let text = Data(TextRenderer().render(snap).utf8)
        if let file = outputs.text { try file.write(text) } else { FileHandle.standardError.write(text) }
        if let json = outputs.json { try json.write(try JSONRenderer.encode(snap)) }
    }
}

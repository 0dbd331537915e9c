import ArgumentParser
import FDTraceCore

/// What a traced session does with its report, shared by every command that
/// traces (`run`, `attach`): where it goes, how much of each stack shows, and
/// what turns a finished program's status into a failure.
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Write the JSON report to FILE.", valueName: "FILE"))
    var json: String?

    @Option(name: .long, help: ArgumentHelp("Write the text report to FILE instead of stderr.", valueName: "FILE"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Also write the report as one self-contained HTML file.", valueName: "FILE"))
    var html: String?

    @Option(name: .long, help: ArgumentHelp("Also write the report as SARIF 2.1.0 (one result per leak site).", valueName: "FILE"))
    var sarif: String?

    @Flag(name: .long, help: "Exit 99 if the program exited 0 but leaked descriptors.")
    var failOnLeak = false

    @Flag(name: .long, help: "Exit 98 if the program exited 0 but closed a descriptor that was not open.")
    var failOnBadClose = false

    @Option(name: .long, help: ArgumentHelp("Frames shown per site in the text report.", valueName: "N"))
    var frames: Int = 12

    @Flag(name: .long, help: "Show every native frame in Python stacks (the interpreter's own too).")
    var native = false

    func validate() throws {
        guard frames >= 1 else { throw ValidationError("--frames must be at least 1") }
    }

    /// The destinations, opened now so a bad path fails before anything runs.
    func outputs() throws -> ReportOutputs {
        try ReportOutputs(text: output, json: json, html: html, sarif: sarif, frames: frames)
    }

    /// The program's own status, or a failure status when it exited 0 and
    /// the report holds what the flags fail on.
    func exitStatus(program status: Int32, _ report: Report) -> Int32 {
        if failOnLeak && status == 0 && report.leakGroupCount > 0 { return ExitStatus.leaksFound }
        if failOnBadClose && status == 0 && report.badCloseGroupCount > 0 { return ExitStatus.badClosesFound }
        return status
    }
}

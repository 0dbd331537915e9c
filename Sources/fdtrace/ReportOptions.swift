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

    @OptionGroup var render: RenderOptions

    @Flag(name: .long, help: "Exit 99 if the program exited 0 but leaked descriptors (suppressed ones do not count).")
    var failOnLeak = false

    @Flag(name: .long, help: "Exit 98 if the program exited 0 but closed a descriptor that was not open.")
    var failOnBadClose = false

    @Flag(name: .long, help: "Show every native frame in Python stacks (the interpreter's own too).")
    var native = false

    /// The destinations, opened now, and the suppression files, read now:
    /// a bad path or a malformed file fails before anything runs.
    func outputs() throws -> ReportOutputs {
        try render.outputs(text: output, json: json)
    }

    /// Writes the finished report (suppressions applied) and says the
    /// status to exit with: the written report's, so that suppressed leaks
    /// do not fail the run.
    func finish(_ report: Report, program status: Int32, outputs: ReportOutputs) throws -> Int32 {
        exitStatus(program: status, try outputs.write(report))
    }

    /// The program's own status, or a failure status when it exited 0 and
    /// the report holds what the flags fail on.
    func exitStatus(program status: Int32, _ report: Report) -> Int32 {
        if failOnLeak && status == 0 && report.leakGroupCount > 0 { return ExitStatus.leaksFound }
        if failOnBadClose && status == 0 && report.badCloseGroupCount > 0 { return ExitStatus.badClosesFound }
        return status
    }
}

/// The renderers' options, the same for a traced session's report and for a
/// saved one (`fdtrace report`): the other formats, suppressions, frames.
struct RenderOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Write the report as one self-contained HTML file.", valueName: "FILE"))
    var html: String?

    @Option(name: .long, help: ArgumentHelp("Write the report as SARIF 2.1.0 (one result per leak site).", valueName: "FILE"))
    var sarif: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Leave out the leak groups an entry of FILE matches (repeatable; the format is in the README).", valueName: "FILE"))
    var suppressions: [String] = []

    @Option(name: .long, help: ArgumentHelp("Write a suppression entry for each leak group left to FILE.", valueName: "FILE"))
    var genSuppressions: String?

    @Option(name: .long, help: ArgumentHelp("Frames shown per site in the text and HTML reports.", valueName: "N"))
    var frames: Int = 12

    func validate() throws {
        guard frames >= 1 else { throw ValidationError("--frames must be at least 1") }
    }

    /// The destinations, opened now, and the suppression files, read now
    /// unless the caller read them already (`loaded`). `textAlways`: false
    /// for `report`, which prints text only when no other format was asked for.
    func outputs(text: String?, json: String?, textAlways: Bool = true, loaded: Suppressions? = nil) throws -> ReportOutputs {
        try ReportOutputs(
            text: text, json: json, html: html, sarif: sarif, frames: frames, textAlways: textAlways,
            suppressions: try loaded ?? Suppressions.load(suppressions), generatedSuppressions: genSuppressions)
    }
}

import ArgumentParser
import FDTraceCore
import Foundation

/// `fdtrace report`: a report saved with --json rendered again (text, HTML,
/// SARIF), or two compared site by site (--diff).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render a saved JSON report again (text, --html, --sarif; --suppressions), or compare two with --diff.",
        discussion: """
            Without --html or --sarif the text report goes to stdout, as `fdtrace run` printed it. \
            --diff OLD.json NEW.json lists the sites that are new, gone, grew or shrank (a site: the call, \
            the line of your code, the kind of descriptor) and exits 1 when a site is new or grew, 0 otherwise. \
            Exit status: 65 not an fdtrace report; 66 cannot read the file; 64 usage error.
            """
    )

    @Argument(help: ArgumentHelp("The report (JSON written by --json); with --diff, the older then the newer.", valueName: "REPORT.json"))
    var files: [String] = []

    @Flag(name: .long, help: "Compare two reports site by site (exit 1 when a site is new or grew).")
    var diff = false

    @OptionGroup var render: RenderOptions

    @Flag(name: .long, help: "Show the Python interpreter's own native frames (when the report kept them: run --native).")
    var native = false

    mutating func validate() throws {
        if diff {
            guard files.count == 2 else { throw ValidationError("--diff needs two reports: fdtrace report --diff OLD.json NEW.json") }
            if render.html != nil || render.sarif != nil { throw ValidationError("--diff writes text only (no --html or --sarif)") }
            if !render.suppressions.isEmpty || render.genSuppressions != nil {
                throw ValidationError("--diff compares the reports as saved (no --suppressions or --gen-suppressions)")
            }
        } else {
            guard files.count == 1 else {
                throw ValidationError(files.isEmpty ? "no report given: fdtrace report REPORT.json" : "one report at a time (or --diff OLD.json NEW.json)")
            }
        }
    }

    func run() throws {
        if diff {
            let old = try ReportInput.load(files[0]), new = try ReportInput.load(files[1])
            let d = ReportDiff(old: ReportView.withoutInterpreterFrames(old), new: ReportView.withoutInterpreterFrames(new))
            FileHandle.standardOutput.write(Data(d.render(oldName: files[0], newName: files[1]).utf8))
            throw ExitCode(d.regressed ? 1 : 0)
        }
        let suppressions = try Suppressions.load(render.suppressions)
        let saved = try ReportInput.load(files[0])
        let outputs = try render.outputs(text: nil, json: nil, textAlways: false, loaded: suppressions)
        if native && !ReportView.hasInterpreterFrames(saved)
            && saved.processes.contains(where: { p in
                p.leaks.contains { g in g.frames.contains { $0.python == true } }
            })
        {
            FileHandle.standardError.write(
                Data("fdtrace: \(files[0]) was written without the interpreter's native frames (fdtrace run --native keeps them)\n".utf8))
        }
        let report = native ? saved : ReportView.withoutInterpreterFrames(saved)
        try outputs.write(report, stream: .standardOutput)
    }
}

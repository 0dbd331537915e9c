import ArgumentParser
import CFDTraceWire
import FDTraceCore
import Foundation

/// `fdtrace collect`: the collector a bare `LD_PRELOAD=libfdtrace.so CMD`
/// starts by itself (not meant to be typed). Without --serve it forks the
/// serving collector in a new session and exits once it listens; the shim
/// reaps it, so the program never sees a child it did not make.
struct Collect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        // Parsed as the root (Entry.parse): named "fdtrace collect" in help; no completion-script check.
        _superCommandName: "fdtrace",
        abstract: "Collector for bare LD_PRELOAD=libfdtrace.so runs (started by the shim).",
        shouldDisplay: false
    )

    @Option(help: "The session socket to listen on.") var socket: String
    @Option(help: "The pid of the process that started the collector.") var root: Int32
    @Flag(help: "Serve (the daemon itself).") var serve = false

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let suppressionFiles = Suppressions.paths(fromEnvironment: env[FDT_ENV_SUPPRESSIONS])
        if !serve {
            // Before the program runs a line: a malformed file is said in
            // one line, and the shim lets the program run untraced.
            do { _ = try Suppressions.load(suppressionFiles) } catch let e as FDTraceError {
                throw FDTraceError(e.message, status: FDT_COLLECT_REFUSED)
            }
            // The intermediate forks the serving collector and exits once it
            // listens; the child goes on as `--serve` does.
            if try !BareSession.forkDaemon() { return }
        }
        let linger = env[FDT_ENV_WAIT].flatMap(Double.init) ?? 2
        let session = BareSession(socketPath: socket, rootPID: root, lingerSeconds: linger)
        // One symbolizer for the session: its files stay open from the
        // first query to the report.
        let symbolizer = SymbolizerChoice.fromEnvironment()
        let collector = try session.serve(
            readyFD: 3, symbolizer: symbolizer, suppressions: try? Suppressions.load(suppressionFiles))
        let rootImage = collector.processes.last { $0.pid == root }
        let status = rootImage?.exitBegin.map { $0.status >= 0 ? $0.status : nil } ?? nil
        var report = collector.report(
            command: collector.processes.first?.command ?? [], exitStatus: status,
            notes: collector.rejected, symbolizer: symbolizer, nativeFrames: env[FDT_ENV_NATIVE] == "1")
        func path(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        // Read again: checked before the program ran, it may have changed since.
        var suppressions = Suppressions()
        do { suppressions = try Suppressions.load(suppressionFiles) } catch { report.notes.append("suppressions not applied: \(error)") }
        let outputs = try ReportOutputs(
            text: path(FDT_ENV_OUTPUT), json: path(FDT_ENV_JSON), html: path(FDT_ENV_HTML), sarif: path(FDT_ENV_SARIF),
            suppressions: suppressions,
            generatedSuppressions: path(FDT_ENV_GEN_SUPPRESSIONS))
        try outputs.write(report)
        collector.sendReportDone(to: root)
    }
}

import ArgumentParser
import CFDTraceWire
import FDTraceCore
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        // Parsed as the root (Entry.parse): named "fdtrace run" in help; no completion-script check.
        _superCommandName: "fdtrace",
        abstract: "Run a program traced and report the descriptors it left open.",
        discussion: """
            Exit status: the program's own (128+N if signal N ended it); 99 with --fail-on-leak \
            when the program exited 0 but leaked (suppressed leaks do not count); 64 usage error \
            (a malformed suppression file too: the program is not run); 70 tracer failure; \
            126 command not executable; 127 command not found.
            """
    )

    @OptionGroup var report: ReportOptions
    @OptionGroup var metrics: MetricsOptions

    @Option(name: .long, help: ArgumentHelp("Native frames kept per stack, 1-\(FDT_MAX_DEPTH). (default: \(FDT_DEFAULT_DEPTH))", valueName: "N"))
    var depth: Int?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for other traced processes after the program ended.", valueName: "SECONDS"))
    var wait: Double = 2

    @Flag(name: .long, help: "Trace only the program itself, not the programs it starts or forks.")
    var noFollow = false

    @OptionGroup var snapshots: SnapshotArguments

    @Option(name: .long, help: ArgumentHelp("Name this session for `fdtrace snapshot --name` and `fdtrace top --name`.", valueName: "NAME"))
    var name: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where records come from: shim (LD_PRELOAD), kernel (a BPF program: needs root), or auto: the kernel for a Go program or a static binary, else the shim.",
            valueName: "auto|shim|kernel"))
    var source: RunSession.SourceChoice = .auto

    @Argument(parsing: .captureForPassthrough, help: "The program and its arguments (after --).")
    var command: [String] = []

    mutating func validate() throws {
        // The passthrough capture takes every word the parser does not know,
        // its help flags too: `fdtrace run --help` is a request for help
        // (`fdtrace run -- prog --help` passes it to prog).
        if let first = command.first, first == "--help" || first == "-h" { throw CleanExit.helpRequest(Self.self) }
        if let first = command.first, first != "--", first.hasPrefix("-") {
            throw ValidationError("unknown option '\(first)' (the program goes after --)")
        }
        if command.first == "--" { command.removeFirst() }
        guard !command.isEmpty else { throw ValidationError("no command given: fdtrace run [options] -- CMD ARGS...") }
        if let depth, !(1...Int(FDT_MAX_DEPTH)).contains(depth) { throw ValidationError("--depth must be from 1 to \(FDT_MAX_DEPTH)") }
        guard wait >= 0, wait <= 3600 else { throw ValidationError("--wait must be from 0 to 3600 seconds") }
    }

    func run() throws {
        let library = try ShimLocator.locate()
        let outputs = try report.outputs()
        let exporter = try metrics.exporter()
        var session = RunSession(command: command, library: library, depth: depth, lingerSeconds: wait, follow: !noFollow)
        session.name = name
        session.source = source
        session.snapshots = snapshots.options
        session.metrics = exporter
        session.suppressions = outputs.suppressions
        let outcome = try session.run(nativeFrames: report.native)
        throw ExitCode(try report.finish(outcome.report, program: outcome.status, outputs: outputs))
    }
}

extension RunSession.SourceChoice: ExpressibleByArgument {}

/// Where libfdtrace.so is: $FDTRACE_LIB, next to this executable, in ../lib
/// beside it (`make install`), or in ../lib/<multiarch> (the Debian package:
/// /usr/bin/fdtrace, /usr/lib/x86_64-linux-gnu/libfdtrace.so).
enum ShimLocator {
    #if arch(x86_64)
    static let multiarch = "x86_64-linux-gnu"
    #elseif arch(arm64)
    static let multiarch = "aarch64-linux-gnu"
    #endif

    static func locate() throws -> String {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment[FDT_ENV_LIB], !env.isEmpty {
            guard fm.fileExists(atPath: env) else { throw FDTraceError("\(FDT_ENV_LIB)=\(env) does not exist", status: ExitStatus.tracerFailure) }
            return env
        }
        let exe = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let dir = (exe as NSString).deletingLastPathComponent
        let candidates = ["\(dir)/libfdtrace.so", "\(dir)/../lib/libfdtrace.so", "\(dir)/../lib/\(multiarch)/libfdtrace.so"]
        for candidate in candidates where fm.fileExists(atPath: candidate) {
            return (candidate as NSString).standardizingPath
        }
        throw FDTraceError("cannot find libfdtrace.so next to \(exe), in ../lib or ../lib/\(multiarch) (set FDTRACE_LIB)", status: ExitStatus.tracerFailure)
    }
}

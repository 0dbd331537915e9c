import ArgumentParser
import FDTraceCore
import Foundation

/// The root command: only subcommands (the program starts in Entry.swift).
struct FDTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fdtrace",
        abstract: "Find file-descriptor leaks and the lines of code that opened them.",
        discussion: """
            Without a command: LD_PRELOAD=libfdtrace.so CMD traces CMD by itself (the library \
            starts `fdtrace collect`) and prints the same report as `fdtrace run` on CMD's stderr \
            (FDTRACE_OUTPUT, FDTRACE_JSON, FDTRACE_HTML, FDTRACE_SARIF: write it to files instead \
            or as well). The README (in the Debian package: /usr/share/doc/fdtrace/README.md.gz) \
            is the manual.
            """,
        version: BuildInfo.versionLine,
        subcommands: [
            Run.self, Attach.self, ReportCommand.self, Snapshot.self, Top.self, Watch.self, Collect.self, BenchCollector.self,
            BenchSymbolizer.self,
        ]
    )
}

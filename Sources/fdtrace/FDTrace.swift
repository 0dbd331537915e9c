import ArgumentParser
import FDTraceCore
import Foundation

/// The root command: only subcommands (the program starts in Entry.swift).
struct FDTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fdtrace",
        abstract: "Find file-descriptor leaks and the lines of code that opened them.",
        version: BuildInfo.versionLine,
        subcommands: [Run.self, ReportCommand.self, Snapshot.self, Top.self, Watch.self, Collect.self, BenchCollector.self]
    )
}

import ArgumentParser
import FDTraceCore
import Foundation

@main
struct FDTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fdtrace",
        abstract: "Find file-descriptor leaks and the lines of code that opened them.",
        subcommands: [Run.self, Snapshot.self, Top.self, Watch.self, Collect.self, BenchCollector.self]
    )
}

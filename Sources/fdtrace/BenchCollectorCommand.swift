import ArgumentParser
import FDTraceCore

/// `fdtrace bench-collector`: workload (7) of `make bench`.
struct BenchCollector: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-collector",
        abstract: "Feed the collector a synthetic stream as fast as it takes it (benchmark).",
        shouldDisplay: false
    )
    @Option(help: "Events to feed.") var events: Int = 10_000_000
    @Option(help: "Distinct opening sites (stacks).") var sites: Int = 1000

    func run() throws {
        guard events > 0, sites > 0 else { throw ValidationError("--events and --sites must be positive") }
        let r = try CollectorBenchmark.run(events: events, sites: sites)
        print("events=\(r.events) seconds=\(r.seconds) events_per_second=\(Int(r.eventsPerSecond)) max_rss_kb=\(r.maxRssKb)")
    }
}

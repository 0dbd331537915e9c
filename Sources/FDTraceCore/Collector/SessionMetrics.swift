/// A traced session's metrics: the exporter and what makes its samples from
/// the collector's tables. Any session loop drives it (`SessionLoop.metrics`):
/// it polls `descriptor`, calls `answer` when that is readable, and `finish`
/// at the end.
public final class SessionMetrics {
    let exporter: MetricsExporter
    let sampler: MetricsSampler
    /// The process the session started (or attached to).
    public var root: Int32 = 0
    public var command: [String]

    public init(exporter: MetricsExporter, command: [String], symbolizer: Symbolizing, nativeFrames: Bool = false) {
        self.exporter = exporter
        self.command = command
        sampler = MetricsSampler(symbolizer: symbolizer, nativeFrames: nativeFrames, topSites: exporter.options.topSites)
    }

    public func start(root: Int32) {
        self.root = root
        exporter.start()
    }

    var descriptor: Int32 { exporter.loopDescriptor }

    /// A scrape or a file refresh wants a sample: everything the processes
    /// did before it, in the tables, then their counts.
    func answer(_ collector: Collector) {
        exporter.answer {
            collector.drainAll()
            return sample(collector, final: false)
        }
    }

    /// The session is over: the file gets the processes as they ended.
    func finish(_ collector: Collector) {
        exporter.finish(sample(collector, final: true))
    }

    private func sample(_ collector: Collector, final: Bool) -> MetricsSample {
        sampler.sample(
            collector.processes, registry: collector.registry, root: root, command: command, exhausted: collector.exhaustedCalls,
            final: final)
    }
}

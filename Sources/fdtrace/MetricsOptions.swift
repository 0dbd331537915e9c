import ArgumentParser
import FDTraceCore

/// --metrics ADDR, --metrics-file FILE, --metrics-sites N: one option group
/// for every command that can export metrics (`run`, `watch`, `attach`).
struct MetricsOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://ADDR/metrics while it runs: PORT, :PORT, HOST:PORT or [IPv6]:PORT (host 127.0.0.1 by default).",
            valueName: "ADDR"))
    var metrics: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write the metrics to FILE (replaced atomically, every \(Int(MetricsExporter.Options.fileRefreshSeconds)) s and at the end), for node_exporter's textfile collector.",
            valueName: "FILE"))
    var metricsFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Call sites with series of their own; the rest are one site=\"other\" series. (default: \(MetricsExporter.Options.defaultTopSites))",
            valueName: "N"))
    var metricsSites: Int?

    func validate() throws {
        if let metrics, case .failure(let e) = MetricsAddress.parse(metrics) { throw ValidationError(e.message) }
        if let n = metricsSites, !(1...1000).contains(n) { throw ValidationError("--metrics-sites must be from 1 to 1000") }
        if metricsSites != nil && metrics == nil && metricsFile == nil {
            throw ValidationError("--metrics-sites needs --metrics or --metrics-file")
        }
    }

    /// The exporter, its address bound and its file's directory checked
    /// (before anything runs), or nil when no metrics were asked for.
    func exporter() throws -> MetricsExporter? {
        guard metrics != nil || metricsFile != nil else { return nil }
        let address = try metrics.map { try MetricsAddress.parse($0).get() }
        return try MetricsExporter(
            MetricsExporter.Options(
                address: address, file: metricsFile, topSites: metricsSites ?? MetricsExporter.Options.defaultTopSites))
    }
}

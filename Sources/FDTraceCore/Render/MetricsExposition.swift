import Prometheus

/// A metrics sample in the Prometheus text exposition format (0.0.4), written
/// by swift-prometheus: a registry made for the one scrape, so every value
/// comes from the sample (the tables' counters), none is kept between
/// scrapes but the site fold's credits.
public enum MetricsExposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Longest label value kept (a command line can be long).
    static let labelLimit = 200

    /// The help of each metric, by name (README: "Metrics").
    static let help: [String: String] = [
        "fdtrace_process_info": "The process fdtrace started, attached to or watches (always 1).",
        "fdtrace_processes": "Traced processes running now (the tree the other metrics sum).",
        "fdtrace_open_fds": "Open descriptors by kind, summed over the traced processes.",
        "fdtrace_max_fds": "Soft RLIMIT_NOFILE of the traced process holding the most descriptors.",
        "fdtrace_tcp_sockets": "Open TCP sockets by state.",
        "fdtrace_oldest_fd_age_seconds": "Seconds since the oldest open descriptor of each kind was opened.",
        "fdtrace_emfile_total": "Calls that failed with EMFILE or ENFILE (once per burst).",
        "fdtrace_open_fds_by_site": "Open descriptors by the call site that opened them (the top sites, and other).",
        "fdtrace_fd_opens_total": "Descriptors opened, by call site.",
        "fdtrace_fd_closes_total": "Descriptors opened there and closed again by the program, by call site.",
    ]

    public static func render(_ s: MetricsSample, sites: [SiteSeriesFold.Series]?) -> [UInt8] {
        let r = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ labels: [(String, String)] = []) -> Gauge {
            labels.isEmpty ? r.makeGauge(descriptor: d(name)) : r.makeGauge(descriptor: d(name), labels: labels)
        }
        gauge("fdtrace_process_info", [("pid", String(s.pid)), ("command", clip(s.command))]).set(Int64(1))
        gauge("fdtrace_processes").set(Int64(s.processes))
        for (kind, n) in s.openByKind { gauge("fdtrace_open_fds", [("kind", kind)]).set(Int64(n)) }
        if let max = s.maxFDs { gauge("fdtrace_max_fds").set(max >= UInt64(Int64.max) ? Double.infinity : Double(max)) }
        for (state, n) in s.tcpStates { gauge("fdtrace_tcp_sockets", [("state", state)]).set(Int64(n)) }
        for (kind, age) in s.oldestAgeByKind ?? [:] { gauge("fdtrace_oldest_fd_age_seconds", [("kind", kind)]).set(age) }
        if let n = s.exhausted { r.makeCounter(descriptor: d("fdtrace_emfile_total")).increment(by: Int64(n)) }
        if let sites { renderSites(sites, into: r) }
        return r.emitToBuffer()
    }

    /// The bounded site series: each shown site and `site="other"`.
    static func renderSites(_ series: [SiteSeriesFold.Series], into r: PrometheusCollectorRegistry) {
        for x in series {
            let n = x.name ?? SiteName(site: "other")
            let labels = [("site", clip(n.site)), ("function", clip(n.function)), ("file", clip(n.file)), ("line", n.line)]
            r.makeGauge(descriptor: d("fdtrace_open_fds_by_site"), labels: labels).set(Int64(x.open))
            r.makeCounter(descriptor: d("fdtrace_fd_opens_total"), labels: labels).increment(by: x.opened)
            r.makeCounter(descriptor: d("fdtrace_fd_closes_total"), labels: labels).increment(by: x.closed)
        }
    }

    /// A metric's name and help (the names are complete: no unit appended).
    static func d(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }

    static func clip(_ s: String) -> String {
        s.count <= labelLimit ? s : String(s.prefix(labelLimit - 1)) + "…"
    }
}

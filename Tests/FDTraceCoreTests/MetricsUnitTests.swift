import Foundation
import Testing

@testable import FDTraceCore

/// The pure parts of --metrics: the address, the top sites + other fold,
/// the HTTP routing, the exposition.
@Suite struct MetricsUnitTests {
    func parsed(_ s: String) -> String {
        switch MetricsAddress.parse(s) {
        case .success(let a): return a.description
        case .failure(let e): return "error: " + e.message
        }
    }

    @Test("ADDR: PORT, :PORT, HOST:PORT, [IPv6]:PORT; host 127.0.0.1 by default; a port is required")
    func addresses() {
        #expect(parsed("9464") == "127.0.0.1:9464")
        #expect(parsed(":9464") == "127.0.0.1:9464")
        #expect(parsed("0.0.0.0:80") == "0.0.0.0:80")
        #expect(parsed("localhost:9464") == "127.0.0.1:9464")
        #expect(parsed("[::1]:9464") == "[::1]:9464")
        #expect(parsed("[::]:1") == "[::]:1")
        #expect(parsed("127.0.0.1") == "error: --metrics '127.0.0.1': the port must be a number from 1 to 65535")
        #expect(parsed("127.0.0.1:") == "error: --metrics '127.0.0.1:': a port is required (e.g. 9464 or 127.0.0.1:9464)")
        #expect(parsed("") == "error: --metrics '': a port is required (e.g. 9464 or 127.0.0.1:9464)")
        #expect(parsed("0") == "error: --metrics '0': the port must be a number from 1 to 65535")
        #expect(parsed("65536") == "error: --metrics '65536': the port must be a number from 1 to 65535")
        #expect(parsed("+80") == "error: --metrics '+80': the port must be a number from 1 to 65535")
        #expect(parsed("example.com:80") == "error: --metrics 'example.com:80': 'example.com' is not a numeric IPv4 address (use [ADDR] for IPv6)")
        #expect(parsed("256.1.1.1:80") == "error: --metrics '256.1.1.1:80': '256.1.1.1' is not a numeric IPv4 address (use [ADDR] for IPv6)")
        #expect(parsed("::1:80") == "error: --metrics '::1:80': put an IPv6 address in brackets ([::1]:9464)")
        #expect(parsed("[::1]") == "error: --metrics '[::1]': a port is required ([::1]:9464)")
        #expect(parsed("[::1:80") == "error: --metrics '[::1:80': an IPv6 address needs its closing ']'")
        #expect(parsed("[nope]:80") == "error: --metrics '[nope]:80': 'nope' is not an IPv6 address")
        if case .failure(let e) = MetricsAddress.parse("x") { #expect(e.status == ExitStatus.usage) }
    }

    static func site(_ n: Int, open: Int, opened: Int64, closed: Int64 = 0) -> SiteSample {
        SiteSample(name: SiteName(site: "s.c:\(n)", function: "f\(n)", file: "/src/s.c", line: "\(n)"), open: open, opened: opened, closed: closed)
    }

    static func byName(_ series: [SiteSeriesFold.Series]) -> [String: SiteSeriesFold.Series] {
        Dictionary(uniqueKeysWithValues: series.map { ($0.name?.site ?? "other", $0) })
    }

    @Test("Top N by open descriptors, then other: N+1 series whatever the sites; the open counts add up")
    func topNAndOther() {
        var fold = SiteSeriesFold(limit: 3)
        let sites = (1...10_000).map { Self.site($0, open: $0 % 100, opened: Int64($0 % 100) + 5, closed: 5) }
        let total = sites.reduce(0) { $0 + $1.open } + 7  // 7 inherited, no site
        let out = fold.fold(sites, totalOpen: total, opened: 2_000_000, closed: 60_000)
        #expect(out.count == 4)
        #expect(out.prefix(3).map { $0.open } == [99, 99, 99])
        #expect(out.reduce(0) { $0 + $1.open } == total)
        #expect(out.last?.name == nil)
        let other = try! #require(out.last)
        #expect(other.opened == Int64(2_000_000 - 3 * 104))
        #expect(other.closed == Int64(60_000 - 3 * 5))
    }

    @Test("No counter goes back: a site that drops out keeps its value and continues when it returns; other never shrinks")
    func countersAreMonotonic() {
        var fold = SiteSeriesFold(limit: 1)
        var seen: [String: (Int64, Int64)] = [:]
        func check(_ out: [SiteSeriesFold.Series]) {
            for s in out {
                let k = s.name?.site ?? "other"
                if let b = seen[k] {
                    #expect(s.opened >= b.0, "\(k) opens went back")
                    #expect(s.closed >= b.1, "\(k) closes went back")
                }
                seen[k] = (s.opened, s.closed)
            }
        }
        // Scrape 1: site 1 leads.
        var out = fold.fold([Self.site(1, open: 5, opened: 10, closed: 5), Self.site(2, open: 1, opened: 4, closed: 3)], totalOpen: 6, opened: 14, closed: 8)
        check(out)
        #expect(Self.byName(out)["s.c:1"]?.opened == 10)
        #expect(Self.byName(out)["other"]?.opened == 4)
        // Scrape 2: site 2 overtakes it; its growth since then is its own,
        // its earlier opens stay in other.
        out = fold.fold([Self.site(1, open: 0, opened: 10, closed: 10), Self.site(2, open: 9, opened: 20, closed: 11)], totalOpen: 9, opened: 30, closed: 21)
        check(out)
        #expect(Self.byName(out)["s.c:1"] == nil)
        #expect(Self.byName(out)["s.c:2"]?.opened == 16)
        #expect(Self.byName(out)["other"]?.opened == 4)
        // Scrape 3: site 1 is back and continues from 10.
        out = fold.fold([Self.site(1, open: 20, opened: 40, closed: 20), Self.site(2, open: 9, opened: 20, closed: 11)], totalOpen: 29, opened: 60, closed: 31)
        check(out)
        #expect(Self.byName(out)["s.c:1"]?.opened == 40)
        let other = Self.byName(out)["other"]?.opened ?? -1
        #expect(other == Int64(60 - 40 - 16))
    }

    @Test("A tie keeps the site already shown (no flapping)")
    func tiesKeepTheShownSite() {
        var fold = SiteSeriesFold(limit: 1)
        _ = fold.fold([Self.site(2, open: 3, opened: 3)], totalOpen: 3, opened: 3, closed: 0)
        let out = fold.fold([Self.site(1, open: 3, opened: 3), Self.site(2, open: 3, opened: 3)], totalOpen: 6, opened: 6, closed: 0)
        #expect(out.first?.name?.site == "s.c:2")
    }

    /// A symbolizer that names nothing: stacks without frames are named by their call.
    struct NoSymbols: Symbolizing {
        func symbolize(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> [RawFrame: [SymbolizedFrame]] { [:] }
    }

    @Test("Sampler + fold on a table: a stack named late keeps its earlier opens in other; no counter goes back; sites add up")
    func samplerBaselines() {
        var p = TracedProcess(key: 0, pid: 77, ppid: 1, forkParent: 0, command: ["srv"], executable: "/srv", startTime: 1, rlimitSoft: 64, rlimitHard: 64)
        var fd: Int32 = 3
        func open(_ n: Int, stack: UInt32, call: Call) {
            for _ in 0..<n {
                p.table.apply(.open(OpenEvent(time: UInt64(fd) * 1000, fd: fd, call: call, stackID: stack, path: "/x")))
                fd += 1
            }
        }
        let sampler = MetricsSampler(symbolizer: NoSymbols(), topSites: 1)
        var fold = SiteSeriesFold(limit: 1)
        var last: [String: Int64] = [:]
        func scrape() -> [String: SiteSeriesFold.Series] {
            let s = sampler.sample([p], registry: ModuleRegistry(), root: 77, command: ["srv"], exhausted: 0, now: 1_000_000)
            let out = fold.fold(s.sites ?? [], totalOpen: s.totalOpen, opened: s.opened, closed: s.closed)
            #expect(out.reduce(0) { $0 + $1.open } == s.totalOpen)
            // Opens of a site shown before and not now stay credited to it.
            #expect(out.reduce(Int64(0)) { $0 + $1.opened } <= s.opened)
            for x in out {
                let k = x.name?.site ?? "other"
                #expect(x.opened >= last[k] ?? 0, "\(k) went back")
                last[k] = x.opened
            }
            return Self.byName(out)
        }
        open(5, stack: 1, call: .open)
        open(1, stack: 2, call: .pipe)
        var out = scrape()
        #expect(out["open"]?.opened == 5 && out["other"]?.opened == 1)
        // Stack 3 does not beat the leading site: not named, counted in other.
        open(3, stack: 3, call: .socket)
        out = scrape()
        #expect(out["open"]?.open == 5 && out["other"]?.opened == 4)
        // Now it leads: named, its gauge exact, its counter since the last
        // scrape (the 3 before stay in other, with the pipe's 1); the open
        // site drops out keeping its 5.
        open(4, stack: 3, call: .socket)
        out = scrape()
        #expect(out["socket"]?.open == 7)
        #expect(out["socket"]?.opened == 4)
        #expect(out["open"] == nil)
        #expect(out["other"]?.opened == Int64(1 + 3))
        #expect(out["other"]?.open == 6)
    }

    @Test("HTTP: GET and HEAD of /metrics; other paths 404, other methods 405, garbage 400")
    func routes() {
        #expect(MetricsHTTP.route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") == .metrics(headOnly: false))
        #expect(MetricsHTTP.route("GET /metrics?x=1 HTTP/1.0\r\n\r\n") == .metrics(headOnly: false))
        #expect(MetricsHTTP.route("HEAD /metrics HTTP/1.1\r\n\r\n") == .metrics(headOnly: true))
        #expect(MetricsHTTP.route("GET / HTTP/1.1\r\n\r\n") == .error(status: "404 Not Found", message: "not found: the metrics are at /metrics\n"))
        #expect(MetricsHTTP.route("GET /metricsx HTTP/1.1\r\n\r\n").isError("404 Not Found"))
        #expect(MetricsHTTP.route("POST /metrics HTTP/1.1\r\n\r\n").isError("405 Method Not Allowed"))
        #expect(MetricsHTTP.route("hello\r\n\r\n").isError("400 Bad Request"))
        let r = MetricsHTTP.encode(MetricsHTTP.Response(status: "200 OK", contentType: "text/plain", body: Array("ab".utf8)))
        #expect(String(decoding: r, as: UTF8.self) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab")
    }

    @Test("The exposition: every family typed once, labels escaped, sites bounded, no series for what watch cannot know")
    func exposition() {
        var s = MetricsSample(pid: 42, command: "srv \"a\\b\"\nx", processes: 2)
        s.openByKind = ["socket": 7, "file": 3]
        s.maxFDs = 1024
        s.tcpStates = ["CLOSE_WAIT": 5]
        s.oldestAgeByKind = ["socket": 1.5]
        s.exhausted = 2
        let text = String(decoding: MetricsExposition.render(s, sites: [.init(name: nil, open: 10, opened: 30, closed: 20)]), as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"fdtrace_process_info{pid="42",command="srv \"a\\b\"\nx"} 1.0"#, "fdtrace_processes 2.0", #"fdtrace_open_fds{kind="socket"} 7.0"#,
            "fdtrace_max_fds 1024.0", #"fdtrace_tcp_sockets{state="CLOSE_WAIT"} 5.0"#, #"fdtrace_oldest_fd_age_seconds{kind="socket"} 1.5"#,
            "fdtrace_emfile_total 2", #"fdtrace_open_fds_by_site{site="other",function="",file="",line=""} 10.0"#,
            #"fdtrace_fd_opens_total{site="other",function="",file="",line=""} 30"#, "# TYPE fdtrace_fd_closes_total counter",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        #expect(text.components(separatedBy: "# TYPE fdtrace_open_fds gauge").count == 2)
        // watch: no sites, no ages, no EMFILE count.
        let watch = String(decoding: MetricsExposition.render(MetricsSample(pid: 1, command: "x", processes: 1), sites: nil), as: UTF8.self)
        for absent in ["fdtrace_open_fds_by_site", "fdtrace_oldest_fd_age_seconds", "fdtrace_emfile_total", "fdtrace_fd_opens_total"] {
            #expect(!watch.contains(absent))
        }
    }
}

extension MetricsHTTP.Route {
    func isError(_ status: String) -> Bool {
        if case .error(let s, _) = self { return s == status }
        return false
    }
}

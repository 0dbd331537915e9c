import FDTraceCore
import Foundation
import Testing

/// --metrics and --metrics-file, end to end: a real Prometheus scrapes a
/// traced Python server that leaks sockets; 10 000 sites stay N+1 series;
/// the textfile is replaced atomically; `watch` exports an untraced
/// process; bad addresses are one line. Expositions are parsed with
/// prometheus_client's parser (Tests/Fixtures/metrics_probe.py).
@Suite(.serialized) struct MetricsTests {
    // MARK: - helpers

    /// A process in the background, its output in files; stopped (SIGTERM,
    /// then SIGKILL) and reaped by `stop`.
    final class Background {
        let process = Process()
        let dir = scratch()
        init(_ argv: [String], cwd: URL? = nil) throws {
            process.executableURL = URL(fileURLWithPath: argv[0])
            process.arguments = Array(argv.dropFirst())
            if let cwd { process.currentDirectoryURL = cwd }
            process.standardInput = FileHandle.nullDevice
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("out").path, contents: nil)
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("err").path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: dir.appendingPathComponent("out"))
            process.standardError = try FileHandle(forWritingTo: dir.appendingPathComponent("err"))
            try process.run()
        }
        var stderr: String { (try? String(contentsOf: dir.appendingPathComponent("err"), encoding: .utf8)) ?? "" }
        var stdout: String { (try? String(contentsOf: dir.appendingPathComponent("out"), encoding: .utf8)) ?? "" }
        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            for _ in 0..<1000 where process.isRunning { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    /// Polls `body` until it is true or `seconds` pass (generous: no timing asserted).
    static func eventually(_ seconds: Double = 90, _ body: () throws -> Bool) rethrows -> Bool {
        let end = Date(timeIntervalSinceNow: seconds)
        while Date() < end {
            if try body() { return true }
            usleep(200_000)
        }
        return try body()
    }

    static func freePort() throws -> Int {
        let o = try run(["/usr/bin/env", "python3", "-c", "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"])
        return try #require(Int(o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// The real interpreter (not pyenv's bash shim in front of it).
    static func python() throws -> String {
        let o = try run(["/usr/bin/env", "python3", "-c", "import sys; print(sys.executable)"])
        return o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let probe = Paths.fixtures.appendingPathComponent("metrics_probe.py").path

    /// Samples of an exposition (URL or file) as prometheus_client parses
    /// them: sample name → [(labels, value)].
    static func parse(_ source: String) throws -> [String: [([String: String], Double)]] {
        let o = try run(["/usr/bin/env", "python3", probe, "parse", source])
        guard o.status == 0 else { throw FixtureError(message: "prometheus_client could not parse \(source): \(o.stderr)") }
        var out: [String: [([String: String], Double)]] = [:]
        let families = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [[String: Any]] ?? []
        for f in families {
            for s in f["samples"] as? [[String: Any]] ?? [] {
                out[s["name"] as? String ?? "", default: []].append((s["labels"] as? [String: String] ?? [:], s["value"] as? Double ?? .nan))
            }
        }
        return out
    }

    /// A PromQL query to the Prometheus at `port`: each series' labels and value.
    static func query(_ port: Int, _ expr: String) -> [([String: String], String)]? {
        guard let o = try? run(["/usr/bin/env", "python3", probe, "query", "http://127.0.0.1:\(port)", expr]), o.status == 0,
            let result = try? JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [[String: Any]]
        else { return nil }
        return result.map { r in ((r["metric"] as? [String: String]) ?? [:], ((r["value"] as? [Any])?.last as? String) ?? "") }
    }

    static func value(_ port: Int, _ expr: String) -> String? {
        guard let r = query(port, expr), r.count == 1 else { return nil }
        return r[0].1
    }

    /// Clients that connect and hang up; the server keeps each accepted socket.
    static func hangUps(_ port: Int, _ n: Int) throws {
        let o = try run([
            "/usr/bin/env", "python3", "-c",
            "import socket,sys\nfor i in range(\(n)):\n s=socket.create_connection(('127.0.0.1',\(port)));s.close()",
        ])
        #expect(o.status == 0, "\(o.stderr)")
    }

    static func lineOf(_ marker: String, in fixture: String) throws -> Int {
        let text = try String(contentsOf: Paths.fixtures.appendingPathComponent(fixture), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return try #require(lines.firstIndex { $0.contains(marker) }) + 1
    }

    /// The traced leaky server under `fdtrace run OPTIONS`, once it listens: (fdtrace, server port).
    static func leakyServer(_ options: [String]) throws -> (Background, Int) {
        let dir = scratch()
        let portFile = dir.appendingPathComponent("port").path
        let server = Paths.fixtures.appendingPathComponent("py_leaky_server.py").path
        let bg = try Background([Paths.fdtrace, "run"] + options + ["--", try python(), server, portFile])
        _ = eventually(60) { FileManager.default.fileExists(atPath: portFile) || !bg.process.isRunning }
        guard let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) else {
            bg.stop()
            throw FixtureError(message: "the server did not start: \(bg.stderr)")
        }
        return (bg, port)
    }

    // MARK: - tests

    @Test("A real Prometheus scrapes run --metrics: CLOSE_WAIT sockets and the leaking site rise to the exact counts")
    func prometheusScrapesALeakingServer() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") else {
            throw FixtureError(message: "prometheus is not installed (make setup installs it)")
        }
        let metricsPort = try Self.freePort()
        let (fdtrace, serverPort) = try Self.leakyServer(["--metrics", "127.0.0.1:\(metricsPort)", "--metrics-sites", "5"])
        defer { fdtrace.stop() }
        let dir = scratch()
        let promPort = try Self.freePort()
        let config = dir.appendingPathComponent("prometheus.yml")
        try """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        scrape_configs:
          - job_name: fdtrace
            static_configs:
              - targets: ['127.0.0.1:\(metricsPort)']
        """.write(to: config, atomically: true, encoding: .utf8)
        let prometheus = try Background([
            "/usr/bin/prometheus", "--config.file=\(config.path)", "--storage.tsdb.path=\(dir.appendingPathComponent("tsdb").path)",
            "--web.listen-address=127.0.0.1:\(promPort)", "--log.level=warn",
        ])
        defer { prometheus.stop() }
        let site = "py_leaky_server.py:\(try Self.lineOf("the leak", in: "py_leaky_server.py"))"
        let bySite = "{site=\"\(site)\"}"
        #expect(Self.eventually { Self.value(promPort, "up{job=\"fdtrace\"}") == "1" }, "never scraped: \(prometheus.stderr)")

        try Self.hangUps(serverPort, 3)
        #expect(Self.eventually { Self.value(promPort, "fdtrace_tcp_sockets{state=\"CLOSE_WAIT\"}") == "3" })
        #expect(Self.eventually { Self.value(promPort, "fdtrace_open_fds_by_site\(bySite)") == "3" })
        try Self.hangUps(serverPort, 4)
        #expect(Self.eventually { Self.value(promPort, "fdtrace_tcp_sockets{state=\"CLOSE_WAIT\"}") == "7" })
        #expect(Self.eventually { Self.value(promPort, "fdtrace_open_fds_by_site\(bySite)") == "7" })
        #expect(Self.eventually { Self.value(promPort, "fdtrace_fd_opens_total\(bySite)") == "7" })
        #expect(Self.value(promPort, "fdtrace_fd_closes_total\(bySite)") == "0")
        let series = Self.query(promPort, "fdtrace_open_fds_by_site{site=\"\(site)\"}")?.first?.0 ?? [:]
        #expect(series["function"] == "<module>" && series["line"] == site.split(separator: ":").last.map(String.init), "\(series)")
        #expect(series["file"]?.hasSuffix("/py_leaky_server.py") == true)
        // The identity is in one _info series; the alert of the README matches
        // fdtrace_max_fds once the kinds are summed.
        #expect(Self.query(promPort, "fdtrace_process_info")?.first?.0["command"]?.contains("py_leaky_server.py") == true)
        #expect(Self.query(promPort, "fdtrace_open_fds_by_site")?.count ?? 99 <= 6)
        #expect(Self.query(promPort, "sum without (kind) (predict_linear(fdtrace_open_fds[1m], 4*3600)) > 0 * fdtrace_max_fds")?.count == 1)
        #expect(Self.value(promPort, "sum(fdtrace_open_fds) - sum(fdtrace_open_fds_by_site)") == "0")
    }

    @Test("10 000 distinct call sites still give at most N+1 site series; the counts add up; prometheus_client parses it")
    func manySitesStayBounded() throws {
        let dir = scratch()
        var src = "#include <fcntl.h>\n#include <sys/resource.h>\n#include <unistd.h>\n#include <stdio.h>\nint main(int c, char **v) {\n"
        src += "  struct rlimit r; getrlimit(RLIMIT_NOFILE, &r); r.rlim_cur = r.rlim_max; setrlimit(RLIMIT_NOFILE, &r);\n"
        for _ in 0..<10_000 { src += "  open(\"/dev/null\", O_RDONLY);\n" }
        src += "  fclose(fopen(v[1], \"w\"));\n  for (int i = 0; i < 6000 && access(v[2], F_OK) != 0; i++) usleep(10000);\n  return 0;\n}\n"
        let c = dir.appendingPathComponent("distinct_sites.c"), exe = dir.appendingPathComponent("distinct_sites").path
        try src.write(to: c, atomically: true, encoding: .utf8)
        let cc = try run(["/usr/bin/env", "cc", "-g", "-O0", "-w", c.path, "-o", exe])
        try #require(cc.status == 0, "\(cc.stderr)")
        let port = try Self.freePort()
        let ready = dir.appendingPathComponent("ready").path, done = dir.appendingPathComponent("done").path
        let bg = try Background([Paths.fdtrace, "run", "--metrics", String(port), "--metrics-sites", "7", "--", exe, ready, done])
        defer {
            _ = FileManager.default.createFile(atPath: done, contents: nil)
            bg.stop()
        }
        #expect(Self.eventually(120) { FileManager.default.fileExists(atPath: ready) })
        var samples: [String: [([String: String], Double)]] = [:]
        let complete = try Self.eventually(120) {
            samples = try Self.parse("http://127.0.0.1:\(port)/metrics")
            return (samples["fdtrace_open_fds_by_site"] ?? []).reduce(0) { $0 + $1.1 } >= 10_000
        }
        #expect(complete, "\(bg.stderr)")
        let open = samples["fdtrace_open_fds"] ?? []
        let bySite = samples["fdtrace_open_fds_by_site"] ?? []
        #expect(bySite.count == 8)
        #expect((samples["fdtrace_fd_opens_total"] ?? []).count == 8)
        #expect((samples["fdtrace_fd_closes_total"] ?? []).count == 8)
        #expect(bySite.reduce(0) { $0 + $1.1 } == open.reduce(0) { $0 + $1.1 })
        #expect(bySite.filter { $0.0["site"] != "other" }.allSatisfy { $0.1 == 1 && $0.0["site"]?.hasPrefix("distinct_sites.c:") == true })
        #expect(bySite.first { $0.0["site"] == "other" }?.1 ?? 0 >= 10_000 - 7)
        let opens = (samples["fdtrace_fd_opens_total"] ?? []).reduce(0) { $0 + $1.1 }
        #expect(opens >= 10_000)
    }

    @Test("--metrics-file is replaced atomically: every read is a whole exposition, a new inode each time; the last one is the end")
    func metricsFileIsAtomic() throws {
        let dir = scratch()
        let file = dir.appendingPathComponent("fdtrace.prom").path
        let (fdtrace, serverPort) = try Self.leakyServer(["--metrics-file", file])
        var inodes = Set<UInt64>()
        var reads = 0
        let deadline = Date(timeIntervalSinceNow: 7)
        var hung = 0
        while Date() < deadline || inodes.count < 3 {
            if hung < 5 { try Self.hangUps(serverPort, 1); hung += 1 }
            guard let fd = Optional(open(file, O_RDONLY)), fd >= 0 else { usleep(20_000); continue }
            var st = stat()
            fstat(fd, &st)
            let data = FileHandle(fileDescriptor: fd, closeOnDealloc: true).readDataToEndOfFile()
            let text = String(decoding: data, as: UTF8.self)
            inodes.insert(UInt64(st.st_ino))
            reads += 1
            #expect(text.hasSuffix("\n") && text.contains("fdtrace_process_info{") && text.contains("# TYPE fdtrace_processes gauge"))
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                #expect(line.hasPrefix("fdtrace_") && line.split(separator: " ").last.flatMap { Double($0) } != nil, "\(line)")
            }
            if Date() > deadline.addingTimeInterval(30) { break }
            usleep(5_000)
        }
        #expect(inodes.count >= 3, "\(reads) reads saw \(inodes.count) files")
        let live = try Self.parse(file)
        #expect(live["fdtrace_processes"]?.first?.1 == 1)
        fdtrace.stop()
        let end = try Self.parse(file)
        #expect(end["fdtrace_processes"]?.first?.1 == 0)
        #expect(end["fdtrace_tcp_sockets"] == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["fdtrace.prom"])
    }

    @Test("watch --metrics exports an untraced process's kinds and TCP states (no call sites)")
    func watchExportsAnUntracedProcess() throws {
        let exe = try Fixture.build("close_wait.c")
        let dir = scratch()
        let ready = dir.appendingPathComponent("ready").path, flag = dir.appendingPathComponent("go").path
        let p = try Background([exe, ready, flag])
        defer {
            _ = FileManager.default.createFile(atPath: flag, contents: nil)
            p.stop()
        }
        #expect(Self.eventually(30) { FileManager.default.fileExists(atPath: ready) })
        let port = try Self.freePort()
        let watch = try Background([Paths.fdtrace, "watch", "--pid", String(p.process.processIdentifier), "--metrics", ":\(port)"])
        defer { watch.stop() }
        var samples: [String: [([String: String], Double)]] = [:]
        #expect(
            Self.eventually(30) {
                samples = (try? Self.parse("http://127.0.0.1:\(port)/metrics")) ?? [:]
                return !samples.isEmpty
            }, "\(watch.stderr)")
        let states = Dictionary(uniqueKeysWithValues: (samples["fdtrace_tcp_sockets"] ?? []).map { ($0.0["state"] ?? "", $0.1) })
        #expect(states == ["CLOSE_WAIT": 5, "LISTEN": 1])
        let sockets = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.process.processIdentifier)/fd").filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p.process.processIdentifier)/fd/\($0)"))?.hasPrefix("socket:") == true
        }
        #expect(samples["fdtrace_open_fds"]?.first { $0.0["kind"] == "socket" }?.1 == Double(sockets.count))
        #expect(samples["fdtrace_process_info"]?.first?.0["pid"] == String(p.process.processIdentifier))
        #expect(samples["fdtrace_open_fds_by_site"] == nil && samples["fdtrace_emfile_total"] == nil)
        #expect((samples["fdtrace_max_fds"]?.first?.1 ?? 0) > 0)
    }

    @Test("A bad ADDR, or a port in use, is one line and status 64; the program does not run")
    func badAddresses() throws {
        let dir = scratch()
        let marker = dir.appendingPathComponent("ran").path
        for addr in ["nope", "127.0.0.1", "[::1]", "70000", "1.2.3.4.5:80"] {
            let o = try run([Paths.fdtrace, "run", "--metrics", addr, "--", "/bin/sh", "-c", "touch \(marker)"])
            #expect(o.status == 64, "\(addr): \(o.stderr)")
            #expect(o.stderr.hasPrefix("fdtrace: ") && o.stderr.filter { $0 == "\n" }.count == 1, "\(addr): \(o.stderr)")
        }
        let w = try run([Paths.fdtrace, "watch", "--pid", "1", "--metrics", "x:1"])
        #expect(w.status == 64 && w.stderr.hasPrefix("fdtrace: ") && w.stderr.filter { $0 == "\n" }.count == 1, "\(w.stderr)")
        // A port someone holds.
        let holder = try Background([
            "/usr/bin/env", "python3", "-c",
            "import socket,sys,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen();print(s.getsockname()[1],flush=True);time.sleep(60)",
        ])
        defer { holder.stop() }
        #expect(Self.eventually(30) { Int(holder.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) != nil })
        let port = holder.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let o = try run([Paths.fdtrace, "run", "--metrics", "127.0.0.1:\(port)", "--", "/bin/sh", "-c", "touch \(marker)"])
        #expect(o.status == 64)
        #expect(o.stderr == "fdtrace: --metrics 127.0.0.1:\(port): cannot listen: Address already in use\n")
        let f = try run([Paths.fdtrace, "run", "--metrics-file", "/nonexistent/dir/m.prom", "--", "/bin/sh", "-c", "touch \(marker)"])
        #expect(f.status == 64 && f.stderr.hasPrefix("fdtrace: --metrics-file /nonexistent/dir/m.prom: cannot write beside it"), "\(f.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}

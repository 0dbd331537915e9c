import CFDTraceWire
import FDTraceCore
import Foundation
import Testing

/// `fdtrace run` with the kernel event source: a Go program (picked
/// automatically) reported complete, its leaks at its own lines; a C
/// fixture under `--source kernel` gives what the shim gives.
@Suite(
    "fdtrace run, kernel source", .serialized,
    .enabled(if: geteuid() == 0, "the kernel event source loads a BPF program: these tests need root"))
struct KernelRunTests {
    static let env = ProcessInfo.processInfo.environment.merging(["FDTRACE_SESSION_DIR": scratch().path]) { $1 }

    @Test("Go program: traced by the kernel source, N sockets in CLOSE_WAIT and N files, each one site at main.main's line")
    func goProgram() throws {
        let exe = try Fixture.buildGo("go_server")
        let dir = scratch()
        let json = dir.appendingPathComponent("exit.json").path, err = dir.appendingPathComponent("stderr").path
        let n = 6
        let s = try RunningSession(name: "kgo-\(getpid())", options: ["--json", json], env: Self.env, stderr: err) {
            [exe, $0, String(n)]
        }
        s.finish()
        #expect(s.process.terminationStatus == 0)
        let stderr = try String(contentsOfFile: err, encoding: .utf8)
        #expect(stderr.contains("fdtrace: \(exe) is a Go program: traced by the kernel source\n"), "\(stderr)")

        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        let p = try #require(report.processes.first { $0.pid == s.pid })
        #expect(p.exitStatus == 0 && p.ended == .exited)
        #expect(p.incomplete == nil)
        #expect(p.unknownOrigin.isEmpty && p.internalErrors.isEmpty, "\(p.unknownOrigin) \(p.internalErrors)")
        let fds = p.leaks.flatMap(\.fds)
        #expect(fds.filter { $0.protocol == "TCP" && $0.state == "CLOSE_WAIT" }.count == n, "\(fds)")
        #expect(fds.filter { $0.path == "/etc/hostname" }.count == n, "\(fds)")
        let source = try String(contentsOf: Paths.fixtures.appendingPathComponent("go_server/main.go"), encoding: .utf8)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        let openLine = try #require(lines.firstIndex { $0.contains("os.Open(\"/etc/hostname\")") }) + 1
        let acceptLine = try #require(lines.firstIndex { $0.contains("ln.Accept()") }) + 1
        // One site each, named by main.main's line (Go's frames keep frame
        // pointers: the walk reaches it).
        let files = p.leaks.filter { $0.fds.contains { $0.path == "/etc/hostname" } }
        let sockets = p.leaks.filter { $0.fds.contains { $0.state == "CLOSE_WAIT" } }
        // The call named as the program made it, not by the system call.
        for (groups, line, call) in [(files, openLine, "os.Open"), (sockets, acceptLine, "net.(*TCPListener).Accept")] {
            #expect(groups.count == 1 && groups.reduce(0) { $0 + $1.count } == n)
            for g in groups {
                #expect(g.site?.function == "main.main" && g.site?.line == line, "\(g.frames)")
                #expect(g.call == call)
            }
        }
        let text = TextRenderer().render(report)
        #expect(!text.contains("incomplete") && !text.contains("a raw exit_group"), "\(text)")
    }

    /// Leaked descriptors per (kind, fixture line), the line the report
    /// highlights: the kernel names calls by their system call (openat,
    /// pipe2), the shim by the libc function. `what`: how a descriptor is
    /// named beside its line (its kind).
    static func sites(_ p: ProcessReport, what: (FDReport) -> String = { $0.kind.name }) -> [String: Int] {
        var out: [String: Int] = [:]
        for g in p.leaks {
            let site = g.site.map { "\(($0.file ?? "?").split(separator: "/").last ?? ""):\($0.line ?? 0)" } ?? "?"
            for fd in g.fds { out["\(site) \(what(fd))", default: 0] += 1 }
        }
        return out
    }

    @Test("C fixture under --source kernel: the shim's leak counts at the same lines")
    func cFixture() throws {
        let exe = try Fixture.build("leak_sites.c")
        var reports: [String: ProcessReport] = [:]
        for source in ["shim", "kernel"] {
            let json = scratch().appendingPathComponent("\(source).json").path
            let o = try run([Paths.fdtrace, "run", "--source", source, "--json", json, "--", exe, "5"], env: Self.env)
            #expect(o.status == 0, "\(o.stderr)")
            let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
            let first = try #require(report.processes.first)
            reports[source] = first
        }
        let shim = try #require(reports["shim"]), kernel = try #require(reports["kernel"])
        #expect(kernel.incomplete == nil && kernel.internalErrors.isEmpty && kernel.unknownOrigin.isEmpty)
        #expect(kernel.leakedDescriptors == shim.leakedDescriptors)
        #expect(Self.sites(kernel) == Self.sites(shim), "\(kernel.leaks)")
        let lines = try Fixture.leakLines("leak_sites.c")
        #expect(Self.sites(kernel)["leak_sites.c:\(lines["open"]![0]) file"] == 5)
        #expect(Self.sites(kernel)["leak_sites.c:\(lines["pipe"]![0]) pipe"] == 10)
    }

    @Test("Sockets made just before exit: the kernel describes them at exit as the shim does (addresses, TCP states)")
    func socketsAtExit() throws {
        let exe = try Fixture.build("exit_sockets.c")
        var reports: [String: ProcessReport] = [:], ports: [String: [String]] = [:]
        for source in ["shim", "kernel"] {
            let json = scratch().appendingPathComponent("sockets-\(source).json").path
            let o = try run([Paths.fdtrace, "run", "--source", source, "--json", json, "--", exe], env: Self.env)
            #expect(o.status == 0, "\(o.stderr)")
            ports[source] = o.stdout.split(separator: " ").map(String.init)  // 3 ports, the unix path
            let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
            let first = try #require(report.processes.first)
            reports[source] = first
        }
        let kernel = try #require(reports["kernel"]), shim = try #require(reports["shim"])
        #expect(kernel.incomplete == nil && kernel.internalErrors.isEmpty && kernel.unknownOrigin.isEmpty)
        // Ports differ between the runs: each run's printed ports become
        // P0, P1, P2; a client's ephemeral port E.
        func sockets(_ p: ProcessReport, _ printed: [String]) -> [String] {
            func named(_ address: String?) -> String {
                guard let address else { return "-" }
                if address.hasPrefix("/") { return printed.count > 3 && address == printed[3] ? "PATH" : address }
                guard let colon = address.lastIndex(of: ":") else { return address }
                let port = String(address[address.index(after: colon)...])
                let name = printed.prefix(3).firstIndex(of: port).map { "P\($0)" } ?? "E"
                return address[...colon] + name
            }
            return p.leaks.flatMap(\.fds).filter { $0.kind == .socket }.sorted { $0.fd < $1.fd }.map {
                "\($0.fd) \($0.protocol ?? "-") \(named($0.local)) \(named($0.peer)) \($0.state ?? "-")"
            }
        }
        let k = sockets(kernel, ports["kernel"] ?? []), s = sockets(shim, ports["shim"] ?? [])
        #expect(k == s)
        #expect(
            k == [
                "3 TCP 127.0.0.1:P0 - LISTEN", "4 TCP6 [::1]:P1 - LISTEN", "5 TCP 127.0.0.1:P0 127.0.0.1:E CLOSE_WAIT",
                "6 TCP6 [::1]:E [::1]:P1 ESTABLISHED", "7 TCP6 [::1]:P1 [::1]:E ESTABLISHED", "8 UDP 127.0.0.1:P2 - -",
                "9 unix stream - - -", "10 unix stream - - -", "11 unix stream PATH - -", "12 unix stream - PATH -",
                "13 unix stream PATH - -",
            ], "\(k)")
        // The accepted IPv6 socket's peer is the client's own address, exactly.
        let v6 = kernel.leaks.flatMap(\.fds).filter { $0.protocol == "TCP6" }
        #expect(v6.first { $0.fd == 7 }?.peer == v6.first { $0.fd == 6 }?.local, "\(v6)")
    }

    @Test("Descriptors received by SCM_RIGHTS (recvmsg, recvmmsg) under --source kernel: at the shim's lines, as many")
    func receivedRights() throws {
        let exe = try Fixture.build("socket_family.c")
        var reports: [String: ProcessReport] = [:]
        for source in ["shim", "kernel"] {
            let json = scratch().appendingPathComponent("rights-\(source).json").path
            let o = try run([Paths.fdtrace, "run", "--source", source, "--json", json, "--", exe], env: Self.env)
            #expect(o.status == 0, "\(o.stderr)")
            let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
            let first = try #require(report.processes.first)
            reports[source] = first
        }
        let shim = try #require(reports["shim"]), kernel = try #require(reports["kernel"])
        #expect(kernel.incomplete == nil && kernel.internalErrors.isEmpty && kernel.unknownOrigin.isEmpty)
        // The kernel cannot name a received descriptor's file (the process
        // is gone when the report is made): lines and counts are compared.
        let byLine = { (p: ProcessReport) in Self.sites(p, what: { _ in "fd" }) }
        #expect(byLine(kernel) == byLine(shim), "\(kernel.leaks)")
        let lines = try Fixture.leakLines("socket_family.c")
        for call in ["recvmsg", "recvmmsg"] {
            let line = try #require(lines[call]?.first)
            #expect(byLine(kernel)["socket_family.c:\(line) fd"] == 3, "\(call)")
            #expect(kernel.leaks.contains { $0.call == call && $0.count == 3 }, "\(call)")
        }
    }

    @Test("Fork and exec: a forked child that execs is followed to its exit, and so is the root's exec")
    func forkAndExec() throws {
        let json = scratch().appendingPathComponent("sh.json").path
        let o = try run(
            [Paths.fdtrace, "run", "--source", "kernel", "--json", json, "--", "/bin/sh", "-c", "sleep 0.3; exec /bin/true"],
            env: Self.env)
        #expect(o.status == 0, "\(o.stderr)")
        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        let ends = report.processes.map { "\($0.command.first ?? "?") \($0.ended)" }
        #expect(report.processes.count == 4, "\(ends)")
        #expect(report.processes.filter { $0.ended == .exec }.count == 2, "\(ends)")
        #expect(report.processes.filter { $0.ended == .exited }.count == 2, "\(ends)")
        #expect(!o.stderr.contains("still running"), "\(o.stderr)")
    }

    @Test("A full ring: the lost events are counted and the report says incomplete; with room, the exact leaks")
    func ringOverflow() throws {
        let exe = try Fixture.build("open_burst.c")
        let line = try #require(Fixture.leakLines("open_burst.c")["open"]?.first)
        for tiny in [true, false] {
            let json = scratch().appendingPathComponent("burst.json").path
            // 4 KiB holds a few dozen events: 200 000 pairs overflow it.
            let env = tiny ? Self.env.merging([FDT_ENV_KERNEL_RING_KB: "4"]) { $1 } : Self.env
            let o = try run([Paths.fdtrace, "run", "--source", "kernel", "--json", json, "--", exe, "200000", "3"], env: env)
            #expect(o.status == 0, "\(o.stderr)")
            let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
            let p = try #require(report.processes.first)
            #expect(report.processes.count == 1 && p.exitStatus == 0 && p.ended == .exited)
            if tiny {
                #expect(p.events.recordsLost > 0)
                #expect(
                    p.incomplete == "\(p.events.recordsLost) of its events were lost (the kernel's ring buffer was full): "
                        + "descriptors may be missing, or listed as leaks that were closed")
                #expect(o.stderr.contains("  incomplete: \(p.events.recordsLost) of its events were lost"), "\(o.stderr)")
            } else {
                #expect(p.events.recordsLost == 0 && p.incomplete == nil)
                // Every pair (and the loader's opens, closed too) seen: three more opens than closes.
                #expect(p.events.opens >= 200_003 && p.events.opens - p.events.closes == 3, "\(p.events)")
                #expect(Self.sites(p) == ["open_burst.c:\(line) file": 3], "\(p.leaks)")
            }
        }
    }

    @Test("An unrelated busy process opening files meanwhile adds nothing: the same report as alone")
    func unrelatedBusyProcess() throws {
        let burst = try Fixture.build("open_burst.c"), exe = try Fixture.build("leak_sites.c")
        func traced() throws -> ProcessReport {
            let json = scratch().appendingPathComponent("k.json").path
            let o = try run([Paths.fdtrace, "run", "--source", "kernel", "--json", json, "--", exe, "5"], env: Self.env)
            #expect(o.status == 0, "\(o.stderr)")
            let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
            #expect(report.processes.count == 1)
            return try #require(report.processes.first)
        }
        let alone = try traced()
        // Spawned and reaped here, not through Foundation's Process (whose
        // child monitoring the test's other processes share).
        var noise: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(burst), strdup("100000000"), strdup("0"), nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&noise, burst, nil, nil, argv, environ) == 0)
        defer {
            kill(noise, SIGKILL)
            var status: Int32 = 0
            waitpid(noise, &status, 0)
        }
        let busy = try traced()
        var status: Int32 = 0
        #expect(waitpid(noise, &status, WNOHANG) == 0, "the busy process ran the whole time")
        #expect(busy.events.opens == alone.events.opens && busy.events.closes == alone.events.closes)
        #expect(busy.events.closesOfUnknownDescriptors == 0 && busy.events.recordsLost == 0)
        #expect(busy.leakedDescriptors == alone.leakedDescriptors && Self.sites(busy) == Self.sites(alone))
        #expect(busy.incomplete == nil && busy.unknownOrigin.isEmpty && busy.internalErrors.isEmpty)
    }
}

import FDTraceCore
import Foundation
import Testing

/// Debian's real prometheus-pushgateway (Go 1.19, cgo, stripped: no symbol
/// table, no DWARF) under `fdtrace run`, which picks the kernel source by
/// itself: clients push metrics, others connect and hang; a live snapshot
/// names the held sockets at the accepting frames the binary's own runtime
/// prints, and they are the ones `ss` shows; SIGTERM ends it
/// cleanly.
@Suite(
    "prometheus-pushgateway under fdtrace run", .serialized,
    .enabled(if: geteuid() == 0, "the kernel event source loads a BPF program: these tests need root"),
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus-pushgateway"),
        "prometheus-pushgateway is not installed (make setup installs it)"))
struct PushgatewayTests {
    static let exe = "/usr/bin/prometheus-pushgateway"
    static let env = ProcessInfo.processInfo.environment.merging(["FDTRACE_SESSION_DIR": scratch().path]) { $1 }
    static let pushers = 3, hangers = 4

    @Test("Held connections: live snapshot at the accepting Go frames, equal to what ss shows; SIGTERM reports them open at exit")
    func heldConnections() throws {
        let truth = try Self.acceptGoroutine()
        let port = try TCPClient.freePort()
        let dir = scratch()
        let json = dir.appendingPathComponent("exit.json").path, err = dir.appendingPathComponent("stderr").path
        let name = "pushgateway-\(getpid())"
        let session = try Self.start(
            [
                Paths.fdtrace, "run", "--name", name, "--json", json, "--", Self.exe, "--web.listen-address=127.0.0.1:\(port)",
            ], stderr: err)
        let pid = try Self.child(of: session.processIdentifier)
        defer {
            // A failed test leaves nothing running.
            if session.isRunning { kill(pid, SIGKILL); kill(session.processIdentifier, SIGKILL) }
        }
        try TCPClient.waitForListener(port: port)

        for i in 0..<Self.pushers {
            let status = try TCPClient.push(port: port, job: "job\(i)", metric: "fdtrace_test_metric \(i)")
            #expect(status == "HTTP/1.1 200 OK")
        }
        // Each hanging client sends half a request and waits.
        let held = try (0..<Self.hangers).map { _ in try TCPClient(port: port, send: "GET /metrics HTTP/1.1\r\nHost: x\r\n") }
        defer { held.forEach { $0.close() } }
        let heldPeers = Set(held.map { "127.0.0.1:\($0.localPort)" })
        // The server accepted them (they are among its descriptors), and
        // the collector has had a round to read the kernel's events.
        try Self.waitUntil("pid \(pid) holds \(heldPeers)") { (try? ProcTCP.established(pid: pid, localPort: port)) == heldPeers }
        usleep(300_000)

        let snapJSON = dir.appendingPathComponent("snap.json").path
        let o = try run([Paths.fdtrace, "snapshot", "--name", name, "--json", snapJSON], env: Self.env)
        #expect(o.status == 0, "\(o.stderr)")
        let snap = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: snapJSON)))
        let live = try #require(snap.processes.first)
        #expect(live.pid == pid)
        // What the kernel says the process holds on the server port.
        let procHeld = try ProcTCP.established(pid: pid, localPort: port)
        #expect(procHeld == heldPeers, "\(procHeld)")
        try Self.checkAcceptSite(live, port: port, peers: heldPeers, state: "ESTABLISHED", truth: truth)

        kill(pid, SIGTERM)
        session.waitUntilExit()
        #expect(session.terminationReason == .exit && session.terminationStatus == 0)
        let stderr = try String(contentsOfFile: err, encoding: .utf8)
        #expect(stderr.contains("fdtrace: \(Self.exe) is a Go program: traced by the kernel source\n"), "\(stderr)")
        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(report.processes.count == 1)
        let p = try #require(report.processes.first)
        #expect(p.pid == pid && p.exitStatus == 0 && p.signal == nil && p.ended == .exited && p.reconciliation == .complete)
        #expect(p.incomplete == nil && p.events.recordsLost == 0)
        #expect(p.unknownOrigin.isEmpty && p.internalErrors.isEmpty, "\(p.unknownOrigin) \(p.internalErrors)")
        // Open at exit: the held connections (the clients still hold them),
        // no listener (the server closed it), none of the pushers'.
        try Self.checkAcceptSite(p, port: port, peers: heldPeers, state: "ESTABLISHED", truth: truth)
        let sockets = p.leaks.flatMap(\.fds).filter { $0.protocol == "TCP" }
        #expect(sockets.count == Self.hangers, "\(sockets)")
        #expect(stderr.contains("exited 0 after"), "\(stderr)")
    }

    /// The held sockets form one group whose frames, from
    /// net.(*TCPListener).Accept outwards, are the accept goroutine's as the
    /// binary's runtime prints them (function, file, line), named by
    /// exporter-toolkit's web.Serve (the program's first frame) and the call
    /// the program made (net/http.(*Server).Serve).
    static func checkAcceptSite(
        _ p: ProcessReport, port: UInt16, peers: Set<String>, state: String, truth: [GoFrame],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let local = "127.0.0.1:\(port)"
        let groups = p.leaks.filter { $0.fds.contains { $0.local == local && $0.peer != nil } }
        func described(_ f: FrameReport) -> String { "\(f.function ?? "?") \(f.file ?? "?"):\(f.line ?? 0) \(f.address)" }
        try #require(
            groups.count == 1, "\(groups.map { ($0.fds.map(\.fd), $0.frames.map(described)) })", sourceLocation: sourceLocation)
        let g = groups[0]
        #expect(g.count == peers.count && Set(g.fds.compactMap(\.peer)) == peers, sourceLocation: sourceLocation)
        #expect(g.fds.allSatisfy { $0.state == state && $0.local == local && $0.call == "accept4" }, sourceLocation: sourceLocation)
        #expect(g.call == "net/http.(*Server).Serve", sourceLocation: sourceLocation)
        let frames = g.frames.map { GoFrame(function: $0.function ?? "?", file: Self.base($0.file), line: $0.line ?? 0) }
        let from = try #require(frames.firstIndex { $0.function == "net.(*TCPListener).Accept" }, sourceLocation: sourceLocation)
        let want = try #require(truth.firstIndex { $0.function == "net.(*TCPListener).Accept" }, sourceLocation: sourceLocation)
        // Above it, the calls down to the system call, and nothing that was
        // never called (stale return addresses in Go frames' locals, which
        // the stack scan reads: runtime.entersyscall, whatever ran before).
        #expect(
            frames[..<from].map(\.function) == [
                "runtime/internal/syscall.Syscall6", "syscall.RawSyscall6", "syscall.Syscall6", "syscall.accept4",
                "syscall.Accept4", "internal/poll.accept", "internal/poll.(*FD).Accept", "net.(*netFD).accept",
                "net.(*TCPListener).accept",
            ], "\(frames)", sourceLocation: sourceLocation)
        let ours = Array(frames[from...]), theirs = Array(truth[want...].prefix(ours.count))
        #expect(ours.count >= 4 && ours == theirs, "\(ours)\n\(theirs)", sourceLocation: sourceLocation)
        let site = try #require(g.site, sourceLocation: sourceLocation)
        let serve = try #require(truth.first { $0.function == "github.com/prometheus/exporter-toolkit/web.Serve" })
        #expect(
            site.function == serve.function && Self.base(site.file) == serve.file && site.line == serve.line,
            "\(site)", sourceLocation: sourceLocation)
    }

    struct GoFrame: Equatable, CustomStringConvertible {
        var function: String
        var file: String
        var line: Int
        var description: String { "\(function) \(file):\(line)" }
    }

    static func base(_ file: String?) -> String { file.map { ($0 as NSString).lastPathComponent } ?? "?" }

    /// The accept goroutine of an untraced pushgateway, as its runtime
    /// prints it at SIGQUIT: frames innermost first ("created by" excluded).
    /// The probe that waits for the listener is itself accepted, so the
    /// goroutine may be caught between two accepts (serving the probe, or
    /// running on another thread with no stack printed): dump again until it
    /// is parked in Accept.
    static func acceptGoroutine() throws -> [GoFrame] {
        var frames: [GoFrame] = []
        for attempt in 0..<5 {
            let settle = useconds_t(100_000 * (attempt + 1))
            frames = attempt < 4 ? (try? acceptGoroutineOnce(settle: settle)) ?? [] : try acceptGoroutineOnce(settle: settle)
            if frames.contains(where: { $0.function == "net.(*TCPListener).Accept" }) { break }
        }
        return frames
    }

    static func acceptGoroutineOnce(settle: useconds_t) throws -> [GoFrame] {
        let port = try TCPClient.freePort()
        let err = scratch().appendingPathComponent("quit").path
        var env = ProcessInfo.processInfo.environment
        env["GOTRACEBACK"] = "all"
        let p = try start([Self.exe, "--web.listen-address=127.0.0.1:\(port)"], stderr: err, env: env)
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        try TCPClient.waitForListener(port: port)
        usleep(settle)
        kill(p.processIdentifier, SIGQUIT)
        p.waitUntilExit()
        let dump = try String(contentsOfFile: err, encoding: .utf8)
        // Thrown, not #require'd: an earlier attempt's miss is no failure.
        guard let goroutine = dump.components(separatedBy: "\n\n").first(where: { $0.contains("net/http.(*Server).Serve(") })
        else { throw FixtureError(message: "no Serve goroutine in the dump: \(dump.suffix(2000))") }
        var frames: [GoFrame] = []
        let lines = goroutine.split(separator: "\n").map(String.init)
        for (i, l) in lines.enumerated() where i + 1 < lines.count && lines[i + 1].hasPrefix("\t") {
            if l.hasPrefix("created by ") { break }
            let function = l.range(of: "(", options: .backwards).map { String(l[..<$0.lowerBound]) } ?? l
            let position = lines[i + 1].dropFirst().split(separator: " ")[0]
            guard let colon = position.lastIndex(of: ":") else { throw FixtureError(message: "no file:line in \(position)") }
            frames.append(
                GoFrame(
                    function: function, file: base(String(position[..<colon])),
                    line: Int(position[position.index(after: colon)...]) ?? 0))
        }
        return frames
    }

    /// The pid of the program `fdtrace run` started.
    static func child(of parent: Int32) throws -> Int32 {
        var found: Int32?
        try waitUntil("a child of \(parent)") {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(parent)/task")) ?? []
            found =
                tasks.lazy.compactMap { t in
                    (try? String(contentsOfFile: "/proc/\(parent)/task/\(t)/children", encoding: .utf8))?
                        .split(separator: " ").compactMap { Int32($0) }.first
                }.first
            return found != nil
        }
        return found!
    }

    /// Polls `condition` every 50 ms, 10 s at most.
    static func waitUntil(_ what: String, _ condition: () -> Bool) throws {
        for _ in 0..<200 {
            if condition() { return }
            usleep(50_000)
        }
        throw FixtureError(message: "timed out waiting for \(what)")
    }

    static func start(_ argv: [String], stderr: String, env: [String: String] = PushgatewayTests.env) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.environment = env
        _ = FileManager.default.createFile(atPath: stderr, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }
}

/// What `ss` (iproute2: sock_diag, filtered in the kernel) says a process
/// holds: the peers of its established sockets on a local port. Not a
/// parse of /proc/net/tcp: with a benchmark's 100 000 TIME_WAIT lines on
/// the host that took seconds, and a held connection older than 5 s is
/// closed by Go's Shutdown at SIGTERM (net/http treats it as idle).
enum ProcTCP {
    static let ss = ["/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func established(pid: Int32, localPort: UInt16) throws -> Set<String> {
        let tool = try ss ?? { throw FixtureError(message: "no ss (apt-get install iproute2)") }()
        let o = try run([tool, "-Htnp", "state", "established", "( sport = :\(localPort) )"])
        guard o.status == 0 else { throw FixtureError(message: "ss failed: \(o.stderr)") }
        // "0 0 127.0.0.1:9091 127.0.0.1:54321 users:(("prometheus-push",pid=123,fd=7))"
        var peers: Set<String> = []
        for line in o.stdout.split(separator: "\n") where line.contains("pid=\(pid),") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.count >= 4 { peers.insert(String(f[3])) }
        }
        return peers
    }
}

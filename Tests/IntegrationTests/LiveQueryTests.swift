import FDTraceCore
import Foundation
import Testing

/// A traced program held running until the test lets it go.
struct RunningSession {
    let process = Process()
    let flag: String
    let pid: Int32
    let name: String
    /// Sessions of this test only: other suites run sessions in parallel.
    static let sessionDir = scratch().path
    static var env: [String: String] {
        ProcessInfo.processInfo.environment.merging(["FDTRACE_SESSION_DIR": sessionDir]) { $1 }
    }

    init(fixture: String, name: String) throws {
        let exe = try Fixture.build(fixture)
        try self.init(name: name) { [exe, $0] }
    }

    /// `command(flag)`: the program, told which file lets it go.
    init(
        name: String, options: [String] = [], env: [String: String] = RunningSession.env, stderr: String? = nil,
        command: (String) -> [String]
    ) throws {
        self.name = name
        flag = scratch().appendingPathComponent("go").path
        let fixture = command(flag).joined(separator: " ")
        process.executableURL = URL(fileURLWithPath: Paths.fdtrace)
        process.arguments = ["run", "--name", name] + options + ["--"] + command(flag)
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        if let stderr {
            _ = FileManager.default.createFile(atPath: stderr, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        var line = ""
        while !line.hasSuffix("\n") {
            let d = out.fileHandleForReading.readData(ofLength: 1)
            guard !d.isEmpty else { throw FixtureError(message: "\(fixture) did not start") }
            line += String(decoding: d, as: UTF8.self)
        }
        guard let pid = Int32(line.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") else {
            throw FixtureError(message: "no pid in \(line)")
        }
        self.pid = pid
        // The session answers once its collector has the process's events.
        usleep(200_000)
    }

    func finish() {
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        process.waitUntilExit()
    }
}

@Suite("Queries of a running session", .serialized)
struct LiveQueryTests {
    @Test("By name, by pid, or the only session: open descriptors per site, and they equal /proc/PID/fd")
    func snapshotOfARunningSession() throws {
        let s = try RunningSession(fixture: "hold_files.c", name: "live-\(getpid())")
        defer { s.finish() }
        let lines = try Fixture.leakLines("hold_files.c")
        let dir = scratch()
        for args in [["--name", s.name], ["--pid", String(s.pid)]] {
            let json = dir.appendingPathComponent("q.json").path
            let o = try run([Paths.fdtrace, "snapshot"] + args + ["--json", json], env: RunningSession.env)
            #expect(o.status == 0, "\(o.stderr)")
            #expect(o.stdout.contains("7 × file /etc/hostname"), "\(o.stdout)")
            #expect(o.stdout.contains("hold_files.c:\(lines["open"]![0])"))
            let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
            #expect(report.snapshot?.reason == .query)
            let p = try #require(report.processes.first { $0.pid == s.pid })
            #expect(p.ended == .running)
            let sites = siteCounts(p)
            #expect(sites["hold_files.c:\(lines["open"]![0]) open"] == 7)
            #expect(sites["hold_files.c:\(lines["pipe"]![0]) pipe"] == 2)
            #expect(sites["hold_files.c:\(lines["socket"]![0]) socket"] == 1)
            #expect(p.leaks.flatMap(\.fds).allSatisfy { $0.openedAt != nil })
            // The same descriptors as the kernel's table (the tracer keeps none).
            let reported = Set(p.leaks.flatMap(\.fds).map(\.fd) + p.standard.map(\.fd) + p.inherited.map(\.fd))
            let kernel = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(s.pid)/fd").compactMap { Int32($0) })
            #expect(reported == kernel, "reported \(reported.sorted()), kernel \(kernel.sorted())")
        }
        // Only one session runs: no option needed.
        let o = try run([Paths.fdtrace, "snapshot"], env: RunningSession.env)
        #expect(o.status == 0)
        #expect(o.stdout.contains("(pid \(s.pid))"))
    }

    @Test("A live snapshot describes sockets from /proc now: TCP states, unix peers")
    func liveSocketStates() throws {
        let s = try RunningSession(fixture: "hold_close_wait.c", name: "cw-\(getpid())")
        defer { s.finish() }
        let lines = try Fixture.leakLines("hold_close_wait.c")
        let json = scratch().appendingPathComponent("q.json").path
        let o = try run([Paths.fdtrace, "snapshot", "--name", s.name, "--json", json], env: RunningSession.env)
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout.contains("5 CLOSE_WAIT"), "\(o.stdout)")
        let p = try #require(try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json))).processes.first)
        let accepted = try #require(p.leaks.first { $0.site?.line == lines["accept"]![0] })
        #expect(accepted.fds.map(\.state) == Array(repeating: "CLOSE_WAIT", count: 5))
        #expect(accepted.summary.hasSuffix(", 5 CLOSE_WAIT"), "\(accepted.summary)")
        let pair = try #require(p.leaks.first { $0.site?.line == lines["socketpair"]![0] })
        let fds = pair.fds.map(\.fd).sorted()
        #expect(pair.fds.first { $0.fd == fds[0] }?.peer == "fd \(fds[1])")
        #expect(pair.fds.first { $0.fd == fds[1] }?.peer == "fd \(fds[0])")
    }

    @Test("A bare LD_PRELOAD session answers queries too (FDTRACE_NAME)")
    func bareSessionQuery() throws {
        let exe = try Fixture.build("hold_files.c")
        let flag = scratch().appendingPathComponent("go").path
        let name = "bare-\(getpid())"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [flag]
        p.environment = preloadedEnv([
            "FDTRACE_NAME": name, "FDTRACE_SESSION_DIR": RunningSession.sessionDir,
            "FDTRACE_OUTPUT": scratch().appendingPathComponent("report.txt").path,
        ])
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        defer { _ = FileManager.default.createFile(atPath: flag, contents: nil); p.waitUntilExit() }
        _ = out.fileHandleForReading.readData(ofLength: 6)  // "ready "
        var o = Outcome(status: -1, stdout: "", stderr: "")
        for _ in 0..<30 {
            o = try run([Paths.fdtrace, "snapshot", "--name", name], env: RunningSession.env)
            if o.status == 0 { break }
            usleep(100_000)
        }
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout.contains("7 × file /etc/hostname"), "\(o.stdout)")
        #expect(o.stdout.contains("(pid \(p.processIdentifier))"))
    }

    @Test("Another user cannot query the session")
    func otherUserRefused() throws {
        let s = try RunningSession(fixture: "hold_files.c", name: "private-\(getpid())")
        defer { s.finish() }
        for args in [["--name", s.name], ["--pid", String(s.pid)]] {
            let o = try run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Paths.fdtrace, "snapshot"] + args,
                env: RunningSession.env)
            #expect(o.status == 1, "\(o.stdout)")
            #expect(!o.stdout.contains("hold_files.c"))
            #expect(o.stderr.hasPrefix("fdtrace: ") && o.stderr.split(separator: "\n").count == 1, "\(o.stderr)")
        }
    }

    @Test("No session: a clear error")
    func noSession() throws {
        let o = try run([Paths.fdtrace, "snapshot", "--name", "no-such-session-\(getpid())"], env: RunningSession.env)
        #expect(o.status == 1)
        #expect(o.stderr.hasPrefix("fdtrace: no running session named no-such-session-"))
    }

    @Test("fdtrace top names a site by the user's line, as the exit report does: a Python program exec'd by a shell (not the session's first process)")
    func topNamesSitesByTheUsersLine() throws {
        let python = try Python.interpreter("3.11")
        let script = Python.fixture("py_hold_files.py")
        let site = try #require(try pythonMarkers("py_hold_files.py")["open"])
        let s = try RunningSession(name: "topsite-\(getpid())", options: ["--output", "/dev/null"]) {
            ["/bin/sh", "-c", "exec \"$0\" \"$@\"", python, script, $0]
        }
        defer { s.finish() }
        // Without a terminal, top prints one screen.
        let o = try run([Paths.fdtrace, "top", "--name", s.name], env: RunningSession.env)
        #expect(o.status == 0, "\(o.stderr)")
        let row = o.stdout.split(separator: "\n").first { $0.contains("file /etc/hostname") }
        #expect(row.map { $0.split(separator: " ").first == "5" && $0.hasSuffix("  \(site)  file /etc/hostname") } == true, "\(o.stdout)")
        let snapshot = try run([Paths.fdtrace, "snapshot", "--name", s.name], env: RunningSession.env)
        #expect(snapshot.stdout.contains(site), "\(snapshot.stdout)")
    }

    @Test("fdtrace top in a terminal (tmux): the leaking site and its count; q restores the terminal")
    func topInTmux() throws {
        let s = try RunningSession(fixture: "hold_files.c", name: "top-\(getpid())")
        defer { s.finish() }
        let line = try Fixture.leakLines("hold_files.c")["open"]![0]
        let dir = scratch()
        let server = "fdtrace-test-\(getpid())"
        func tmux(_ args: [String]) throws -> Outcome { try run(["tmux", "-L", server] + args) }
        defer { _ = try? tmux(["kill-server"]) }
        let shell = "env FDTRACE_SESSION_DIR=\(RunningSession.sessionDir) PS1='$ ' bash --norc --noprofile"
        // The tmux server lives on: it must not keep the descriptor by which
        // Foundation notices that a child ended (waitUntilExit would spin).
        let closeAll = "n=3; while [ $n -lt 1024 ]; do eval \"exec $n>&-\"; n=$((n+1)); done; "
        let start = "exec tmux -L \(server) new-session -d -s top -x 80 -y 24 \"\(shell)\""
        #expect(try run(["/bin/bash", "-c", closeAll + start]).status == 0)
        let serverPID = Int32(try tmux(["display-message", "-p", "#{pid}"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer { if serverPID > 0 { kill(serverPID, SIGKILL) } }
        let before = dir.appendingPathComponent("before").path, after = dir.appendingPathComponent("after").path
        let command = "stty -g > \(before); echo BEFORE-MARK; \(Paths.fdtrace) top --name \(s.name); echo AFTER-$?; stty -g > \(after)"
        _ = try tmux(["send-keys", "-t", "top", command, "Enter"])
        var screen = ""
        for _ in 0..<50 {
            usleep(100_000)
            screen = try tmux(["capture-pane", "-p", "-t", "top"]).stdout
            if screen.contains("hold_files.c:\(line)") { break }
        }
        #expect(screen.contains("fdtrace top — \(s.name)"), "\(screen)")
        let row = screen.split(separator: "\n").first { $0.contains("hold_files.c:\(line)") }
        #expect(row.map { $0.split(separator: " ").first == "7" } == true, "\(screen)")
        #expect(screen.contains("open ") && screen.contains("q: quit"))
        #expect(screen.split(separator: "\n").allSatisfy { $0.count <= 80 })
        _ = try tmux(["send-keys", "-t", "top", "q"])
        for _ in 0..<50 {
            usleep(100_000)
            screen = try tmux(["capture-pane", "-p", "-t", "top"]).stdout
            if screen.contains("AFTER-") { break }
        }
        #expect(screen.contains("BEFORE-MARK") && screen.contains("AFTER-0"), "\(screen)")
        #expect(!screen.contains("q: quit"), "the alternate screen is gone: \(screen)")
        usleep(200_000)
        let a = try String(contentsOfFile: before, encoding: .utf8), b = try String(contentsOfFile: after, encoding: .utf8)
        #expect(!a.isEmpty && a == b, "terminal settings restored")
    }
}

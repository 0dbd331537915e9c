import FDTraceCore
import Foundation
import Testing

/// A program started untraced, which a test then attaches to: its stdout
/// goes to a file (compared byte for byte with an untraced run), and it is
/// driven by flag files in `dir` (it stats them: no descriptor).
final class RunningTarget {
    let process = Process()
    /// Where the flag files go (the C fixture's DIR).
    let dir = scratch()
    let stdout: URL
    var pid: Int32 { process.processIdentifier }

    /// `argv(dir)`: the program; `prefix`: run it through another (setpriv).
    init(prefix: [String] = [], _ argv: (URL) -> [String]) throws {
        stdout = dir.appendingPathComponent("stdout")
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        let all = prefix + argv(dir)
        process.executableURL = URL(fileURLWithPath: all[0])
        process.arguments = Array(all.dropFirst())
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// The C fixture: attach_target.c DIR K [tree], once it printed "ready".
    static func fixture(k: Int, tree: Bool = false, prefix: [String] = []) throws -> RunningTarget {
        let exe = try Fixture.build("attach_target.c")
        let t = try RunningTarget(prefix: prefix) { [exe, $0.path, String(k)] + (tree ? ["tree"] : []) }
        try t.waitFor("ready\n")
        return t
    }

    var output: String { (try? String(contentsOf: stdout, encoding: .utf8)) ?? "" }

    /// Waits (bounded: a hang guard, not a timing) until stdout has `text`.
    func waitFor(_ text: String) throws {
        for _ in 0..<6000 {
            if output.contains(text) { return }
            if !process.isRunning { break }
            usleep(10_000)
        }
        throw FixtureError(message: "the target never printed \(text.debugDescription): \(output.debugDescription)")
    }

    func flag(_ name: String) {
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: nil)
    }

    /// Lets it exit; its status.
    func finish() -> Int32 {
        flag("exit")
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Its descriptors now, number → /proc link.
    var fds: [Int32: String] {
        var out: [Int32: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
            guard let fd = Int32(name) else { continue }
            out[fd] = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(name)")
        }
        return out
    }
}

/// `fdtrace attach --pid N ...` running in the background, ready once it
/// said it attached.
final class AttachRun {
    let process = Process()
    let stderr: URL
    let json: String

    init(pid: Int32, options: [String] = [], env: [String: String] = AttachTests.env) throws {
        let dir = scratch()
        stderr = dir.appendingPathComponent("stderr")
        json = dir.appendingPathComponent("report.json").path
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: Paths.fdtrace)
        process.arguments = ["attach", "--pid", String(pid), "--json", json] + options
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: stderr)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Ready: the line it prints once the process is in the traced set.
        for _ in 0..<6000 {
            if text.contains("fdtrace: attached to pid \(pid) (") { return }
            if !process.isRunning { break }
            usleep(10_000)
        }
        throw FixtureError(message: "fdtrace attach did not get ready: \(text)")
    }

    var text: String { (try? String(contentsOf: stderr, encoding: .utf8)) ?? "" }

    /// Waits for its end: its status and report.
    func finish() throws -> (status: Int32, report: Report) {
        process.waitUntilExit()
        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        return (process.terminationStatus, report)
    }
}

/// `fdtrace attach`: a running program traced from the attach on, with
/// exact counts; what it held before listed apart; detach and attach again;
/// the Go server's leaked connections at their line; errors in one line.
@Suite(
    "fdtrace attach", .serialized,
    .enabled(if: geteuid() == 0, "attach loads the kernel event source (a BPF program): these tests need root"))
struct AttachTests {
    static let env = ProcessInfo.processInfo.environment.merging(["FDTRACE_SESSION_DIR": scratch().path]) { $1 }

    /// Descriptors per highlighted line and path (file:line path): the
    /// kernel's stacks may show one line as a few groups (a stale frame);
    /// /dev/null is a file or a device as the description came.
    static func sites(_ p: ProcessReport) -> [String: Int] { KernelRunTests.sites(p) { $0.path ?? $0.kind.name } }

    static var leakLine: Int { get throws { try #require(Fixture.leakLines("attach_target.c")["open"]?.first) } }

    /// What the untraced fixture prints and exits with, driven the same way.
    static func untraced(rounds: Int) throws -> (String, Int32) {
        let t = try RunningTarget.fixture(k: 3)
        for r in 1...rounds {
            t.flag("go\(r)")
            try t.waitFor("round \(r) done\n")
        }
        let status = t.finish()
        return (t.output, status)
    }

    @Test("Attached until it exits: exact counts, what it held before listed apart, its output and status unchanged")
    func untilExit() throws {
        let k = 7
        let t = try RunningTarget.fixture(k: k)
        let before = t.fds
        let dir = scratch()
        let html = dir.appendingPathComponent("r.html").path
        let a = try AttachRun(pid: t.pid, options: ["--html", html])
        t.flag("go1")
        try t.waitFor("round 1 done\n")
        let status = t.finish()
        let (fdtraceStatus, report) = try a.finish()
        #expect(fdtraceStatus == 0, "\(a.text)")
        #expect(status == 3)
        let (untracedOutput, untracedStatus) = try Self.untraced(rounds: 1)
        #expect(t.output == untracedOutput && t.output == "ready\nround 1 done\nbye\n", "\(t.output)")
        #expect(status == untracedStatus)

        #expect(report.attach?.pid == t.pid && report.attach?.detached == .exited)
        #expect(report.exitStatus == 3)
        let p = try #require(report.processes.first)
        #expect(report.processes.count == 1 && p.pid == t.pid && p.ended == .exited && p.exitStatus == 3)
        expectAccounted(p)
        #expect(Self.sites(p) == ["attach_target.c:\(try Self.leakLine) /dev/null": k], "\(p.leaks)")
        // k leaked and k closed opens; the pipe's end held from before closed too.
        #expect(p.events.opens == 2 * k && p.events.closes == k + 1, "\(p.events)")
        #expect(p.events.closesOfUnknownDescriptors == 0 && p.events.opensOverOpenDescriptors == 0 && p.events.recordsLost == 0)
        // Open before attach: exactly what /proc listed then, but the pipe's
        // write end (the highest pipe: pipe() returns the pair in order).
        let pipeEnd = try #require(before.filter { $0.value.hasPrefix("pipe:") }.keys.max())
        let held = try #require(p.openBeforeAttach)
        #expect(Set(held.map(\.fd)) == Set(before.keys).subtracting([pipeEnd]), "\(held)")
        let kinds = Dictionary(held.map { ($0.fd, $0) }) { a, _ in a }
        for (fd, link) in before where fd != pipeEnd {
            let f = try #require(kinds[fd])
            if link == "/etc/hostname" { #expect(f.kind == .file && f.path == link) }
            if link.hasPrefix("pipe:") { #expect(f.kind == .pipe) }
            if link.hasPrefix("socket:") { #expect(f.kind == .socket) }
            #expect(f.call == nil && f.openedAt == nil, "no site, age unknown: \(f)")
        }
        #expect(held.filter { $0.state == "LISTEN" && $0.protocol == "TCP" }.count == 1, "\(held)")
        #expect(p.leaks.allSatisfy { g in !g.fds.contains { f in before[f.fd] != nil && f.fd != pipeEnd } })

        let text = TextRenderer().render(report)
        #expect(text.hasPrefix("fdtrace: attached to pid \(t.pid) for "), "\(text)")
        #expect(text.contains(", until it exited ") && text.contains("\(held.count) open before attach"), "\(text)")
        #expect(a.text.contains(text), "the report on stderr")
        // The saved JSON prints the same report again: stderr after the ready line.
        let again = try run([Paths.fdtrace, "report", a.json], env: Self.env)
        let printed = a.text.split(separator: "\n", maxSplits: 1).last.map(String.init) ?? ""
        #expect(again.status == 0 && again.stdout == printed, "\(again.stdout)\n---\n\(printed)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("id=\"attach\">attached to pid \(t.pid) for ") && page.contains("open before attach"))
    }

    @Test("Its other threads and the children it forks while attached are traced too; --fail-on-leak gives 99")
    func threadsAndChildren() throws {
        let k = 3
        let t = try RunningTarget.fixture(k: k, tree: true)
        let a = try AttachRun(pid: t.pid, options: ["--fail-on-leak"])
        t.flag("go1")
        try t.waitFor("round 1 done\n")
        #expect(t.finish() == 3)
        let (status, report) = try a.finish()
        #expect(status == 99, "--fail-on-leak: \(a.text)")
        let line = try Self.leakLine
        let root = try #require(report.processes.first { $0.pid == t.pid })
        // k from the main thread, one from the thread it started.
        #expect(Self.sites(root) == ["attach_target.c:\(line) /dev/null": k + 1], "\(root.leaks)")
        #expect(Set(root.leaks.flatMap(\.fds).compactMap(\.thread)).count == 2)
        let child = try #require(report.processes.first { $0.pid != t.pid })
        #expect(report.processes.count == 2 && child.ppid == t.pid && child.ended == .exited && child.exitStatus == 0)
        #expect(Self.sites(child) == ["attach_target.c:\(line) /dev/null": 1], "\(child.leaks)")
        // What it had from before the attach came to it from its parent: not its own.
        #expect(child.openBeforeAttach == nil && child.inherited.count > 3, "\(child.inherited)")
    }

    @Test("A Python program: native frames and a note saying so")
    func pythonNote() throws {
        let t = try RunningTarget { dir in
            ["/usr/bin/python3", "-c", "import os, time\nprint('ready', flush=True)\nwhile not os.path.exists('\(dir.path)/exit'): time.sleep(0.01)"]
        }
        try t.waitFor("ready\n")
        let a = try AttachRun(pid: t.pid)
        kill(a.process.processIdentifier, SIGINT)
        let (status, report) = try a.finish()
        #expect(status == 0 && t.finish() == 0)
        let p = try #require(report.processes.first)
        #expect(p.notes.contains { $0.hasPrefix("a Python program: fdtrace attach shows native frames only") }, "\(p.notes)")
    }

    /// A Python program with many extension modules mapped (each one a few
    /// lines of /proc/PID/maps, below libc's), then, at the flag "go", three
    /// files opened and kept.
    static func pythonOpener(_ dir: URL) -> String {
        """
        import importlib, os, time
        for m in ("math", "_struct", "binascii", "_random", "_bisect", "_sha512", "_json", "_heapq", "array",
                  "select", "zlib", "_datetime", "_pickle", "_csv", "unicodedata", "_socket", "_posixsubprocess"):
            try: importlib.import_module(m)
            except ImportError: pass
        print("ready", flush=True)
        while not os.path.exists("\(dir.path)/go"): time.sleep(0.01)
        kept = [open("/etc/hostname") for _ in range(3)]
        print("opened", flush=True)
        while not os.path.exists("\(dir.path)/exit"): time.sleep(0.01)
        """
    }

    @Test("A Python program (maps longer than a page): its native frames are named, libc's open and libpython's functions")
    func pythonNativeFrames() throws {
        // python3 as the tests find it (pyenv's links libpython3.X.so).
        let python = try run(["python3", "-c", "import sys; print(sys.executable)"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let t = try RunningTarget { [python, "-c", Self.pythonOpener($0)] }
        try t.waitFor("ready\n")
        // What makes it a regression test: libc is listed past the first
        // page of /proc/PID/maps, where a single read() stops.
        let maps = try run(["cat", "/proc/\(t.pid)/maps"]).stdout
        let libc = try #require(maps.range(of: "/libc.so.6\n"), "\(maps)")
        #expect(maps.utf8.distance(from: maps.startIndex, to: libc.lowerBound) > 4096, "\(maps)")
        let interpreter = maps.contains("/libpython") ? "/libpython" : "/" + URL(fileURLWithPath: python).lastPathComponent
        let text = scratch().appendingPathComponent("report.txt").path
        let a = try AttachRun(pid: t.pid, options: ["--native", "--output", text])
        t.flag("go")
        try t.waitFor("opened\n")
        kill(a.process.processIdentifier, SIGINT)
        let (status, report) = try a.finish()
        #expect(status == 0 && t.finish() == 0, "\(a.text)")
        let p = try #require(report.processes.first { $0.pid == t.pid })
        #expect(p.leaks.map(\.count).reduce(0, +) == 3, "\(p.leaks)")
        let frames = p.leaks.flatMap(\.frames)
        // Each stack starts in libc's open wrapper, named.
        for g in p.leaks {
            let top = try #require(g.frames.first)
            #expect(top.module?.hasSuffix("/libc.so.6") == true && top.function != nil, "\(top)")
        }
        let named = frames.filter { $0.module?.contains(interpreter) == true }.compactMap(\.function)
        let rendered = try String(contentsOfFile: text, encoding: .utf8)
        #expect(named.contains { rendered.contains(" \($0) ") }, "\(interpreter): \(named) in \(rendered)")
    }

    @Test("Live queries (snapshot, top) while attached, detach on SIGINT, attach again with --duration: the process as it was")
    func detachAndAttachAgain() throws {
        let k = 4
        let t = try RunningTarget.fixture(k: k)
        let before = t.fds
        let line = try Self.leakLine
        let first = try AttachRun(pid: t.pid)
        t.flag("go1")
        try t.waitFor("round 1 done\n")
        // The session answers `fdtrace snapshot --pid` with the fixture's site.
        let q = try run([Paths.fdtrace, "snapshot", "--pid", String(t.pid)], env: Self.env)
        #expect(q.status == 0, "\(q.stderr)")
        #expect(q.stdout.contains("attach_target.c:\(line)") && q.stdout.contains("open before attach"), "\(q.stdout)")
        // And `fdtrace top` (one screen, not on a terminal).
        let top = try run([Paths.fdtrace, "top", "--pid", String(t.pid)], env: Self.env)
        #expect(top.status == 0 && top.stdout.contains("attach_target.c:\(line)"), "\(top.stdout) \(top.stderr)")
        kill(first.process.processIdentifier, SIGINT)
        let (s1, r1) = try first.finish()
        #expect(s1 == 0, "\(first.text)")
        #expect(r1.attach?.detached == .signal && r1.attach?.signal == SIGINT)
        let p1 = try #require(r1.processes.first)
        #expect(p1.ended == .running && r1.exitStatus == nil)
        #expect(Self.sites(p1) == ["attach_target.c:\(line) /dev/null": k], "\(p1.leaks)")
        #expect(p1.unknownOrigin.isEmpty && p1.internalErrors.isEmpty, "\(p1.unknownOrigin) \(p1.internalErrors)")
        #expect(p1.openBeforeAttach?.count == before.count - 1)

        // Detached: no tracer, no descriptor of ours; the k leaked files added.
        let after = t.fds
        let leaked = Set(after.keys).subtracting(before.keys)
        #expect(leaked.count == k && leaked.allSatisfy { after[$0] == "/dev/null" }, "\(after)")
        #expect(Set(before.keys).subtracting(after.keys).count == 1)
        let status = try String(contentsOfFile: "/proc/\(t.pid)/status", encoding: .utf8)
        #expect(status.contains("TracerPid:\t0\n") && status.contains("SigPnd:\t0000000000000000\n"))

        let second = try AttachRun(pid: t.pid, options: ["--duration", "5"])
        t.flag("go2")
        try t.waitFor("round 2 done\n")
        let (s2, r2) = try second.finish()
        #expect(s2 == 0, "\(second.text)")
        #expect(r2.attach?.detached == .duration)
        let p2 = try #require(r2.processes.first)
        #expect(p2.ended == .running)
        #expect(Self.sites(p2) == ["attach_target.c:\(line) /dev/null": k], "\(p2.leaks)")
        // What the first session saw leak is now from before this attach.
        let held = try #require(p2.openBeforeAttach)
        #expect(held.count == after.count && held.filter { $0.path == "/dev/null" && leaked.contains($0.fd) }.count == k)
        #expect(second.text.contains("until --duration ran out; it runs on"), "\(second.text)")
        #expect(t.finish() == 3)
        #expect(t.output == (try Self.untraced(rounds: 2)).0)
    }

    @Test("Go HTTP server: N requests on the error path leak N sockets at the accept line, in CLOSE_WAIT; clean ones nothing")
    func goServer() throws {
        let exe = try Fixture.buildGo("go_server")
        let t = try RunningTarget { [exe, "serve", $0.appendingPathComponent("stop").path] }
        try t.waitFor("\n")
        let address = t.output.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let port = try #require(UInt16(address.split(separator: ":").last ?? ""))
        // One of its threads is not a process to attach to.
        let tids = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(t.pid)/task").compactMap { Int32($0) }
        let thread = try #require(tids.first { $0 != t.pid })
        let o = try run([Paths.fdtrace, "attach", "--pid", String(thread)], env: Self.env)
        #expect(
            o.status == 1 && o.stderr == "fdtrace: pid \(thread) is a thread of process \(t.pid): attach to \(t.pid) (all its threads are traced)\n",
            "\(o.stderr)")
        let a = try AttachRun(pid: t.pid)
        let n = 5
        for _ in 0..<n { try Self.get(port, "/leak") }
        for _ in 0..<3 { try Self.get(port, "/ok") }
        kill(a.process.processIdentifier, SIGTERM)
        let (status, report) = try a.finish()
        t.flag("stop")
        t.process.waitUntilExit()
        #expect(status == 0 && t.process.terminationStatus == 0, "\(a.text)")
        #expect(report.attach?.signal == SIGTERM)
        let p = try #require(report.processes.first)
        let source = try String(contentsOf: Paths.fixtures.appendingPathComponent("go_server/serve.go"), encoding: .utf8)
        let acceptLine = try #require(source.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("// ACCEPT") }) + 1
        #expect(p.leaks.count == 1, "\(p.leaks)")
        let g = try #require(p.leaks.first)
        #expect(g.count == n && g.site?.function == "main.serve" && g.site?.line == acceptLine, "\(g.frames)")
        #expect(g.fds.filter { $0.protocol == "TCP" && $0.state == "CLOSE_WAIT" }.count == n, "\(g.fds)")
        #expect(p.unknownOrigin.isEmpty && p.internalErrors.isEmpty)
        #expect(p.openBeforeAttach?.contains { $0.state == "LISTEN" } == true)
    }

    /// One HTTP request; reads the answer's head, then hangs up (the error
    /// path never closes its side: reading to the end would wait forever).
    static func get(_ port: UInt16, _ path: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw FixtureError(message: "cannot connect to port \(port)") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: fixture\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { throw FixtureError(message: "cannot send") }
        var answer: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 512)
        // /ok: to the server's close (the end of the stream); /leak: its head.
        while path == "/ok" || !String(decoding: answer, as: UTF8.self).contains("\r\n\r\n") {
            let got = read(fd, &buf, buf.count)
            if got <= 0 { break }
            answer += buf[0..<got]
        }
        guard String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 ") else { throw FixtureError(message: "no answer to \(path)") }
    }

    @Test("Errors: one line and a status each; without privileges the /proc view, status 77")
    func errors() throws {
        let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        func oneLine(_ o: Outcome, _ status: Int32, _ text: String) {
            #expect(o.status == status, "\(o.stderr)")
            #expect(o.stderr.hasPrefix("fdtrace: ") && o.stderr.split(separator: "\n").count == 1 && o.stderr.contains(text), "\(o.stderr)")
        }
        oneLine(try run([Paths.fdtrace, "attach", "--pid", "99999"], env: Self.env), 1, "no process 99999")
        oneLine(try run([Paths.fdtrace, "attach", "--pid", "2"], env: Self.env), 1, "pid 2 is a kernel thread (kthreadd)")
        oneLine(try run(["/bin/sh", "-c", "exec \"$0\" attach --pid $$", Paths.fdtrace], env: Self.env), 1, "is fdtrace itself")
        oneLine(try run([Paths.fdtrace, "attach"], env: Self.env), 64, "--pid")

        // Without privileges, a process of its own: what is missing, then /proc.
        let mine = try RunningTarget.fixture(k: 1, prefix: asNobody)
        let o = try run(asNobody + [Paths.fdtrace, "attach", "--pid", String(mine.pid)], env: Self.env)
        #expect(o.status == 77, "\(o.stderr)")
        let lines = o.stderr.split(separator: "\n")
        #expect(lines.first?.hasPrefix("fdtrace: cannot attach to pid \(mine.pid): the kernel event source needs root") == true, "\(o.stderr)")
        #expect(
            lines.count > 1 && lines[1].hasPrefix("fdtrace: ") && lines[1].contains("(pid \(mine.pid)): ")
                && lines[1].hasSuffix("from /proc: no call sites without tracing"), "\(o.stderr)")
        #expect(o.stderr.contains("1 × TCP 127.0.0.1:"), "\(o.stderr)")
        #expect(mine.finish() == 3)

        // Another user's process: its /proc may not be read.
        let root = try RunningTarget.fixture(k: 1)
        oneLine(try run(asNobody + [Paths.fdtrace, "attach", "--pid", String(root.pid)], env: Self.env), 1, "cannot read /proc/\(root.pid)/fd")
        #expect(root.finish() == 3)
    }
}

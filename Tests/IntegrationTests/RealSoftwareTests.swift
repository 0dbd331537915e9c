import FDTraceCore
import Foundation
import Testing

/// Real software nobody here wrote, under the real tracer.
@Suite("Real software", .serialized)
struct RealSoftwareTests {
    /// Sessions of this suite only (others run in parallel).
    static let env = ProcessInfo.processInfo.environment.merging(["FDTRACE_SESSION_DIR": scratch().path]) { $1 }

    /// The descriptor numbers a report lists for a process.
    func reportedFDs(_ p: ProcessReport) -> Set<Int32> {
        Set(p.leaks.flatMap(\.fds).map(\.fd) + p.standard.map(\.fd) + p.inherited.map(\.fd))
    }

    /// node's http server: libuv closes through syscall(SYS_close, fd). The
    /// live view equals /proc; at exit, exactly the kept files leak and
    /// nothing is unaccounted.
    @Test("node http server: live view equals /proc, exact leaks, no internal error")
    func nodeHTTPServer() throws {
        guard let node = ["/usr/bin/node", "/usr/bin/nodejs"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("node is not installed (make setup installs nodejs)")
            return
        }
        let script = Paths.fixtures.appendingPathComponent("node_server.js").path
        let json = scratch().appendingPathComponent("exit.json").path
        let s = try RunningSession(name: "node-\(getpid())", options: ["--json", json], env: Self.env) { [node, script, $0, "8"] }
        let dir = scratch()
        let live = dir.appendingPathComponent("live.json").path
        let q = try run([Paths.fdtrace, "snapshot", "--name", s.name, "--json", live], env: Self.env)
        let kernel = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(s.pid)/fd").compactMap { Int32($0) })
        s.finish()
        #expect(q.status == 0, "\(q.stderr)")
        let snapshot = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: live)))
        let lp = try #require(snapshot.processes.first { $0.pid == s.pid })
        #expect(reportedFDs(lp) == kernel, "reported \(reportedFDs(lp).sorted()), kernel \(kernel.sorted())")
        #expect(lp.unknownOrigin.isEmpty)
        #expect(lp.internalErrors.isEmpty)

        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        let p = try #require(report.processes.first { $0.pid == s.pid })
        expectAccounted(p)
        #expect(p.events.closesOfUnknownDescriptors == 0)
        #expect(p.events.opensOverOpenDescriptors == 0)
        // The 8 kept files and nothing else of the files each request read.
        #expect(p.leaks.filter { $0.summary == "file /etc/hostname" }.map(\.count).reduce(0, +) == 8)
        #expect(!p.leaks.contains { $0.summary == "file /etc/passwd" })
        #expect(p.leaks.filter { $0.summary == "file /etc/hostname" }.allSatisfy { $0.frames.contains { $0.function == "uv_fs_open" } })
    }

    /// `fdtrace snapshot --name N [--pid P] --json` of a running session.
    func snapshot(_ name: String, pid: Int32? = nil) throws -> (Outcome, Report?) {
        let json = scratch().appendingPathComponent("live.json").path
        let o = try run(
            [Paths.fdtrace, "snapshot", "--name", name] + (pid.map { ["--pid", String($0)] } ?? []) + ["--json", json],
            env: Self.env)
        return (o, try? JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json))))
    }

    /// A live snapshot once `count` traced processes run their steady state.
    func snapshot(_ name: String, waitingFor count: Int) throws -> (Outcome, Report) {
        for _ in 0..<100 {
            let (o, r) = try snapshot(name)
            if let r, r.processes.count == count, r.processes.allSatisfy({ !$0.leaks.isEmpty }) {
                usleep(300_000)  // settled: the same once more
                let (o2, r2) = try snapshot(name)
                if let r2, r2.processes.count == count { return (o2, r2) }
                return (o, r)
            }
            usleep(100_000)
        }
        throw FixtureError(message: "\(count) traced processes never showed up in \(name)")
    }

    /// One site per call and stack: a worker's sites, comparable across reports.
    func sites(_ p: ProcessReport) -> [String: [FrameReport]] {
        Dictionary(p.leaks.map { ($0.call, $0.frames) }) { a, _ in a }
    }

    /// nginx with a master and two workers (started through sh, which
    /// execs it: the master is the second image of the session). A live
    /// snapshot, of all or of one worker, gives every site of each worker
    /// its own stack, as the exit report does. Each process is labelled as
    /// it shows itself (nginx rewrites its argv: "nginx: worker process"),
    /// live and at exit.
    @Test("nginx master + 2 workers: live snapshots give each worker's sites their stacks; labels as ps shows them")
    func nginxWorkersLive() throws {
        guard NginxSetup.installed else {
            Issue.record("nginx is not installed (make setup installs nginx-light)")
            return
        }
        let nginx = try NginxSetup(daemon: false)
        let json = scratch().appendingPathComponent("exit.json").path
        let s = try RunningSession(name: "nginx-\(getpid())", options: ["--json", json], env: Self.env) { _ in
            ["/bin/sh", "-c", "echo pid $$; exec " + nginx.argv.joined(separator: " ")]
        }
        var stopped = false
        defer { if !stopped { kill(s.pid, SIGTERM); s.finish() } }
        let (o, live) = try snapshot(s.name, waitingFor: 3)
        #expect(o.status == 0, "\(o.stderr)")
        #expect(!o.stdout.contains("(no stack)"), "\(o.stdout)")
        let master = try #require(live.processes.first { $0.pid == s.pid })
        #expect(Dictionary(master.leaks.map { ($0.call, $0.count) }) { $0 + $1 } == ["socketpair": 4, "open64": 1, "socket": 1])
        let workers = live.processes.filter { $0.ppid == s.pid }
        #expect(workers.count == 2)
        // Labels: as ps shows them (no quotes, no padding), started as nginx.
        #expect(master.command == [nginx.masterTitle])
        // (80 columns at most: the long title is cut with "...")
        let shown = TextRenderer.commandLine([nginx.masterTitle], fallback: "")
        #expect(shown.hasPrefix("nginx: master process /usr/sbin/nginx -p "))
        #expect(o.stdout.contains("fdtrace: \(shown) (pid \(s.pid)) running after "), "\(o.stdout)")
        for w in workers {
            #expect(w.command == ["nginx: worker process"])
            #expect(o.stdout.contains("fdtrace: nginx: worker process (pid \(w.pid), parent \(s.pid)) running after "))
        }
        #expect(live.processes.allSatisfy { $0.startedAs == "nginx" })
        for w in workers {
            // Two opening sites stay two groups, each with its own frames.
            let calls = w.leaks.map(\.call)
            #expect(Set(calls).count == calls.count, "\(calls)")
            #expect(Set(calls).isSuperset(of: ["epoll_create", "eventfd"]) && Set(calls).isSubset(of: ["epoll_create", "eventfd", "recvmsg"]))
            #expect(w.leaks.allSatisfy { $0.count == 1 })
            for g in w.leaks {
                #expect(g.frames.contains { $0.function == "ngx_spawn_process" } && g.frames.contains { $0.function == "main" }, "\(g)")
                #expect(g.site?.module == NginxSetup.binary)
            }
            #expect(sites(w)["epoll_create"] != sites(w)["eventfd"])
            // The same, asked for this worker alone.
            let (one, alone) = try snapshot(s.name, pid: w.pid)
            #expect(!one.stdout.contains("(no stack)"), "\(one.stdout)")
            let a = try #require(alone?.processes.first)
            #expect(alone?.processes.count == 1 && a.pid == w.pid)
            #expect(sites(a) == sites(w))
        }
        // At exit (SIGTERM to the master, which stops its workers): the same sites.
        kill(s.pid, SIGTERM)
        s.finish()
        stopped = true
        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        for w in workers {
            let e = try #require(report.processes.last { $0.pid == w.pid })
            #expect(e.ended == .exited && e.exitStatus == 0)
            expectAccounted(e)
            // A channel a worker received from the master (recvmsg) may be
            // closed again before the worker exits; the sites it opened stay.
            #expect(sites(e).filter { $0.key != "recvmsg" } == sites(w).filter { $0.key != "recvmsg" })
            #expect(e.command == ["nginx: worker process"])
        }
        // The master as it exited: its title, not the argv it started with.
        #expect(report.processes.last { $0.pid == s.pid }?.command == [nginx.masterTitle])
        let text = TextRenderer().render(report)
        #expect(text.contains("fdtrace: \(shown) (pid \(s.pid)) exited 0 after "), "\(text)")
        #expect(text.contains("fdtrace: nginx: worker process (pid \(workers[0].pid), parent \(s.pid)) exited 0 after "))
    }

    /// nginx with `daemon on`: the program (the first nginx) exits at once,
    /// its daemon and workers outlive it and the wait. The report says so
    /// plainly, with how long each had run, named as each shows itself:
    /// under `fdtrace run --wait 1` and bare with FDTRACE_WAIT=1.
    @Test("nginx daemon: still running after the wait, it outlived the program, real durations")
    func nginxDaemon() throws {
        guard NginxSetup.installed else {
            Issue.record("nginx is not installed (make setup installs nginx-light)")
            return
        }
        let nginx = try NginxSetup(daemon: true)
        defer { nginx.stop() }
        let json = scratch().appendingPathComponent("bare.json").path
        let bare =
            [
                "/usr/bin/env", "LD_PRELOAD=\(Paths.library)", "FDTRACE_WAIT=1", "FDTRACE_JSON=\(json)",
                "FDTRACE_SESSION_DIR=\(scratch().path)",
            ] + nginx.argv
        for (mode, wait) in [("run", "--wait 1 s"), ("bare", "FDTRACE_WAIT 1 s")] {
            let o: Outcome, report: Report
            if mode == "run" {
                (o, report) = try traceLeavingDaemon(nginx.argv, options: ["--wait", "1"])
            } else {
                o = try runLeavingDaemon(bare)
                report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
            }
            #expect(o.status == 0, "\(o.stderr)")
            let daemon = try #require(nginx.masterPID())
            let root = try #require(report.processes.first)
            #expect(root.ended == .exited && root.exitStatus == 0 && root.command == nginx.argv)
            let master = try #require(report.processes.first { $0.pid == daemon })
            #expect(master.ppid == root.pid && master.ended == .running)
            #expect(master.command == [nginx.masterTitle])
            #expect(master.durationSeconds >= 0.9 && master.durationSeconds < 30, "\(master.durationSeconds)")
            let note =
                "still running after \(wait): it outlived the program (a daemon: it started a session of its own); its descriptors are as they were when the wait ran out"
            #expect(master.notes == [note])
            #expect(Dictionary(master.leaks.map { ($0.call, $0.count) }) { $0 + $1 } == ["socketpair": 4])
            let workers = report.processes.filter { $0.ppid == daemon }
            #expect(workers.count == 2)
            for w in workers {
                #expect(w.ended == .running && w.command == ["nginx: worker process"])
                #expect(w.durationSeconds >= 0.8 && w.durationSeconds < 30, "\(w.durationSeconds)")
                #expect(w.notes == ["still running after \(wait): it outlived the program; its descriptors are as they were when the wait ran out"])
                #expect(w.leaks.allSatisfy { !$0.frames.isEmpty })
            }
            #expect(o.stderr.contains("(pid \(daemon), parent \(root.pid)) was still running after 1."), "\(o.stderr)")
            #expect(!o.stderr.contains("after 0.0 ms"))
            #expect(o.stderr.contains("  4 open descriptors from 1 site:\n"), "\(o.stderr)")
            #expect(o.stderr.contains("  note: \(note)\n"))
            nginx.stop()
        }
    }

    /// redis-server renames itself ("redis-server unixsocket:PATH", padded
    /// with NULs over its old arguments) and is a symlink to
    /// redis-check-rdb: it is labelled as it shows itself, and its frames
    /// are named redis-server, live and at exit (SIGTERM: a clean exit).
    @Test("redis-server: labelled as ps shows it, its frames named by the name it was started as")
    func redisLabels() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") else {
            Issue.record("redis-server is not installed (make setup installs redis-server)")
            return
        }
        let dir = scratch().path
        let sock = dir + "/redis.sock"
        let json = scratch().appendingPathComponent("exit.json").path
        let s = try RunningSession(name: "redis-\(getpid())", options: ["--json", json], env: Self.env) { _ in
            ["/bin/sh", "-c", "echo pid $$; exec redis-server --port 0 --unixsocket \(sock) --save '' --dir \(dir)"]
        }
        var stopped = false
        defer { if !stopped { kill(s.pid, SIGTERM); s.finish() } }
        let title = "redis-server unixsocket:\(sock)"
        let (o, live) = try snapshot(s.name, waitingFor: 1)
        #expect(o.status == 0, "\(o.stderr)")
        let p = try #require(live.processes.first)
        #expect(p.pid == s.pid && p.executable == "/usr/bin/redis-check-rdb" && p.startedAs == "redis-server")
        #expect(p.command == [title])
        #expect(o.stdout.hasPrefix("fdtrace: \(title) (pid \(s.pid)) running after "), "\(o.stdout)")
        #expect(!o.stdout.contains("''"))
        #expect(Dictionary(p.leaks.map { ($0.call, $0.count) }) { $0 + $1 } == ["pipe2": 2, "epoll_create": 1, "socket": 1])
        #expect(p.leaks.allSatisfy { $0.site?.module == "/usr/bin/redis-check-rdb" })
        #expect(o.stdout.contains("main                redis-server+0x"), "\(o.stdout)")
        #expect(!o.stdout.contains("redis-check-rdb"), "\(o.stdout)")
        kill(s.pid, SIGTERM)
        s.finish()
        stopped = true
        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        let e = try #require(report.processes.last { $0.pid == s.pid })
        expectAccounted(e)
        #expect(e.ended == .exited && e.exitStatus == 0)
        #expect(e.command == [title])
        #expect(Dictionary(e.leaks.map { ($0.call, $0.count) }) { $0 + $1 } == ["pipe2": 2, "epoll_create": 1])
        let text = TextRenderer().render(report)
        #expect(text.contains("fdtrace: \(title) (pid \(s.pid)) exited 0 after "), "\(text)")
        #expect(text.contains("→ anetPipe                  redis-server+0x"), "\(text)")
        #expect(!text.contains("redis-check-rdb"), "\(text)")
    }

    /// A Go server linked with cgo: the shim is loaded but Go's runtime makes
    /// its own system calls. Live and at exit the report says it is
    /// incomplete, lists what /proc shows as origin unknown with kind and
    /// state, never says "no leaks", and an exit 0 is not "killed by a signal".
    @Test("Go program: incomplete, the /proc view as origin unknown, never \"no leaks\"")
    func goProgram() throws {
        let exe = try Fixture.buildGo("go_server")
        let json = scratch().appendingPathComponent("exit.json").path
        // The shim alone (as root `fdtrace run` would pick the kernel source).
        let s = try RunningSession(name: "go-\(getpid())", options: ["--source", "shim", "--json", json], env: Self.env) {
            [exe, $0, "6"]
        }
        let live = scratch().appendingPathComponent("live.json").path
        let q = try run([Paths.fdtrace, "snapshot", "--name", s.name, "--json", live], env: Self.env)
        let kernel = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(s.pid)/fd").compactMap { Int32($0) })
        s.finish()
        #expect(s.process.terminationStatus == 0)
        #expect(q.status == 0, "\(q.stderr)")
        #expect(!q.stdout.contains("no leaks:"), "\(q.stdout)")
        #expect(q.stdout.contains("incomplete: a Go program"), "\(q.stdout)")

        func closeWait(_ p: ProcessReport) -> Int {
            p.unknownOrigin.filter { $0.protocol == "TCP" && $0.state == "CLOSE_WAIT" }.count
        }
        func hostname(_ p: ProcessReport) -> Int { p.unknownOrigin.filter { $0.path == "/etc/hostname" }.count }
        let snapshot = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: live)))
        let lp = try #require(snapshot.processes.first { $0.pid == s.pid })
        #expect(lp.incomplete != nil)
        #expect(reportedFDs(lp).union(lp.unknownOrigin.map(\.fd)) == kernel)
        #expect(closeWait(lp) == 6 && hostname(lp) == 6, "\(lp.unknownOrigin)")
        #expect(lp.unknownOrigin.filter { $0.state == "LISTEN" }.count == 1)
        #expect(lp.internalErrors.isEmpty)

        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        let p = try #require(report.processes.first { $0.pid == s.pid })
        #expect(p.exitStatus == 0 && p.ended == .exited)
        #expect(p.incomplete != nil)
        #expect(closeWait(p) == 6 && hostname(p) == 6, "\(p.unknownOrigin)")
        #expect(p.internalErrors.isEmpty)
        let text = TextRenderer().render(report)
        #expect(!text.contains("no leaks:") && !text.contains("killed by a signal"), "\(text)")
        #expect(text.contains("a raw exit_group"), "\(text)")
    }
}

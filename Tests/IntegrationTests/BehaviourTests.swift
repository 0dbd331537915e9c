import FDTraceCore
import Foundation
import Testing

/// The traced program behaves as untraced, and the report is exact.
@Suite struct BehaviourTests {
    @Test func threadsWithHeavyReuseMatchTheKernel() throws {
        let exe = try Fixture.build("threads.c")
        let (o, report) = try trace([exe])
        #expect(o.status == 0)
        #expect(o.stdout == "done\n")
        let p = try #require(report.process(exe))
        expectAccounted(p)
        #expect(siteCounts(p) == (try expectedSites("threads.c", k: 24)))
        // 100 000 open/close pairs and 8 × 3 leaks, every event accounted.
        #expect(p.events.opens >= 100_000 + 24)
        #expect(p.events.closesOfUnknownDescriptors == 0)
        #expect(p.events.opensOverOpenDescriptors == 0)
        #expect(p.events.recordsLost == 0)
    }

    @Test func lowDescriptorReuseBehavesAsUntraced() throws {
        let exe = try Fixture.build("reuse_low_fds.c")
        let plain = try run([exe])
        let (traced, report) = try trace([exe], options: ["--output", "/dev/null"])
        #expect(plain.status == 0)
        #expect(traced.status == plain.status)
        #expect(traced.stdout == plain.stdout)
        #expect(traced.stderr == plain.stderr)
        let p = try #require(report.process(exe))
        expectAccounted(p)
        #expect(p.leaks.isEmpty)
    }

    @Test func inheritedDescriptorsAreNotLeaks() throws {
        let exe = try Fixture.build("exit_status.c")
        let dir = scratch()
        let json = dir.appendingPathComponent("r.json").path
        // The shell opens 5 and 6 and passes them on through fdtrace.
        let o = try run(["/bin/sh", "-c", "exec 5</etc/hostname 6</etc/passwd; exec \"$0\" run --json \(json) -- \(exe)", Paths.fdtrace])
        #expect(o.status == 0)
        let report = try JSONRenderer.decode(try Data(contentsOf: URL(fileURLWithPath: json)))
        let p = try #require(report.process(exe))
        expectAccounted(p)
        let inherited = Dictionary(uniqueKeysWithValues: p.inherited.map { ($0.fd, $0.path) })
        #expect(inherited[5] == "/etc/hostname")
        #expect(inherited[6] == "/etc/passwd")
        #expect(p.standard.map(\.fd) == [0, 1, 2])
        #expect(p.leakedDescriptors == 1)
        #expect(!p.leaks.flatMap(\.fds).contains { $0.fd == 5 || $0.fd == 6 })
    }

    @Test func cxxExceptionsBehaveAsUntraced() throws {
        let exe = try Fixture.build("exceptions.cpp")
        let plain = try run([exe])
        let (traced, report) = try trace([exe])
        #expect(plain.stdout == "caught int 42\ncaught 100, kept 300\n")
        #expect(traced.stdout == plain.stdout)
        #expect(traced.status == 0)
        let p = try #require(report.process(exe))
        expectAccounted(p)
        // keep.resize(3) closed all but three of the 300 kept streams.
        #expect(siteCounts(p).values.reduce(0, +) == 3)
        let line = try #require(try Fixture.leakLines("exceptions.cpp")["cpp"]?.first)
        #expect(p.leaks.contains { g in g.frames.contains { $0.line == line && $0.file?.hasSuffix("exceptions.cpp") == true } })
        #expect(p.leaks.first?.frames.contains { $0.function?.contains("depth_throw(int, std::vector<std::basic_ifstream") == true } == true)
    }

    @Test func errnoIsKeptByEveryHook() throws {
        let exe = try Fixture.build("errno_check.c")
        let plain = try run([exe])
        let (traced, _) = try trace([exe])
        #expect(plain.stdout.contains("errno=2"))
        #expect(traced.stdout == plain.stdout)
    }

    @Test(arguments: [("exit0", 0), ("exit3", 3), ("_exit5", 5), ("sigterm", 143), ("sigkill", 137), ("sigpipe", 141)])
    func exitStatusIsTheProgramsOwn(how: String, status: Int32) throws {
        let exe = try Fixture.build("exit_status.c")
        let (o, report) = try trace([exe, how])
        #expect(o.status == status)
        let p = try #require(report.process(exe))
        #expect(p.leakedDescriptors == (how == "sigpipe" ? 2 : 1))
        if status >= 128 {
            #expect(p.signal == status - 128)
            #expect(p.ended == .killed)
        } else {
            #expect(p.exitStatus == status)
            expectAccounted(p)
        }
        if how == "sigkill" { #expect(p.reconciliation == .unreconciled) }
    }

    @Test func failOnLeak() throws {
        let exe = try Fixture.build("exit_status.c")
        let leaky = try run([Paths.fdtrace, "run", "--fail-on-leak", "--", exe])
        #expect(leaky.status == 99)
        let clean = try run([Paths.fdtrace, "run", "--fail-on-leak", "--", exe, "clean"])
        #expect(clean.status == 0)
        #expect(clean.stderr.contains("no leaks"))
        let failing = try run([Paths.fdtrace, "run", "--fail-on-leak", "--", exe, "exit3"])
        #expect(failing.status == 3)
    }

    @Test func unreachableCollectorLeavesTheProgramAlone() throws {
        let exe = try Fixture.build("reuse_low_fds.c")
        let plain = try run([exe])
        let o = try run([exe], env: preloadedEnv(["FDTRACE_SOCKET": "/nonexistent/fdtrace.sock"]))
        #expect(o.status == plain.status)
        #expect(o.stdout == plain.stdout)
        let lines = o.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("fdtrace: cannot reach the collector") == true)
        // Once per session, not once per process: a loop of 20 children.
        let sock = "/nonexistent/fdtrace-\(UUID().uuidString.prefix(8)).sock"
        let loop = try run(
            ["/bin/bash", "-c", "for i in $(seq 20); do /bin/true; done; echo done"],
            env: preloadedEnv(["FDTRACE_SOCKET": sock]))
        #expect(loop.stdout == "done\n")
        #expect(loop.stderr.split(separator: "\n").count == 1, "stderr: \(loop.stderr)")
    }

    @Test func textReportNamesTheSites() throws {
        let exe = try Fixture.build("exit_status.c")
        let o = try run([Paths.fdtrace, "run", "--", exe])
        let line = try #require(try Fixture.leakLines("exit_status.c")["open"]?.first)
        #expect(o.stderr.contains("fdtrace: \(exe) (pid "))
        #expect(o.stderr.contains("1 × file /etc/hostname    open"))
        #expect(o.stderr.contains("→ main   exit_status.c:\(line)"))
    }

    @Test func textReportToFile() throws {
        let exe = try Fixture.build("exit_status.c")
        let dir = scratch()
        let out = dir.appendingPathComponent("report.txt").path
        let o = try run([Paths.fdtrace, "run", "--output", out, "--", exe])
        #expect(o.status == 0)
        #expect(!o.stderr.contains("fdtrace:"))
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.contains("1 × file /etc/hostname"))
        var st = stat()
        #expect(stat(out, &st) == 0 && st.st_mode & 0o002 == 0)
    }
}

/// Usage errors: one clear line, a documented status, the program not run.
@Suite struct UsageTests {
    @Test(arguments: [
        (["run"], Int32(64), "no command given"),
        (["run", "--depth", "0", "--", "true"], 64, "--depth"),
        (["run", "--bogus", "--", "true"], 64, "unknown option '--bogus'"),
        (["run", "--wait"], 64, "missing value for '--wait <SECONDS>'"),
        (["run", "--wait", "abc", "--", "true"], 64, "the value 'abc' is invalid for '--wait <SECONDS>'"),
        (["run", "--snapshot-dir", "/tmp", "--snapshot-at", "xyz", "--", "true"], 64, "--snapshot-at must be a count"),
        (["frobnicate"], 64, "frobnicate"),
        (["--bogus"], 64, "unknown option '--bogus'"),
        (["snapshot", "--pid", "x"], 64, "the value 'x' is invalid for '--pid <pid>'"),
        (["snapshot", "--pid=0"], 64, "--pid must be a process id"),
        (["watch"], 64, "missing expected argument '--pid <pid>'"),
        (["top", "--interval", "0"], 64, "--interval must be from"),
        (["run", "--", "/nonexistent/program"], 127, "/nonexistent/program: no such file"),
        (["run", "--", "no-such-command-fdtrace"], 127, "command not found"),
        (["run", "--", "/etc/hostname"], 126, "/etc/hostname: cannot execute"),
        (["run", "--output", "/nonexistent/dir/r.txt", "--", "true"], 70, "cannot write /nonexistent/dir/r.txt"),
        (["run", "--output", "/dev/full", "--", "true"], 70, "cannot write /dev/full: No space left on device"),
    ])
    func usageError(args: [String], status: Int32, message: String) throws {
        let o = try run([Paths.fdtrace] + args)
        #expect(o.status == status)
        let lines = o.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("fdtrace: ") && lines[0].contains(message), "stderr: \(o.stderr)")
        #expect(o.stdout.isEmpty)
    }

    @Test(
        "Help on stdout, status 0: for fdtrace and each command, as --help or `help CMD`",
        arguments: [
            (["--help"], "fdtrace <subcommand>"),
            (["help"], "fdtrace <subcommand>"),
            (["run", "--help"], "fdtrace run [<options>]"),
            (["run", "-h"], "fdtrace run [<options>]"),
            (["run", "--json", "r.json", "--help"], "fdtrace run [<options>]"),
            (["help", "run"], "fdtrace run [<options>]"),
            (["snapshot", "--help"], "fdtrace snapshot"),
            (["top", "--help"], "fdtrace top"),
            (["watch", "--help"], "fdtrace watch"),
            (["help", "watch"], "fdtrace watch"),
        ])
    func help(args: [String], usage: String) throws {
        let o = try run([Paths.fdtrace] + args)
        #expect(o.status == 0)
        #expect(o.stderr.isEmpty, "\(o.stderr)")
        #expect(o.stdout.contains("USAGE: \(usage)"), "\(o.stdout)")
    }

    @Test("--version: the version and the commit it was built from, on stdout, status 0")
    func version() throws {
        let o = try run([Paths.fdtrace, "--version"])
        #expect(o.status == 0)
        #expect(o.stderr.isEmpty, "\(o.stderr)")
        #expect(o.stdout == "fdtrace \(BuildInfo.version) (commit \(BuildInfo.commit))\n", "\(o.stdout)")
        // A hash as make writes it (-dirty: tracked files differed), or a plain swift build's "unknown".
        #expect(BuildInfo.commit.wholeMatch(of: /[0-9a-f]{7,40}(-dirty)?|unknown/) != nil, "\(BuildInfo.commit)")
    }

    @Test("No option's help states its default twice", arguments: ["run", "snapshot", "top", "watch", "collect", "bench-collector"])
    func eachDefaultStatedOnce(command: String) throws {
        let o = try run([Paths.fdtrace, command, "--help"])
        #expect(o.status == 0)
        // One entry per option: its first line starts "  -", wrapped lines are indented further.
        var entries: [String] = []
        for line in o.stdout.split(separator: "\n").drop(while: { $0 != "OPTIONS:" }).dropFirst() {
            if line.hasPrefix("  -") { entries.append(String(line)) } else if !entries.isEmpty { entries[entries.count - 1] += " " + line }
        }
        #expect(entries.count >= 2, "\(o.stdout)")
        for entry in entries {
            #expect(entry.lowercased().components(separatedBy: "default").count - 1 <= 1, "\(entry)")
        }
    }

    @Test("After --, --help is the program's")
    func helpAfterTheTerminatorIsTheProgramsArgument() throws {
        let o = try run([Paths.fdtrace, "run", "--output", "/dev/null", "--", "/bin/sh", "-c", "echo \"$1\"", "sh", "--help"])
        #expect(o.status == 0)
        #expect(o.stdout == "--help\n")
        #expect(o.stderr.isEmpty, "\(o.stderr)")
    }
}

/// What the preloaded library brings into every traced process.
@Suite struct LibraryShapeTests {
    @Test func needsOnlyLibc() throws {
        let o = try run(["readelf", "-d", Paths.library])
        let needed = o.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
            .compactMap { $0.split(separator: "[").last?.dropLast() }.map(String.init)
        #expect(needed == ["libc.so.6"])
    }

    @Test func exportsOnlyTheHooks() throws {
        let o = try run(["nm", "-D", "--defined-only", Paths.library])
        let names = Set(o.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        let hooks: Set<String> = [
            "open", "open64", "openat", "openat64", "creat", "creat64", "__open_2", "__open64_2",
            "__openat_2", "__openat64_2", "socket", "socketpair", "accept", "accept4", "recvmsg", "recvmmsg", "pipe",
            "pipe2", "dup", "dup2", "dup3", "fcntl", "fcntl64", "ioctl", "epoll_create", "epoll_create1", "eventfd",
            "signalfd", "timerfd_create", "inotify_init", "inotify_init1", "fanotify_init", "memfd_create",
            "pidfd_open", "pidfd_getfd", "shm_open", "mq_open", "posix_openpt", "getpt", "openpty", "forkpty",
            "close", "close_range", "closefrom", "fopen", "fopen64", "freopen", "freopen64", "fclose", "tmpfile",
            "tmpfile64", "mkstemp", "mkstemp64", "mkostemp", "mkostemp64", "mkstemps", "mkstemps64", "mkostemps",
            "mkostemps64", "opendir", "closedir", "popen", "pclose", "_exit", "_Exit", "_Fork", "vfork", "exit", "fork", "__libc_start_main", "clone",
            "syscall",
            // A fork child not connected yet connects before it leaves its namespaces.
            "unshare", "setns",
            // Watched, passed through (hooks_signal.c).
            "sigaction", "__sigaction", "signal", "bsd_signal", "ssignal", "sysv_signal", "__sysv_signal", "sigset",
            // The program's own API (fdtrace_api.h).
            "fdtrace_scope_begin", "fdtrace_scope_report", "fdtrace_scope_end",
        ]
        #expect(names.isSubset(of: hooks), "unexpected exports: \(names.subtracting(hooks))")
        #expect(!names.contains { $0.hasPrefix("_Unwind") })
    }
}

/// The tracer keeps no descriptor in the program (the handshake socket is
/// closed, libunwind's private pipe is emulated).
@Suite struct OwnDescriptorTests {
    @Test func programSeesItsOwnNumbers() throws {
        let exe = try Fixture.build("own_fds.c")
        let plain = try run([exe])
        let (traced, report) = try trace([exe])
        // Test runner threads may leak a descriptor into a child now and
        // then: compare the numbers the program got, not the whole table.
        let firstLine = { (s: String) in s.split(separator: "\n").first.map(String.init) }
        #expect(firstLine(traced.stdout) == firstLine(plain.stdout))
        #expect(firstLine(traced.stdout) == "first free numbers: 3 4 5")
        let p = try #require(report.process(exe))
        expectAccounted(p)
        #expect(p.leaks.isEmpty)
    }

    /// The exit view names a pipe's and a socket's links from their inode
    /// (pipefs, sockfs) without reading them; a named FIFO and an O_PATH
    /// descriptor of a socket file are read: each is reported as what it is.
    @Test func exitViewNamesAnonymousAndNamedAlike() throws {
        let exe = try Fixture.build("anon_links.c")
        let dir = scratch()
        let (o, report) = try trace([exe, dir.path])
        #expect(o.status == 0, "\(o.stderr)")
        let links = Dictionary(
            uniqueKeysWithValues: o.stdout.split(separator: "\n").map { l in
                (Int32(l.split(separator: " ")[0]) ?? -1, String(l.split(separator: " ", maxSplits: 1)[1]))
            })
        let p = try #require(report.processes.first { $0.executable == exe })
        expectAccounted(p)
        let fds = Dictionary(uniqueKeysWithValues: p.leaks.flatMap(\.fds).map { ($0.fd, $0) })
        let fifo = dir.appendingPathComponent("fifo").path
        #expect(links[3]?.hasPrefix("pipe:[") == true && links[5]?.hasPrefix("socket:[") == true, "\(links)")
        #expect(fds[3]?.kind == .pipe && fds[4]?.kind == .pipe, "\(fds)")
        #expect(fds[5]?.kind == .socket && fds[6]?.kind == .socket && fds[5]?.protocol == "unix stream")
        #expect(links[7] == fifo && fds[7]?.kind == .fifo && fds[7]?.path == fifo, "\(String(describing: fds[7]))")
        #expect(fds[8]?.kind == .socket)
        #expect(links[9] == dir.appendingPathComponent("sock").path, "\(links)")
        // The O_PATH descriptor of the socket's file: its path, not a socket's addresses.
        #expect(fds[9]?.kind == .socket && fds[9]?.path == links[9] && fds[9]?.protocol == nil, "\(String(describing: fds[9]))")
        #expect(p.leaks.contains { $0.summary == "socket file \(links[9] ?? "")" }, "\(p.leaks.map(\.summary))")
        #expect(fds.count == 7, "\(fds.keys.sorted())")
    }

    /// Between calls the tracer holds no descriptor: the program's view of
    /// its table is the untraced one at any limit (started at 16, or
    /// lowered by the program itself), in fork children too.
    @Test(arguments: ["default", "start at 16", "lower to 12", "lower to 1024"])
    func tableIsTheUntracedOne(limit: String) throws {
        let exe = try Fixture.build("fd_view.c")
        let lower = limit.hasPrefix("lower") ? String(limit.split(separator: " ").last!) : "0"
        let argv = limit == "start at 16" ? ["/bin/bash", "-c", "ulimit -n 16 && exec \(exe) 0"] : [exe, lower]
        let plain = try run(argv)
        let (traced, report) = try trace(argv)
        #expect(traced.status == 0)
        #expect(traced.stdout == plain.stdout)
        #expect(traced.stdout.contains("start: 0 1 2\nnew: 3 4 5\nafter opens: 0 1 2 3 4 5\nfork child: 0 1 2 3 4 5\n"))
        // The parent (the fork child is the last image of exe).
        let p = try #require(report.processes.first { $0.executable == exe })
        expectAccounted(p)
        // Left open: the file, the pipe, and every /dev/null up to EMFILE but one.
        let more = traced.stdout.split(separator: "\n").first { $0.hasPrefix("opened until EMFILE: ") }
            .flatMap { Int($0.split(separator: " ")[3]) }
        let expectedMore = ["start at 16": 10, "lower to 12": 6, "lower to 1024": 1018][limit]
        if let expectedMore { #expect(more == expectedMore) }
        #expect(p.leakedDescriptors == (more ?? -1) + 3 - 1)
    }
}

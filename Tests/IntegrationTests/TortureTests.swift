import FDTraceCore
import Foundation
import Testing

/// Never harm the traced program: each case runs untraced and traced, and
/// stdout, exit status and stderr (the tracer's own lines apart) must match;
/// the tracer's table must equal the kernel's at exit.
@Suite struct TortureTests {
    /// Runs argv untraced and under fdtrace (report to a file); returns both.
    func both(_ argv: [String], env: [String: String]? = nil, options: [String] = []) throws -> (Outcome, Outcome, Report) {
        let plain = try run(argv, env: env)
        let (traced, report) = try trace(argv, options: ["--output", "/dev/null"] + options, env: env)
        #expect(traced.stdout == plain.stdout)
        #expect(traced.status == plain.status)
        #expect(traced.stderr == plain.stderr)
        return (plain, traced, report)
    }

    func expectAllAccounted(_ report: Report, sourceLocation: SourceLocation = #_sourceLocation) {
        for p in report.processes where p.ended != .exec {
            expectAccounted(p, sourceLocation: sourceLocation)
        }
    }

    @Test func sixteenThreadsWithReuse() throws {
        let exe = try Fixture.build("torture_threads.c")
        let (plain, _, report) = try both([exe])
        #expect(plain.stdout == "rounds ok: 64000 of 64000\n")
        expectAllAccounted(report)
        #expect(report.processes.first?.leaks.isEmpty == true)
        #expect(report.processes.first?.events.closesOfUnknownDescriptors == 0)
    }

    @Test func posixSpawnAndVfork() throws {
        let exe = try Fixture.build("torture_spawn.c")
        let (plain, _, report) = try both([exe])
        #expect(plain.stdout == "children ok: 20 of 20, parent still has its file: yes\n")
        expectAllAccounted(report)
        let parent = try #require(report.processes.first)
        #expect(siteCounts(parent) == (try expectedSites("torture_spawn.c", k: 1)))
        // posix_spawn's children got fd 5 from a file action, not a leak.
        #expect(report.processes.filter { $0.command.first == "true" }.count == 20)
        #expect(report.processes.allSatisfy { $0.inheritedLeaks.isEmpty })
    }

    @Test func daemonClosingEverything() throws {
        let exe = try Fixture.build("torture_daemon.c")
        let dir = scratch()
        let out1 = dir.appendingPathComponent("plain.txt").path, out2 = dir.appendingPathComponent("traced.txt").path
        let plain = try run([exe, out1])
        let (traced, report) = try trace([exe, out2], options: ["--output", "/dev/null"])
        #expect(plain.stdout == "parent done\n" && traced.stdout == plain.stdout && traced.status == 0)
        // The daemon outlives its parent: wait for its file like a user would.
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: out1) { usleep(10_000) }
        #expect(try String(contentsOfFile: out2, encoding: .utf8) == (try String(contentsOfFile: out1, encoding: .utf8)))
        #expect(try String(contentsOfFile: out2, encoding: .utf8) == "daemon opened 1000 files\n")
        let line = try #require(try Fixture.leakLines("torture_daemon.c")["daemon"]?.first)
        let daemon = try #require(report.processes.first { p in p.leaks.contains { $0.site?.line == line } })
        expectAccounted(daemon)
        #expect(siteCounts(daemon) == ["torture_daemon.c:\(line) open": 1])
        expectAllAccounted(report)
    }

    @Test func closeFromSignalHandlers() throws {
        let exe = try Fixture.build("torture_signals.c")
        let (plain, _, report) = try both([exe])
        #expect(plain.stdout == "rounds ok: 100000, handler ran: yes\n")
        expectAllAccounted(report)
        #expect(report.processes.first?.leaks.isEmpty == true)
    }

    /// signal, sigaction, sysv_signal, bsd_signal, sigset (watched by the
    /// shim, which loads its unwinders before the first handler): every call
    /// returns what it returns untraced, and the 200 opens and closes the
    /// handlers make are all recorded.
    @Test func signalHandlersInstalledEveryWay() throws {
        let exe = try Fixture.build("signal_hooks.c")
        let (plain, _, report) = try both([exe])
        #expect(
            plain.stdout == """
                signal: was default
                signal: was handler
                sigaction: was handler
                sigaction query: other
                sysv_signal: was default
                bsd_signal: was default
                sigset: was handler
                signal(SIG_IGN): was default
                sigaction(-1): -1
                ran: 50 50 50 50

                """)
        expectAllAccounted(report)
        let p = try #require(report.processes.first)
        #expect(p.leaks.isEmpty)
        #expect(p.events.opens == 200 && p.events.closes == 200, "\(p.events)")
    }

    @Test func collectorKilledMidRun() throws {
        let exe = try Fixture.build("torture_kill_collector.c")
        let plain = try run([exe])
        let traced = try run([exe], env: preloadedEnv())
        #expect(plain.stdout == "killed 0 collector(s), opened 100000 files\n")
        #expect(traced.stdout == "killed 1 collector(s), opened 100000 files\n")
        #expect(traced.status == plain.status)
        let lines = traced.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("fdtrace: ") == true)
    }

    @Test func programKilledMidRunIsStillReported() throws {
        let exe = try Fixture.build("exit_status.c")
        let (o, report) = try trace([exe, "sigkill"])
        #expect(o.status == 137)
        let p = try #require(report.process(exe))
        #expect(p.reconciliation == .unreconciled)
        #expect(p.leakedDescriptors == 1)
        #expect(p.notes.contains { $0.hasPrefix("unreconciled") })
    }

    @Test func execChains() throws {
        let exe = try Fixture.build("exec_inherit.c")
        // sh -c, env, a failing exec, then exec of sleep: as untraced.
        let (_, _, report) = try both(["/bin/sh", "-c", "exec /usr/bin/env \(exe) no-such-program-fdtrace"])
        expectAllAccounted(report)
        #expect(report.processes.last?.command.first == "sleep")
        #expect(report.processes.last?.inheritedLeaks.first?.count == 1)
    }

    @Test func exhaustingDescriptors() throws {
        let exe = try Fixture.build("torture_emfile.c")
        // The program lowers its own limit: no loss.
        let (plain, _, _) = try both([exe, "64"])
        #expect(plain.stdout == "opened 61 before EMFILE\n")
        // Started with a limit of 64 (soft = hard): the tracer holds nothing,
        // so the program meets EMFILE exactly when it does untraced, and the
        // kernel's view at exit is read with the table full.
        let cmd = ["/bin/sh", "-c", "ulimit -n 64; exec \(exe)"]
        let low = try run(cmd)
        let (tracedLow, reportLow) = try trace(cmd, options: ["--output", "/dev/null"])
        #expect(low.stdout == "opened 61 before EMFILE\n")
        #expect(tracedLow.stdout == "opened 61 before EMFILE\n")
        let p = try #require(reportLow.process(exe))
        expectAccounted(p)
        #expect(p.leakedDescriptors == 61)
    }

    @Test func setuidProgramsAreReportedAsUntraced() throws {
        // Root keeps LD_PRELOAD for setuid programs: run as another uid a
        // program that is setuid to root.
        let dir = URL(fileURLWithPath: "/tmp/fdtrace-setuid-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        chmod(dir.path, 0o755)
        let exe = dir.appendingPathComponent("suid").path
        #expect(try run(["cc", Paths.fixtures.appendingPathComponent("exit_status.c").path, "-o", exe]).status == 0)
        chmod(exe, 0o4755)
        let fdtraceCopy = dir.appendingPathComponent("fdtrace").path, libCopy = dir.appendingPathComponent("libfdtrace.so").path
        try FileManager.default.copyItem(atPath: Paths.fdtrace, toPath: fdtraceCopy)
        try FileManager.default.copyItem(atPath: Paths.library, toPath: libCopy)
        let o = try run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", fdtraceCopy, "run", "--", exe, "exit3"])
        #expect(o.status == 3)
        #expect(o.stderr.contains("is setuid/setgid: the loader ignores LD_PRELOAD for it, so it was not traced"))
    }
}

/// Sessions are private; hostile peers are refused; their streams cannot
/// take the collector down.
@Suite struct SecurityTests {
    @Test func intruderFromAnotherUidIsRefused() throws {
        let victim = try Fixture.build("victim.c")
        let dir = URL(fileURLWithPath: "/tmp/fdtrace-intruder-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        chmod(dir.path, 0o755)
        let intruder = dir.appendingPathComponent("intruder").path
        let inc = Paths.root.appendingPathComponent("CShim/include").path
        #expect(try run(["cc", "-I", inc, Paths.fixtures.appendingPathComponent("intruder.c").path, "-o", intruder]).status == 0)
        let nameFile = dir.appendingPathComponent("socket").path, flag = dir.appendingPathComponent("go").path
        let json = dir.appendingPathComponent("r.json").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Paths.fdtrace)
        p.arguments = ["run", "--json", json, "--output", "/dev/null", "--", victim, nameFile, flag]
        try p.run()
        for _ in 0..<500 where (try? String(contentsOfFile: nameFile, encoding: .utf8))?.hasPrefix("@") != true { usleep(10_000) }
        let name = try String(contentsOfFile: nameFile, encoding: .utf8)
        let o = try run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", intruder, name])
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        p.waitUntilExit()
        #expect(o.stdout == "refused\n")
        let report = try JSONRenderer.decode(try Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(report.notes.contains { $0.contains("refused a connection from uid 65534") })
        let v = try #require(report.process(victim))
        expectAccounted(v)
        #expect(v.leakedDescriptors == 1)
    }

    @Test func hostileStreamsEndOnlyTheirConnection() throws {
        let hostile = try Fixture.build("hostile.c", flags: ["-I", Paths.root.appendingPathComponent("CShim/include").path])
        let legit = try Fixture.build("open_family.c")
        let (o, report) = try trace(["/bin/sh", "-c", "\(hostile) && \(legit)"])
        #expect(o.status == 0)
        #expect(
            o.stdout == """
                garbage hello: refused
                malformed records: accepted, then disconnected
                forged pid: refused
                silence: disconnected

                """)
        #expect(report.notes.contains { $0.contains("no valid hello") })
        #expect(report.notes.contains { $0.contains("claims pid 1") })
        #expect(report.notes.contains { $0.contains("no hello within 2 s") })
        #expect(report.processes.contains { $0.notes.contains { $0.contains("unknown record type") } })
        let p = try #require(report.process(legit))
        expectAccounted(p)
        #expect(siteCounts(p) == (try expectedSites("open_family.c", k: 3)))
    }

    @Test func reportsDoNotFollowPlantedSymlinks() throws {
        let dir = scratch()
        let target = dir.appendingPathComponent("victim.txt"), link = dir.appendingPathComponent("report.txt")
        try "precious\n".write(to: target, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        let o = try run([Paths.fdtrace, "run", "--output", link.path, "--", "true"])
        #expect(o.status == 70)
        #expect(o.stderr.contains("cannot write \(link.path)"))
        #expect(try String(contentsOf: target, encoding: .utf8) == "precious\n")
    }
}

/// FDTRACE_* variables with bad values: one clear line, the program runs
/// untraced and unharmed.
@Suite struct EnvironmentTests {
    func check(_ vars: [String: String], message: String) throws {
        let exe = try Fixture.build("reuse_low_fds.c")
        let plain = try run([exe])
        let o = try run([exe], env: preloadedEnv(vars))
        #expect(o.status == plain.status)
        #expect(o.stdout == plain.stdout)
        let lines = o.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(o.stderr)")
        #expect(lines.first?.hasPrefix("fdtrace: ") == true)
        #expect(o.stderr.contains(message), "stderr: \(o.stderr)")
    }

    @Test func negativeDepth() throws { try check(["FDTRACE_DEPTH": "-1"], message: "FDTRACE_DEPTH") }
    @Test func depthNotANumber() throws { try check(["FDTRACE_DEPTH": "deep"], message: "FDTRACE_DEPTH") }

    @Test func socketPathIsARegularFile() throws {
        let f = scratch().appendingPathComponent("not-a-socket")
        try "x".write(to: f, atomically: true, encoding: .utf8)
        try check(["FDTRACE_SOCKET": f.path], message: "cannot reach the collector")
    }

    @Test func unwritableOutputDirectory() throws {
        try check(["FDTRACE_OUTPUT": "/nonexistent/dir/report.txt"], message: "cannot write the report to /nonexistent/dir/report.txt")
        try check(["FDTRACE_JSON": "/etc/hostname/report.json"], message: "cannot write the report to /etc/hostname/report.json")
    }
}

/// A traced server may drop privileges: its programs of another uid are
/// still part of the traced tree and are traced.
@Suite struct PrivilegeDropTests {
    @Test func workerOfAnotherUidIsTraced() throws {
        let exe = try Fixture.build("drop_privileges.c")
        let (o, report) = try trace([exe])
        #expect(o.stdout == "worker exited 0\n")
        #expect(!report.notes.contains { $0.contains("refused") })
        let worker = try #require(report.processes.first { $0.command.first == "true" })
        #expect(worker.reconciliation == .complete)
        #expect(worker.exitStatus == 0)
    }
}

/// No library is loaded inside a signal handler: libunwind waits for an
/// unwind seen to run outside any (a handler may have interrupted code
/// holding malloc's or the loader's lock).
@Suite struct UnwinderLoadTests {
    @Test func libunwindIsNotLoadedInsideAHandler() throws {
        let exe = try Fixture.build("unwind_in_handler.c")
        let (o, report) = try trace([exe])
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout == "after the handler: libunwind not loaded\nafter the program's own calls: libunwind loaded\n")
        let p = try #require(report.processes.first { $0.executable == exe })
        expectAccounted(p)
        #expect(p.leaks.isEmpty && p.events.opens == 81 && p.events.closes == 81)
    }
}

/// The tracer leaves the program's heap alone: a program that never calls
/// malloc holds no heap traced either (the Python probe's failed dlsym()
/// used to set malloc's arena up in every process, 132 KiB of heap).
@Suite struct ProgramHeapTests {
    @Test func aProgramWithoutMallocHoldsNoHeapTraced() throws {
        let exe = try Fixture.build("heap_untouched.c")
        let untraced = try run([exe])
        #expect(untraced.stdout == "heap 0, mapped blocks 0\n")
        let (o, report) = try trace([exe])
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout == untraced.stdout)
        let p = try #require(report.processes.first { $0.executable == exe })
        #expect(p.leaks.isEmpty && p.events.opens == 1 && p.events.closes == 1)
    }
}

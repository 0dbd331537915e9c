import FDTraceCore
import Foundation
import Testing

/// Snapshots written while the program runs (--snapshot-dir).
@Suite("Snapshots while the program runs")
struct SnapshotTests {
    func snapshots(_ dir: URL, reason: String) throws -> [Report] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("-\(reason)") && $0.hasSuffix(".json") }.sorted()
        return try names.map { try JSONRenderer.decode(Data(contentsOf: dir.appendingPathComponent($0))) }
    }

    @Test("EMFILE: the snapshot names the site holding the descriptors, taken before the program closed them")
    func emfile() throws {
        let exe = try Fixture.build("emfile_burst.c")
        let line = try Fixture.leakLines("emfile_burst.c")["socket"]![0]
        let dir = scratch()
        let (o, report) = try trace([exe], options: ["--snapshot-dir", dir.path])
        #expect(o.status == 0)
        #expect(report.processes.first?.leakedDescriptors == 0)
        let snaps = try snapshots(dir, reason: "EMFILE")
        #expect(snaps.count == 1)  // once per burst, though socket() failed 5 times
        let snap = try #require(snaps.first)
        #expect(snap.snapshot?.reason == .emfile)
        let p = try #require(snap.processes.first)
        #expect(p.ended == .running)
        #expect(p.rlimitSoft == 64)
        let g = try #require(p.leaks.first)
        #expect(g.site?.file?.hasSuffix("emfile_burst.c") == true && g.site?.line == line)
        #expect(g.count >= 55)
        #expect(g.fds.allSatisfy { $0.kind == .socket && $0.openedAt != nil })
        let text = try String(contentsOf: dir.appendingPathComponent("snapshot-001-EMFILE-\(p.pid).txt"), encoding: .utf8)
        #expect(text.contains("snapshot 1 (EMFILE in pid \(p.pid))"))
        #expect(text.contains("emfile_burst.c:\(line)"))
    }

    @Test("--snapshot-at N: once when the process crosses N")
    func threshold() throws {
        let exe = try Fixture.build("emfile_burst.c")
        let dir = scratch()
        let (o, _) = try trace([exe], options: ["--snapshot-dir", dir.path, "--snapshot-at", "40"])
        #expect(o.status == 0)
        let snaps = try snapshots(dir, reason: "threshold")
        #expect(snaps.count == 1)
        let open = snaps.first?.processes.first?.leaks.reduce(0) { $0 + $1.count } ?? 0
        #expect(open >= 35 && open <= 60, "\(open)")  // 40 including stdio and the inherited ones
        // A share of the soft limit: 50 % of 64.
        let dir2 = scratch()
        let (o2, _) = try trace(["/bin/bash", "-c", "ulimit -n 64; exec \(exe)"], options: ["--snapshot-dir", dir2.path, "--snapshot-at", "50%"])
        #expect(o2.status == 0)
        let pct = try snapshots(dir2, reason: "threshold")
        #expect(pct.count == 1)
        let n = pct.first?.processes.first?.openAtExit ?? 0
        #expect(n >= 32 && n <= 64, "\(n)")  // taken as the collector sees the crossing; the program goes on
    }

    @Test("--snapshot-every: growing counts over time")
    func periodic() throws {
        let exe = try Fixture.build("emfile_burst.c")
        let dir = scratch()
        let (o, _) = try trace([exe, "slow"], options: ["--snapshot-dir", dir.path, "--snapshot-every", "0.5"])
        #expect(o.status == 0)
        let counts = try snapshots(dir, reason: "periodic").map { $0.processes.first?.leaks.reduce(0) { $0 + $1.count } ?? 0 }
        #expect(counts.count >= 3, "\(counts)")
        #expect(counts.dropLast().filter { $0 > 0 } == counts.dropLast().filter { $0 > 0 }.sorted(), "\(counts)")
        #expect((counts.max() ?? 0) > (counts.first ?? 0))
    }

    @Test("Bad snapshot options: one line and a usage or tracer status")
    func badOptions() throws {
        let a = try run([Paths.fdtrace, "run", "--snapshot-at", "10", "--", "true"])
        #expect(a.status == 64)
        let b = try run([Paths.fdtrace, "run", "--snapshot-dir", "/tmp", "--snapshot-at", "lots", "--", "true"])
        #expect(b.status == 64)
        #expect(b.stderr.contains("--snapshot-at must be"))
        let file = scratch().appendingPathComponent("f")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let c = try run([Paths.fdtrace, "run", "--snapshot-dir", file.path, "--", "true"])
        #expect(c.status == 70)
        #expect(c.stderr == "fdtrace: --snapshot-dir \(file.path) is not a directory\n")
    }

    @Test("Growth: a site that keeps rising is flagged in the exit report with its rate")
    func growth() throws {
        let exe = try Fixture.build("slow_leak.c")
        let line = try Fixture.leakLines("slow_leak.c")["open"]![0]
        let (o, report) = try trace([exe])
        #expect(o.status == 0)
        let g = try #require(report.processes.first?.leaks.first)
        #expect(g.site?.line == line && g.count == 30)
        #expect(g.growing == true)
        let rate = try #require(g.growthPerSecond)
        #expect(rate > 5 && rate < 15, "\(rate)")
        #expect((g.growthSeconds ?? 0) >= 2)
        let text = TextRenderer().render(report)
        #expect(text.contains("grew during the run: slow_leak.c:\(line) +"))
        #expect(text.contains("[growing +"))
    }

    @Test("A traced server whose clients hung up: CLOSE_WAIT for exactly the leaked sockets")
    func closeWaitOfATracedServer() throws {
        let exe = try Fixture.build("leaky_accept.c")
        let lines = try Fixture.leakLines("leaky_accept.c")
        let (o, report) = try trace([exe])
        #expect(o.status == 0)
        let p = try #require(report.processes.first)
        expectAccounted(p)
        let accepted = try #require(p.leaks.first { $0.site?.line == lines["accept"]![0] })
        #expect(accepted.count == 6)
        #expect(accepted.fds.filter { $0.state == "CLOSE_WAIT" }.count == 5)
        #expect(accepted.fds.filter { $0.state == "ESTABLISHED" }.count == 1)
        #expect(accepted.summary.hasSuffix("5 CLOSE_WAIT, 1 ESTABLISHED"), "\(accepted.summary)")
        #expect(p.leaks.first { $0.site?.line == lines["socket-listener"]![0] }?.fds.first?.state == "LISTEN")
        #expect(p.leaks.first { $0.site?.line == lines["socket-client"]![0] }?.fds.map(\.state) == ["ESTABLISHED"])
    }
}

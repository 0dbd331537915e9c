import FDTraceCore
import Foundation
import Testing

/// Processes the shim cannot reach: /proc mode and static binaries.
@Suite struct InspectTests {
    @Test func snapshotOfAnUntracedProcessShowsCloseWait() throws {
        let exe = try Fixture.build("close_wait.c")
        let dir = scratch()
        let ready = dir.appendingPathComponent("ready").path, flag = dir.appendingPathComponent("go").path
        let json = dir.appendingPathComponent("snap.json").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [ready, flag]
        try p.run()
        defer { FileManager.default.createFile(atPath: flag, contents: nil); p.waitUntilExit() }
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: ready) { usleep(10_000) }
        let port = try #require(try String(contentsOfFile: ready, encoding: .utf8).split(separator: " ").last
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        let o = try run([Paths.fdtrace, "snapshot", "--pid", String(p.processIdentifier), "--json", json])
        #expect(o.status == 0)
        #expect(o.stdout.contains("  5 × TCP 127.0.0.1:\(port) ⇐ 127.0.0.1:*, 5 CLOSE_WAIT\n"), "\(o.stdout)")
        #expect(o.stdout.contains("  1 × TCP 127.0.0.1:\(port), 1 LISTEN\n"), "\(o.stdout)")
        let text = try String(contentsOfFile: json, encoding: .utf8)
        #expect(text.contains("\"state\" : \"CLOSE_WAIT\""))
    }

    @Test func snapshotErrors() throws {
        let o = try run([Paths.fdtrace, "snapshot", "--pid", "999999"])
        #expect(o.status == 1)
        #expect(o.stderr == "fdtrace: no process 999999\n")
        let noPid = try run([Paths.fdtrace, "snapshot"])
        #expect(noPid.status == 64)
    }

    @Test func watchShowsGrowth() throws {
        let o = try run([Paths.fdtrace, "watch", "--pid", String(getpid()), "--interval", "0.1", "--count", "2"])
        #expect(o.status == 0)
        #expect(o.stdout.split(separator: "\n").count == 2)
        #expect(o.stdout.contains(" open "))
    }

    @Test func staticBinaryIsReportedAsUntraceable() throws {
        let exe = try Fixture.build("exit_status.c", flags: ["-static"])
        let o = try run([Paths.fdtrace, "run", "--", exe, "exit3"])
        #expect(o.status == 3)
        #expect(o.stderr.contains("never connected to the collector: it is a static binary"))
    }
}

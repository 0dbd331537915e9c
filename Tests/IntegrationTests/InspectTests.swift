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
        defer { _ = FileManager.default.createFile(atPath: flag, contents: nil); p.waitUntilExit() }
        // Its whole line: the fixture creates the file before it writes it.
        for _ in 0..<500 where (try? String(contentsOfFile: ready, encoding: .utf8))?.hasSuffix("\n") != true { usleep(10_000) }
        let port = try #require(
            try String(contentsOfFile: ready, encoding: .utf8).split(separator: " ").last
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        let o = try run([Paths.fdtrace, "snapshot", "--pid", String(p.processIdentifier), "--json", json])
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout.contains("  5 × TCP 127.0.0.1:\(port) ⇐ 127.0.0.1:*, 5 CLOSE_WAIT\n"), "\(o.stdout)")
        #expect(o.stdout.contains("  1 × TCP 127.0.0.1:\(port), 1 LISTEN\n"), "\(o.stdout)")
        let text = try String(contentsOfFile: json, encoding: .utf8)
        #expect(text.contains("\"state\" : \"CLOSE_WAIT\""))
    }

    @Test func snapshotErrors() throws {
        let o = try run([Paths.fdtrace, "snapshot", "--pid", "999999"])
        #expect(o.status == 1)
        #expect(o.stderr == "fdtrace: no process 999999\n")
        // No session (in a directory of its own: other tests run sessions).
        let env = ProcessInfo.processInfo.environment.merging(["FDTRACE_SESSION_DIR": scratch().path]) { $1 }
        let none = try run([Paths.fdtrace, "snapshot"], env: env)
        #expect(none.status == 1)
        #expect(none.stderr.hasPrefix("fdtrace: no traced session is running"))
        let usage = try run([Paths.fdtrace, "snapshot", "--proc"])
        #expect(usage.status == 64)
    }

    @Test func watchShowsGrowth() throws {
        let o = try run([Paths.fdtrace, "watch", "--pid", String(getpid()), "--interval", "0.1", "--count", "2"])
        #expect(o.status == 0)
        #expect(o.stdout.split(separator: "\n").count == 2)
        #expect(o.stdout.contains(" open "))
    }

    @Test func staticBinaryIsReportedAsUntraceable() throws {
        let exe = try Fixture.build("exit_status.c", flags: ["-static"])
        let o = try run([Paths.fdtrace, "run", "--source", "shim", "--", exe, "exit3"])
        #expect(o.status == 3)
        #expect(o.stderr.contains("never connected to the collector: it is a static binary"))
        // By default, as root, the kernel source traces it.
        if geteuid() == 0 {
            let k = try run([Paths.fdtrace, "run", "--", exe, "exit3"])
            #expect(k.status == 3)
            #expect(k.stderr.hasPrefix("fdtrace: \(exe) is a static binary: traced by the kernel source\n"), "\(k.stderr)")
            #expect(!k.stderr.contains("never connected"), "\(k.stderr)")
        }
    }

    @Test("Unix sockets: the peer from sock_diag (a socketpair's other end, or the process at the other end)")
    func unixPeers() throws {
        let dir = scratch()
        let ready = dir.appendingPathComponent("ready").path, json = dir.appendingPathComponent("s.json").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", Paths.fixtures.appendingPathComponent("py_unix_peers.py").path,
            dir.appendingPathComponent("sock").path, ready,
        ]
        try p.run()
        var child: Int32 = 0
        defer {
            if child > 0 { kill(child, SIGKILL) }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: ready) { usleep(10_000) }
        let f = try String(contentsOfFile: ready, encoding: .utf8).split(separator: " ").compactMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        try #require(f.count == 4)
        child = f[3]
        // The interpreter behind pyenv's shim is the process holding them.
        var pid = p.processIdentifier
        for _ in 0..<100 where (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.contains("py_unix_peers") != true { usleep(10_000) }
        if let kids = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8),
            let first = kids.split(separator: " ").first.flatMap({ Int32($0) }), first != child
        {
            pid = first
        }
        let o = try run([Paths.fdtrace, "snapshot", "--pid", String(pid), "--json", json])
        #expect(o.status == 0, "\(o.stderr)")
        let text = try String(contentsOfFile: json, encoding: .utf8)
        struct Snap: Decodable { struct G: Decodable { struct F: Decodable { var fd: Int32; var peer: String? }; var fds: [F] }; var groups: [G] }
        let snap = try JSONDecoder().decode(Snap.self, from: Data(text.utf8))
        let peers = Dictionary(uniqueKeysWithValues: snap.groups.flatMap(\.fds).map { ($0.fd, $0.peer) })
        #expect(peers[f[0]] == "fd \(f[1])", "\(peers)")
        #expect(peers[f[1]] == "fd \(f[0])")
        #expect(peers[f[2]] == "pid \(child)")
    }
}

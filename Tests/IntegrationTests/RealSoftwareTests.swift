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

    /// A Go server linked with cgo: the shim is loaded but Go's runtime makes
    /// its own system calls. Live and at exit the report says it is
    /// incomplete, lists what /proc shows as origin unknown with kind and
    /// state, never says "no leaks", and an exit 0 is not "killed by a signal".
    @Test("Go program: incomplete, the /proc view as origin unknown, never \"no leaks\"")
    func goProgram() throws {
        let exe = try Fixture.buildGo("go_server")
        let json = scratch().appendingPathComponent("exit.json").path
        let s = try RunningSession(name: "go-\(getpid())", options: ["--json", json], env: Self.env) { [exe, $0, "6"] }
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
        #expect(p.exitStatus == 0 && p.ended == "exited")
        #expect(p.incomplete != nil)
        #expect(closeWait(p) == 6 && hostname(p) == 6, "\(p.unknownOrigin)")
        #expect(p.internalErrors.isEmpty)
        let text = TextRenderer().render(report)
        #expect(!text.contains("no leaks:") && !text.contains("killed by a signal"), "\(text)")
        #expect(text.contains("a raw exit_group"), "\(text)")
    }
}

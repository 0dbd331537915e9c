import FDTraceCore
import Foundation
import Testing

/// The interpreters pyenv holds on these machines, by minor version.
enum Python {
    static let supported = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]

    static func interpreter(_ minor: String) throws -> String {
        let root = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".pyenv/versions").path
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let dir = dirs.sorted().last(where: { $0.hasPrefix(minor + ".") && !$0.contains("-") }) else {
            throw FixtureError(message: "pyenv has no CPython \(minor) in \(root)")
        }
        return "\(root)/\(dir)/bin/python\(minor)"
    }

    static func fixture(_ name: String) -> String { Paths.fixtures.appendingPathComponent(name).path }
}

/// Python leak sites of one process: "file:line" of the headline frame →
/// the groups there.
func pythonGroups(_ p: ProcessReport) -> [String: [LeakGroup]] {
    var out: [String: [LeakGroup]] = [:]
    for g in p.leaks {
        guard let s = g.site, s.python == true else { continue }
        out["\((s.file ?? "?").split(separator: "/").last ?? ""):\(s.line ?? 0)", default: []].append(g)
    }
    return out
}

/// Marker name → "file:line" for a Python fixture (one line per name).
func pythonMarkers(_ fixture: String) throws -> [String: String] {
    let base = fixture.split(separator: "/").last.map(String.init) ?? fixture
    return try Fixture.leakLines(fixture).mapValues { "\(base):\($0[0])" }
}

/// The process of `report` that leaked at `site`.
func process(leakingAt site: String, in report: Report) -> ProcessReport? {
    report.processes.first { pythonGroups($0)[site] != nil }
}

@Suite("Python call sites")
struct PythonTests {
    @Test("open, socket, os.pipe, mkstemp and Popen leaks at their lines", arguments: Python.supported)
    func plainLeaks(version: String) throws {
        let k = 3
        let markers = try pythonMarkers("py_leaks.py")
        let (o, report) = try trace([try Python.interpreter(version), Python.fixture("py_leaks.py"), String(k)])
        #expect(o.status == 0)
        let p = try #require(process(leakingAt: markers["open64"]!, in: report), "\(o.stderr)")
        expectAccounted(p)
        let groups = pythonGroups(p)
        let expected: [String: (count: Int, call: String, closed: ClosedBy?)] = [
            "open64": (k, "open64", .shutdown),  // file objects: closed when modules are torn down
            "socket": (k, "socket", .shutdown),
            "pipe2": (2 * k, "pipe2", nil),  // raw numbers: open at exit
            "open64-mkstemp": (k, "open64", nil),
            "pipe2-popen": (k, "pipe2", .shutdown),
        ]
        for (name, e) in expected {
            let site = markers[name]!
            let gs = groups[site] ?? []
            #expect(gs.reduce(0) { $0 + $1.count } == e.count, "\(name) at \(site): \(gs.map { ($0.count, $0.call) })")
            #expect(gs.allSatisfy { $0.call == e.call }, "\(name): \(gs.map(\.call))")
            #expect(gs.flatMap(\.fds).allSatisfy { $0.closed == e.closed }, "\(name): \(gs.flatMap(\.fds).map(\.closed))")
        }
        // Nothing else is reported at a line of the fixture.
        let fixtureSites = Set(groups.keys.filter { $0.hasPrefix("py_leaks.py:") })
        #expect(fixtureSites == Set(expected.keys.map { markers[$0]! }))
        // The stack beneath the headline names the function and the module level.
        let g = try #require(groups[markers["socket"]!]?.first)
        let py = g.frames.filter { $0.python == true }
        #expect(py.contains { $0.function?.hasSuffix("__init__") == true && $0.file?.hasSuffix("/socket.py") == true })
        #expect(py.last?.function == "<module>")
        #expect(g.frames[g.highlight!].function == "leak")
    }

    @Test("The shim's table of CPython layouts matches each interpreter's headers", arguments: Python.supported)
    func layoutMatchesHeaders(version: String) throws {
        let prefix = URL(fileURLWithPath: try Python.interpreter(version)).deletingLastPathComponent().deletingLastPathComponent()
        let include = prefix.appendingPathComponent("include/python\(version)").path
        let exe = scratch().appendingPathComponent("layout_check").path
        let cc = try run([
            "cc", "-w", "-I\(include)", "-I\(include)/internal", "-I\(Paths.root.path)/CShim/src",
            "-I\(Paths.root.path)/CShim/include", Python.fixture("py_layout_check.c"), "-o", exe,
        ])
        #expect(cc.status == 0, "\(cc.stderr)")
        let o = try run([exe])
        #expect(o.status == 0, "\(o.stdout)")
        #expect(o.stdout.contains("layout matches the headers"))
    }

    @Test("Debian's python3.11 (libpython linked into the executable)")
    func debianPython() throws {
        let exe = "/usr/bin/python3.11"
        guard FileManager.default.isExecutableFile(atPath: exe) else { return }
        let markers = try pythonMarkers("py_leaks.py")
        let (o, report) = try trace([exe, Python.fixture("py_leaks.py"), "2"])
        #expect(o.status == 0)
        let p = try #require(process(leakingAt: markers["open64"]!, in: report))
        let groups = pythonGroups(p)
        #expect(groups[markers["open64"]!]?.reduce(0) { $0 + $1.count } == 2)
        #expect(groups[markers["pipe2"]!]?.reduce(0) { $0 + $1.count } == 4)
        #expect(groups[markers["pipe2-popen"]!]?.reduce(0) { $0 + $1.count } == 2)
    }

    @Test("An interpreter it cannot read: native frames and one note")
    func unsupportedVersion() throws {
        let exe = try Python.interpreter("3.7")
        let (o, report) = try trace([exe, Python.fixture("py_leaks.py"), "2"])
        #expect(o.status == 0)
        #expect(o.stdout.contains("py_leaks: K=2"))
        let p = try #require(report.processes.first { $0.executable == exe && !$0.leaks.isEmpty })
        #expect(p.notes.contains { $0.hasPrefix("Python 3.7.") && $0.contains("native frames only") })
        #expect(p.leaks.allSatisfy { g in g.frames.allSatisfy { $0.python == nil } })
        #expect(p.leakedDescriptors == 6)  // os.pipe and mkstemp: the files and sockets close at shutdown, unseen
    }

    @Test("Leaks collected by gc.collect() are closed by GC, at their lines", arguments: Python.supported)
    func gcLeaks(version: String) throws {
        let k = 4
        let markers = try pythonMarkers("py_gc_leaks.py")
        let (o, report) = try trace([try Python.interpreter(version), Python.fixture("py_gc_leaks.py"), String(k)])
        #expect(o.status == 0)
        let p = try #require(process(leakingAt: markers["open64"]!, in: report), "\(o.stderr)")
        let groups = pythonGroups(p)
        let files = groups[markers["open64"]!] ?? []
        let sockets = groups[markers["socket"]!] ?? []
        #expect(files.reduce(0) { $0 + $1.count } == k)
        #expect(sockets.reduce(0) { $0 + $1.count } == 1)
        #expect((files + sockets).flatMap(\.fds).allSatisfy { $0.closed == .gc })
        #expect(files.reduce(0) { $0 + ($1.closedByGc ?? 0) } == k)
    }

    @Test("Closed by a finalizer when the last reference went; explicit closes are not leaks", arguments: Python.supported)
    func finalizerLeaks(version: String) throws {
        let k = 3
        let markers = try pythonMarkers("py_finalizer_leaks.py")
        let (o, report) = try trace([try Python.interpreter(version), Python.fixture("py_finalizer_leaks.py"), String(k)])
        #expect(o.status == 0)
        let p = try #require(process(leakingAt: markers["open64-dropped"]!, in: report), "\(o.stderr)")
        let groups = pythonGroups(p)
        for (name, site) in markers {
            let gs = groups[site] ?? []
            #expect(gs.reduce(0) { $0 + $1.count } == k, "\(name)")
            #expect(gs.flatMap(\.fds).allSatisfy { $0.closed == .finalizer }, "\(name): \(gs.flatMap(\.fds).map(\.closed))")
        }
        #expect(Set(groups.keys.filter { $0.hasPrefix("py_finalizer_leaks.py:") }) == Set(markers.values))
    }

    @Test(
        "Closed at shutdown: a logging handler, a module global, an event loop; after the end, sys.exit, an exception",
        arguments: [("3.8", ""), ("3.11", ""), ("3.13", ""), ("3.11", "exit"), ("3.13", "raise"), ("3.8", "raise")])
    func shutdownLeaks(version: String, how: String) throws {
        let markers = try pythonMarkers("py_shutdown_leaks.py")
        let (o, report) = try trace([try Python.interpreter(version), Python.fixture("py_shutdown_leaks.py")] + (how.isEmpty ? [] : [how]))
        #expect(o.status == ["": 0, "exit": 3, "raise": 1][how])
        let p = try #require(process(leakingAt: markers["open64"]!, in: report), "\(o.stderr)")
        let groups = pythonGroups(p)
        for name in ["open64-logging", "open64"] {
            let gs = groups[markers[name]!] ?? []
            #expect(gs.map(\.count) == [1], "\(name)")
            #expect(gs.first?.closedAtShutdown == 1, "\(name)")
        }
        let loop = try #require(groups[markers["epoll_create1-loop"]!]?.first)
        #expect(loop.count == 3)
        #expect(loop.calls == 1)
        #expect(loop.bundle == "eventpoll + 2 unix stream sockets")
        #expect(loop.closedAtShutdown == 3)
    }

    @Test("Every way of starting Python: pyenv's shim, -m, fork, multiprocessing, subprocess")
    func startup() throws {
        let markers = try pythonMarkers("py_children.py")
        // python3 on PATH is pyenv's bash shim.
        let (o, report) = try trace(["python3", Python.fixture("py_children.py")])
        #expect(o.status == 0)
        let worker = markers["open64-worker"]!, parent = markers["open64-parent"]!
        let workers = report.processes.filter { pythonGroups($0)[worker] != nil }
        #expect(workers.count == 3, "\(report.processes.map { ($0.pid, pythonGroups($0).keys.sorted()) })")
        #expect(workers.allSatisfy { pythonGroups($0)[worker]!.reduce(0) { $0 + $1.count } == 1 })
        #expect(report.processes.filter { pythonGroups($0)[parent] != nil }.count == 1)

        let (o2, report2) = try trace(
            ["python3", "-m", "py_leaks", "1"],
            env: ProcessInfo.processInfo.environment.merging(
                ["PYTHONPATH": Paths.fixtures.path]) { $1 })
        #expect(o2.status == 0)
        let leaks = try pythonMarkers("py_leaks.py")
        let p = try #require(process(leakingAt: leaks["socket"]!, in: report2))
        #expect(pythonGroups(p)[leaks["pipe2"]!]?.reduce(0) { $0 + $1.count } == 2)
    }

    @Test("--native keeps the interpreter's frames; by default they are left out")
    func nativeFrames() throws {
        let exe = try Python.interpreter("3.11")
        let markers = try pythonMarkers("py_leaks.py")
        let (_, plain) = try trace([exe, Python.fixture("py_leaks.py"), "1"])
        let (_, native) = try trace([exe, Python.fixture("py_leaks.py"), "1"], options: ["--native"])
        let a = try #require(process(leakingAt: markers["open64"]!, in: plain).flatMap { pythonGroups($0)[markers["open64"]!]?.first })
        let b = try #require(process(leakingAt: markers["open64"]!, in: native).flatMap { pythonGroups($0)[markers["open64"]!]?.first })
        #expect(!a.frames.contains { $0.module?.contains("libpython") == true })
        #expect(b.frames.contains { $0.function == "_PyEval_EvalFrameDefault" })
        #expect(b.frames.firstIndex { $0.python == true }! > 0)  // C frames above the Python line that called them
        #expect(a.frames[a.highlight!].line == b.frames[b.highlight!].line)
    }
}

/// The incident the project was built for: a Flask service leaking, per
/// request, an image file, an event loop and an aiohttp socket in CLOSE_WAIT.
@Suite("Python service acceptance", .serialized)
struct PythonServiceTests {
    @Test("N requests: N image files, N event loops (3N descriptors), N TCP sockets in CLOSE_WAIT")
    func flaskService() throws {
        let n = 6
        let dir = Paths.fixtures.appendingPathComponent("py_service")
        let markers = try Fixture.leakLines("py_service/app.py").mapValues { "app.py:\($0[0])" }
        // The upstream server that hangs up on the app's client, untraced.
        let work = scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let upstream = Process()
        upstream.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        upstream.arguments = ["python3", dir.appendingPathComponent("hangup_server.py").path, "0"]
        let upOut = Pipe()
        upstream.standardOutput = upOut
        upstream.standardError = FileHandle.nullDevice
        try upstream.run()
        // SIGKILL: children of the test runner may start with signals blocked.
        defer { kill(upstream.processIdentifier, SIGKILL); upstream.waitUntilExit() }
        let upPort = try readLine(upOut.fileHandleForReading)
        // The app, traced.
        let json = work.appendingPathComponent("report.json")
        let app = Process()
        app.executableURL = URL(fileURLWithPath: Paths.fdtrace)
        app.arguments = ["run", "--json", json.path, "--", "python3", dir.appendingPathComponent("app.py").path, upPort]
        let appOut = Pipe()
        app.standardOutput = appOut
        app.standardError = FileHandle.nullDevice
        try app.run()
        let appPort = try readLine(appOut.fileHandleForReading)
        let drive = try run(["python3", dir.appendingPathComponent("drive.py").path, appPort, String(n)])
        #expect(drive.status == 0, "\(drive.stderr)")
        app.waitUntilExit()
        #expect(app.terminationStatus == 0)
        let report = try JSONRenderer.decode(try Data(contentsOf: json))
        let p = try #require(process(leakingAt: markers["open64-image"]!, in: report))
        let groups = pythonGroups(p)
        // (a) the image files
        let images = groups[markers["open64-image"]!] ?? []
        #expect(images.reduce(0) { $0 + $1.count } == n)
        #expect(images.flatMap(\.fds).allSatisfy { $0.kind == .file && $0.path?.hasSuffix(".png") == true })
        // (b) the event loops: eventpoll + a unix socketpair per request
        let loops = groups[markers["epoll_create1-loop"]!] ?? []
        #expect(loops.count == 1)
        #expect(loops.first?.calls == n)
        #expect(loops.first?.count == 3 * n)
        #expect(loops.first?.bundle == "eventpoll + 2 unix stream sockets")
        // (c) the aiohttp sockets, in CLOSE_WAIT when the app began to exit
        let sockets = groups[markers["socket-aiohttp"]!] ?? []
        #expect(sockets.reduce(0) { $0 + $1.count } == n)
        let fds = sockets.flatMap(\.fds)
        #expect(fds.allSatisfy { $0.protocol == "TCP" && $0.peer == "127.0.0.1:\(upPort)" })
        #expect(fds.filter { $0.state == "CLOSE_WAIT" }.count == n, "\(fds.map { $0.state ?? "-" })")
        // Nothing else leaks at a line of the app.
        #expect(Set(groups.keys.filter { $0.hasPrefix("app.py:") }).isSubset(of: Set(markers.values)), "\(groups.keys.sorted())")
    }

    private func readLine(_ h: FileHandle) throws -> String {
        var bytes: [UInt8] = []
        while true {
            let d = h.readData(ofLength: 1)
            guard let b = d.first else { throw FixtureError(message: "no port printed") }
            if b == 10 { break }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }
}

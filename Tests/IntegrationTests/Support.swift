import FDTraceCore
import Foundation
import Testing

/// Paths of the built tracer and the fixtures.
enum Paths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var fdtrace: String {
        ProcessInfo.processInfo.environment["FDTRACE_BIN"] ?? root.appendingPathComponent(".build/debug/fdtrace").path
    }
    static var library: String { (fdtrace as NSString).deletingLastPathComponent + "/libfdtrace.so" }
    static var fixtures: URL { root.appendingPathComponent("Tests/Fixtures") }
}

struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
    /// stderr without the tracer's own "fdtrace:" lines and report.
    var programStderr: String {
        stderr.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("fdtrace:") }.joined(separator: "\n")
    }
}

/// A scratch directory for one test.
func scratch() -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdtrace-test-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// Runs a process to completion; output goes through files (no pipe deadlock).
func run(_ argv: [String], env: [String: String]? = nil, cwd: URL? = nil) throws -> Outcome {
    let dir = scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0].hasPrefix("/") ? argv[0] : "/usr/bin/env")
    p.arguments = argv[0].hasPrefix("/") ? Array(argv.dropFirst()) : argv
    if let env { p.environment = env }
    if let cwd { p.currentDirectoryURL = cwd }
    let oh = try FileHandle(forWritingTo: out), eh = try FileHandle(forWritingTo: err)
    p.standardOutput = oh
    p.standardError = eh
    p.standardInput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    try oh.close(); try eh.close()
    let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
    return Outcome(
        status: status, stdout: try String(contentsOf: out, encoding: .utf8),
        stderr: try String(contentsOf: err, encoding: .utf8))
}

/// Compiled fixtures, by source name.
enum Fixture {
    static func build(_ name: String, flags: [String] = []) throws -> String {
        let src = Paths.fixtures.appendingPathComponent(name)
        let dir = scratch()
        let exe = dir.appendingPathComponent((name as NSString).deletingPathExtension).path
        let cxx = name.hasSuffix(".cpp")
        let o = try run([cxx ? "c++" : "cc", "-g", "-O0", "-w", "-pthread", src.path, "-o", exe] + flags)
        guard o.status == 0 else { throw FixtureError(message: "cannot compile \(name): \(o.stderr)") }
        return exe
    }

    /// A Go fixture (a directory with go.mod), built with cgo so that it is
    /// dynamically linked and loads the shim. Offline, cache under scratch.
    static func buildGo(_ name: String) throws -> String {
        guard let go = ["/usr/bin/go", "/usr/lib/go/bin/go"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw FixtureError(message: "go is not installed (make setup installs golang-go)")
        }
        let exe = scratch().appendingPathComponent(name).path
        var env = ProcessInfo.processInfo.environment
        env["CGO_ENABLED"] = "1"
        env["GOPROXY"] = "off"
        env["GOFLAGS"] = "-mod=mod"
        env["GOCACHE"] = env["GOCACHE"] ?? "\(NSTemporaryDirectory())/fdtrace-test-gocache"
        env["HOME"] = env["HOME"] ?? NSTemporaryDirectory()
        let o = try run([go, "build", "-o", exe, "."], env: env, cwd: Paths.fixtures.appendingPathComponent(name))
        guard o.status == 0 else { throw FixtureError(message: "cannot build \(name): \(o.stderr)") }
        return exe
    }

    /// Lines marked LEAK(name) in a fixture: name → line numbers.
    static func leakLines(_ name: String) throws -> [String: [Int]] {
        let text = try String(contentsOf: Paths.fixtures.appendingPathComponent(name), encoding: .utf8)
        var out: [String: [Int]] = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let r = line.range(of: "LEAK("), let close = line[r.upperBound...].firstIndex(of: ")") else { continue }
            out[String(line[r.upperBound..<close]), default: []].append(i + 1)
        }
        return out
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs `fdtrace run --json` on argv and decodes the report.
func trace(_ argv: [String], options: [String] = [], env: [String: String]? = nil) throws -> (Outcome, Report) {
    let dir = scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    let json = dir.appendingPathComponent("report.json")
    let o = try run([Paths.fdtrace, "run", "--json", json.path] + options + ["--"] + argv, env: env)
    let data = try Data(contentsOf: json)
    return (o, try JSONRenderer.decode(data))
}

extension Report {
    /// The report section of the process image running `exe`.
    func process(_ exe: String) -> ProcessReport? {
        processes.last { $0.executable == exe || $0.command.first == exe }
    }
}

extension LeakGroup {
    var site: FrameReport? { highlight.map { frames[$0] } }
}

/// Sites (file basename, line) → descriptor count, for one process.
func siteCounts(_ p: ProcessReport) -> [String: Int] {
    var out: [String: Int] = [:]
    for g in p.leaks {
        let key = g.site.map { "\(($0.file ?? "?").split(separator: "/").last ?? ""):\($0.line ?? 0) \(g.call)" } ?? "? \(g.call)"
        out[key, default: 0] += g.count
    }
    return out
}

/// What a fixture's LEAK markers promise: every marked line leaks
/// `perLine[name] ?? k` descriptors, opened by the call the name starts with.
func expectedSites(_ fixture: String, k: Int, perLine: [String: Int] = [:]) throws -> [String: Int] {
    var out: [String: Int] = [:]
    for (name, lines) in try Fixture.leakLines(fixture) {
        let call = String(name.split(separator: "-").first ?? Substring(name))
        for l in lines { out["\(fixture):\(l) \(call)", default: 0] += perLine[name] ?? k }
    }
    return out
}

/// The facts every fixture's report must show: reconciled, nothing of
/// unknown origin, no internal error.
func expectAccounted(_ p: ProcessReport, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(p.reconciliation == .complete, sourceLocation: sourceLocation)
    #expect(p.unknownOrigin.isEmpty, "origin unknown: \(p.unknownOrigin)", sourceLocation: sourceLocation)
    #expect(p.internalErrors.isEmpty, "internal errors: \(p.internalErrors)", sourceLocation: sourceLocation)
}

/// Our environment with the shim preloaded and no session around it (bare
/// mode, or a collector that cannot be reached when FDTRACE_SOCKET is set).
func preloadedEnv(_ extra: [String: String] = [:]) -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    env["LD_PRELOAD"] = Paths.library
    env.removeValue(forKey: "FDTRACE_SOCKET")
    env.removeValue(forKey: "FDTRACE_OWNER")
    for (k, v) in extra { env[k] = v }
    return env
}

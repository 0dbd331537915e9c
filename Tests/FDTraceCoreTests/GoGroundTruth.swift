import Foundation
import Glibc

@testable import FDTraceCore

/// Go binaries built for the tests with Debian's Go, and what their own
/// runtime says about their pcs: the ground truth GoLineTable must match.
enum GoFixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let source = root.appendingPathComponent("Fixtures/go_symbols")
    static let go = ["/usr/bin/go", "/usr/lib/go/bin/go"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let pushgateway = "/usr/bin/prometheus-pushgateway"

    enum Variant: String, CaseIterable, CustomStringConvertible {
        case internalLink = "static", cgo, pie, strippedInternal = "static-stripped", strippedCgo = "cgo-stripped"
        var description: String { rawValue }
    }

    struct Built {
        var dir: URL
        var paths: [Variant: String]
    }

    /// Every variant, built once per test process (nil without Go).
    static let built: Result<Built, FixtureFailure> = build()

    static func path(_ v: Variant) throws -> String {
        switch built {
        case .success(let b): return b.paths[v]!
        case .failure(let e): throw e
        }
    }

    private static func build() -> Result<Built, FixtureFailure> {
        guard let go else { return .failure(FixtureFailure("go is not installed (make setup installs golang-go)")) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdtrace-gosym-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["GOPROXY"] = "off"
        env["GOFLAGS"] = "-mod=mod"
        env["GOCACHE"] = env["GOCACHE"] ?? "\(NSTemporaryDirectory())/fdtrace-test-gocache"
        env["HOME"] = env["HOME"] ?? NSTemporaryDirectory()
        var paths: [Variant: String] = [:]
        let builds: [(Variant, String, [String])] = [
            (.internalLink, "0", []), (.cgo, "1", []), (.pie, "0", ["-buildmode=pie"]),
        ]
        for (v, cgo, flags) in builds {
            let exe = dir.appendingPathComponent(v.rawValue).path
            env["CGO_ENABLED"] = cgo
            let o = runTool([go, "build"] + flags + ["-o", exe, "."], env: env, cwd: source)
            guard o.status == 0 else { return .failure(FixtureFailure("go build \(v): \(o.stderr)")) }
            paths[v] = exe
        }
        for (stripped, from) in [(Variant.strippedInternal, Variant.internalLink), (.strippedCgo, .cgo)] {
            let exe = dir.appendingPathComponent(stripped.rawValue).path
            let o = runTool(["/usr/bin/strip", "-o", exe, paths[from]!], env: env, cwd: dir)
            guard o.status == 0 else { return .failure(FixtureFailure("strip: \(o.stderr)")) }
            paths[stripped] = exe
        }
        return .success(Built(dir: dir, paths: paths))
    }

    /// Source lines marked LINE(name) in the fixture.
    static func line(_ name: String) -> Int {
        let text = (try? String(contentsOf: source.appendingPathComponent("main.go"), encoding: .utf8)) ?? ""
        for (i, l) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where l.contains("LINE(\(name))") {
            return i + 1
        }
        return -1
    }
}

struct FixtureFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

struct ToolOutput { var status: Int32; var stdout: String; var stderr: String }

func runTool(_ argv: [String], env: [String: String]? = nil, cwd: URL? = nil) -> ToolOutput {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    if let env { p.environment = env }
    if let cwd { p.currentDirectoryURL = cwd }
    let dir = FileManager.default.temporaryDirectory
    let tag = "fdtrace-tool-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let out = dir.appendingPathComponent(tag + ".out"), err = dir.appendingPathComponent(tag + ".err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
    guard let oh = FileHandle(forWritingAtPath: out.path), let eh = FileHandle(forWritingAtPath: err.path) else {
        return ToolOutput(status: -1, stdout: "", stderr: "no output files")
    }
    p.standardOutput = oh
    p.standardError = eh
    do { try p.run() } catch { return ToolOutput(status: -1, stdout: "", stderr: "\(error)") }
    p.waitUntilExit()
    try? oh.close(); try? eh.close()
    return ToolOutput(
        status: p.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}

/// What a Go program's runtime said about its own pcs.
struct GoTruth {
    /// A return address and the frames Go's traceback printed for it,
    /// innermost first (inlined ones first, the pc's own function last).
    struct Site: CustomStringConvertible {
        var pc: UInt64
        var frames: [GoLineTable.Frame]
        var description: String { "0x\(String(pc, radix: 16)): \(frames)" }
    }

    /// From the fixture's stdout: runtime.Callers pcs with the frame
    /// runtime.CallersFrames made of each (one frame per pc).
    var callers: [(pc: UInt64, frame: GoLineTable.Frame)] = []
    /// From a SIGQUIT dump under GOTRACEBACK=system (pcs printed).
    var dump: [Site] = []
    /// Runtime address minus link address of the executable.
    var bias: UInt64 = 0

    /// Runs `argv` with GOTRACEBACK=system until a line of stdout or stderr
    /// contains `readyMarker`, then sends SIGQUIT and parses what it said.
    static func collect(
        _ argv: [String], readyMarker: String, timeout: Double = 20,
        prepare: (String) -> Void = { _ in }
    ) throws -> (GoTruth, stdout: String, stderr: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdtrace-gotruth-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        prepare(dir.path)
        let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = argv.dropFirst().map { $0.replacingOccurrences(of: "$DIR", with: dir.path) }
        var env = ProcessInfo.processInfo.environment
        env["GOTRACEBACK"] = "system"
        env.removeValue(forKey: "LD_PRELOAD")
        p.environment = env
        p.currentDirectoryURL = dir
        let oh = try FileHandle(forWritingTo: out), eh = try FileHandle(forWritingTo: err)
        p.standardOutput = oh
        p.standardError = eh
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        var ready = false
        while Date() < deadline && p.isRunning {
            let text = ((try? String(contentsOf: out, encoding: .utf8)) ?? "") + ((try? String(contentsOf: err, encoding: .utf8)) ?? "")
            if text.contains(readyMarker) { ready = true; break }
            usleep(20_000)
        }
        kill(p.processIdentifier, ready ? SIGQUIT : SIGKILL)
        p.waitUntilExit()
        try? oh.close(); try? eh.close()
        let stdout = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        guard ready else { throw FixtureFailure("\(argv[0]) never said \(readyMarker): \(stdout) \(stderr)") }
        var truth = GoTruth()
        truth.parseCallers(stdout)
        truth.parseDump(stderr)
        return (truth, stdout, stderr)
    }

    mutating func parseCallers(_ text: String) {
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, f[0] == "base", let b = UInt64(f[1].dropFirst(2), radix: 16) { bias = b }
            guard f.count == 5, f[0] == "pc", let pc = UInt64(f[1].dropFirst(2), radix: 16), let l = Int(f[4]) else { continue }
            callers.append((pc, GoLineTable.Frame(function: String(f[2]), file: String(f[3]), line: l, inlined: false)))
        }
    }

    /// Goroutine dumps: "name(args)" then "\tfile:line [+0xoff fp=… sp=… pc=0x…]";
    /// frames without pc were inlined into the next one with a pc.
    /// Left out: running goroutines (no stack), "created by" lines (not
    /// expanded), and the top frame of the goroutine the signal
    /// interrupted (printed first, after "PC="): its pc is where the
    /// signal came, not a return address, and the runtime looks it up as is.
    mutating func parseDump(_ text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var pending: [GoLineTable.Frame] = []
        var skip = false
        var trapFrame = false, afterSignal = false
        var i = 0
        while i < lines.count {
            let l = lines[i]
            if l.hasPrefix("PC=") { afterSignal = true }
            if l.hasPrefix("goroutine ") {
                skip = l.contains("[running")
                trapFrame = afterSignal
                afterSignal = false
                pending = []
                i += 1; continue
            }
            if l.hasPrefix("created by ") { i += 2; pending = []; continue }
            guard !skip, !l.hasPrefix("\t"), l.hasSuffix(")"), i + 1 < lines.count, lines[i + 1].hasPrefix("\t"),
                let open = l.lastIndex(of: "(")
            else { i += 1; continue }
            let name = String(l[..<open])
            let loc = lines[i + 1].dropFirst()
            let fields = loc.split(separator: " ")
            guard let fileLine = fields.first, let colon = fileLine.lastIndex(of: ":"), let line = Int(fileLine[fileLine.index(after: colon)...]) else {
                i += 2; continue
            }
            let file = String(fileLine[..<colon])
            if let pcField = fields.first(where: { $0.hasPrefix("pc=0x") }), let pc = UInt64(pcField.dropFirst(5), radix: 16) {
                if trapFrame { trapFrame = false; pending = []; i += 2; continue }
                dump.append(
                    Site(
                        pc: pc,
                        frames: pending.map {
                            var f = $0; f.inlined = true; return f
                        }
                            + [GoLineTable.Frame(function: name, file: file, line: line, inlined: false)]))
                pending = []
            } else {
                pending.append(GoLineTable.Frame(function: name, file: file, line: line, inlined: true))
            }
            i += 2
        }
    }
}

import FDTraceCore
import Foundation
import Testing

/// The pytest plugin (pytest-fdtrace/) on a real test project
/// (Tests/Fixtures/pytest_project): real pytest, run by python3 from PATH,
/// with the plugin installed for it (scripts/setup.sh); PYTHONPATH puts this
/// checkout's copy of the plugin first. Verdicts are read from the JUnit XML.
@Suite("pytest plugin", .serialized)
struct PytestPluginTests {
    /// The project's tests, and the ones that leak.
    static let tests: Set<String> = [
        "test_clean", "test_clean_again", "test_global_socket", "test_event_loop", "test_thread_pipe",
        "test_allowed_by_marker", "test_uses_leaky_fixture",
    ]

    /// What each leaking test's error says (its lines from the LEAK markers).
    static func expectedErrors() throws -> [String: String] {
        let lines = try Fixture.leakLines("pytest_project/test_leaks.py").mapValues { $0[0] }
        let fixture = try Fixture.leakLines("pytest_project/test_fixture_leak.py")["module-fixture"]![0]
        return [
            // A module fixture's teardown left its file open: the error of
            // the test torn down with it (pytest.fail in a finalizer).
            "test_uses_leaky_fixture":
                #"Failed: fdtrace: fixture leaky_module_fixture \(module scope\) left 1 file: /dev/null, opened at test_fixture_leak\.py:"#
                + "\(fixture)",
            "test_global_socket":
                #"fdtrace: test_global_socket leaked 1 socket: TCP 127\.0\.0\.1:\d+ ⇐ 127\.0\.0\.1:\d+, 1 CLOSE_WAIT, opened at test_leaks\.py:"#
                + "\(lines["socket"]!)",
            "test_event_loop":
                #"fdtrace: test_event_loop leaked 1 bundle of eventpoll \+ 2 unix stream sockets, opened at test_leaks\.py:"#
                + "\(lines["loop"]!)",
            "test_thread_pipe":
                #"fdtrace: test_thread_pipe leaked 1 bundle of 2 pipes, opened at test_leaks\.py:"# + "\(lines["pipe"]!)"
                + " in thread 'leaker'",
        ]
    }

    @Test("The scope API from C: every thread's descriptors opened before the question, nothing from before the scope")
    func scopeAPI() throws {
        let exe = try Fixture.build("scope_api.c")
        let o = try run([Paths.fdtrace, "run", "--", exe])
        #expect(o.status == 0, "\(o.stderr)")
        #expect(!o.stderr.contains("scope_api:"), "\(o.stderr)")
        // Not traced: the API is absent.
        #expect(try run([exe]).status == 2)
    }

    @Test("Under fdtrace run: exactly the leaking tests fail, each naming its line, kind and state")
    func underRun() throws {
        let run = try PytestRun(traced: .run)
        try run.expectLeakingTestsFail()
    }

    @Test("Under bare LD_PRELOAD: the same verdicts")
    func bare() throws {
        let run = try PytestRun(traced: .bare)
        try run.expectLeakingTestsFail()
    }

    @Test("With pytest-xdist -n 2 under fdtrace run: each worker traced, the same verdicts")
    func xdist() throws {
        let run = try PytestRun(traced: .run, arguments: ["-n", "2"])
        try run.expectLeakingTestsFail()
        // xdist ran them (the controller runs no test: the workers judged them).
        #expect(run.outcome.stdout.hasPrefix("bringing up nodes..."), "\(run.outcome.stdout)")
    }

    @Test("ini options: kinds never counted, globs of lines left out")
    func iniOptions() throws {
        let loop = try Fixture.leakLines("pytest_project/test_leaks.py")["loop"]![0]
        let run = try PytestRun(
            traced: .run, arguments: ["-o", "fdtrace_ignore_kinds=socket", "-o", "fdtrace_ignore=*test_leaks.py:\(loop)"])
        var errors = try Self.expectedErrors()
        errors.removeValue(forKey: "test_global_socket")  // a socket
        errors.removeValue(forKey: "test_event_loop")  // its line
        try run.expectVerdicts(errors: errors)
    }

    @Test("-p no:fdtrace turns it off: every test passes")
    func disabled() throws {
        let run = try PytestRun(traced: .run, arguments: ["-p", "no:fdtrace"])
        #expect(run.outcome.status == 0, "\(run.outcome.stdout)\(run.outcome.stderr)")
        #expect(run.verdicts == Dictionary(uniqueKeysWithValues: Self.tests.map { ($0, "passed") }))
        #expect(!run.outcome.stdout.contains("fdtrace:"))
    }

    @Test("Without the shim: one warning line, every test passes")
    func withoutShim() throws {
        let run = try PytestRun(traced: .none)
        #expect(run.outcome.status == 0, "\(run.outcome.stdout)\(run.outcome.stderr)")
        #expect(run.verdicts == Dictionary(uniqueKeysWithValues: Self.tests.map { ($0, "passed") }))
        let lines = (run.outcome.stdout + run.outcome.stderr).split(separator: "\n").filter { $0.contains("fdtrace") }
        #expect(
            lines == [
                "fdtrace: libfdtrace.so is not loaded: descriptor leaks are not checked (run pytest under `fdtrace run` or with LD_PRELOAD=libfdtrace.so)"
            ], "\(run.outcome.stdout)")
    }
}

/// One run of pytest on a copy of the test project.
struct PytestRun {
    enum Tracing { case run, bare, none }
    let outcome: Outcome
    /// Test name → "passed", or the message of its error or failure.
    let verdicts: [String: String]

    init(traced: Tracing, arguments: [String] = []) throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let project = dir.appendingPathComponent("project")
        try FileManager.default.copyItem(at: Paths.fixtures.appendingPathComponent("pytest_project"), to: project)
        let junit = dir.appendingPathComponent("junit.xml").path
        let pytest = ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", junit] + arguments
        var env = traced == .bare ? preloadedEnv() : ProcessInfo.processInfo.environment
        if traced != .bare { env.removeValue(forKey: "LD_PRELOAD") }
        env["PYTHONPATH"] = Paths.root.appendingPathComponent("pytest-fdtrace").path
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        let check = try run(["python3", "-c", "import pytest, xdist, pytest_fdtrace"], env: env)
        guard check.status == 0 else {
            throw FixtureError(message: "python3 lacks pytest, pytest-xdist or pytest-fdtrace (scripts/setup.sh installs them): \(check.stderr)")
        }
        let argv = traced == .run ? [Paths.fdtrace, "run", "--"] + pytest : pytest
        outcome = try run(argv, env: env, cwd: project)
        let xml = (try? String(contentsOfFile: junit, encoding: .utf8)) ?? ""
        verdicts = Self.verdicts(xml)
    }

    /// Test name → "passed" or its error's or failure's message, from JUnit XML.
    static func verdicts(_ xml: String) -> [String: String] {
        var out: [String: String] = [:]
        let testcase = try! NSRegularExpression(pattern: #"<testcase [^>]*?\sname="([^"]+)"[^>]*?(/>|>(.*?)</testcase>)"#)
        let problem = try! NSRegularExpression(pattern: #"<(error|failure) message="([^"]*)""#)
        let ns = xml as NSString
        for m in testcase.matches(in: xml, range: NSRange(location: 0, length: ns.length)) {
            let name = ns.substring(with: m.range(at: 1))
            var verdict = "passed"
            if m.range(at: 3).location != NSNotFound {
                let body = ns.substring(with: m.range(at: 3))
                if let p = problem.firstMatch(in: body, range: NSRange(location: 0, length: (body as NSString).length)) {
                    verdict = unescape((body as NSString).substring(with: p.range(at: 2)))
                }
            }
            out[name] = verdict
        }
        return out
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&#10;", with: "\n")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// The leaking tests fail at their teardown with their one line each;
    /// the clean ones, the first user of the session fixture and the test
    /// its marker allows pass. pytest exits 1.
    func expectLeakingTestsFail(sourceLocation: SourceLocation = #_sourceLocation) throws {
        try expectVerdicts(errors: try PytestPluginTests.expectedErrors(), sourceLocation: sourceLocation)
    }

    /// Exactly the tests of `errors` fail at their teardown, each with its
    /// message (a pattern); the others pass.
    func expectVerdicts(errors expected: [String: String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(outcome.status == 1, "\(outcome.stdout)\(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(Set(verdicts.keys) == PytestPluginTests.tests, "\(verdicts)", sourceLocation: sourceLocation)
        for name in PytestPluginTests.tests {
            let verdict = verdicts[name] ?? "absent"
            if let pattern = expected[name] {
                let full = "^failed on teardown with \"" + pattern + "\"$"
                #expect(
                    verdict.range(of: full, options: .regularExpression) != nil, "\(name): \(verdict)",
                    sourceLocation: sourceLocation)
            } else {
                #expect(verdict == "passed", "\(name): \(verdict)\n\(outcome.stdout)", sourceLocation: sourceLocation)
            }
        }
    }
}

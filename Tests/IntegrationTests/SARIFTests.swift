import FDTraceCore
import Foundation
import Testing

/// `--sarif FILE` on run and report, validated against the official schema.
@Suite("--sarif: SARIF 2.1.0")
struct SARIFTests {
    static let schema = Paths.root.appendingPathComponent("Tests/Schemas/sarif-schema-2.1.0.json").path

    /// Python's jsonschema against the schema (Draft 4, as it declares).
    func expectValid(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let check = "import json, sys, jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1]))); print('valid')"
        let o = try run(["python3", "-c", check, Self.schema, path])
        #expect(o.status == 0 && o.stdout == "valid\n", "\(o.stderr.suffix(2000))", sourceLocation: sourceLocation)
    }

    func results(_ path: String) throws -> [[String: Any]] {
        let log = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        #expect(log["version"] as? String == "2.1.0")
        let runs = try #require(log["runs"] as? [[String: Any]])
        return try #require(runs.first?["results"] as? [[String: Any]])
    }

    func rules(_ path: String) throws -> [String] {
        let log = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        let driver = ((log?["runs"] as? [[String: Any]])?.first?["tool"] as? [String: Any])?["driver"] as? [String: Any]
        return (driver?["rules"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    /// (rule, file name, line, fingerprint) of each result.
    func summary(_ r: [String: Any]) -> (rule: String, file: String, line: Int, fingerprint: String) {
        let loc = (r["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any]
        let uri = (loc?["artifactLocation"] as? [String: Any])?["uri"] as? String ?? ""
        let line = (loc?["region"] as? [String: Any])?["startLine"] as? Int ?? 0
        let fp = (r["partialFingerprints"] as? [String: String])?["fdtraceSite/v1"] ?? ""
        return (r["ruleId"] as? String ?? "", String(uri.split(separator: "/").last ?? ""), line, fp)
    }

    @Test("C: one result per leak group at the user's line, valid; the same fingerprints in two runs and from report --sarif")
    func nativeSites() throws {
        let exe = try Fixture.build("leak_sites.c")
        let lines = try Fixture.leakLines("leak_sites.c")
        let dir = scratch()
        let a = try SavedRun(
            [exe, "4", dir.appendingPathComponent("odd name <&> é.txt").path], options: ["--sarif", dir.appendingPathComponent("a.sarif").path], in: dir)
        #expect(a.outcome.status == 0 && a.report.leakGroupCount == 3)
        try expectValid(a.path("a.sarif"))
        let ra = try results(a.path("a.sarif")).map(summary)
        #expect(ra.count == a.report.leakGroupCount)
        #expect(
            Set(ra.map { "\($0.rule) \($0.file):\($0.line)" }) == [
                "fd-leak/pipe leak_sites.c:\(lines["pipe"]![0])",
                "fd-leak/file leak_sites.c:\(lines["open"]![0])",
                "fd-leak/file leak_sites.c:\(lines["named"]![0])",
            ])
        #expect(try rules(a.path("a.sarif")) == ["fd-leak/pipe", "fd-leak/file"])
        #expect(ra.allSatisfy { $0.fingerprint.count == 64 } && Set(ra.map(\.fingerprint)).count == 3)

        // Another run: another pid, the same fingerprints.
        let dirB = scratch()
        let b = try SavedRun(
            [exe, "6", dirB.appendingPathComponent("odd name <&> é.txt").path], options: ["--sarif", dirB.appendingPathComponent("b.sarif").path], in: dirB)
        #expect(b.report.processes[0].pid != a.report.processes[0].pid)
        let rb = try results(b.path("b.sarif")).map(summary)
        #expect(Set(rb.map(\.fingerprint)) == Set(ra.map(\.fingerprint)))
        // From the saved JSON: the same document.
        let again = try run([Paths.fdtrace, "report", a.json, "--sarif", a.path("again.sarif")])
        #expect(again.status == 0 && again.stdout.isEmpty && again.stderr.isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.path("again.sarif"))) == Data(contentsOf: URL(fileURLWithPath: a.path("a.sarif"))))
        // The message says what and how many; the stack is there.
        let first = try #require(try results(a.path("a.sarif")).first)
        let text = (first["message"] as? [String: Any])?["text"] as? String ?? ""
        #expect(text.hasPrefix("8 pipe descriptors opened here were never closed: pipe, opened by pipe in pid \(a.report.processes[0].pid)"))
        let frames = ((first["stacks"] as? [[String: Any]])?.first?["frames"] as? [[String: Any]]) ?? []
        #expect(frames.count == 3, "make_pipe, one_round, main")
    }

    @Test("Python and sockets: rules per class (tcp, file, pipe) at the lines of the script; valid; stable")
    func pythonSites() throws {
        let py = try Python.interpreter("3.11")
        let markers = try pythonMarkers("py_leaks.py")
        let dir = scratch()
        let a = try SavedRun([py, Python.fixture("py_leaks.py"), "2"], options: ["--sarif", dir.appendingPathComponent("a.sarif").path], in: dir)
        try expectValid(a.path("a.sarif"))
        let ra = try results(a.path("a.sarif")).map(summary)
        #expect(ra.count == a.report.leakGroupCount)
        let sites = Set(ra.map { "\($0.rule) \($0.file):\($0.line)" })
        #expect(
            sites.isSuperset(of: ["fd-leak/tcp \(markers["socket"]!)", "fd-leak/file \(markers["open64"]!)", "fd-leak/pipe \(markers["pipe2"]!)"]), "\(sites)")
        let dirB = scratch()
        let b = try SavedRun([py, Python.fixture("py_leaks.py"), "3"], options: ["--sarif", dirB.appendingPathComponent("b.sarif").path], in: dirB)
        try expectValid(b.path("b.sarif"))
        #expect(Set(try results(b.path("b.sarif")).map(summary).map(\.fingerprint)) == Set(ra.map(\.fingerprint)))
    }

    @Test("A run without leaks: a valid log with no results")
    func noLeaks() throws {
        let dir = scratch()
        let a = try SavedRun(["/bin/true"], options: ["--sarif", dir.appendingPathComponent("a.sarif").path], in: dir)
        #expect(a.report.leakGroupCount == 0)
        try expectValid(a.path("a.sarif"))
        #expect(try results(a.path("a.sarif")).isEmpty)
    }
}

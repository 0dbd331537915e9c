import FDTraceCore
import Foundation
import Testing

/// Bad closes (Tests/Fixtures/bad_close.c): a close of a number that was not
/// open, with the three stacks valgrind shows, and a stale stream closing a
/// number another site reused; none in clean programs; --fail-on-bad-close;
/// JSON, text and SARIF.
@Suite("Bad closes")
struct BadCloseTests {
    static let fixture = "bad_close.c"

    /// Lines marked AT(name) in the fixture.
    static func lines() throws -> [String: Int] {
        let text = try String(contentsOf: Paths.fixtures.appendingPathComponent(fixture), encoding: .utf8)
        var out: [String: Int] = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let r = line.range(of: "AT("), let close = line[r.upperBound...].firstIndex(of: ")") else { continue }
            out[String(line[r.upperBound..<close])] = i + 1
        }
        return out
    }

    /// "call file:line" of a site's highlighted frame.
    func at(_ call: String?, _ frame: FrameReport?) -> String {
        guard let call else { return "-" }
        let file = frame?.file.map { String($0.split(separator: "/").last ?? "") } ?? "?"
        return "\(call) \(file):\(frame?.line ?? 0)"
    }

    /// A group as "kind ×count: close | before | opened | reused".
    func shape(_ g: BadCloseGroup) -> String {
        let sites = [
            at(g.call, g.highlightedFrame), at(g.closedBefore?.call, g.closedBefore?.highlightedFrame),
            at(g.opened?.call, g.opened?.highlightedFrame), at(g.reusedBy?.call, g.reusedBy?.highlightedFrame),
        ]
        return "\(g.kind.rawValue) ×\(g.count) fd \(g.fds): " + sites.joined(separator: " | ")
    }

    /// "bad_close.c:LINE" of a marked line (line 0 when unmarked: fails the comparison).
    func l(_ name: String) -> String { "bad_close.c:\((try? Self.lines())?[name] ?? 0)" }

    @Test("A double close: the close, the close before, the opening; one group of exactly N")
    func doubleClose() throws {
        let exe = try Fixture.build(Self.fixture)
        let (o, report) = try trace([exe, "double", "7"])
        #expect(o.status == 0)
        let p = try #require(report.process(exe))
        expectAccounted(p)
        #expect(p.leaks.isEmpty && p.events.closesOfUnknownDescriptors == 7)
        let groups = try #require(p.badCloses)
        #expect(
            groups.map(shape) == [
                "not_open ×7 fd [3]: close \(l("double-second")) | close \(l("double-first")) | open \(l("double-open")) | -"
            ])
        #expect(o.stderr.contains("7 bad closes from 1 site:\n  7 × close of fd 3, which was not open    close\n"))
    }

    @Test("A number never opened (and close(-1), which is no descriptor); a FILE* whose descriptor was closed underneath it")
    func neverOpenedAndClosedStream() throws {
        let exe = try Fixture.build(Self.fixture)
        let (o, report) = try trace([exe, "never"])
        let p = try #require(report.process(exe))
        #expect(o.status == 0 && p.badCloses?.map(shape) == ["not_open ×1 fd [1000]: close \(l("never")) | - | - | -"])
        #expect(o.stderr.contains("(no close of it seen before)"))
        let (o2, report2) = try trace([exe, "fclose"])
        let p2 = try #require(report2.process(exe))
        #expect(
            o2.status == 0
                && p2.badCloses?.map(shape) == [
                    "not_open ×1 fd [3]: fclose \(l("fclose-bad")) | close \(l("fclose-under")) | fopen \(l("fclose-open")) | -"
                ])
    }

    @Test("A stale FILE* across two threads closes the number the other thread opened; that thread's close is then bad (3 runs)")
    func staleStream() throws {
        let exe = try Fixture.build(Self.fixture)
        for _ in 0..<3 {
            let (o, report) = try trace([exe, "stale"])
            let p = try #require(report.process(exe))
            #expect(o.status == 0, "\(o.stderr)")
            expectAccounted(p)
            let groups = try #require(p.badCloses)
            let fd = try #require(groups.first?.fds.first)
            #expect(
                groups.map(shape) == [
                    "stale_owner ×1 fd [\(fd)]: fclose \(l("stale-fclose")) | close \(l("stale-under")) | fopen \(l("stale-open")) | open \(l("stale-reuse"))",
                    "not_open ×1 fd [\(fd)]: close \(l("stale-victim")) | fclose \(l("stale-fclose")) | open \(l("stale-reuse")) | -",
                ])
            #expect(groups.first?.reusedBy?.summary == "file /dev/null")
            #expect(o.stderr.contains("1 × fclose of fd \(fd), which another site had opened since the stream's descriptor was closed    fclose\n"))
            #expect(o.stderr.contains("      this close closed instead, opened by open (file /dev/null):\n        → other   \(l("stale-reuse"))\n"))
        }
    }

    @Test("10 000 open/close pairs, fopen/fclose, closedir, and ranges over numbers not open: no bad close")
    func cleanLoop() throws {
        let exe = try Fixture.build(Self.fixture)
        let (o, report) = try trace([exe, "clean", "10000"], options: ["--fail-on-bad-close"])
        let p = try #require(report.process(exe))
        #expect(o.status == 0 && report.badCloseGroupCount == 0 && p.badCloses == nil && p.leaks.isEmpty)
        #expect(p.events.opens == 20_005 && p.events.closesOfUnknownDescriptors == 0)
        #expect(!o.stderr.contains("bad close"))
    }

    @Test("Python's subprocess (vfork, fork with preexec_fn, close_fds, pass_fds) and os.closerange: no bad close")
    func pythonSubprocess() throws {
        let script = """
            import os, subprocess
            subprocess.run(["true"])
            subprocess.run(["true"], close_fds=True, pass_fds=[2], preexec_fn=lambda: None)
            subprocess.Popen(["true"], stdout=subprocess.PIPE).communicate()
            os.closerange(3, 1000)
            """
        let (o, report) = try trace(["python3", "-c", script], options: ["--fail-on-bad-close"])
        #expect(o.status == 0, "\(o.stderr.suffix(2000))")
        #expect(report.processes.count > 2 && report.badCloseGroupCount == 0)
        let (o2, report2) = try trace(["python3", "-c", #"import subprocess; subprocess.run(["true"])"#])
        #expect(o2.status == 0 && report2.badCloseGroupCount == 0 && !o2.stderr.contains("bad close"))
    }

    @Test("--fail-on-bad-close: 98 when the program exited 0 and closed badly; its own status otherwise")
    func failOnBadClose() throws {
        let exe = try Fixture.build(Self.fixture)
        let quiet = ["--output", "/dev/null"]
        #expect(try run([Paths.fdtrace, "run", "--fail-on-bad-close"] + quiet + ["--", exe, "double", "1"]).status == 98)
        #expect(try run([Paths.fdtrace, "run", "--fail-on-bad-close"] + quiet + ["--", exe, "stale"]).status == 98)
        #expect(try run([Paths.fdtrace, "run", "--fail-on-bad-close"] + quiet + ["--", exe, "double", "1", "3"]).status == 3)
        #expect(try run([Paths.fdtrace, "run"] + quiet + ["--", exe, "double", "1"]).status == 0)
        #expect(try run([Paths.fdtrace, "run", "--fail-on-leak"] + quiet + ["--", exe, "double", "1"]).status == 0)
        #expect(try run([Paths.fdtrace, "run", "--fail-on-bad-close"] + quiet + ["--", exe, "clean", "10"]).status == 0)
    }

    @Test("JSON, text again from it, HTML, and SARIF: valid, rules per kind at the close's line, the same fingerprints in two runs")
    func jsonAndSARIF() throws {
        let exe = try Fixture.build(Self.fixture)
        let html = scratch().appendingPathComponent("a.html").path
        let a = try SavedRun([exe, "stale"], options: ["--html", html])
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(
            page.contains("<p class=\"warn\">2 bad closes from 2 sites:</p>")
                && page.contains("of fd \(a.report.processes.last?.badCloses?.first?.fds.first ?? -1), reused by another site"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a.json))) as? [String: Any]
        let proc = try #require((json?["processes"] as? [[String: Any]])?.last)
        let groups = try #require(proc["bad_closes"] as? [[String: Any]])
        #expect(groups.map { $0["kind"] as? String } == ["stale_owner", "not_open"])
        #expect(groups.map { ($0["count"] as? Int, $0["call"] as? String) }.map { "\($0.0 ?? 0) \($0.1 ?? "")" } == ["1 fclose", "1 close"])
        #expect(groups[0]["reused_by"] != nil && groups[0]["closed_before"] != nil && groups[1]["reused_by"] == nil)
        let again = try run([Paths.fdtrace, "report", a.json])
        #expect(again.status == 0 && again.stdout == a.text)

        let dir = scratch()
        var fingerprints: [[String]] = []
        for name in ["a", "b"] {
            let path = dir.appendingPathComponent("\(name).sarif").path
            let o = try run([Paths.fdtrace, "run", "--output", "/dev/null", "--sarif", path, "--", exe, "stale"])
            #expect(o.status == 0)
            let sarif = SARIFTests()
            try sarif.expectValid(path)
            let results = try sarif.results(path).map(sarif.summary)
            #expect(
                results.map { "\($0.rule) \($0.file):\($0.line)" } == [
                    "fd-bad-close/stale-owner \(l("stale-fclose"))", "fd-bad-close/not-open \(l("stale-victim"))",
                ])
            #expect(try sarif.rules(path) == ["fd-bad-close/stale-owner", "fd-bad-close/not-open"])
            fingerprints.append(results.map(\.fingerprint))
        }
        #expect(fingerprints[0] == fingerprints[1] && Set(fingerprints[0]).count == 2 && fingerprints[0].allSatisfy { $0.count == 64 })
    }

    @Test("Python: a double os.close names the script's three lines")
    func pythonDoubleClose() throws {
        let dir = scratch()
        let script = dir.appendingPathComponent("double_close.py")
        try """
        import os
        fd = os.open("/dev/null", os.O_RDONLY)
        os.close(fd)
        try:
            os.close(fd)
        except OSError:
            pass
        """.write(to: script, atomically: true, encoding: .utf8)
        let (o, report) = try trace(["python3", script.path])
        #expect(o.status == 0)
        let p = try #require(report.processes.first { $0.badCloses != nil })
        #expect(
            p.badCloses?.map(shape) == [
                "not_open ×1 fd [3]: close double_close.py:5 | close double_close.py:3 | \(p.badCloses?.first?.opened?.call ?? "?") double_close.py:2 | -"
            ])
        #expect(report.badCloseGroupCount == 1)
    }
}

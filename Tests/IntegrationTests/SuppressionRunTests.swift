import FDTraceCore
import Foundation
import Testing

/// Suppression files on real runs: `fdtrace run --suppressions`,
/// `--gen-suppressions`, bare mode's FDTRACE_SUPPRESSIONS, and `fdtrace
/// report --suppressions`, with supp_sites.c (a file, a pipe and a unix
/// socket leaked per round, one function each) and py_supp.py.
@Suite("Suppressions on traced runs")
struct SuppressionRunTests {
    static let fixture = "supp_sites.c"

    /// "supp_sites.c:10" for each LEAK marker of the fixture.
    func site(_ marker: String, in fixture: String = fixture) throws -> String {
        "\(fixture):\(try #require(Fixture.leakLines(fixture)[marker]?.first))"
    }

    func write(_ dir: URL, _ name: String, _ text: String) -> String {
        let path = dir.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    /// file:line and count of each group.
    func sites(_ groups: [LeakGroup]) -> [String] {
        groups.map { g in "\(SiteLabel.of(g)) ×\(g.count)" }
    }

    static let byFrameAndPath = """
        # the pipes, wherever make_pipe is called from
        name: pipes
        frame: ...
        frame: make_pi*

        name: hostname
        path: /etc/host*

        name: old
        call: inotify_init
        """

    @Test("A frame glob and a path glob leave only the third site; counts per entry, the stale one named (text, JSON, SARIF)")
    func frameAndPath() throws {
        let exe = try Fixture.build(Self.fixture)
        let dir = scratch()
        let supp = write(dir, "known.supp", Self.byFrameAndPath)
        let sarif = dir.appendingPathComponent("report.sarif").path
        let r = try SavedRun([exe, "4"], options: ["--suppressions", supp, "--fail-on-leak", "--sarif", sarif], in: dir)
        #expect(r.outcome.status == 99, "the socket leak is not suppressed")
        let p = try #require(r.report.process(exe))
        #expect(sites(p.leaks) == ["\(try site("socket")) ×4"])
        #expect(p.leaks[0].call == "socket" && p.leakedDescriptors == 4)
        #expect(sites(p.suppressed ?? []) == ["\(try site("pipe")) ×8", "\(try site("open")) ×4"])
        #expect(p.suppressed?.map(\.suppressedBy) == ["pipes", "hostname"])
        let uses = try #require(r.report.suppressions).entries
        #expect(uses.map(\.name) == ["pipes", "hostname", "old"] && uses.map(\.line) == [2, 6, 9])
        #expect(uses.map(\.groups) == [1, 1, 0] && uses.map(\.descriptors) == [8, 4, 0] && uses.map(\.stale) == [false, false, true])
        #expect(r.text.contains("  4 leaked descriptors from 1 site (12 more from 2 sites suppressed):\n"))
        #expect(
            r.text.hasSuffix(
                """
                fdtrace: suppressed 2 leak groups (12 descriptors) by 2 of 3 entries, 1 stale:
                  pipes      1 group, 8 descriptors   \(supp):2
                  hostname   1 group, 4 descriptors   \(supp):6
                  old        stale: matched nothing   \(supp):9

                """))
        try SARIFTests().expectValid(sarif)
        #expect(try SARIFTests().results(sarif).count == 1)
        let log = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sarif))) as? [String: Any]
        let run = (log?["runs"] as? [[String: Any]])?.first
        let notes = ((run?["invocations"] as? [[String: Any]])?.first?["toolExecutionNotifications"] as? [[String: Any]]) ?? []
        #expect(notes.map { $0["level"] as? String } == ["note", "note", "warning"])
        #expect((notes.last?["message"] as? [String: Any])?["text"] as? String == "suppression 'old' matched nothing (stale)")
        #expect((run?["properties"] as? [String: Int]) == ["suppressedGroups": 2, "suppressedDescriptors": 12, "staleSuppressions": 1])
    }

    @Test("--gen-suppressions: an entry per group naming the user's frame; fed back, --fail-on-leak exits 0")
    func generated() throws {
        let exe = try Fixture.build(Self.fixture)
        let dir = scratch()
        let gen = dir.appendingPathComponent("gen.supp").path
        let first = try run([Paths.fdtrace, "run", "--gen-suppressions", gen, "--fail-on-leak", "--", exe, "2"])
        #expect(first.status == 99)
        let text = try String(contentsOfFile: gen, encoding: .utf8)
        let blocks = text.components(separatedBy: "\n\n")
        #expect(blocks.count == 3)
        for (function, marker, call, kind) in [
            ("make_pipe", "pipe", "pipe", "pipe"), ("load_config", "open", "open", "file"), ("open_socket", "socket", "socket", "unix"),
        ] {
            let block = try #require(blocks.first { $0.contains("frame: \(function) @") }, "\(function)")
            #expect(block.contains("\ncall: \(call)\nkind: \(kind)\nframe: ...\nframe: \(function) @ \(try site(marker))"), "\(block)")
        }
        let again = try SavedRun([exe, "2"], options: ["--suppressions", gen, "--fail-on-leak"], in: dir)
        #expect(again.outcome.status == 0, "\(again.text)")
        #expect(again.report.leakGroupCount == 0)
        #expect(again.report.suppressions?.entries.map(\.groups) == [1, 1, 1])
        #expect(again.report.suppressions?.stale.isEmpty == true)
        #expect(again.text.contains("  no leaks left: 8 leaked descriptors from 3 sites suppressed\n"))
    }

    @Test(
        "A malformed file: one line naming file, line and problem, status 64, and the program is not run",
        arguments: [
            ("bad glob", "name: a\nframe: make_pipe @ supp_sites.c:[1\n", "2: bad glob 'supp_sites.c:[1': '[' is not closed"),
            ("unknown field", "name: a\ncall: open\ncolour: red\n", "3: unknown field 'colour' (name, call, kind, path, frame)"),
            ("missing name", "# known\ncall: open\n", "2: entry has no name (add 'name: …' to it)"),
            ("no matcher", "name: lonely\n", "1: entry 'lonely' has no matcher (call, kind, path or frame)"),
        ])
    func malformed(_ what: String, _ text: String, _ problem: String) throws {
        let exe = try Fixture.build(Self.fixture)
        let dir = scratch()
        let good = write(dir, "good.supp", Self.byFrameAndPath)
        let bad = write(dir, "bad.supp", text)
        let marker = dir.appendingPathComponent("ran").path
        let o = try run([Paths.fdtrace, "run", "--suppressions", good, "--suppressions", bad, "--", exe, "1", marker])
        #expect(o.status == 64, "\(what)")
        #expect(o.stderr == "fdtrace: \(bad):\(problem)\n", "\(what)")
        #expect(!FileManager.default.fileExists(atPath: marker), "\(what): the program ran")
    }

    @Test("An unreadable suppression file: one line, status 64, the program is not run")
    func unreadable() throws {
        let exe = try Fixture.build(Self.fixture)
        let dir = scratch()
        let marker = dir.appendingPathComponent("ran").path
        let missing = dir.appendingPathComponent("missing.supp").path
        let o = try run([Paths.fdtrace, "run", "--suppressions", missing, "--", exe, "1", marker])
        #expect(o.status == 64 && o.stderr == "fdtrace: cannot read suppressions \(missing): No such file or directory\n")
        let d = try run([Paths.fdtrace, "run", "--suppressions", dir.path, "--", exe, "1", marker])
        #expect(d.status == 64 && d.stderr == "fdtrace: cannot read suppressions \(dir.path): it is a directory\n")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("Python: a group suppressed by a Python frame (function @ file.py:line); the other stays")
    func python() throws {
        let py = try Python.interpreter("3.11")
        let dir = scratch()
        let config = try site("open", in: "py_supp.py"), channel = try site("pipe2", in: "py_supp.py")
        let supp = write(dir, "py.supp", "name: config files\nframe: ...\nframe: config @ \(config)\n")
        let r = try SavedRun([py, Python.fixture("py_supp.py"), "2"], options: ["--suppressions", supp, "--fail-on-leak"], in: dir)
        #expect(r.outcome.status == 99)
        let p = try #require(r.report.processes.first { !$0.leaks.isEmpty || $0.suppressed != nil })
        #expect(sites(p.leaks) == ["\(channel) ×4"])
        #expect(sites(p.suppressed ?? []) == ["\(config) ×2"])
        #expect(p.suppressed?.first?.highlightedFrame?.python == true)
        #expect(r.report.suppressions?.entries.map(\.descriptors) == [2])
    }

    @Test("Bare mode: FDTRACE_SUPPRESSIONS (two files, ':'), FDTRACE_GEN_SUPPRESSIONS; a malformed file is one line and the program runs untraced")
    func bare() throws {
        let exe = try Fixture.build(Self.fixture)
        let dir = scratch()
        let a = write(dir, "a.supp", "name: pipes\nframe: make_pipe\n")
        let b = write(dir, "b.supp", "name: hostname\nkind: file\npath: /etc/hostname\n")
        let json = dir.appendingPathComponent("bare.json").path, gen = dir.appendingPathComponent("bare.supp").path
        let o = try run(
            [exe, "3"], env: preloadedEnv(["FDTRACE_SUPPRESSIONS": "\(a):\(b)", "FDTRACE_JSON": json, "FDTRACE_GEN_SUPPRESSIONS": gen]))
        #expect(o.status == 0)
        #expect(o.stderr.contains("fdtrace: suppressed 2 leak groups (9 descriptors) by 2 of 2 entries\n"))
        let report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        let p = try #require(report.process(exe))
        #expect(sites(p.leaks) == ["\(try site("socket")) ×3"])
        #expect(report.suppressions?.entries.map { "\($0.file):\($0.line) \($0.groups)" } == ["\(a):1 1", "\(b):1 1"])
        let written = try String(contentsOfFile: gen, encoding: .utf8)
        #expect(written.contains("frame: open_socket @ \(try site("socket"))") && !written.contains("make_pipe"))

        let bad = write(dir, "bad.supp", "name: x\ncolour: red\n")
        let marker = dir.appendingPathComponent("ran").path
        let refused = try run([exe, "1", marker], env: preloadedEnv(["FDTRACE_SUPPRESSIONS": "\(a):\(bad)"]))
        #expect(refused.status == 0)
        #expect(refused.stderr == "fdtrace: \(bad):2: unknown field 'colour' (name, call, kind, path, frame)\n")
        #expect(FileManager.default.fileExists(atPath: marker), "the program is never harmed: it runs, untraced")
    }

    @Test("fdtrace report --suppressions: a saved report again, with what it still lists suppressed")
    func report() throws {
        let exe = try Fixture.build(Self.fixture)
        let dir = scratch()
        let saved = try SavedRun([exe, "2"], in: dir)
        #expect(saved.report.leakGroupCount == 3)
        let supp = write(dir, "known.supp", Self.byFrameAndPath)
        let gen = dir.appendingPathComponent("left.supp").path
        let o = try run([Paths.fdtrace, "report", saved.json, "--suppressions", supp, "--gen-suppressions", gen])
        #expect(o.status == 0 && o.stderr.isEmpty)
        #expect(o.stdout.contains("  2 leaked descriptors from 1 site (6 more from 2 sites suppressed):\n"))
        #expect(o.stdout.contains("  old        stale: matched nothing   \(supp):9\n"))
        #expect(!o.stdout.contains("make_pipe") && o.stdout.contains("open_socket"))
        let left = try String(contentsOfFile: gen, encoding: .utf8)
        #expect(left.contains("frame: open_socket @") && !left.contains("\n\n"), "one entry: the group left")
        // The report as saved, without suppressions, is unchanged.
        #expect(try run([Paths.fdtrace, "report", saved.json]).stdout == saved.text)
        // A report saved with suppressions prints as the run printed it.
        let suppressed = try SavedRun([exe, "2"], options: ["--suppressions", supp], in: scratch())
        #expect(suppressed.report.suppressions?.groups == 2)
        #expect(try run([Paths.fdtrace, "report", suppressed.json]).stdout == suppressed.text)
        let bad = write(dir, "bad.supp", "name: x\n")
        let refused = try run([Paths.fdtrace, "report", saved.json, "--suppressions", bad])
        #expect(refused.status == 64 && refused.stderr == "fdtrace: \(bad):1: entry 'x' has no matcher (call, kind, path or frame)\n")
        let diff = try run([Paths.fdtrace, "report", "--diff", saved.json, saved.json, "--suppressions", supp])
        #expect(diff.status == 64 && diff.stderr == "fdtrace: --diff compares the reports as saved (no --suppressions or --gen-suppressions)\n")
    }
}

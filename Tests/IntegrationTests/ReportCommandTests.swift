import FDTraceCore
import Foundation
import Testing

/// A run of `fdtrace run` with its reports kept in `dir`: the text it printed
/// (--output), the JSON, and whatever `extra` options wrote.
struct SavedRun {
    var outcome: Outcome
    var dir: URL
    var report: Report
    var text: String
    var json: String { dir.appendingPathComponent("report.json").path }

    init(_ argv: [String], options: [String] = [], in dir: URL = scratch()) throws {
        self.dir = dir
        let json = dir.appendingPathComponent("report.json").path, text = dir.appendingPathComponent("report.txt").path
        outcome = try run([Paths.fdtrace, "run", "--json", json, "--output", text] + options + ["--"] + argv)
        report = try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json)))
        self.text = try String(contentsOfFile: text, encoding: .utf8)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
}

@Suite("fdtrace report: a saved report rendered again")
struct ReportCommandTests {
    @Test("The text from the saved JSON is the text fdtrace run printed (one process, --frames, a process tree)")
    func textRoundTrip() throws {
        let leaky = try Fixture.build("leak_sites.c")
        let a = try SavedRun([leaky, "5"])
        #expect(a.outcome.status == 0)
        #expect(a.text.contains("leak_sites.c:") && a.report.leakGroupCount == 2)
        let again = try run([Paths.fdtrace, "report", a.json])
        #expect(again.status == 0 && again.stderr.isEmpty)
        #expect(again.stdout == a.text)

        let b = try SavedRun([leaky, "3"], options: ["--frames", "1"])
        let b1 = try run([Paths.fdtrace, "report", "--frames", "1", b.json])
        #expect(b1.stdout == b.text)
        #expect(try run([Paths.fdtrace, "report", b.json]).stdout != b.text, "--frames changes the text")

        let workers = try Fixture.build("fork_workers.c")
        let c = try SavedRun([workers])
        #expect(c.report.processes.count == 5)
        #expect(try run([Paths.fdtrace, "report", c.json]).stdout == c.text)
    }

    @Test("Python: the saved report shows the interpreter's frames only with --native, and only if it kept them")
    func pythonNative() throws {
        let py = try Python.interpreter("3.11")
        let native = try SavedRun([py, Python.fixture("py_leaks.py"), "1"], options: ["--native"])
        #expect(native.text.contains("ceval.c"))
        let same = try run([Paths.fdtrace, "report", "--native", native.json])
        #expect(same.stdout == native.text && same.stderr.isEmpty)
        // Without --native: the interpreter's frames are left out, the
        // arrow stays on the user's line.
        let plain = try run([Paths.fdtrace, "report", native.json])
        #expect(plain.status == 0 && !plain.stdout.contains("ceval.c"))
        let markers = try pythonMarkers("py_leaks.py")
        #expect(plain.stdout.contains("→ leak") && plain.stdout.contains(markers["socket"]!))
        // A report made without --native has nothing more to show.
        let lean = try SavedRun([py, Python.fixture("py_leaks.py"), "1"])
        #expect(try run([Paths.fdtrace, "report", lean.json]).stdout == lean.text)
        let asked = try run([Paths.fdtrace, "report", "--native", lean.json])
        #expect(asked.stdout == lean.text)
        #expect(asked.stderr == "fdtrace: \(lean.json) was written without the interpreter's native frames (fdtrace run --native keeps them)\n")
    }

    @Test("Bad inputs: one fdtrace: line and a status of its own")
    func badInputs() throws {
        let dir = scratch()
        func write(_ name: String, _ text: String) -> String {
            let p = dir.appendingPathComponent(name).path
            _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
            return p
        }
        let cases: [(args: [String], status: Int32, message: String)] = [
            ([dir.appendingPathComponent("missing.json").path], 66, "cannot read \(dir.path)/missing.json: No such file or directory"),
            ([dir.path], 66, "cannot read \(dir.path): it is a directory"),
            ([write("text.json", "fdtrace: ./leaky exited 0\n")], 65, "\(dir.path)/text.json is not JSON (an fdtrace report is written by --json)"),
            ([write("empty.json", "")], 65, "\(dir.path)/empty.json is empty, not a JSON report"),
            ([write("list.json", "[1, 2]")], 65, "\(dir.path)/list.json is not an fdtrace report (JSON, but not an object)"),
            ([write("other.json", "{\"version\": 1, \"pid\": 3}")], 65, "\(dir.path)/other.json is not an fdtrace report: 'command' is missing"),
            (
                [write("type.json", "{\"version\": 1, \"command\": [], \"notes\": [], \"processes\": [{\"pid\": \"x\"}]}")], 65,
                "\(dir.path)/type.json is not an fdtrace report: 'processes[0].pid' is not a number"
            ),
            ([write("v2.json", "{\"version\": 2}")], 65, "\(dir.path)/v2.json is a report of version 2; this fdtrace reads version 1"),
            ([], 64, "no report given: fdtrace report REPORT.json"),
            (["--diff", "a.json"], 64, "--diff needs two reports: fdtrace report --diff OLD.json NEW.json"),
            (["a.json", "b.json"], 64, "one report at a time (or --diff OLD.json NEW.json)"),
            (["--frames", "0", "a.json"], 64, "--frames must be at least 1"),
        ]
        for c in cases {
            let o = try run([Paths.fdtrace, "report"] + c.args)
            #expect(o.status == c.status, "\(c.args): \(o.stderr)")
            #expect(o.stderr == "fdtrace: \(c.message)\n", "\(c.args)")
            #expect(o.stdout.isEmpty)
        }
        // A snapshot of /proc is JSON too, but not a report.
        let snap = dir.appendingPathComponent("proc.json").path
        #expect(try run([Paths.fdtrace, "snapshot", "--proc", "--pid", String(getpid()), "--json", snap]).status == 0)
        let o = try run([Paths.fdtrace, "report", snap])
        #expect(o.status == 65 && o.stderr.hasPrefix("fdtrace: \(snap) is not an fdtrace report: '") && o.stderr.split(separator: "\n").count == 1)
        // The --diff inputs are checked the same way.
        let d = try run([Paths.fdtrace, "report", "--diff", dir.appendingPathComponent("missing.json").path, snap])
        #expect(d.status == 66 && d.stderr.split(separator: "\n").count == 1)
    }

    @Test("--diff: a fixed build's site is gone (0), the leaky build's is new (1), more is grew (1), less shrank (0)")
    func diff() throws {
        let leaky = try Fixture.build("leak_sites.c"), fixed = try Fixture.build("leak_sites.c", flags: ["-DFIXED"])
        let lines = try Fixture.leakLines("leak_sites.c")
        let pipeSite = "leak_sites.c:\(lines["pipe"]![0]) in make_pipe, pipe (pipe)"
        let openSite = "leak_sites.c:\(lines["open"]![0]) in one_round, open (file)"
        let l5 = try SavedRun([leaky, "5"]), l10 = try SavedRun([leaky, "10"]), f5 = try SavedRun([fixed, "5"])
        #expect(f5.report.leakGroupCount == 1)

        let fix = try run([Paths.fdtrace, "report", "--diff", l5.json, f5.json])
        #expect(fix.status == 0, "\(fix.stdout)\(fix.stderr)")
        #expect(
            fix.stdout == """
                fdtrace: \(l5.json) → \(f5.json): 0 new, 1 gone, 0 grew, 0 shrank, 1 unchanged (no new or grown leak)
                  gone    10 → 0   \(pipeSite)   pipe

                """)
        let back = try run([Paths.fdtrace, "report", "--diff", f5.json, l5.json])
        #expect(back.status == 1)
        #expect(
            back.stdout == """
                fdtrace: \(f5.json) → \(l5.json): 1 new, 0 gone, 0 grew, 0 shrank, 1 unchanged
                  new     0 → 10   \(pipeSite)   pipe

                """)
        let grew = try run([Paths.fdtrace, "report", "--diff", l5.json, l10.json])
        #expect(grew.status == 1)
        #expect(grew.stdout.contains("  grew    10 → 20   \(pipeSite)   pipe\n"))
        #expect(grew.stdout.contains("  grew     5 → 10   \(openSite)   file /etc/hostname\n"))
        let shrank = try run([Paths.fdtrace, "report", "--diff", l10.json, l5.json])
        #expect(shrank.status == 0 && shrank.stdout.contains("0 new, 0 gone, 0 grew, 2 shrank, 0 unchanged"))
        // Two runs of one build: other pids, other descriptor numbers, same sites.
        let again = try SavedRun([leaky, "5"])
        #expect(again.report.processes[0].pid != l5.report.processes[0].pid)
        let same = try run([Paths.fdtrace, "report", "--diff", l5.json, again.json])
        #expect(same.status == 0 && same.stdout.hasSuffix(": 0 new, 0 gone, 0 grew, 0 shrank, 2 unchanged (no new or grown leak)\n"))
    }
}

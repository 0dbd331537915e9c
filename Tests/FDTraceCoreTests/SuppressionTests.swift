import Foundation
import Testing

@testable import FDTraceCore

/// Report pieces for suppression tests.
private enum Sample {
    static func frame(_ function: String?, _ file: String?, _ line: Int?, module: String? = nil, python: Bool? = nil) -> FrameReport {
        FrameReport(function: function, file: file, line: line, module: module, address: "0x1", inlined: false, python: python)
    }

    static func fd(_ n: Int32, _ kind: FDKind, path: String? = nil, proto: String? = nil) -> FDReport {
        FDReport(fd: n, kind: kind, path: path, protocol: proto, cloexec: false, call: "open")
    }

    static func group(
        _ call: String, count: Int = 1, frames: [FrameReport], highlight: Int? = 0, fds: [FDReport]? = nil
    ) -> LeakGroup {
        let fds = fds ?? (0..<count).map { fd(Int32(3 + $0), .file, path: "/etc/hostname") }
        return LeakGroup(count: fds.count, call: call, summary: "s", highlight: highlight, frames: frames, fds: fds)
    }

    /// The three sites of a C program: a file in reload_config, a pipe in
    /// make_pipe, a TCP socket accepted in main.
    static var native: [LeakGroup] {
        [
            group(
                "fopen", count: 5,
                frames: [frame("reload_config", "/src/leaky.c", 13), frame("handle", "/src/leaky.c", 17), frame("main", "/src/leaky.c", 54)]),
            group(
                "pipe", frames: [frame("make_pipe", "/src/leaky.c", 30), frame("main", "/src/leaky.c", 58)],
                fds: [fd(9, .pipe), fd(10, .pipe)]),
            group("accept4", frames: [frame("main", "/src/leaky.c", 53)], fds: [fd(11, .socket, proto: "TCP")]),
        ]
    }

    static func process(_ leaks: [LeakGroup], inherited: [LeakGroup] = [], timeline: TimelineReport? = nil) -> ProcessReport {
        ProcessReport(
            pid: 100, ppid: 1, command: ["./leaky"], executable: "/src/leaky", ended: .exited, durationSeconds: 1,
            reconciliation: .complete, openAtExit: 10, peakOpen: 10, rlimitSoft: 1024, rlimitHard: 1024,
            leakedDescriptors: leaks.reduce(0) { $0 + $1.count }, leaks: leaks, inheritedLeaks: inherited,
            standard: [], inherited: [], unknownOrigin: [], internalErrors: [], notes: [],
            events: EventCounts(
                opens: 1, closes: 1, closesOfUnknownDescriptors: 0, opensOverOpenDescriptors: 0, ringFullWaits: 0,
                ringWaitMilliseconds: 0, recordsLost: 0),
            timeline: timeline)
    }

    static func report(_ leaks: [LeakGroup], inherited: [LeakGroup] = [], timeline: TimelineReport? = nil) -> Report {
        Report(command: ["./leaky"], exitStatus: 0, processes: [process(leaks, inherited: inherited, timeline: timeline)], notes: [])
    }
}

private func entries(_ text: String) throws -> [SuppressionEntry] {
    try SuppressionParser.parse(text, file: "supp.txt")
}

/// The one-line error a malformed file gives.
private func problem(_ text: String) -> String? {
    do {
        _ = try entries(text)
        return nil
    } catch let e as FDTraceError {
        return e.status == ExitStatus.usage ? e.message : "status \(e.status): \(e.message)"
    } catch {
        return "\(error)"
    }
}

@Suite struct GlobTests {
    @Test("*, ?, classes, escapes: a glob matches the whole string")
    func matching() throws {
        let g = try Glob("*leaky_server.c:1?")
        #expect(g.matches("/src/leaky_server.c:13") && g.matches("leaky_server.c:10"))
        #expect(!g.matches("leaky_server.c:1") && !g.matches("leaky_server.c:130"))
        #expect(try Glob("/tmp/*").matches("/tmp/a/b/c"))
        #expect(try Glob("[a-c]x[!0-9]").matches("bxz") && !Glob("[a-c]x[!0-9]").matches("bx5"))
        #expect(try Glob("main.\\(\\*Server\\).serve").matches("main.(*Server).serve"))
        #expect(try Glob("a*b*c").matches("aXbYbZc") && !Glob("a*b*c").matches("aXbYbZ"))
        #expect(try Glob("*").matches(""))
        #expect(try Glob("fopen").isLiteral && !Glob("open*").isLiteral)
    }

    @Test("escape gives a pattern that matches exactly the string")
    func escape() throws {
        for s in ["main.(*Server).serve", "operator*", "Map[...]", "a\\b?"] {
            let g = try Glob(Glob.escape(s))
            #expect(g.matches(s) && g.isLiteral, "\(s)")
        }
    }

    @Test("Bad globs say why")
    func bad() {
        func why(_ s: String) -> String? {
            do {
                _ = try Glob(s)
                return nil
            } catch { return error.reason }
        }
        #expect(why("open[") == "bad glob 'open[': '[' is not closed")
        #expect(why("[]") == "bad glob '[]': '[' is not closed")
        #expect(why("x\\") == "bad glob 'x\\': '\\' at the end escapes nothing")
        #expect(why("[z-a]") == "bad glob '[z-a]': range 'z-a' is reversed")
    }
}

@Suite struct SuppressionTests {
    @Test("A file of entries: fields, comments, blank lines between entries, file:line of each")
    func parse() throws {
        let es = try entries(
            """
            # known leaks
            name: hostname cache
            call: fopen
            kind: file
            path: /etc/*
            frame: ...
            frame: reload_config @ leaky.c:13

              # indented comment, blank lines


            name: pipes
            frame: @ leaky.c
            frame: main
            """)
        #expect(es.count == 2)
        #expect(es[0].name == "hostname cache" && es[0].place == "supp.txt:2")
        #expect(es[0].call?.text == "fopen" && es[0].kind?.text == "file" && es[0].path?.text == "/etc/*")
        #expect(es[0].frames == [.anyFrames, .frame(function: try Glob("reload_config"), location: try Glob("leaky.c:13"))])
        #expect(es[1].place == "supp.txt:12")
        #expect(es[1].frames == [.frame(function: nil, location: try Glob("leaky.c")), .frame(function: try Glob("main"), location: nil)])
    }

    @Test("CRLF line ends and indented lines read as the plain file")
    func lineEnds() throws {
        let es = try entries("name: a\r\n  call: open*\r\n\r\nname: b\r\n\tframe: ...\r\n")
        #expect(es.map(\.name) == ["a", "b"] && es[0].call?.text == "open*" && es[1].frames == [.anyFrames] && es[1].line == 4)
    }

    @Test("Malformed files: one line naming file, line and problem")
    func malformed() {
        #expect(problem("name: a\ncall: open\ncolour: red\n") == "supp.txt:3: unknown field 'colour' (name, call, kind, path, frame)")
        #expect(problem("call: open\n\nname: b\ncall: x\n") == "supp.txt:1: entry has no name (add 'name: …' to it)")
        #expect(problem("# c\nname: a\n") == "supp.txt:2: entry 'a' has no matcher (call, kind, path or frame)")
        #expect(problem("name: a\nframe: main @ leaky.c:[1\n") == "supp.txt:2: bad glob 'leaky.c:[1': '[' is not closed")
        #expect(problem("name: a\npath: /tmp/\\\n") == "supp.txt:2: bad glob '/tmp/\\': '\\' at the end escapes nothing")
        #expect(
            problem("name: a\nkind: tcpp\n")
                == "supp.txt:2: unknown kind 'tcpp' (file, pipe, tcp, udp, unix, socket, eventpoll, …, mixed, or a glob)")
        #expect(problem("name: a\ncall: open\ncall: fopen\n") == "supp.txt:3: 'call' given twice in one entry (entries are separated by a blank line)")
        #expect(problem("name: a\nfopen\n") == "supp.txt:2: expected 'field: value', not 'fopen'")
        #expect(problem("name: a\ncall:\n") == "supp.txt:2: 'call' has no value")
        #expect(problem("name: a\nframe: main @\n") == "supp.txt:2: frame 'main @' has no place after '@' (a file, file:line or module)")
        #expect(problem("") == nil && problem("# nothing\n\n") == nil)
    }

    @Test("Kinds: the report's kinds and classes (io-uring for io_uring), or a glob")
    func kinds() throws {
        for k in ["file", "pipe", "tcp", "udp", "unix", "socket", "eventpoll", "io_uring", "io-uring", "mixed", "memfd", "*"] {
            #expect(problem("name: a\nkind: \(k)\n") == nil, "\(k)")
        }
    }

    @Test("Frame patterns: anchored at the frame nearest the call, ... for any frames, function / file / file:line")
    func frames() throws {
        let g = Sample.native[0]
        func match(_ lines: String) throws -> Bool {
            try entries("name: t\n" + lines)[0].matches(g)
        }
        #expect(try match("frame: reload_config"))
        #expect(try !match("frame: handle"), "anchored at the first frame")
        #expect(try match("frame: ...\nframe: handle"))
        #expect(try match("frame: ...\nframe: handle @ leaky.c:17\nframe: main"))
        #expect(try !match("frame: ...\nframe: handle @ leaky.c:18"))
        #expect(try match("frame: @ leaky.c:13\nframe: ...\nframe: main @ /src/*.c:54"))
        #expect(try match("frame: ...\nframe: ...\nframe: main\nframe: ..."))
        #expect(try !match("frame: ...\nframe: nothere"))
        #expect(try match("frame: * @ leaky.c\nframe: *\nframe: main"))
        #expect(try !match("frame: reload_config\nframe: main"), "handle lies between")
    }

    @Test("Call, kind, path: every matcher of an entry must match")
    func fields() throws {
        let n = Sample.native
        let (file, pipe, tcp) = (n[0], n[1], n[2])
        func matches(_ lines: String) throws -> [Bool] {
            let e = try entries("name: t\n" + lines)[0]
            return [file, pipe, tcp].map(e.matches)
        }
        #expect(try matches("call: fopen") == [true, false, false])
        #expect(try matches("call: *pe*") == [true, true, false])
        #expect(try matches("kind: tcp") == [false, false, true])
        #expect(try matches("kind: socket") == [false, false, true])
        #expect(try matches("kind: pipe") == [false, true, false])
        #expect(try matches("path: /etc/host*") == [true, false, false])
        #expect(try matches("path: *") == [true, false, false], "a path matcher needs paths")
        #expect(try matches("call: fopen\nkind: pipe") == [false, false, false])
        #expect(try matches("kind: file\nframe: ...\nframe: main @ leaky.c:54") == [true, false, false])
    }

    @Test("Python and Go frames match like native ones; a frame without source by its module")
    func otherFrames() throws {
        let py = Sample.group(
            "socket",
            frames: [
                Sample.frame("socket.__init__", "/usr/lib/python3.11/socket.py", 232, python: true),
                Sample.frame("_PyEval_EvalFrameDefault", "ceval.c", 100, module: "/usr/lib/libpython3.11.so.1.0"),
                Sample.frame("fetch", "/app/app.py", 63, python: true),
            ], highlight: 2, fds: [Sample.fd(5, .socket, proto: "TCP")])
        // The interpreter's native frame is not part of the stack matched.
        #expect(try entries("name: t\nframe: socket.__init__\nframe: fetch @ app.py:63")[0].matches(py))
        let go = Sample.group(
            "accept4",
            frames: [
                Sample.frame("internal/poll.(*FD).Accept", "/usr/lib/go/src/internal/poll/fd_unix.go", 172),
                Sample.frame("main.(*Server).serve", "/src/server/main.go", 41),
            ], highlight: 1, fds: [Sample.fd(7, .socket, proto: "TCP")])
        #expect(try entries("name: t\nframe: ...\nframe: main.\\(\\*Server\\).serve @ main.go:41")[0].matches(go))
        #expect(try entries("name: t\nframe: ...\nframe: main.(*Server).serve")[0].matches(go), "* stands for any text, itself too")
        #expect(try !entries("name: t\nframe: ...\nframe: main.(*Server).serve @ main.go:42")[0].matches(go))
        let bare = Sample.group("open", frames: [Sample.frame(nil, nil, nil, module: "/usr/lib/libfoo.so.1")])
        #expect(try entries("name: t\nframe: ?? @ libfoo.so*")[0].matches(bare))
        #expect(try entries("name: t\nframe: @ /usr/lib/*")[0].matches(bare))
    }

    @Test("apply: matched groups leave the leaks (and the timeline's indices follow), counts per entry, stale entries")
    func apply() throws {
        let site = { (i: Int?) in TimelineSite(call: "x", site: nil, leakGroup: i, peak: 1, counts: BucketCounts([1])) }
        let timeline = TimelineReport(
            startSeconds: 0, bucketSeconds: 1, total: BucketCounts([1]), sites: [site(0), site(1), site(2)], marks: [])
        let inherited = Sample.group("open", frames: [Sample.frame("parent_open", "/src/parent.c", 5)])
        let report = Sample.report(Sample.native, inherited: [inherited], timeline: timeline)
        let s = Suppressions(
            entries: try entries(
                """
                name: config
                frame: reload_config

                name: never
                call: inotify_init

                name: parent
                frame: parent_open
                """))
        #expect(s.match(Sample.native[0])?.name == "config" && s.match(Sample.native[1]) == nil)
        let r = s.apply(to: report)
        let p = r.processes[0]
        #expect(p.leaks.map(\.call) == ["pipe", "accept4"])
        #expect(p.leakedDescriptors == 3 && r.leakGroupCount == 2)
        #expect(p.inheritedLeaks.isEmpty)
        #expect(p.suppressed?.map(\.suppressedBy) == ["config", "parent"])
        #expect(p.timeline?.sites.map(\.leakGroup) == [nil, 0, 1])
        let uses = try #require(r.suppressions).entries
        #expect(uses.map(\.name) == ["config", "never", "parent"])
        #expect(uses.map(\.groups) == [1, 0, 1] && uses.map(\.descriptors) == [5, 0, 1])
        #expect(uses.map(\.stale) == [false, true, false] && uses[1].line == 4)
        // No entries: the report as it was (no summary).
        #expect(Suppressions().apply(to: report) == report)
        // Through JSON and back, the summary and the suppressed groups stay.
        #expect(try JSONRenderer.decode(JSONRenderer.render(r)) == r)
    }

    @Test("The text says what each entry suppressed and which are stale")
    func text() throws {
        let s = Suppressions(entries: try entries("name: config\nframe: reload_config\n\nname: old\ncall: nothing\n"))
        let text = TextRenderer().render(s.apply(to: Sample.report(Sample.native)))
        #expect(text.contains("  3 leaked descriptors from 2 sites (5 more from 1 site suppressed):\n"))
        #expect(
            text.hasSuffix(
                """
                fdtrace: suppressed 1 leak group (5 descriptors) by 1 of 2 entries, 1 stale:
                  config   1 group, 5 descriptors   supp.txt:1
                  old      stale: matched nothing   supp.txt:4

                """))
        let all = Suppressions(entries: try entries("name: all\ncall: *\n")).apply(to: Sample.report(Sample.native))
        #expect(TextRenderer().render(all).contains("  no leaks left: 8 leaked descriptors from 3 sites suppressed\n"))
    }

    @Test("The HTML page has a Suppressed section: counts per entry, stale ones marked, names escaped")
    func html() throws {
        let s = Suppressions(entries: try entries("name: <b>config</b>\nframe: reload_config\n\nname: old\ncall: nothing\n"))
        let page = HTMLRenderer().render(s.apply(to: Sample.report(Sample.native)))
        #expect(page.contains("<p id=\"suppressed\" data-groups=\"1\" data-descriptors=\"5\" data-stale=\"1\">"))
        #expect(page.contains("<tr><td>&lt;b&gt;config&lt;/b&gt;</td><td class=\"num\">1</td><td class=\"num\">5</td><td><code>supp.txt:1</code></td></tr>"))
        #expect(page.contains("<tr class=\"stale\"><td>old <em>(stale: matched nothing)</em></td>"))
        #expect(!HTMLRenderer().render(Sample.report(Sample.native)).contains("id=\"suppressions\""))
    }

    @Test("--gen-suppressions: one entry per group, blank-line separated, naming the user's frame; read back, it suppresses them all")
    func generate() throws {
        let go = Sample.group(
            "accept4",
            frames: [
                Sample.frame("internal/poll.(*FD).Accept", "/usr/lib/go/src/internal/poll/fd_unix.go", 172),
                Sample.frame("main.(*Server).serve", "/src/server/main.go", 41),
            ], highlight: 1, fds: [Sample.fd(7, .socket, proto: "TCP")])
        let report = Sample.report(Sample.native + [go, Sample.native[0]])
        let text = SuppressionWriter.render(report)
        #expect(
            text.hasPrefix(
                """
                # 5 × s, in ./leaky (pid 100)
                name: leaky.c:13 in reload_config, fopen (file)
                call: fopen
                kind: file
                frame: ...
                frame: reload_config @ leaky.c:13

                # 2 × s, in ./leaky (pid 100)
                name: leaky.c:30 in make_pipe, pipe (pipe)
                """))
        #expect(text.contains("frame: main.(\\*Server).serve @ main.go:41\n"))
        let parsed = try SuppressionParser.parse(text, file: "gen.txt")
        #expect(parsed.count == 4, "the repeated group is one entry")
        let r = Suppressions(entries: parsed).apply(to: report)
        #expect(r.leakGroupCount == 0 && r.suppressions?.stale.isEmpty == true)
        #expect(r.suppressions?.entries.map(\.groups) == [2, 1, 1, 1])
    }

    @Test("Several files: names are unique across them; an unreadable file is a usage error")
    func load() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdtrace-supp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.supp").path, b = dir.appendingPathComponent("b.supp").path
        try "name: x\ncall: open\n".write(toFile: a, atomically: true, encoding: .utf8)
        try "# b\nname: y\ncall: pipe\n\nname: x\ncall: socket\n".write(toFile: b, atomically: true, encoding: .utf8)
        #expect(try Suppressions.load([a]).entries.map(\.name) == ["x"])
        #expect(throws: FDTraceError.self) { try Suppressions.load([a, b]) }
        do { _ = try Suppressions.load([a, b]) } catch let e as FDTraceError {
            #expect(e.message == "\(b):5: entry 'x' is already defined at \(a):1" && e.status == 64)
        }
        do { _ = try Suppressions.load([dir.appendingPathComponent("none").path]) } catch let e as FDTraceError {
            #expect(e.message == "cannot read suppressions \(dir.path)/none: No such file or directory" && e.status == 64)
        }
        #expect(Suppressions.paths(fromEnvironment: "a.supp::/x/b.supp") == ["a.supp", "/x/b.supp"])
    }
}

import FDTraceCore
import Foundation
import Testing

/// Debian's headless Chromium, without network: the page's DOM after its
/// script ran, and a screenshot.
enum Chromium {
    static var path: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func arguments(profile: URL) throws -> [String] {
        guard let path else { throw FixtureError(message: "chromium is not installed (make setup installs it)") }
        return [
            "/usr/bin/timeout", "120", path, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--user-data-dir=\(profile.path)", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,2000",
        ]
    }

    /// The DOM of `file` (with `fragment`, e.g. "window=0.1-0.2").
    static func dumpDOM(_ file: String, fragment: String = "") throws -> String {
        let profile = scratch()
        defer { try? FileManager.default.removeItem(at: profile) }
        let o = try run(try arguments(profile: profile) + ["--dump-dom", url(file, fragment)])
        guard o.status == 0, o.stdout.contains("</html>") else {
            throw FixtureError(message: "chromium --dump-dom failed (\(o.status)): \(o.stderr.suffix(1500))")
        }
        return o.stdout
    }

    static func screenshot(_ file: String, to png: String, fragment: String = "") throws {
        let profile = scratch()
        defer { try? FileManager.default.removeItem(at: profile) }
        let o = try run(try arguments(profile: profile) + ["--screenshot=\(png)", url(file, fragment)])
        guard o.status == 0 else { throw FixtureError(message: "chromium --screenshot failed (\(o.status)): \(o.stderr.suffix(1500))") }
    }

    static func url(_ file: String, _ fragment: String) -> String {
        URL(fileURLWithPath: file).absoluteString + (fragment.isEmpty ? "" : "#" + fragment)
    }
}

/// The root element's tag (where the page records script errors and readiness).
func rootTag(_ dom: String) -> String {
    dom.range(of: "<html").map { String(dom[$0.lowerBound...].prefix { $0 != ">" }) } ?? ""
}

/// Attributes of the elements of one kind in a DOM dump, in order (the dump
/// serializes attributes as name="value", values with &quot; &amp; &lt; &gt;).
func elements(_ dom: String, _ tag: String, where cls: String? = nil) -> [[String: String]] {
    var out: [[String: String]] = []
    var rest = dom[...]
    while let r = rest.range(of: "<\(tag) ") {
        guard let end = rest[r.upperBound...].firstIndex(of: ">") else { break }
        let attrs = String(rest[r.upperBound..<end])
        var dict: [String: String] = [:]
        let pattern = try! NSRegularExpression(pattern: #"([a-zA-Z-]+)="([^"]*)""#)
        for m in pattern.matches(in: attrs, range: NSRange(attrs.startIndex..., in: attrs)) {
            dict[String(attrs[Range(m.range(at: 1), in: attrs)!])] = String(attrs[Range(m.range(at: 2), in: attrs)!])
        }
        if cls == nil || dict["class"] == cls { out.append(dict) }
        rest = rest[end...]
    }
    return out
}

@Suite("--html: one self-contained file, checked in Chromium without network")
struct HTMLTests {
    static let hostileName = "</script><img src=x onerror=alert(1)>"

    /// leak_sites.c with 20 rounds and a file named `hostileName` (in a
    /// directory named "<"), traced with --html.
    func hostileRun() throws -> (SavedRun, String) {
        let exe = try Fixture.build("leak_sites.c")
        let dir = scratch()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("<"), withIntermediateDirectories: true)
        let hostile = dir.path + "/" + Self.hostileName
        let a = try SavedRun([exe, "20", hostile], options: ["--html", dir.appendingPathComponent("report.html").path], in: dir)
        #expect(a.outcome.status == 0 && a.report.leakGroupCount == 3)
        return (a, hostile)
    }

    @Test("Ready, no script error; a row per leak group with its count; the chart's sites and the limit; the hostile file name as text")
    func leakSites() throws {
        let (a, hostile) = try hostileRun()
        let file = a.path("report.html")
        let html = try String(contentsOfFile: file, encoding: .utf8)
        // Self-contained: no URL and nothing fetched.
        #expect(!html.contains("http:") && !html.contains("https:") && !html.contains("<link") && !html.contains("url("))
        #expect(!html.contains("<img") && !html.contains("<iframe"))
        // Readable without JavaScript: the rows are in the HTML.
        #expect(html.components(separatedBy: "<tr class=\"group\"").count - 1 == a.report.leakGroupCount)
        #expect(
            html.contains("<td class=\"what\">file \(HTMLRenderer.esc(hostile))</td>"),
            "\(html.components(separatedBy: "<td class=\"what\">").dropFirst().map { $0.prefix(200) })")
        // The embedded JSON: the name escaped for a script element.
        #expect(html.contains("\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e"))
        #expect(html.components(separatedBy: "</script>").count - 1 == 3, "the error trap, the data, the script")

        let dom = try Chromium.dumpDOM(file)
        #expect(rootTag(dom).contains("data-ready=\"1\"") && !rootTag(dom).contains("data-errors"), "\(rootTag(dom))")
        // The table: one row per group, in order, with its count and kind.
        let p = a.report.processes[0]
        let rows = elements(dom, "tr", where: "group")
        #expect(rows.map { $0["data-count"] ?? "" } == p.leaks.map { String($0.count) })
        #expect(rows.map { $0["data-kind"] ?? "" } == ["pipe", "file", "file"])
        #expect(dom.components(separatedBy: "id=\"shown\">3 groups<").count == 2)
        // The chart: each of the timeline's sites, "other", the soft limit.
        let timeline = try #require(p.timeline)
        let series = elements(dom, "path", where: "series")
        let lines = try Fixture.leakLines("leak_sites.c")
        #expect(
            Set(series.map { "\($0["data-label"] ?? "") \($0["data-call"] ?? "")" }).isSuperset(of: [
                "leak_sites.c:\(lines["pipe"]![0]) pipe", "leak_sites.c:\(lines["open"]![0]) open",
            ]))
        #expect(series.count == timeline.sites.count)
        #expect(series.first { $0["data-label"] == "leak_sites.c:\(lines["pipe"]![0])" }?["data-peak"] == "40")
        #expect(elements(dom, "path", where: "series other").count == 1)
        #expect(elements(dom, "line", where: "limit").first?["data-limit"] == String(p.rlimitSoft))
        #expect(elements(dom, "svg", where: "chart").map { $0["data-ready"] } == ["1"])
        // The hostile name is text wherever it shows: no element made of it.
        #expect(dom.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"))
        #expect(!dom.contains("<img"))
        // A picture of it, for whoever looks.
        let png = a.path("report.png")
        try Chromium.screenshot(file, to: png)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.count > 20_000 && bytes.starts(with: [0x89, 0x50, 0x4e, 0x47]))
    }

    @Test("The drag window lists what was opened in it and still open at its end; the table sorts and filters")
    func windowSortFilter() throws {
        let (a, _) = try hostileRun()
        let p = a.report.processes[0]
        let from = 0.015, to = p.durationSeconds / 2
        // Leaked descriptors opened in the window, by group (as the page rounds).
        var expected: [Int: Int] = [:]
        for (k, g) in p.leaks.enumerated() {
            for f in g.fds {
                guard let at = f.openedAt else { continue }
                let r = (at * 1e6).rounded() / 1e6
                if r >= from && r <= to { expected[k, default: 0] += 1 }
            }
        }
        #expect(expected.values.reduce(0, +) > 0 && expected.values.reduce(0, +) < p.leakedDescriptors)
        let dom = try Chromium.dumpDOM(a.path("report.html"), fragment: "window=\(from)-\(to)&filter=hostname&sort=count")
        #expect(!rootTag(dom).contains("data-errors"))
        let window = try #require(dom.range(of: "id=\"chart-0-window\"").map { dom[$0.upperBound...].prefix { $0 != ">" } })
        #expect(window.contains("data-open=\"\(expected.values.reduce(0, +))\""), "\(window)")
        let items = elements(dom, "li").filter { $0["data-row"] != nil && $0["data-count"] != nil }
        var listed: [Int: Int] = [:]
        for i in items { listed[Int(i["data-row"]!)!] = Int(i["data-count"]!) }
        #expect(listed == expected)
        // Sorted by count, largest first; filtered to the one row naming hostname.
        let table = try #require(dom.range(of: "<table id=\"groups\"").map { dom[$0.lowerBound...].prefix { $0 != ">" } })
        #expect(table.contains("data-sorted=\"count:descending\"") && table.contains("data-visible=\"1\""), "\(table)")
        let rows = elements(dom, "tr", where: "group")
        #expect(rows.filter { $0["hidden"] == nil }.count == 1)
        let hidden = try NSRegularExpression(pattern: "<tr class=\"group\"[^>]* hidden=\"\"").numberOfMatches(
            in: dom, range: NSRange(dom.startIndex..., in: dom))
        #expect(hidden == 2)
    }

    @Test("report --html from the saved JSON writes the same file as run --html")
    func fromSavedReport() throws {
        let (a, _) = try hostileRun()
        let o = try run([Paths.fdtrace, "report", a.json, "--html", a.path("again.html")])
        #expect(o.status == 0 && o.stdout.isEmpty && o.stderr.isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a.path("again.html"))) == Data(contentsOf: URL(fileURLWithPath: a.path("report.html"))))
        // The checks above would see a script error: one planted in a copy is recorded.
        let html = try String(contentsOfFile: a.path("report.html"), encoding: .utf8)
        let broken = html.replacingOccurrences(of: "root.setAttribute('data-ready', '1');", with: "undefinedFunction();")
        #expect(broken != html)
        try broken.write(toFile: a.path("broken.html"), atomically: true, encoding: .utf8)
        let dom = try Chromium.dumpDOM(a.path("broken.html"))
        #expect(rootTag(dom).contains("data-errors=\"") && rootTag(dom).contains("undefinedFunction") && !rootTag(dom).contains("data-ready"))
    }

    @Test("A 10 000 000-event run from 1000 sites, 5000 descriptors leaked: the HTML stays under 5 MB and loads")
    func bigRun() throws {
        let exe = try Fixture.build("many_sites.c", flags: ["-O1"])
        let dir = scratch()
        let a = try SavedRun([exe, "5000000", "5"], options: ["--html", dir.appendingPathComponent("report.html").path], in: dir)
        let p = a.report.processes[0]
        #expect(p.events.opens + p.events.closes >= 10_000_000 && p.leakedDescriptors == 5000 && p.leaks.count == 1000)
        let size = try FileManager.default.attributesOfItem(atPath: a.path("report.html"))[.size] as? Int ?? 0
        print(
            "HTML of a \(p.events.opens + p.events.closes)-event run: \(size) bytes (JSON: \(try FileManager.default.attributesOfItem(atPath: a.json)[.size] as? Int ?? 0))"
        )
        #expect(size > 0 && size < 5_000_000)
        let t = try #require(p.timeline)
        #expect(t.buckets <= SiteTimeline.maxBuckets && t.sites.count == 8)
        let dom = try Chromium.dumpDOM(a.path("report.html"))
        #expect(rootTag(dom).contains("data-ready=\"1\"") && !rootTag(dom).contains("data-errors"))
        #expect(elements(dom, "tr", where: "group").count == 1000)
    }

    @Test("Timeline: counts per site match what leaked, an EMFILE is marked, the limit is on the scale")
    func timelineMarks() throws {
        let (a, _) = try hostileRun()
        let p = a.report.processes[0]
        let t = try #require(p.timeline)
        #expect(t.buckets >= 1 && t.buckets <= SiteTimeline.maxBuckets && t.bucketSeconds > 0)
        let lines = try Fixture.leakLines("leak_sites.c")
        let pipe = try #require(t.sites.first { $0.site?.line == lines["pipe"]![0] && $0.call == "pipe" })
        let file = try #require(t.sites.first { $0.site?.line == lines["open"]![0] && $0.call == "open" })
        #expect(pipe.peak == 40 && pipe.counts.values.last == 40 && file.peak == 20 && file.counts.values.last == 20)
        #expect(pipe.leakGroup.map { p.leaks[$0].call } == "pipe" && file.leakGroup.map { p.leaks[$0].count } == 20)
        // Counts only rise, by one round at a time (2 ms apart).
        #expect(zip(pipe.counts.values, pipe.counts.values.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(t.total.values.max() == p.peakOpen && t.marks.isEmpty)
        #expect(t.startSeconds >= 0 && t.startSeconds < p.durationSeconds)

        // EMFILE: the process lowers its limit to 64 and runs into it.
        let exe = try Fixture.build("emfile_burst.c")
        let dir = scratch()
        let e = try SavedRun(
            [exe],
            options: [
                "--html", dir.appendingPathComponent("report.html").path, "--snapshot-dir", dir.path,
                "--snapshot-at", "20",
            ], in: dir)
        let et = try #require(e.report.processes[0].timeline)
        #expect(et.marks.map(\.reason) == ["threshold", "EMFILE"])
        #expect(et.marks.allSatisfy { $0.atSeconds > 0 && $0.atSeconds <= e.report.processes[0].durationSeconds })
        #expect((et.total.values.max() ?? 0) >= 60)
        let dom = try Chromium.dumpDOM(e.path("report.html"))
        #expect(!rootTag(dom).contains("data-errors") && dom.contains("data-ready=\"1\""))
        #expect(elements(dom, "line", where: "mark").compactMap { $0["data-reason"] } == ["threshold", "EMFILE"])
        #expect(elements(dom, "line", where: "limit").first?["data-limit"] == "64")
        #expect(dom.contains(">soft limit 64<"), "on the scale")
    }

    @Test("Several processes: a row per group of each, a section and a chart per leaking process, the tree")
    func processTree() throws {
        let exe = try Fixture.build("fork_workers.c")
        let dir = scratch()
        let a = try SavedRun([exe], options: ["--html", dir.appendingPathComponent("report.html").path], in: dir)
        #expect(a.report.processes.count == 5)
        let dom = try Chromium.dumpDOM(a.path("report.html"))
        #expect(!rootTag(dom).contains("data-errors") && dom.contains("data-ready=\"1\""))
        let rows = elements(dom, "tr", where: "group")
        #expect(rows.map { $0["data-count"] ?? "" } == a.report.processes.flatMap { $0.leaks.map { String($0.count) } })
        #expect(Set(rows.compactMap { $0["data-pid"] }) == Set(a.report.processes.map { String($0.pid) }))
        #expect(elements(dom, "section", where: "process").count == 5)
        #expect(elements(dom, "svg", where: "chart").count == 5)
        let root = a.report.processes[0].pid
        for p in a.report.processes.dropFirst() {
            #expect(p.ppid == root)
            #expect(dom.contains("<span class=\"pid\">pid \(p.pid)</span> <span class=\"dim\">parent \(root)</span>"))
        }
    }
}

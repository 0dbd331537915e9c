import Foundation
import Testing

@testable import FDTraceCore

@Suite struct RenderTests {
    @Test("SHA-256 of the FIPS 180-4 examples")
    func sha256() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test("Paths in SARIF URIs are percent-encoded")
    func uriEncoding() {
        #expect(SARIFRenderer.encode("/a b/<x>&é.c") == "/a%20b/%3Cx%3E%26%C3%A9.c")
        #expect(SARIFRenderer.encode("src/main-1_2.~c") == "src/main-1_2.~c")
    }
}

@Suite struct HTMLRendererTests {
    @Test("Embedded JSON: nothing in it can end the script element or be read as markup")
    func scriptEscapes() {
        let s = HTMLRenderer.escapeForScript("{\"a\":\"</script><!-- & \u{2028}\u{2029}\"}")
        #expect(s == "{\"a\":\"\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028\\u2029\"}")
        #expect(HTMLRenderer.esc("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
    }

    func frame(_ i: Int) -> FrameReport {
        FrameReport(
            function: String(repeating: "template_function_name<with, many, args>::", count: 8) + "f\(i)",
            file: "/very/long/path/to/a/source/directory/of/some/project/src/file\(i).cpp", line: i, module: "/usr/lib/libbig.so",
            address: "0x\(String(i, radix: 16))", inlined: false)
    }

    @Test("A huge report (20 000 groups of 64 frames, 300 processes, 8 full timelines) gives an HTML under 5 MB")
    func bounded() {
        let frames = (0..<64).map(frame)
        let fds = (0..<50).map { FDReport(fd: Int32($0 + 3), kind: .file, path: "/etc/hostname", cloexec: false, call: "open", openedAt: Double($0) / 10) }
        let sites = (0..<8).map { i in
            TimelineSite(call: "open", site: frame(i), leakGroup: i, peak: 5000, counts: BucketCounts((0..<2048).map { ($0 * 7919 + i) % 5000 }))
        }
        let timeline = TimelineReport(
            startSeconds: 0, bucketSeconds: 0.5, total: BucketCounts((0..<2048).map { 10000 + $0 % 3 }),
            sites: sites, marks: [TimelineMark(reason: "EMFILE", atSeconds: 3)])
        let processes = (0..<300).map { p in
            let groups = (0..<(20_000 / 300)).map { g in
                LeakGroup(count: 50, call: "open", summary: "file /etc/hostname", highlight: 3, frames: frames, fds: fds)
            }
            return ProcessReport(
                pid: Int32(1000 + p), ppid: 999, command: ["./server", "--worker", "\(p)"], executable: "/srv/server",
                ended: .exited, durationSeconds: 1000, reconciliation: .complete, openAtExit: 3400, peakOpen: 10002,
                rlimitSoft: 20000, rlimitHard: 20000, leakedDescriptors: 3300, leaks: groups, inheritedLeaks: [],
                standard: [], inherited: [], unknownOrigin: fds, internalErrors: [], notes: ["a note"],
                events: EventCounts(
                    opens: 1, closes: 1, closesOfUnknownDescriptors: 0, opensOverOpenDescriptors: 0,
                    ringFullWaits: 0, ringWaitMilliseconds: 0, recordsLost: 0),
                timeline: p < 10 ? timeline : nil)
        }
        let report = Report(command: ["./server"], exitStatus: 0, processes: processes, notes: [])
        let html = HTMLRenderer().render(report)
        print("HTML of the huge synthetic report: \(html.utf8.count) bytes")
        #expect(html.utf8.count < 5_000_000, "\(html.utf8.count) bytes")
        #expect(html.contains("id=\"omitted\""))
        #expect(html.contains("more processes with leaks or notes are in the JSON report"))
    }
}

import Foundation
import Testing

@testable import FDTraceCore

/// A Python process built from records: three event loops made by one line
/// of app.py (eventpoll + socketpair each), a file closed by a garbage
/// collection, one closed at shutdown.
func pythonProcess() -> (TracedProcess, ModuleRegistry) {
    var reg = ModuleRegistry()
    var p = TracedProcess(
        key: 0, pid: 77, ppid: 1, forkParent: 0, command: ["python3", "app.py"],
        executable: "/usr/bin/python3.11", startTime: 0, rlimitSoft: 1024, rlimitHard: 4096)
    func py(_ code: UInt64, _ offset: UInt64) -> UInt64 { 1 << 63 | code << 32 | offset }
    // lnotab: offset 0 → line 10, 2 → 11, 4 → 12.
    let app = PyCodeRecord(
        id: 1, firstLine: 10, format: .lnotab, filename: "/srv/app.py", name: "handler",
        table: [2, 1, 2, 1], tableTotal: 4)
    let lib = PyCodeRecord(
        id: 2, firstLine: 800, format: .lnotab, filename: "/usr/lib/python3.11/asyncio/events.py",
        name: "new_event_loop", table: [2], tableTotal: 4)
    let records: [Record] = [
        .module(ModuleRecord(base: 0, start: 0x1000, end: 0x9000, path: "/usr/bin/python3.11", buildID: [])),
        .pyCode(app), .pyCode(lib), .pyCodeMore(id: 2, offset: 1, table: [2, 3, 5]),
        .stack(StackRecord(id: 1, pcs: [0x1100, py(2, 0), 0x1200, py(1, 4), 0x1200])),  // epoll_create1
        .stack(StackRecord(id: 2, pcs: [0x1300, py(2, 2), 0x1200, py(1, 4), 0x1200])),  // socketpair
        .stack(StackRecord(id: 3, pcs: [0x1400, py(1, 0), 0x1200])),  // open, line 10
    ]
    for r in records { p.apply(r, registry: &reg) }
    var fd: Int32 = 3, group: UInt32 = 0, t: UInt64 = 1_000
    for _ in 0..<3 {
        group += 1
        p.apply(.open(OpenEvent(time: t, fd: fd, call: Call.named("epoll_create1")!, stackID: 1, tid: 5, group: group)), registry: &reg)
        group += 1
        for i: Int32 in 1...2 {
            p.apply(
                .open(
                    OpenEvent(
                        time: t, fd: fd + i, call: Call.named("socketpair")!, stackID: 2, tid: 5, sourceFD: fd + 3 - i,
                        domain: 1, sockType: 1, proto: 0, group: group)), registry: &reg)
        }
        fd += 3; t += 1_000
    }
    p.apply(.open(OpenEvent(time: t, fd: 20, call: Call.named("open64")!, stackID: 3, tid: 5, group: 100, path: "/data/a")), registry: &reg)
    p.apply(.open(OpenEvent(time: t, fd: 21, call: Call.named("open64")!, stackID: 3, tid: 5, group: 101, path: "/data/b")), registry: &reg)
    p.apply(.close(CloseEvent(time: t + 1, fd: 20, call: .close, tid: 5, cause: .gc)), registry: &reg)
    p.apply(.pyExit(time: t + 2, tid: 77), registry: &reg)
    p.apply(.pyExitFD(KernelFD(fd: 21, mode: 0o100644, target: "/data/b")), registry: &reg)
    p.apply(.close(CloseEvent(time: t + 3, fd: 21, call: .close, tid: 77)), registry: &reg)
    p.apply(.exitBegin(ExitBegin(time: t + 4, status: 0, how: .normal, rlimitSoft: 1024, rlimitHard: 4096)), registry: &reg)
    for k in 3..<12 {
        let view =
            k % 3 == 0
            ? KernelFD(fd: Int32(k), mode: 0, target: "anon_inode:[eventpoll]")
            : KernelFD(fd: Int32(k), mode: 0o140777, domain: 1, sockType: 1, proto: 0, target: "socket:[\(k)]")
        p.apply(.kernelFD(view), registry: &reg)
    }
    p.apply(.exitEnd(time: t + 5), registry: &reg)
    p.end = .exited(reconciled: true)
    p.waitStatus = (0, nil)
    return (p, reg)
}

let pythonSymbols = TableSymbolizer(names: [
    0x1100: [SymbolizedFrame(function: "epoll_create1", file: nil, line: nil, module: "/lib/libc.so.6", address: 0x1100)],
    0x1300: [SymbolizedFrame(function: "socketpair", file: nil, line: nil, module: "/lib/libc.so.6", address: 0x1300)],
    0x1400: [SymbolizedFrame(function: "open64", file: nil, line: nil, module: "/lib/libc.so.6", address: 0x1400)],
    0x1200: [SymbolizedFrame(function: "_PyEval_EvalFrameDefault", file: "ceval.c", line: 1, module: "/usr/bin/python3.11", address: 0x1200)],
])

@Suite struct PythonReportTests {
    func report(native: Bool = false) -> ProcessReport {
        let (p, reg) = pythonProcess()
        return ReportBuilder(processes: [p], registry: reg, symbolizer: pythonSymbols, nativeFrames: native)
            .build(command: ["python3", "app.py"], exitStatus: 0).processes[0]
    }

    @Test func oneCallOfALineMakesOneBundle() throws {
        let p = report()
        let loops = try #require(p.leaks.first { $0.bundle != nil })
        #expect(loops.calls == 3)
        #expect(loops.count == 9)
        #expect(loops.bundle == "eventpoll + 2 unix stream sockets")
        #expect(loops.call == "epoll_create1+socketpair")
        #expect(loops.parts?.map(\.call) == ["epoll_create1", "socketpair"])
        #expect(loops.parts?.map(\.count) == [1, 2])
        // Named by the user's line, with the library frame above it.
        let site = try #require(loops.highlight.map { loops.frames[$0] })
        #expect(site.file == "/srv/app.py" && site.line == 12 && site.function == "handler" && site.python == true)
        #expect(loops.frames.first?.function == "new_event_loop")
        #expect(loops.frames.first?.line == 800)  // the line table arrived in two parts
        #expect(!loops.frames.contains { $0.function == "_PyEval_EvalFrameDefault" })
        #expect(
            TextRenderer().render(Report(command: [], exitStatus: 0, processes: [p], notes: []))
                .contains("3 × (eventpoll + 2 unix stream sockets), 9 descriptors"))
    }

    @Test func runtimeClosesAreLeaks() throws {
        let p = report()
        #expect(p.leakedDescriptors == 11)
        let files = p.leaks.filter { $0.call == "open64" }
        #expect(files.count == 1)
        #expect(files.first?.count == 2)
        #expect(files.first?.closedByGc == 1)
        #expect(files.first?.closedAtShutdown == 1)
        #expect(Set(files.first?.fds.map { "\($0.fd):\($0.closed?.rawValue ?? "-")" } ?? []) == ["20:gc", "21:shutdown"])
        #expect(files.first.map { $0.frames[$0.highlight!].line } == 10)
    }

    @Test func nativeFramesOnRequest() throws {
        let loops = try #require(report(native: true).leaks.first { $0.bundle != nil })
        #expect(loops.frames.map(\.function) == ["epoll_create1", "new_event_loop", "_PyEval_EvalFrameDefault", "handler", "_PyEval_EvalFrameDefault"])
    }

    @Test func peakSites() throws {
        let peak = try #require(report().peak)
        #expect(peak.open == 11)
        #expect(peak.sites.first?.count == 9)
        #expect(peak.sites.first?.site?.line == 12)
        #expect(peak.sites.first?.call == "epoll_create1+socketpair")
        #expect(peak.sites.dropFirst().first?.count == 2)
    }

    @Test func peakCountsAreThoseOfThePeakMoment() {
        var t = ProcessTable(processKey: 0)
        for fd: Int32 in 3...6 { t.open(TrackedFD(fd: fd, origin: .traced, call: .open, stack: StackRef(process: 0, id: 1))) }
        for fd: Int32 in 3...5 { t.close(fd) }
        for fd: Int32 in 7...8 { t.open(TrackedFD(fd: fd, origin: .traced, call: .open, stack: StackRef(process: 0, id: 2))) }
        // Peak 4, all from stack 1; now 1 from stack 1 and 2 from stack 2.
        #expect(t.peak == 4)
        #expect(t.stacksAtPeak() == [1: 4])
        for fd: Int32 in 9...12 { t.open(TrackedFD(fd: fd, origin: .traced, call: .open, stack: StackRef(process: 0, id: 2))) }
        #expect(t.peak == 7)
        #expect(t.stacksAtPeak() == [1: 1, 2: 6])
    }

    @Test func topScreenFitsItsWidth() throws {
        var r = Report(command: ["python3", "app.py"], exitStatus: nil, processes: [report()], notes: [])
        r.processes[0].ended = .running
        let lines = TopRenderer(width: 80, height: 24).render(r, title: "svc: python3 app.py", clock: "12:00:00")
        #expect(lines.allSatisfy { $0.count <= 80 }, "\(lines)")
        #expect(lines[0].hasPrefix("fdtrace top — svc: python3 app.py") && lines[0].hasSuffix("12:00:00"))
        #expect(lines.contains { $0.contains("open 9/1024") })
        // The site as the exit report names it (SiteLabel), then what it holds.
        let row = try #require(lines.first { $0.contains("app.py:12  3 × (eventpoll + 2 unix stream") })
        #expect(row.hasPrefix("     9 "))
        #expect(lines.last == "q: quit")
        let narrow = TopRenderer(width: 40, height: 10).render(r, title: String(repeating: "x", count: 100), clock: "12:00:00")
        #expect(narrow.allSatisfy { $0.count <= 40 }, "\(narrow)")
    }
}

import Foundation
import Testing

@testable import FDTraceCore

/// A symbolizer that names frames from a table (no binaries involved).
struct TableSymbolizer: Symbolizing {
    var names: [UInt64: [SymbolizedFrame]]
    func symbolize(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> [RawFrame: [SymbolizedFrame]] {
        var out: [RawFrame: [SymbolizedFrame]] = [:]
        for f in frames { out[f] = names[f.address] ?? [] }
        return out
    }
}

func sampleProcess(key: Int = 0) -> (TracedProcess, ModuleRegistry) {
    var reg = ModuleRegistry()
    var p = TracedProcess(
        key: key, pid: 4242, ppid: 1, forkParent: 0, command: ["./server", "1000"],
        executable: "/srv/server", startTime: 0, rlimitSoft: 1024, rlimitHard: 524288)
    let records: [Record] = [
        .module(ModuleRecord(base: 0, start: 0x1000, end: 0x9000, path: "/srv/server", buildID: [])),
        .module(ModuleRecord(base: 0x7000_0000, start: 0x7000_0000, end: 0x7100_0000, path: "/lib/libc.so.6", buildID: [])),
        .inherited(KernelFD(time: 0, fd: 0, target: "/dev/pts/0")),
        .stack(StackRecord(id: 1, pcs: [0x7000_0100, 0x1100, 0x1200])),
        .stack(StackRecord(id: 2, pcs: [0x1300, 0x1200])),
    ]
    for r in records { p.apply(r, registry: &reg) }
    for fd: Int32 in 3...5 { p.apply(.open(OpenEvent(time: 1_000_000, fd: fd, call: .fopen, stackID: 1, path: "/etc/hostname")), registry: &reg) }
    for fd: Int32 in 6...7 { p.apply(.open(OpenEvent(time: 2_000_000, fd: fd, call: .accept4, stackID: 2)), registry: &reg) }
    p.apply(.open(OpenEvent(time: 3_000_000, fd: 8, call: .open, stackID: 2, path: "/tmp/x")), registry: &reg)
    p.apply(.close(CloseEvent(time: 4_000_000, fd: 8, call: .close, tid: 1)), registry: &reg)
    p.apply(.exitBegin(ExitBegin(time: 300_000_000, status: -1, how: .normal, rlimitSoft: 1024, rlimitHard: 524288)), registry: &reg)
    let kernel: [KernelFD] = [
        KernelFD(fd: 0, mode: 0o020620, target: "/dev/pts/0"),
        KernelFD(fd: 3, mode: 0o100644, target: "/etc/hostname"),
        KernelFD(fd: 4, mode: 0o100644, target: "/etc/hostname"),
        KernelFD(fd: 5, mode: 0o100644, target: "/etc/hostname"),
        KernelFD(
            fd: 6, mode: 0o140777, domain: 2, sockType: 1, proto: 6, tcpState: 8, target: "socket:[1]",
            local: [2, 0, 0x13, 0x88, 127, 0, 0, 1], peer: [2, 0, 0x9c, 0x40, 127, 0, 0, 1]),
        KernelFD(
            fd: 7, mode: 0o140777, domain: 2, sockType: 1, proto: 6, tcpState: 1, target: "socket:[2]",
            local: [2, 0, 0x13, 0x88, 127, 0, 0, 1], peer: [2, 0, 0x9c, 0x41, 127, 0, 0, 1]),
        KernelFD(fd: 9, mode: 0o010600, target: "pipe:[77]"),
    ]
    for k in kernel { p.apply(.kernelFD(k), registry: &reg) }
    p.apply(.exitEnd(time: 310_000_000), registry: &reg)
    p.end = .exited(reconciled: true)
    p.waitStatus = (0, nil)
    return (p, reg)
}

let sampleSymbols = TableSymbolizer(names: [
    0x7000_0100 - 0x7000_0000: [SymbolizedFrame(function: "fopen", file: nil, line: nil, module: "/lib/libc.so.6", address: 0x100)],
    0x1100: [
        SymbolizedFrame(function: "reload_config", file: "/src/server.c", line: 17, module: "/srv/server", address: 0x1100, inlined: true),
        SymbolizedFrame(function: "handle", file: "/src/server.c", line: 26, module: "/srv/server", address: 0x1100),
    ],
    0x1200: [SymbolizedFrame(function: "main", file: "/src/server.c", line: 62, module: "/srv/server", address: 0x1200)],
    0x1300: [SymbolizedFrame(function: "main", file: "/src/server.c", line: 60, module: "/srv/server", address: 0x1300)],
])

@Suite struct ReportTests {
    func report() -> Report {
        let (p, reg) = sampleProcess()
        return ReportBuilder(processes: [p], registry: reg, symbolizer: sampleSymbols).build(command: ["./server", "1000"], exitStatus: 0)
    }

    @Test func groupsReconcilesAndClassifies() throws {
        let p = try #require(report().processes.first)
        #expect(p.reconciliation == .complete)
        #expect(p.leaks.map(\.count) == [3, 2])
        #expect(p.leaks[0].summary == "file /etc/hostname")
        #expect(p.leaks[0].highlight == 1)
        #expect(p.leaks[0].frames.map(\.function) == ["fopen", "reload_config", "handle", "main"])
        #expect(p.leaks[1].summary == "TCP 127.0.0.1:5000 ⇐ 127.0.0.1:*, 1 CLOSE_WAIT, 1 ESTABLISHED")
        #expect(p.unknownOrigin.map(\.fd) == [9])
        #expect(p.unknownOrigin.first?.kind == .pipe)
        #expect(p.standard.map(\.fd) == [0])
        #expect(p.openAtExit == 7 && p.peakOpen == 7 && p.leakedDescriptors == 5)
        #expect(p.internalErrors.isEmpty)
    }

    @Test("A report of some of the session's processes (a live one: those still running) keeps their stacks")
    func stacksOfAProcessThatIsNotFirstInTheSession() throws {
        // Key 3: the fourth process the collector saw, the only one still running.
        let (p, reg) = sampleProcess(key: 3)
        let live = ReportBuilder(processes: [p], registry: reg, symbolizer: sampleSymbols).build(command: ["sh"], exitStatus: nil)
        let leaks = try #require(live.processes.first?.leaks)
        #expect(leaks.map(\.frames) == report().processes.first?.leaks.map(\.frames))
        #expect(leaks.map { g in g.highlight.flatMap { g.frames[$0].line } } == [17, 60])
    }

    @Test("A site is named by its highlighted frame's file and line, else by its call")
    func siteLabel() throws {
        var g = try #require(report().processes.first?.leaks.first)
        #expect(SiteLabel.of(g) == "server.c:17")
        g.highlight = 99
        #expect(SiteLabel.of(g) == "fopen")
        g.frames = []
        g.highlight = nil
        #expect(SiteLabel.of(g) == "fopen")
    }

    @Test("Processes without leaks: one line, by program name, most first; a process that exec'd counts once, as what it became")
    func leakFreeProcessesInOneLine() throws {
        var base = try #require(report().processes.first)
        base.leaks = []
        base.unknownOrigin = []
        func process(_ pid: Int32, _ argv0: String, ended: ProcessEnd = .exited) -> ProcessReport {
            var p = base
            p.pid = pid
            p.command = [argv0, "x"]
            p.ended = ended
            return p
        }
        let quiet = [
            process(10, "/usr/bin/env", ended: .exec), process(10, "true"), process(11, "/bin/true"),
            process(12, "/bin/bash"), process(13, "bash"),
        ]
        let alone = TextRenderer().render(Report(command: ["sh"], exitStatus: 0, processes: quiet, notes: []))
        #expect(alone == "fdtrace: 4 processes without leaks: bash ×2, true ×2\n")
        var leaky = try #require(report().processes.first)
        leaky.pid = 9
        let after = TextRenderer().render(Report(command: ["sh"], exitStatus: 0, processes: [leaky] + quiet, notes: []))
        #expect(after.hasSuffix("\nfdtrace: 4 more processes without leaks: bash ×2, true ×2\n"), "\(after)")
    }

    @Test func internalErrorWhenTheKernelLacksADescriptor() throws {
        var (p, reg) = sampleProcess()
        p.kernelView.removeAll { $0.fd == 4 }
        let r = ReportBuilder(processes: [p], registry: reg, symbolizer: sampleSymbols).build(command: [], exitStatus: 0)
        #expect(r.processes[0].internalErrors.map(\.fd) == [4])
        #expect(r.processes[0].leaks[0].count == 2)
    }

    @Test func textRendering() {
        let text = TextRenderer().render(report())
        #expect(
            text == """
                fdtrace: ./server 1000 (pid 4242) exited 0 after 0.31 s
                  7 descriptors open at exit (peak 7, limit 1024/524288), 1 inherited or standard
                  5 leaked descriptors from 2 sites:
                  3 × file /etc/hostname    fopen
                      fopen           libc.so.6+0x100
                    → reload_config   server.c:17 (inlined)
                      handle          server.c:26
                      main            server.c:62
                  2 × TCP 127.0.0.1:5000 ⇐ 127.0.0.1:*, 1 CLOSE_WAIT, 1 ESTABLISHED    accept4
                    → main   server.c:60
                  1 of origin unknown (opened where the shim cannot see, e.g. raw syscalls):
                    fd 9  pipe

                """)
    }

    @Test func jsonRoundTripsWithSnakeCaseKeys() throws {
        let r = report()
        let data = try JSONRenderer.render(r)
        let text = String(decoding: data, as: UTF8.self)
        for key in ["\"processes\"", "\"exit_status\"", "\"unknown_origin\"", "\"leaks\"", "\"frames\"", "\"fds\"", "\"count\""] {
            #expect(text.contains(key))
        }
        #expect(try JSONRenderer.decode(data) == r)
    }

    @Test("Fields with a fixed set of values are enums encoded as the strings they always were")
    func enumFieldsKeepTheirStrings() throws {
        func json<T: Encodable>(_ values: [T]) throws -> String { String(decoding: try JSONRenderer.encode(values), as: UTF8.self) }
        func words(_ text: String) -> [String] { text.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) } }
        #expect(words(try json([ProcessEnd.exited, .killed, .exec, .running, .unknown])) == ["exited", "killed", "exec", "running", "unknown"])
        #expect(words(try json([Reconciliation.complete, .unreconciled])) == ["complete", "unreconciled"])
        #expect(words(try json([ClosedBy.gc, .finalizer, .shutdown])) == ["gc", "finalizer", "shutdown"])
        #expect(words(try json([SnapshotReason.emfile, .enfile, .threshold, .periodic, .query])) == ["EMFILE", "ENFILE", "threshold", "periodic", "query"])
        let kinds: [FDKind] = [
            .file, .directory, .device, .fifo, .memfd, .mqueue, .pipe, .socket, .eventpoll, .eventfd, .signalfd,
            .timerfd, .inotify, .fanotify, .pidfd, .ioUring, .userfaultfd, .bpfMap, .perfEvent, .anonInode, .unknown,
            FDKind(name: "dmabuf"),
        ]
        let names = [
            "file", "directory", "device", "fifo", "memfd", "mqueue", "pipe", "socket", "eventpoll", "eventfd", "signalfd",
            "timerfd", "inotify", "fanotify", "pidfd", "io_uring", "userfaultfd", "bpf-map", "perf_event", "anon_inode", "unknown",
            "dmabuf",
        ]
        #expect(words(try json(kinds)) == names)
        #expect(try JSONRenderer.decode([FDKind].self, from: try JSONRenderer.encode(kinds)) == kinds)
        #expect(names.map { FDKind(name: $0) } == kinds && FDKind(name: "pipe") == .pipe)
        // In a whole report, as the README's schema says.
        let text = String(decoding: try JSONRenderer.render(report()), as: UTF8.self)
        for field in [#""ended" : "exited""#, #""reconciliation" : "complete""#, #""kind" : "pipe""#, #""kind" : "socket""#] {
            #expect(text.contains(field), "\(field)")
        }
    }

    @Test func summaries() {
        let files = (0..<3).map { FDDescription(kind: .file, path: "/tmp/f\($0)") }
        #expect(FDDescription.summary(of: files) == "file (3 paths, e.g. /tmp/f0)")
        let mixed = [
            FDDescription(kind: .eventpoll), FDDescription(kind: .socket, proto: "unix stream"),
            FDDescription(kind: .socket, proto: "unix stream"),
        ]
        #expect(FDDescription.summary(of: mixed) == "2 socket + 1 eventpoll")
    }

    @Test func socketAddresses() {
        #expect(SocketAddress.format([99, 0, 0, 80]) == nil)
        var v6: [UInt8] = [10, 0, 0x1f, 0x90, 0, 0, 0, 0] + Array(repeating: 0, count: 16) + [0, 0, 0, 0]
        v6[23] = 1
        #expect(SocketAddress.format(v6) == "[::1]:8080")
        #expect(SocketAddress.format([1, 0] + Array("/run/x.sock".utf8) + [0]) == "/run/x.sock")
        #expect(SocketAddress.format([1, 0, 0] + Array("abstract".utf8)) == "@abstract")
    }
}

import CFDTraceWire
import FDTraceCore
import Foundation
import Testing

/// The kernel event source against the real kernel: a C fixture traced by
/// the BPF program, its records checked exactly (descriptors, calls, order,
/// stacks down to the fixture's lines), its fork child followed, an
/// unrelated process left out, nothing dropped; and the error a user
/// without privileges gets.
@Suite(
    "Kernel event source", .serialized,
    .enabled(if: geteuid() == 0, "the kernel event source loads a BPF program: these tests need root"))
struct KernelSourceTests {
    /// What one traced run gave.
    struct Run {
        var pid: Int32
        var events: [KernelSource.Event]
        /// /proc/PID/fd of the root when it was put in the traced set.
        var initialFDs: [Int32]
        var initialCloexec: Set<Int32>
        var counters: KernelSource.Counters
        var stdout: String

        func records(_ pid: Int32) -> [Record] {
            events.compactMap { if case .record(let p, let r) = $0, p == pid { return r } else { return nil } }
        }
        var children: [Int32] {
            events.compactMap { if case .forked(let parent, let child, _, _) = $0, parent == pid { return child } else { return nil } }
        }
        func exit(_ pid: Int32) -> (KernelExit, KernelFDTable?)? {
            for case .exited(let p, let x, let t) in events where p == pid { return (x, t) }
            return nil
        }
    }

    /// Starts `argv` (it must wait for a line on stdin), traces it, lets it
    /// go, and reads events until it and every child it forked have ended.
    static func traced(_ argv: [String], source: KernelSource, noise: [String]? = nil) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let stdin = Pipe(), out = scratch().appendingPathComponent("stdout")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: out)
        p.standardInput = stdin
        p.standardOutput = outHandle
        p.standardError = FileHandle.nullDevice
        try p.run()
        let pid = p.processIdentifier
        // It blocks in read(0) until told to go: wait until it is there
        // (the dynamic loader's descriptors are closed by then).
        let ready = Date().addingTimeInterval(10)
        while Date() < ready, (try? String(contentsOfFile: "/proc/\(pid)/syscall", encoding: .utf8))?.hasPrefix("0 ") != true {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let initial = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [])
            .compactMap { Int32($0) }.sorted()
        // fdinfo's flags are octal; O_CLOEXEC is 02000000.
        let cloexec = Set(
            initial.filter { fd in
                guard let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8),
                    let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }),
                    let flags = Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8)
                else { return false }
                return flags & 0o2000000 != 0
            })
        try source.trace(pid: pid)
        var noisy: Process?
        if let noise {
            let n = Process()
            n.executableURL = URL(fileURLWithPath: noise[0])
            n.arguments = Array(noise.dropFirst())
            try n.run()
            noisy = n
        }
        try stdin.fileHandleForWriting.write(contentsOf: Data("go\n".utf8))
        var events: [KernelSource.Event] = []
        var alive: Set<Int32> = [pid]
        let deadline = Date().addingTimeInterval(20)
        while !alive.isEmpty && Date() < deadline {
            try source.poll(timeoutMs: 50) { e in
                events.append(e)
                switch e {
                case .forked(_, let child, _, _): alive.insert(child)
                case .exited(let p, _, _): alive.remove(p)
                default: break
                }
            }
        }
        p.waitUntilExit()
        noisy?.waitUntilExit()
        // Anything the noise made would be in the ring by now.
        try source.poll(timeoutMs: 100) { events.append($0) }
        #expect(alive.isEmpty, "processes never seen to exit: \(alive)")
        try outHandle.close()
        return Run(
            pid: pid, events: events, initialFDs: initial, initialCloexec: cloexec, counters: source.counters,
            stdout: try String(contentsOf: out, encoding: .utf8))
    }

    /// The descriptor records, with the fields that must be exact.
    static func fdFacts(_ records: [Record]) -> [String] {
        records.compactMap { r -> String? in
            switch r {
            case .open(let o):
                var s = "open \(o.fd) \(o.call) cloexec=\(o.cloexec ? 1 : 0) source=\(o.sourceFD)"
                if o.domain >= 0 { s += " socket=\(o.domain)/\(o.sockType)/\(o.proto)" }
                if let path = o.path { s += " \(path)" }
                return s
            case .close(let c): return "close \(c.fd) \(c.call)"
            case .closeRange(let c): return "close_range \(c.first)...\(c.last) \(c.call)\(c.cloexecOnly ? " cloexec" : "")"
            case .setFD(let f): return "setfd \(f.fd) cloexec=\(f.cloexec ? 1 : 0) \(f.call)"
            case .fork: return "fork"
            case .child(_, _, let pid): return "child \(pid)"
            default: return nil
            }
        }
    }

    /// What kernel_source.c does once it runs, as the kernel sees it.
    static func expectedParent(child: Int32) -> [String] {
        [
            "open 3 openat cloexec=0 source=-1 /etc/hostname",
            "open 4 openat cloexec=1 source=-1 /etc/passwd",
            "open 5 pipe2 cloexec=1 source=6",
            "open 6 pipe2 cloexec=1 source=5",
            "open 7 socket cloexec=0 source=-1 socket=1/1/0",
            "open 8 dup cloexec=0 source=3",
            "open 20 dup2 cloexec=0 source=4",
            "setfd 3 cloexec=1 fcntl",
            "close 3 close",
            "close 4 close",
            "close_range 5...8 close_range",
            "fork",
            "child \(child)",
        ]
    }

    static func ksite(_ name: String) throws -> Int {
        let text = try String(contentsOf: Paths.fixtures.appendingPathComponent("kernel_source.c"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let i = lines.firstIndex(where: { $0.contains("KSITE(\(name))") }) else {
            throw FixtureError(message: "no KSITE(\(name)) in kernel_source.c")
        }
        return i + 1
    }

    /// The stack an open names, symbolized with the modules the source sent
    /// for that process before it: "file:line function" per frame.
    static func symbolizedStack(of fd: Int32, path: String, in records: [Record]) throws -> [String] {
        var registry = ModuleRegistry()
        var store = StackStore()
        var id: UInt32?
        for r in records {
            switch r {
            case .module(let m): store.add(module: m, registry: &registry)
            case .stack(let s): store.add(stack: s)
            case .open(let o) where o.fd == fd && o.path == path && id == nil: id = o.stackID
            default: break
            }
        }
        let stackID = try #require(id)
        #expect(stackID != 0)
        let frames = try #require(store.frames(stackID))
        let symbols = DwflSymbolizer().symbolize(Set(frames), modules: registry)
        return frames.flatMap { symbols[$0] ?? [] }.map {
            "\(($0.file ?? "?").split(separator: "/").last ?? ""):\($0.line ?? 0) \($0.function ?? "?")"
        }
    }

    /// Traced from the moment it is told to go (a process already running,
    /// as `attach` will do): exactly its calls, in order; its child's; the
    /// tables at exit; stacks down to the fixture's lines (modules from
    /// /proc/PID/maps); an unrelated process opening files meanwhile adds
    /// nothing; nothing dropped.
    @Test func runningProcessAndItsChild() throws {
        let exe = try Fixture.build("kernel_source.c", flags: ["-fno-omit-frame-pointer"])
        let source = try KernelSource()
        let run = try Self.traced([exe, "wait"], source: source, noise: [exe, "noise", "2000"])

        let child = try #require(run.children.first)
        #expect(run.children.count == 1)
        #expect(Self.fdFacts(run.records(run.pid)) == Self.expectedParent(child: child))
        #expect(Self.fdFacts(run.records(child)) == ["open 3 openat cloexec=0 source=-1 /etc/group", "close 3 close"])
        // The child inherits the parent's modules before its own records.
        #expect(run.records(child).prefix { if case .module = $0 { return true } else { return false } }.count > 0)

        let (parentExit, parentTable) = try #require(run.exit(run.pid))
        #expect(parentExit.exitCode == 3 && parentExit.signal == nil)
        #expect(parentTable?.open == (run.initialFDs + [20]).sorted())
        #expect(parentTable?.cloexec.contains(20) == false)
        #expect(parentExit.recordsLost == 0)
        #expect(parentExit.rlimitSoft > 0)
        let (childExit, childTable) = try #require(run.exit(child))
        #expect(childExit.exitCode == 0)
        #expect(childTable?.open == (run.initialFDs + [20]).sorted())

        // Only the traced tree, whatever else ran meanwhile.
        let pids = Set(
            run.events.map { e -> Int32 in
                switch e {
                case .record(let p, _), .exited(let p, _, _), .exec(let p, _, _, _): return p
                case .forked(let p, _, _, _): return p
                }
            })
        #expect(pids == [run.pid, child])

        // Stacks: the line of the open in main; the openat in its helper, then main.
        let records = run.records(run.pid)
        let open = try Self.symbolizedStack(of: 3, path: "/etc/hostname", in: records)
        #expect(open.contains("kernel_source.c:\(try Self.ksite("open")) main"), "\(open)")
        let openat = try Self.symbolizedStack(of: 4, path: "/etc/passwd", in: records)
        let helper = try #require(openat.firstIndex(of: "kernel_source.c:\(try Self.ksite("openat")) open_passwd"), "\(openat)")
        #expect(openat[(helper + 1)...].first?.hasSuffix(" main") == true, "\(openat)")
        let childOpen = try Self.symbolizedStack(of: 3, path: "/etc/group", in: run.records(child))
        #expect(childOpen.contains("kernel_source.c:\(try Self.ksite("child")) main"), "\(childOpen)")

        #expect(run.counters.ringDrops == 0)
        #expect(run.counters.lost == 0)
        #expect(run.counters.callersMissing == 0)
    }

    /// Traced from before its exec (as `run` will do): the exec event with
    /// the program's path and the table it starts with, its modules from
    /// the ELF headers and its mappings (stacks symbolize), the dynamic
    /// loader's opens, then exactly the fixture's calls.
    @Test func programTracedFromItsExec() throws {
        let exe = try Fixture.build("kernel_source.c", flags: ["-fno-omit-frame-pointer"])
        let source = try KernelSource()
        let run = try Self.traced(["/bin/sh", "-c", "read line; exec \"$0\"", exe], source: source)

        let execs = run.events.compactMap { e -> (KernelExec, [String], KernelFDTable?)? in
            if case .exec(let p, let x, let command, let table) = e, p == run.pid { return (x, command, table) } else { return nil }
        }
        let (exec, command, table) = try #require(execs.first)
        #expect(execs.count == 1)
        #expect(exec.path == URL(fileURLWithPath: exe).resolvingSymlinksInPath().path)
        #expect(command == [exe])
        #expect(exec.interpreterBase != 0)
        #expect(table?.open == run.initialFDs.filter { !(table?.cloexec.contains($0) ?? false) })

        // The records of the new image: modules for the program, the loader
        // and libc; the loader's opens; then the fixture's calls, exactly.
        let image = run.events.drop { if case .exec = $0 { return false } else { return true } }
            .compactMap { if case .record(let p, let r) = $0, p == run.pid { return r } else { return nil } }
        let modules = image.compactMap { if case .module(let m) = $0 { return m.path } else { return nil } }
        #expect(modules.contains(exec.path))
        #expect(modules.contains { $0.hasSuffix("/ld-linux-x86-64.so.2") })
        #expect(modules.contains { $0.hasSuffix("/libc.so.6") })
        let facts = Self.fdFacts(image)
        let start = try #require(facts.firstIndex(of: "open 3 openat cloexec=0 source=-1 /etc/hostname"))
        #expect(facts[..<start].contains { $0.hasSuffix("/etc/ld.so.cache") })
        #expect(facts[..<start].contains { $0.hasSuffix("/libc.so.6") })
        let child = try #require(run.children.first)
        #expect(Array(facts[start...]) == Self.expectedParent(child: child))

        let open = try Self.symbolizedStack(of: 3, path: "/etc/hostname", in: image)
        #expect(open.contains("kernel_source.c:\(try Self.ksite("open")) main"), "\(open)")
        let (exit, _) = try #require(run.exit(run.pid))
        #expect(exit.exitCode == 3)
        #expect(run.counters.lost == 0)
    }

    /// The records of `pid` applied in order to `start` (an exec starts
    /// over from the table the kernel sent with it); the table as of each
    /// fork, by fork id.
    static func replay(
        _ pid: Int32, _ events: [KernelSource.Event], from start: ProcessTable
    )
        -> (ProcessTable, [UInt64: ProcessTable])
    {
        var table = start, forks: [UInt64: ProcessTable] = [:]
        for e in events {
            switch e {
            case .record(let p, let r) where p == pid:
                if case .fork(_, let id) = r { forks[id] = table }
                table.apply(r)
            case .exec(let p, _, _, let t?) where p == pid:
                table = ProcessTable(processKey: 0)
                for fd in t.open { table.apply(.inherited(KernelFD(fd: fd, cloexec: t.cloexec.contains(fd), target: ""))) }
            default: break
            }
        }
        return (table, forks)
    }

    /// A table equals what the kernel held at the process's end: the same
    /// numbers, the same close-on-exec flags.
    static func expectSame(
        _ table: ProcessTable, _ kernel: KernelFDTable?, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let kernel else {
            Issue.record("\(what): no table at exit", sourceLocation: sourceLocation)
            return
        }
        #expect(table.descriptors.map(\.fd) == kernel.open, "\(what)", sourceLocation: sourceLocation)
        let flags = table.descriptors.filter(\.cloexec).map(\.fd)
        #expect(Set(flags) == kernel.cloexec, "\(what): close-on-exec", sourceLocation: sourceLocation)
    }

    /// Every call of the family, through libc or as a raw system call, and
    /// children by fork, vfork and posix_spawn: applying the source's
    /// records reproduces, for each process, exactly the table the kernel
    /// had when it ended (numbers and close-on-exec flags).
    @Test func everyCallReconcilesWithTheKernelsTable() throws {
        let exe = try Fixture.build("kernel_family.c")
        let source = try KernelSource()
        let run = try Self.traced([exe], source: source)
        let parent = run.records(run.pid)
        let calls = Set(parent.compactMap { if case .open(let o) = $0 { return o.call.name } else { return nil } })
        let made = Set(run.stdout.split(whereSeparator: \.isWhitespace).map(String.init))
        #expect(
            made.isSuperset(of: [
                "open", "openat", "openat2", "creat", "socket", "accept", "accept4", "socketpair",
                "pipe", "pipe2", "dup", "dup2", "dup3", "fcntl", "epoll_create", "epoll_create1",
                "eventfd", "signalfd", "timerfd_create", "inotify_init", "inotify_init1",
                "fanotify_init", "memfd_create", "pidfd_open", "pidfd_getfd",
            ]), "\(made)")
        #expect(calls == made)

        var start = ProcessTable(processKey: 0)
        for fd in run.initialFDs {
            start.apply(.inherited(KernelFD(fd: fd, cloexec: run.initialCloexec.contains(fd), target: "")))
        }
        let (table, forks) = Self.replay(run.pid, run.events, from: start)
        Self.expectSame(table, run.exit(run.pid)?.1, "parent")
        #expect(table.closesOfUnknown == 1)  // close(-1)
        #expect(table.replacedWithoutClose == 0)

        let children = run.events.compactMap { e -> (Int32, UInt64)? in
            if case .forked(let p, let c, let id, _) = e, p == run.pid { return (c, id) } else { return nil }
        }
        #expect(children.count == 3)  // fork, vfork, posix_spawn
        for (child, id) in children {
            let at = try #require(forks[id])
            let (t, _) = Self.replay(child, run.events, from: at)
            Self.expectSame(t, run.exit(child)?.1, "child \(child)")
            // The counts carry on from the parent's table, unless it exec'd.
            let execed = run.events.contains { if case .exec(let p, _, _, _) = $0 { return p == child } else { return false } }
            #expect(t.closesOfUnknown == (execed ? 0 : at.closesOfUnknown), "\(Self.fdFacts(run.records(child)))")
            #expect(t.replacedWithoutClose == 0)
        }
        let execs = run.events.compactMap { if case .exec(let p, let x, _, _) = $0 { return (p, x.path) } else { return nil } }
        #expect(execs.count == 1 && execs.first?.1 == "/usr/bin/true", "\(execs)")
        #expect(run.counters.lost == 0)
    }

    /// A ring buffer nobody reads fills up: what did not fit is counted, in
    /// total and for the process, and what did fit is read intact.
    @Test func dropsAreCounted() throws {
        let exe = try Fixture.build("kernel_source.c")
        let source = try KernelSource(options: .init(ringBytes: 4096))
        #expect(source.ringBytes == 4096)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "read line; exec \"$0\" noise 500", exe]
        let stdin = Pipe()
        p.standardInput = stdin
        try p.run()
        try source.trace(pid: p.processIdentifier)
        try stdin.fileHandleForWriting.write(contentsOf: Data("go\n".utf8))
        p.waitUntilExit()
        var events = 0, opens = 0
        try source.poll(timeoutMs: 100) { e in
            events += 1
            if case .record(_, .open) = e { opens += 1 }
        }
        let c = source.counters
        #expect(c.ringDrops > 0)
        #expect(c.lost == c.ringDrops)
        #expect(opens > 0 && opens < 500)
        #expect(c.events + c.ringDrops >= 1000)  // 500 opens and 500 closes at least
    }

    /// Decoding: a kernel event carries the shim's own wire records.
    @Test func kernelEventsCarryWireRecords() throws {
        var close = fdt_rec_close()
        close.fd = 7
        close.call = UInt16(FDT_CALL_CLOSE.rawValue)
        close.tid = 42
        let record = RecordEncoder.encode(close, type: FDT_REC_CLOSE, time: 5)
        var ev = fdt_kev(size: UInt32(MemoryLayout<fdt_kev>.size + record.count), tgid: 1234)
        let bytes = withUnsafeBytes(of: &ev) { Array($0) } + record
        let (pid, event) = try bytes.withUnsafeBytes { try KernelEventDecoder.decode($0) }
        #expect(pid == 1234)
        guard case .record(.close(let c)) = event else { Issue.record("not a close: \(event)"); return }
        #expect(c.time == 5 && c.fd == 7 && c.call == .close && c.tid == 42 && c.cause == .explicit)
        // A size that runs past the bytes is refused.
        var bad = bytes
        bad[0] = 200
        #expect(throws: DecodeError.self) { try bad.withUnsafeBytes { try KernelEventDecoder.decode($0) } }
    }

    /// A socket the BPF program describes at exit: the shim's exit-view
    /// record, decoded by the shim's decoder, addresses as getsockname's.
    @Test func socketDescriptionsAreKernelViewRecords() throws {
        var k = fdt_rec_kernel_fd()
        k.fd = 9
        k.st_mode = UInt32(S_IFSOCK) | 0o777
        k.domain = AF_INET
        k.sock_type = Int32(SOCK_STREAM.rawValue)
        k.protocol = Int32(IPPROTO_TCP)
        k.tcp_state = 8  // CLOSE_WAIT
        k.inode = 4242
        let local: [UInt8] = [2, 0, 0x1f, 0x90, 127, 0, 0, 1] + Array(repeating: 0, count: 8)
        let peer: [UInt8] = [2, 0, 0xc3, 0x50, 127, 0, 0, 1] + Array(repeating: 0, count: 8)
        k.local_len = UInt16(local.count)
        k.peer_len = UInt16(peer.count)
        let record = RecordEncoder.encode(k, type: FDT_REC_KERNEL_FD, tail: local + peer, time: 9)
        var ev = fdt_kev(size: UInt32(MemoryLayout<fdt_kev>.size + record.count), tgid: 77)
        let bytes = withUnsafeBytes(of: &ev) { Array($0) } + record
        let (pid, event) = try bytes.withUnsafeBytes { try KernelEventDecoder.decode($0) }
        #expect(pid == 77)
        guard case .record(.kernelFD(let d)) = event else { Issue.record("not a kernel view record: \(event)"); return }
        #expect(d.fd == 9 && d.domain == AF_INET && d.tcpState == 8 && d.inode == 4242 && d.target.isEmpty)
        #expect(SocketAddress.format(d.local) == "127.0.0.1:8080" && SocketAddress.format(d.peer) == "127.0.0.1:50000")
    }

    /// Without privileges: one clear line, no crash, no wait.
    @Test func unprivilegedUserGetsAClearError() throws {
        let root = Paths.root.path
        let exe = try Fixture.build(
            "kernel_unprivileged.c",
            flags: [
                "-I\(root)/Sources/CFDTraceKernel/include", "-I\(root)/CShim/include", "-I\(root)/.build-bpf",
                "\(root)/Sources/CFDTraceKernel/loader.c", "-lbpf",
            ])
        let started = Date()
        let o = try run([exe])
        #expect(o.status == 0, "\(o.stdout)\(o.stderr)")
        #expect(
            o.stdout.hasPrefix("the kernel event source needs root (CAP_BPF and CAP_PERFMON): "),
            "\(o.stdout)")
        #expect(o.stdout.hasSuffix("was refused (Operation not permitted)\n"), "\(o.stdout)")
        #expect(o.stderr.isEmpty, "\(o.stderr)")
        #expect(Date().timeIntervalSince(started) < 10)
    }
}

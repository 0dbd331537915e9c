import Foundation
import Testing

@testable import FDTraceCore

/// A source that is not the shim: it plays a script of images and records
/// through the EventSource interface, as a kernel source would. The
/// collector links, applies and ends them without knowing where they came
/// from.
final class ScriptedSource: EventSource {
    enum Step {
        case appear(ProcessStart)
        case records(image: Int, [Record])
        case end(image: Int)
    }
    var steps: [Step]
    /// Keys the host gave, in the order images appeared.
    var keys: [Int] = []
    var ending: [Int] = []
    var queued: [Int: [Record]] = [:]
    var stopped: [Int: Bool] = [:]

    init(_ steps: [Step]) { self.steps = steps }

    var pollDescriptors: [Int32] { [] }
    var hasPendingWork: Bool { !steps.isEmpty || queued.values.contains { !$0.isEmpty } }

    /// One step a round.
    func admit(readable: Set<Int32>, host: EventSourceHost) {
        guard !steps.isEmpty else { return }
        switch steps.removeFirst() {
        case .appear(let start): if let key = host.appeared(start, from: self) { keys.append(key) }
        case .records(let image, let records): queued[keys[image], default: []] += records
        case .end(let image): ending.append(keys[image])
        }
    }

    func drain(_ key: Int?, limit: Int, into host: EventSourceHost) {
        for k in key.map({ [$0] }) ?? Array(queued.keys) {
            let records = queued.removeValue(forKey: k) ?? []
            host.feed(k) { sink in
                for r in records {
                    switch r {
                    case .open(let e): sink.open(e)
                    case .close(let e): sink.close(e)
                    default: sink.apply(r)
                    }
                }
            }
        }
    }

    func serveRequests(_ key: Int, host: EventSourceHost) {}

    func ended(readable: Set<Int32>) -> [Int] {
        defer { ending = [] }
        return ending
    }

    func stopFollowing(_ key: Int, processEnded: Bool) -> StreamCounters {
        stopped[key] = processEnded
        return StreamCounters(fullWaits: 3)
    }

    func isReplaced(_ key: Int) -> Bool { true }
    func reportWritten(_ key: Int) {}
}

@Suite struct EventSourceTests {
    static let pid: Int32 = 999_999_999  // no such process: nothing of it in /proc

    static func start(forkParent: Int32 = 0, forkID: UInt64 = 0, pid: Int32 = pid, command: [String]) -> ProcessStart {
        ProcessStart(
            pid: pid, ppid: 1, forkParent: forkParent, forkID: forkID, command: command, executable: "/nonexistent/prog",
            startTime: 100, rlimitSoft: 1024, rlimitHard: 4096)
    }

    static func open(_ fd: Int32, stack: UInt32 = 0, at time: UInt64 = 200) -> Record {
        .open(OpenEvent(time: time, fd: fd, call: .open, stackID: stack, path: "/tmp/f\(fd)"))
    }

    @Test("Another source's images are applied, linked by exec and fork, and finished like the shim's")
    func aScriptedSourceFeedsTheCollector() throws {
        let child: Int32 = Self.pid - 1
        let source = ScriptedSource([
            .appear(Self.start(command: ["sh", "-c", "prog"])),
            .records(image: 0, [Self.open(3), Self.open(4), .close(CloseEvent(time: 300, fd: 3, call: .close, tid: 1))]),
            // The same pid again, its first image not exited: an exec.
            .appear(Self.start(command: ["prog"])),
            .records(
                image: 1,
                [
                    Self.open(5, stack: 1), .fork(time: 400, id: 7), Self.open(6, stack: 1),
                    .child(time: 401, id: 7, pid: child),
                ]),
            // A fork child starts from its parent's table as of the fork.
            .appear(Self.start(forkParent: Self.pid, forkID: 7, pid: child, command: ["prog"])),
            .end(image: 2),
            .end(image: 1),
        ])
        let collector = Collector(sources: [source])
        for _ in 0..<12 { _ = collector.poll(timeoutMs: 0) }
        let p = collector.processes
        #expect(p.count == 3 && source.keys == [0, 1, 2])
        #expect(p[0].end == .execed && p[0].table.descriptors.map(\.fd) == [4] && p[0].endTime == 100)
        // The new image starts empty (the shim would list what it inherited).
        #expect(p[1].execPredecessor == 0 && p[1].table.descriptors.map(\.fd) == [5, 6])
        #expect(p[1].end == .exited(reconciled: false) && p[1].fullWaits == 3)
        #expect(p[2].ppid == Self.pid && p[2].table.descriptors.map(\.fd) == [5])
        #expect(p[2].table.descriptors.allSatisfy { $0.origin != .traced })
        #expect(p[1].expectedChildren.isEmpty)
        // The exec'd image stopped being followed while it might run on; the
        // others when their process ended.
        #expect(source.stopped == [0: false, 1: true, 2: true])
        #expect(collector.followedImages == 0 && collector.recordsRead == 7)
    }

    @Test("A fork child that never said hello: its program waits for the parent's child record, then follows an image made from the fork")
    func silentForkChildIsMadeFromItsParentsRecords() throws {
        let child: Int32 = Self.pid - 1, other: Int32 = Self.pid - 2, failed: Int32 = Self.pid - 3
        var exec = Self.start(pid: child, command: ["true"])
        exec.ppid = Self.pid
        let source = ScriptedSource([
            .appear(Self.start(command: ["sh"])),
            .records(image: 0, [Self.open(3), .fork(time: 400, id: 7), Self.open(4)]),
        ])
        let collector = Collector(sources: [source])
        for _ in 0..<3 { _ = collector.poll(timeoutMs: 0) }
        // The fork is in flight: a program of that pid may be its child's.
        #expect(collector.hasForksInFlight && collector.awaitsFork(exec))
        source.steps = [
            .records(
                image: 0,
                [
                    .child(time: 401, id: 7, pid: child), .fork(time: 500, id: 8), .child(time: 501, id: 8, pid: -1),
                    .fork(time: 600, id: 9), .child(time: 601, id: 9, pid: other),
                ]),
            .appear(exec),
        ]
        for _ in 0..<4 { _ = collector.poll(timeoutMs: 0) }
        #expect(!collector.hasForksInFlight && !collector.awaitsFork(exec))
        let p = collector.processes
        // sh, the fork child made from fork 7 (its table then: fd 3), true.
        #expect(p.count == 3 && source.keys == [0, 2])
        #expect(p[1].pid == child && p[1].forkParent == Self.pid && p[1].command == ["sh"] && p[1].startTime == 400)
        #expect(p[1].end == .execed && p[1].endTime == 100 && p[1].table.descriptors.map(\.fd) == [3])
        #expect(p[2].execPredecessor == 1 && p[2].command == ["true"])
        // The failed fork left nothing behind; the child that never showed
        // up is listed at the end, from fork 9 (fds 3 and 4).
        #expect(
            p[0].expectedChildren == [other: ExpectedChild(forkID: 9, forkedAt: 600)]
                && p[0].forkSnapshots.keys.sorted() == [9])
        #expect(!p.contains { $0.pid == failed })
        collector.settleSilentChildren()
        let q = collector.processes
        #expect(q.count == 4 && q[3].pid == other && q[3].table.descriptors.map(\.fd) == [3, 4])
        #expect(q[3].end == .exited(reconciled: false) && q[3].notes.contains { $0.contains("recorded nothing after its fork") })
        #expect(q[0].expectedChildren.isEmpty)
    }

    @Test("A child that said hello before its parent's child record was read is not listed twice")
    func childRecordReadAfterTheChildsHello() throws {
        let child: Int32 = Self.pid - 1
        let source = ScriptedSource([
            .appear(Self.start(command: ["server"])),
            .records(image: 0, [.fork(time: 400, id: 7)]),
            .appear(Self.start(forkParent: Self.pid, forkID: 7, pid: child, command: ["server"])),
            .records(image: 0, [.child(time: 401, id: 7, pid: child)]),
            .end(image: 1),
        ])
        let collector = Collector(sources: [source])
        for _ in 0..<8 { _ = collector.poll(timeoutMs: 0) }
        collector.settleSilentChildren()
        #expect(collector.processes.filter { $0.pid == child }.count == 1)
        #expect(collector.pendingChildren.isEmpty)
    }
}

/// What the kernel source says of a descriptor at exit when the BPF program
/// did not describe it (the ring had no room): the /proc sample, with a
/// socket's family and type from its opening call (samples name sockets
/// only); without a sample, what the opening call said.
@Suite struct KernelExitDescriptionTests {
    @Test func sampleCompletedFromTheOpeningCall() {
        let tracked = TrackedFD(
            fd: 5, origin: .traced, call: .socket, domain: AF_INET6, sockType: Int32(SOCK_STREAM.rawValue),
            proto: Int32(IPPROTO_TCP))
        let sampled = KernelFD(fd: 5, mode: UInt32(S_IFSOCK), inode: 77, target: "socket:[77]")
        let k = KernelEventSource.described(sampled, else: tracked, fd: 5)
        #expect(k.target == "socket:[77]" && k.inode == 77)
        #expect(k.domain == AF_INET6 && k.sockType == Int32(SOCK_STREAM.rawValue) && k.proto == Int32(IPPROTO_TCP))
        // A sample that names a file keeps its own description.
        let file = KernelFD(fd: 5, mode: UInt32(S_IFREG), inode: 9, target: "/etc/hostname")
        #expect(KernelEventSource.described(file, else: tracked, fd: 5) == file)
        // No sample: the opening call's view (a socket of unknown inode).
        let none = KernelEventSource.described(nil, else: tracked, fd: 5)
        #expect(none.target == "socket:[0]" && none.domain == AF_INET6)
        #expect(KernelEventSource.described(nil, else: nil, fd: 5) == KernelFD(fd: 5, target: ""))
    }
}

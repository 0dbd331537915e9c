import FDTraceCore
import Foundation
import Testing

/// One fixture per hook family: exactly K leaks per marked line, named by
/// file:line and call; everything else closed; nothing of unknown origin.
@Suite struct HookFamilyTests {
    func check(_ fixture: String, k: Int, perLine: [String: Int] = [:]) throws -> ProcessReport? {
        let exe = try Fixture.build(fixture)
        let (o, report) = try trace([exe])
        #expect(o.status == 0, "stderr: \(o.stderr)")
        let p = try #require(report.process(exe))
        expectAccounted(p)
        #expect(siteCounts(p) == (try expectedSites(fixture, k: k, perLine: perLine)))
        // The shim's own frames (hooks on top, the main() wrapper below) are cut.
        #expect(p.leaks.allSatisfy { $0.frames.allSatisfy { !($0.module ?? "").hasSuffix("libfdtrace.so") } })
        #expect(p.leaks.allSatisfy { $0.frames.first?.file?.hasSuffix(fixture) == true || $0.frames.first?.module?.contains("libc") == true })
        return p
    }

    @Test func openFamily() throws {
        let p = try #require(try check("open_family.c", k: 3))
        let cloexec = p.leaks.filter { $0.call == "openat64" }.flatMap(\.fds).map(\.cloexec)
        #expect(cloexec == [true, true, true])
        #expect(p.leaks.first { $0.call == "open" }?.summary == "file /etc/hostname")
    }

    @Test func stdioFamily() throws {
        let p = try #require(try check("stdio_family.c", k: 2))
        #expect(p.leaks.first { $0.call == "popen" }?.fds.allSatisfy { $0.kind == .pipe } == true)
        #expect(p.leaks.first { $0.call == "opendir" }?.summary == "directory /tmp")
        #expect(p.leaks.first { $0.call == "freopen" }?.summary == "file /etc/passwd")
        #expect(p.leaks.first { $0.call == "fopen64" }?.fds.allSatisfy { $0.cloexec } == true)
        #expect(p.leaks.first { $0.call == "mkstemp" }?.fds.allSatisfy { $0.deleted == true } == true)
    }

    @Test func socketFamily() throws {
        let p = try #require(try check("socket_family.c", k: 3, perLine: ["socketpair": 6]))
        let kinds = Set(p.leaks.filter { $0.call == "socket" }.map(\.summary))
        #expect(kinds == ["TCP", "UDP6"])
        #expect(p.leaks.first { $0.call == "socketpair" }?.summary.hasPrefix("unix stream") == true)
        #expect(p.leaks.first { $0.call == "recvmsg" }?.summary == "file /etc/hostname")
        #expect(p.leaks.first { $0.call == "accept4" }?.fds.allSatisfy { $0.cloexec } == true)
    }

    @Test func pipesAndDuplicates() throws {
        let p = try #require(try check("pipe_dup.c", k: 4, perLine: ["pipe": 8, "pipe2": 8]))
        func flags(_ tag: String) throws -> [Bool] {
            let line = try #require(try Fixture.leakLines("pipe_dup.c")[tag]?.first)
            return p.leaks.filter { $0.site?.line == line }.flatMap(\.fds).map(\.cloexec)
        }
        #expect(try flags("pipe2") == Array(repeating: true, count: 8))
        #expect(try flags("pipe") == Array(repeating: false, count: 8))
        #expect(try flags("open-cloexec") == Array(repeating: true, count: 4))
        #expect(try flags("open-setfd") == Array(repeating: true, count: 4))
        #expect(try flags("dup3") == Array(repeating: true, count: 4))
        #expect(p.leaks.first { $0.call == "dup3" }?.fds.map(\.fd) == [200, 201, 202, 203])
    }

    /// A stack deeper than the depth keeps exactly the depth, from the
    /// opening line down, whichever unwinder took it (a thread's first
    /// stacks are the cold unwinder's, the later ones libunwind's): the
    /// frames walked beyond the depth for the shim's own are enough.
    @Test(arguments: [10, 64])
    func deepStacksKeepTheDepth(depth: Int) throws {
        let exe = try Fixture.build("deep_stack.c")
        let (o, report) = try trace([exe], options: depth == 64 ? [] : ["--depth", "\(depth)"])
        #expect(o.status == 0, "stderr: \(o.stderr)")
        let p = try #require(report.process(exe))
        let lines = try Fixture.leakLines("deep_stack.c")
        for tag in ["cold", "warm"] {
            let line = try #require(lines[tag]?.first)
            let leak = try #require(p.leaks.first { $0.site?.line == line }, "no leak at \(tag)")
            #expect(leak.count == 1)
            #expect(leak.frames.count == depth, "\(tag): \(leak.frames.count) frames")
            #expect(leak.frames.allSatisfy { $0.function == "down" }, "\(tag): \(leak.frames.map { $0.function ?? "?" })")
        }
    }

    @Test func otherFactories() throws {
        let p = try #require(try check("misc_family.c", k: 2, perLine: ["openpty": 4]))
        let summaries = Dictionary(p.leaks.map { ($0.call, $0.summary) }, uniquingKeysWith: { a, _ in a })
        #expect(summaries["epoll_create1"] == "eventpoll")
        #expect(summaries["eventfd"] == "eventfd")
        #expect(summaries["signalfd"] == "signalfd")
        #expect(summaries["timerfd_create"] == "timerfd")
        #expect(summaries["inotify_init"] == "inotify")
        #expect(summaries["memfd_create"] == "memfd fixture-memfd")
        #expect(summaries["pidfd_open"] == "pidfd")
        #expect(summaries["posix_openpt"] == "device /dev/ptmx")
        #expect(summaries["shm_open"]?.hasSuffix("(deleted)") == true)
    }

    /// libuv (node) and other runtimes call syscall() directly: every
    /// descriptor call made that way is seen, closes included.
    @Test func rawSyscalls() throws {
        let p = try #require(try check("syscall_family.c", k: 3))
        #expect(p.leaks.first { $0.call == "openat2" }?.fds.allSatisfy { $0.cloexec } == true)
        #expect(p.leaks.first { $0.call == "dup3" }?.fds.map(\.fd) == [300, 301, 302])
        #expect(p.leaks.first { $0.call == "socket" }?.summary == "TCP")
        #expect(p.leaks.first { $0.call == "signalfd" }?.summary == "signalfd")
        #expect(p.events.closesOfUnknownDescriptors == 0)
    }

    @Test func closeRangeAndClosefrom() throws {
        let p = try #require(try check("close_family.c", k: 5))
        #expect(p.leaks.flatMap(\.fds).allSatisfy { $0.cloexec })
    }
}

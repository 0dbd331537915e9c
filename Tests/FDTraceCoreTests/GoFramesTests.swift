import Testing

@testable import FDTraceCore

/// Go frame classification on stacks as GoLineTable names them (taken from
/// the Go 1.19 fixture's and prometheus-pushgateway's own goroutine dumps).
@Suite struct GoFramesTests {
    @Test func packages() {
        #expect(GoFrames.package(of: "net/http.(*Server).Serve") == "net/http")
        #expect(GoFrames.package(of: "main.main.func2") == "main")
        #expect(GoFrames.package(of: "github.com/prometheus/exporter-toolkit/web.Serve") == "github.com/prometheus/exporter-toolkit/web")
        #expect(GoFrames.package(of: "gopkg.in/yaml%2ev2.Unmarshal") == "gopkg.in/yaml%2ev2")
        #expect(GoFrames.package(of: "slices.Sort[go.shape.[]int,go.shape.int]") == "slices")
        #expect(GoFrames.package(of: "main.Map[go.shape.*example.com/a/b.T]") == "main")
        #expect(GoFrames.package(of: "accept4") == nil)
        #expect(GoFrames.package(of: ".hidden") == nil)
    }

    @Test func kinds() {
        let plumbing = [
            "runtime.gopark", "runtime/internal/syscall.Syscall6", "syscall.accept4", "syscall.Open",
            "internal/poll.(*FD).Accept", "internal/poll.accept", "net.(*netFD).accept", "net.(*TCPListener).accept",
            "net.sysSocket", "os.openFileNolog", "os.(*File).Close.func1", "vendor/golang.org/x/net/http2/hpack.(*Decoder).Write",
            "crypto/internal/nistec.(*P256Point).Add", "type..eq.main.T", "type:.eq.main.T", "go.buildid", "_cgo_topofstack",
            "x_cgo_init", "crosscall2", "runtime.goexit", "runtime.main",
        ]
        for f in plumbing { #expect(GoFrames.kind(of: f) == .plumbing, "\(f)") }
        let library = [
            "net.(*TCPListener).Accept", "net.Listen", "net.Dial", "os.Open", "os.OpenFile", "os.(*File).Close",
            "net/http.(*Server).Serve", "net/http.HandlerFunc.ServeHTTP", "net.(*ListenConfig).Listen",
            "slices.Sort[go.shape.[]int,go.shape.int]",
        ]
        for f in library { #expect(GoFrames.kind(of: f) == .library, "\(f)") }
        let user = [
            "main.main", "main.openFifo", "main.main.func2", "github.com/prometheus/exporter-toolkit/web.Serve",
            "go.uber.org/zap.(*Logger).Info", "fdtrace/fixtures/gosymbols/store.Open", "example.com/m/internal/db.open",
            "fixture_cgo",
        ]
        for f in user { #expect(GoFrames.kind(of: f) == .user, "\(f)") }
    }

    /// The fixture's accept goroutine: arrow at main.acceptLoop, the call
    /// is net.(*TCPListener).Accept.
    @Test func accept() {
        let stack = [
            "syscall.accept4", "internal/poll.accept", "internal/poll.(*FD).Accept", "net.(*netFD).accept",
            "net.(*TCPListener).accept", "net.(*TCPListener).Accept", "main.acceptLoop", "main.main.func1", "runtime.goexit",
        ]
        #expect(GoFrames.headline(stack) == 6)
        #expect(GoFrames.call(stack) == "net.(*TCPListener).Accept")
    }

    /// os.Open is inlined into the caller: it is the call, not os.OpenFile.
    @Test func open() {
        let stack = [
            "syscall.Syscall6", "syscall.openat", "syscall.Open", "os.openFileNolog", "os.OpenFile", "os.Open",
            "main.openFifo", "main.main.func2", "runtime.goexit",
        ]
        #expect(GoFrames.headline(stack) == 6)
        #expect(GoFrames.call(stack) == "os.Open")
    }

    /// A server in a third-party module: its frames are the program's
    /// (prometheus-pushgateway's accept goroutine, as its runtime printed it).
    @Test func pushgatewayAccept() {
        let stack = [
            "runtime.gopark", "runtime.netpollblock", "internal/poll.runtime_pollWait", "internal/poll.(*pollDesc).wait",
            "internal/poll.(*pollDesc).waitRead", "internal/poll.(*FD).Accept", "net.(*netFD).accept",
            "net.(*TCPListener).accept", "net.(*TCPListener).Accept", "net/http.(*onceCloseListener).Accept",
            "net/http.(*Server).Serve", "github.com/prometheus/exporter-toolkit/web.Serve",
            "github.com/prometheus/exporter-toolkit/web.ServeMultiple.func1", "golang.org/x/sync/errgroup.(*Group).Go.func1",
            "runtime.goexit",
        ]
        #expect(GoFrames.kind(of: "net/http.(*onceCloseListener).Accept") == .plumbing)
        #expect(GoFrames.headline(stack) == 11)
        #expect(GoFrames.call(stack) == "net/http.(*Server).Serve")
    }

    /// Only the runtime (its netpoller's epoll descriptor): no program frame,
    /// no call; the arrow at the first API frame if any.
    @Test func runtimeOnly() {
        let stack = [
            "runtime.netpollinit", "runtime.netpollGenericInit", "internal/poll.runtime_pollServerInit", "sync.(*Once).doSlow",
            "sync.(*Once).Do", "internal/poll.(*pollDesc).init",
        ]
        #expect(GoFrames.call(stack) == nil)
        #expect(GoFrames.headline(stack) == 4)
        #expect(GoFrames.headline(["runtime.epollcreate1", "runtime.netpollinit"]) == nil)
        #expect(GoFrames.call(["main.main"]) == nil)
        #expect(GoFrames.call([]) == nil && GoFrames.headline([]) == nil)
        // The program called syscall itself: no API call to name (the system call names it).
        #expect(GoFrames.call(["syscall.Socket", "main.raw"]) == nil)
    }
}

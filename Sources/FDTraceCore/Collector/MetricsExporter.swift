import CFDTraceSys
import Foundation

/// `--metrics ADDR` and `--metrics-file FILE`: serves `/metrics` and
/// rewrites the file, on a thread of its own. A sample is made where the
/// data is: a session's loop makes it from the collector's tables when the
/// thread asks (an eventfd the loop polls: `loopDescriptor`, `answer`), so
/// the loop never waits on a client; `watch` gives a closure the thread
/// calls itself. The thread completes the sample from /proc (TCP states),
/// folds the sites and renders it.
public final class MetricsExporter: @unchecked Sendable {
    public struct Options: Sendable {
        public var address: MetricsAddress?
        public var file: String?
        /// Sites with series of their own (the rest is `site="other"`).
        public var topSites: Int
        public static let defaultTopSites = 20
        /// How often the file is rewritten.
        public static let fileRefreshSeconds = 2.0
        public init(address: MetricsAddress?, file: String?, topSites: Int = defaultTopSites) {
            self.address = address; self.file = file; self.topSites = topSites
        }
    }

    public let options: Options
    private let listenFD: Int32
    /// Pipes: written by the thread when it wants a sample from the loop
    /// (the loop polls the read end), and to stop the thread.
    private let wake: [Int32]
    private let stop: [Int32]
    private let file: MetricsFile?
    private let state = NSCondition()
    private var pending = false
    private var answered: MetricsSample?
    private var stopping = false
    private var fold: SiteSeriesFold
    private var direct: (@Sendable () -> MetricsSample?)?
    private let done = DispatchSemaphore(value: 0)
    private var started = false

    /// Binds the address and checks the file's directory now, before any
    /// program runs: a bad one is one line (status 64).
    public init(_ options: Options) throws {
        self.options = options
        fold = SiteSeriesFold(limit: options.topSites)
        file = try options.file.map { try MetricsFile(path: $0) }
        listenFD = try options.address.map { try MetricsHTTP.listen($0) } ?? -1
        wake = Self.pipe()
        stop = Self.pipe()
    }

    deinit {
        for fd in [listenFD] + wake + stop where fd >= 0 { close(fd) }
    }

    /// A non-blocking close-on-exec pipe ([-1, -1] if none could be made:
    /// the thread then never hears from the loop, and scrapes time out).
    private static func pipe() -> [Int32] {
        var fds: [Int32] = [-1, -1]
        guard fdtc_pipe_cloexec(&fds) == 0 else { return [-1, -1] }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return fds
    }

    /// What the session's loop polls: readable when a sample is wanted.
    public var loopDescriptor: Int32 { wake[0] }

    /// Starts serving; samples come from the loop (`answer`), or from
    /// `direct` on the exporter's thread.
    public func start(direct: (@Sendable () -> MetricsSample?)? = nil) {
        self.direct = direct
        started = true
        Thread { [self] in
            serve()
            done.signal()
        }.start()
    }

    /// On the loop, when `loopDescriptor` is readable: makes the sample the
    /// thread waits for.
    public func answer(_ make: () -> MetricsSample) {
        var v = [UInt8](repeating: 0, count: 64)
        while read(wake[0], &v, v.count) > 0 {}
        state.lock()
        let wanted = pending
        state.unlock()
        guard wanted else { return }
        let s = make()
        state.lock()
        answered = s
        pending = false
        state.broadcast()
        state.unlock()
    }

    /// Stops the thread and writes the file once more from `final` (the
    /// session's end).
    public func finish(_ final: MetricsSample?) {
        guard started else { return }
        started = false
        state.lock()
        stopping = true
        state.broadcast()
        state.unlock()
        var one: UInt8 = 1
        _ = write(stop[1], &one, 1)
        done.wait()
        if let final { file?.write(render(final)) }
    }

    // MARK: - the thread

    private func serve() {
        var nextFile = monotonicNow()
        let refresh = UInt64(Options.fileRefreshSeconds * 1e9)
        while true {
            var fds = [pollfd(fd: stop[0], events: Int16(POLLIN), revents: 0)]
            if listenFD >= 0 { fds.append(pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)) }
            let now = monotonicNow()
            let timeout: Int32 = file == nil ? -1 : Int32(min(60_000, (nextFile &- min(nextFile, now)) / 1_000_000))
            _ = poll(&fds, nfds_t(fds.count), timeout)
            if fds[0].revents != 0 { return }
            if fds.count > 1 && fds[1].revents != 0 { acceptAll() }
            if let file, monotonicNow() >= nextFile {
                if let s = sample() { file.write(render(s)) }
                nextFile = monotonicNow() + refresh
            }
        }
    }

    private func acceptAll() {
        while true {
            let conn = fdtc_accept(listenFD)
            if conn < 0 { return }
            respond(conn)
            close(conn)
        }
    }

    private func respond(_ conn: Int32) {
        guard let head = MetricsHTTP.readHead(conn) else { return }
        let response: MetricsHTTP.Response
        switch MetricsHTTP.route(head) {
        case .error(let status, let message):
            response = MetricsHTTP.Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(message.utf8))
        case .metrics(let headOnly):
            if let s = sample() {
                response = MetricsHTTP.Response(
                    status: "200 OK", contentType: MetricsExposition.contentType, body: render(s), headOnly: headOnly)
            } else {
                response = MetricsHTTP.Response(
                    status: "503 Service Unavailable", contentType: "text/plain; charset=utf-8",
                    body: Array("no sample: the session is ending or the process is gone\n".utf8))
            }
        }
        MetricsHTTP.send(conn, MetricsHTTP.encode(response))
    }

    /// A sample now: from `direct`, or asked of the loop (bounded wait: a
    /// loop busy with a long report answers late, and the scrape fails).
    private func sample() -> MetricsSample? {
        var s: MetricsSample?
        if let direct {
            s = direct()
        } else {
            state.lock()
            pending = true
            answered = nil
            var one: UInt8 = 1
            _ = write(wake[1], &one, 1)
            let deadline = Date(timeIntervalSinceNow: 10)
            while answered == nil && !stopping && state.wait(until: deadline) {}
            s = answered
            pending = false
            state.unlock()
        }
        s?.completeFromProc()
        return s
    }

    /// The exposition; the site fold is the thread's (or, at the end, the
    /// caller's once the thread stopped).
    private func render(_ s: MetricsSample) -> [UInt8] {
        let series = s.sites.map { fold.fold($0, totalOpen: s.totalOpen, opened: s.opened, closed: s.closed) }
        return MetricsExposition.render(s, sites: series)
    }
}

/// `--metrics-file`: replaced atomically, as node_exporter's textfile
/// collector needs (a temporary file in the same directory, renamed over
/// it: a reader sees the old file or the new one, never a part). The
/// temporary's name does not end in `.prom`, so the collector skips it.
final class MetricsFile: @unchecked Sendable {
    let path: String
    let temporary: String

    init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw FDTraceError("--metrics-file \(path): cannot write beside it: \(String(cString: strerror(errno)))", status: ExitStatus.usage)
        }
        close(fd)
        unlink(temporary)
    }

    /// A failed write leaves the previous file (and says nothing: the next
    /// refresh tries again).
    func write(_ bytes: [UInt8]) {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { return }
        var ok = true
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { ok = false; return }
                off += n
            }
        }
        close(fd)
        if !ok || rename(temporary, path) != 0 { unlink(temporary) }
    }
}

import CFDTraceSys
import CFDTraceWire
import Foundation

/// What a running session says about itself.
public struct SessionInfo: Codable, Sendable, Equatable {
    public var name: String?
    public var collectorPid: Int32
    public var command: [String]
    /// Traced processes still running.
    public var pids: [Int32]
}

/// Answers queries of a running session (`fdtrace snapshot`, `fdtrace top`)
/// from the collector's tables: "info", or "snapshot [PID]". Only the same
/// user (or root) is answered.
public final class QueryServer {
    public let path: String
    public let fd: Int32
    public let name: String?
    let command: [String]
    var symbolizer: Symbolizing
    var nativeFrames: Bool

    public init(name: String?, command: [String], symbolizer: Symbolizing, nativeFrames: Bool = false) throws {
        let dir = try SessionDirectory.prepare()
        path = "\(dir)/\(getpid()).sock"
        unlink(path)
        let fd = fdtc_listen_stream(path)
        guard fd >= 0 else {
            throw FDTraceError.tracer("cannot listen on \(path)", errno: -fd)
        }
        self.fd = fd
        self.name = name
        self.command = command
        self.symbolizer = symbolizer
        self.nativeFrames = nativeFrames
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Serves the queries waiting on the socket.
    public func handle(_ collector: Collector) {
        while true {
            let conn = fdtc_accept(fd)
            if conn < 0 { return }
            serve(conn, collector)
            close(conn)
        }
    }

    private func serve(_ conn: Int32, _ collector: Collector) {
        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        guard fdtc_peer_cred(conn, &pid, &uid, &gid) == 0, uid == geteuid() || uid == 0 else {
            reply(conn, Data("denied: another user's session\n".utf8))
            return
        }
        guard let request = readLine(conn) else { return }
        // Everything the processes did before the question, in the tables.
        collector.drainAll()
        let words = request.split(separator: " ")
        // Running as far as the collector knows, and still the same process:
        // an end not yet noticed leaves a pid that another process may have
        // taken since (pids wrap at 32768 here), whose queries are not ours.
        let running = collector.processes.filter {
            $0.end == .running && ($0.kernelStartTime == nil || ProcFiles.kernelStartTime($0.pid) == $0.kernelStartTime)
        }
        switch words.first {
        case "info":
            let info = SessionInfo(name: name, collectorPid: getpid(), command: command, pids: running.map(\.pid))
            reply(conn, (try? JSONRenderer.encode(info)) ?? Data())
        case "snapshot":
            let only = words.dropFirst().first.flatMap { Int32($0) }
            let chosen = Set(running.filter { only == nil || $0.pid == only }.map(\.key))
            var report = LiveReport.build(
                collector.processes, keys: chosen, registry: collector.registry, command: command,
                symbolizer: symbolizer, nativeFrames: nativeFrames)
            report.snapshot = SnapshotInfo(reason: .query, pid: only, takenAt: ISO8601DateFormatter().string(from: Date()))
            reply(conn, (try? JSONRenderer.render(report)) ?? Data())
        default:
            reply(conn, Data("unknown request\n".utf8))
        }
    }

    private func readLine(_ conn: Int32) -> String? {
        var bytes: [UInt8] = []
        var p = pollfd(fd: conn, events: Int16(POLLIN), revents: 0)
        while bytes.count < 256 {
            guard poll(&p, 1, 1000) == 1 else { return nil }
            var b: UInt8 = 0
            let n = read(conn, &b, 1)
            if n <= 0 { break }
            if b == 10 { break }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func reply(_ conn: Int32, _ data: Data) {
        // The connection was accepted non-blocking: write it all, waiting
        // (bounded) when the reader is slow.
        data.withUnsafeBytes { BlockingSend.all(conn, $0) }
    }
}

/// The client side: finds sessions and asks them.
public enum SessionQuery {
    public static func ask(_ socket: String, _ request: String, timeoutSeconds: Int = 30) throws -> Data {
        let fd = fdtc_connect_stream(socket)
        guard fd >= 0 else { throw FDTraceError("cannot reach \(socket): \(String(cString: strerror(-fd)))", status: ExitStatus.failure) }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let line = Array((request + "\n").utf8)
        guard write(fd, line, line.count) == line.count else { throw FDTraceError("cannot query \(socket)", status: ExitStatus.failure) }
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        if out.starts(with: Data("denied".utf8)) { throw FDTraceError("that session belongs to another user", status: ExitStatus.failure) }
        return out
    }

    /// Running sessions and what they say of themselves; sockets of
    /// sessions that are gone are removed.
    /// All are asked at once and briefly: a session busy with a long report
    /// (its loop symbolizing) must not hold up the others, nor the /proc
    /// read of an untraced pid (asked one by one with the full timeout,
    /// `snapshot --pid` of an untraced process took minutes on a busy host).
    public static func sessions() -> [(socket: String, info: SessionInfo)] {
        let sockets = SessionDirectory.sockets()
        let answers = Answers(count: sockets.count)
        DispatchQueue.concurrentPerform(iterations: sockets.count) { i in
            answers.set(i, try? ask(sockets[i], "info", timeoutSeconds: 3))
        }
        return sockets.indices.compactMap { i in
            guard let data = answers.get(i), let info = try? JSONRenderer.decode(SessionInfo.self, from: data) else {
                let fd = fdtc_connect_stream(sockets[i])
                if fd >= 0 { close(fd) } else if fd == -ECONNREFUSED { unlink(sockets[i]) }
                return nil
            }
            return (sockets[i], info)
        }
    }

    /// The sessions' answers, written from concurrent threads.
    private final class Answers: @unchecked Sendable {
        private let lock = NSLock()
        private var data: [Data?]
        init(count: Int) { data = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ d: Data?) { lock.withLock { data[i] = d } }
        func get(_ i: Int) -> Data? { lock.withLock { data[i] } }
    }

    public static func snapshot(_ socket: String, pid: Int32?) throws -> Report {
        let data = try ask(socket, "snapshot" + (pid.map { " \($0)" } ?? ""))
        do { return try JSONRenderer.decode(data) } catch {
            throw FDTraceError("the session sent no report", status: ExitStatus.failure)
        }
    }
}

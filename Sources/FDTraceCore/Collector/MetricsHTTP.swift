import CFDTraceSys
import Foundation

/// The smallest HTTP/1.1 server Prometheus needs: one request per
/// connection (`Connection: close`), GET or HEAD of `/metrics`, answered in
/// full. Runs on the exporter's thread, never on the collector's loop, so a
/// slow or silent client costs the loop nothing (and is cut off after a few
/// seconds).
enum MetricsHTTP {
    /// The answer to a request's head (its first line is enough).
    struct Response: Equatable {
        var status: String
        var contentType: String
        var body: [UInt8]
        /// HEAD: headers only.
        var headOnly = false
    }

    enum Route: Equatable {
        case metrics(headOnly: Bool)
        case error(status: String, message: String)
    }

    /// Where a request goes, from its head ("GET /metrics HTTP/1.1 ...").
    static func route(_ head: String) -> Route {
        let line = head.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            return .error(status: "400 Bad Request", message: "bad request\n")
        }
        guard parts[0] == "GET" || parts[0] == "HEAD" else {
            return .error(status: "405 Method Not Allowed", message: "only GET and HEAD\n")
        }
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == "/metrics" else { return .error(status: "404 Not Found", message: "not found: the metrics are at /metrics\n") }
        return .metrics(headOnly: parts[0] == "HEAD")
    }

    static func encode(_ r: Response) -> [UInt8] {
        var out = Array(
            ("HTTP/1.1 \(r.status)\r\nContent-Type: \(r.contentType)\r\nContent-Length: \(r.body.count)\r\n"
                + "Connection: close\r\n\r\n").utf8)
        if !r.headOnly { out += r.body }
        return out
    }

    /// Reads a request's head from a non-blocking connection: up to its
    /// blank line, 8 KiB, or `timeoutMs` in all. Nil when nothing usable came.
    static func readHead(_ conn: Int32, timeoutMs: Int = 3000) -> String? {
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 2048)
        let deadline = monotonicNow() + UInt64(timeoutMs) * 1_000_000
        while bytes.count < 8192 {
            let now = monotonicNow()
            guard now < deadline else { return nil }
            var p = pollfd(fd: conn, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32((deadline - now) / 1_000_000) + 1) == 1 else { return nil }
            let n = read(conn, &buf, buf.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { break }
            bytes += buf[0..<n]
            if bytes.count >= 4 && bytes.suffix(4) == [13, 10, 13, 10] { break }
            if let text = String(bytes: bytes, encoding: .utf8), text.contains("\r\n\r\n") { break }
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    /// Writes it all (blocking, bounded by a send timeout).
    static func send(_ conn: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { BlockingSend.all(conn, $0) }
    }

    /// The listening socket, or the one line saying why not (status 64:
    /// the address is the user's to change).
    static func listen(_ address: MetricsAddress) throws -> Int32 {
        let fd = fdtc_listen_tcp(address.host, Int32(address.port))
        guard fd >= 0 else {
            let why = -fd == EINVAL ? "not an address of this machine's kind" : String(cString: strerror(-fd))
            throw FDTraceError("--metrics \(address): cannot listen: \(why)", status: ExitStatus.usage)
        }
        return fd
    }
}

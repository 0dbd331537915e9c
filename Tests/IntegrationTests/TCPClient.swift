import Foundation

/// A loopback TCP client for the real-server tests: connect, send, read
/// the status line, and the server-side checks the tests wait on.
final class TCPClient {
    let fd: Int32
    let localPort: UInt16

    /// Connects to 127.0.0.1:port and sends `send` (possibly half a request).
    init(port: UInt16, send text: String = "") throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError(message: "socket: \(errno)") }
        var addr = Self.loopback(port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Foundation.close(fd)
            throw FixtureError(message: "connect to port \(port): \(String(cString: strerror(e)))")
        }
        self.fd = fd
        localPort = Self.boundPort(fd)
        if !text.isEmpty { _ = text.withCString { Foundation.send(fd, $0, strlen($0), 0) } }
    }

    func close() { Foundation.close(fd) }

    /// The response's status line (the server closes after it: Connection: close).
    func statusLine() -> String {
        var bytes: [UInt8] = []
        var b: UInt8 = 0
        while recv(fd, &b, 1, 0) == 1, b != 10 { bytes.append(b) }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// PUT of one metric to /metrics/job/NAME: the status line.
    static func push(port: UInt16, job: String, metric: String) throws -> String {
        let body = metric + "\n"
        let c = try TCPClient(
            port: port,
            send: "PUT /metrics/job/\(job) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n\(body)")
        defer { c.close() }
        return c.statusLine()
    }

    /// A port nothing listens on now.
    static func freePort() throws -> UInt16 {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Foundation.close(s) }
        var addr = loopback(0)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw FixtureError(message: "bind: \(errno)") }
        return boundPort(s)
    }

    /// Waits (10 s at most) until something accepts connections on the port.
    static func waitForListener(port: UInt16) throws {
        for _ in 0..<200 {
            if let c = try? TCPClient(port: port) {
                c.close()
                return
            }
            usleep(50_000)
        }
        throw FixtureError(message: "nothing listens on 127.0.0.1:\(port)")
    }

    private static func loopback(_ port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return addr
    }

    private static func boundPort(_ fd: Int32) -> UInt16 {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return UInt16(bigEndian: addr.sin_port)
    }
}

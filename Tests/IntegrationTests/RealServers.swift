import Foundation

/// A loopback TCP port nothing listens on now (bound, read back, released).
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError(message: "socket: \(errno)") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw FixtureError(message: "bind: \(errno)") }
    return UInt16(bigEndian: addr.sin_port)
}

/// A private nginx (Debian's nginx-light): its own prefix, configuration,
/// error log and pid file in a scratch directory, a master and two workers
/// serving a fixed answer on a free loopback port.
struct NginxSetup {
    static let binary = "/usr/sbin/nginx"
    let prefix: String
    let port: UInt16
    var conf: String { prefix + "/nginx.conf" }
    var pidFile: String { prefix + "/nginx.pid" }
    /// The command line the master shows once it set its title.
    var masterTitle: String { "nginx: master process \(Self.binary) -p \(prefix) -c \(conf)" }
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    init(daemon: Bool) throws {
        prefix = scratch().path
        port = try freeLoopbackPort()
        let temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .map { "\($0)_temp_path \(prefix)/\($0);" }.joined(separator: " ")
        let text = """
            master_process on;
            worker_processes 2;
            daemon \(daemon ? "on" : "off");
            error_log \(prefix)/error.log;
            pid \(pidFile);
            events { worker_connections 64; }
            http {
                access_log off;
                \(temp)
                server { listen 127.0.0.1:\(port); location / { return 200 "ok\\n"; } }
            }

            """
        try text.write(toFile: conf, atomically: true, encoding: .utf8)
    }

    /// The argv that runs it (the caller adds fdtrace around it).
    var argv: [String] { [Self.binary, "-p", prefix, "-c", conf] }

    /// The master's pid, from its pid file (written once it runs).
    func masterPID(timeout: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return pid
            }
            usleep(50_000)
        }
        return nil
    }
}

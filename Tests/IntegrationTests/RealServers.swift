import FDTraceCore
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

/// `fdtrace run --json` on a program that leaves a daemon behind. The
/// daemon must not inherit the descriptor by which Foundation notices that
/// its child ended (waitUntilExit would wait for the daemon): descriptors
/// from 3 up are closed before the command starts.
func traceLeavingDaemon(_ argv: [String], options: [String] = []) throws -> (Outcome, Report) {
    let json = scratch().appendingPathComponent("report.json").path
    let o = try runLeavingDaemon([Paths.fdtrace, "run", "--json", json] + options + ["--"] + argv)
    return (o, try JSONRenderer.decode(Data(contentsOf: URL(fileURLWithPath: json))))
}

/// Runs argv (which leaves a daemon behind) to completion.
func runLeavingDaemon(_ argv: [String]) throws -> Outcome {
    let closeAll = "n=3; while [ $n -lt 1024 ]; do eval \"exec $n>&-\"; n=$((n+1)); done; "
    return try run(["/bin/bash", "-c", closeAll + "exec " + argv.map { "'\($0)'" }.joined(separator: " ")])
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

    /// Stops a daemonized master (by its pid file) and waits until it is
    /// gone (or a zombie: nobody may reap an orphan here).
    func stop() {
        guard let pid = masterPID(timeout: 1) else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")"), !stat[stat.index(after: close)...].hasPrefix(" Z") else { break }
            usleep(50_000)
        }
        unlink(pidFile)
    }

    /// The master's pid, from its pid file (written once it runs).
    func masterPID(timeout: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return pid
            }
            usleep(50_000)
        }
        return nil
    }
}

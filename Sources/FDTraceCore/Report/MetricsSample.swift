import Foundation

/// A call site as the metrics name it: the user's line (the frame a report
/// marks with its arrow), or the opening call when there is no stack.
public struct SiteName: Hashable, Sendable, Comparable {
    /// "server.py:14", or the call ("open") without a symbolized frame.
    public var site: String
    public var function: String
    public var file: String
    public var line: String

    public init(site: String, function: String = "", file: String = "", line: String = "") {
        self.site = site; self.function = function; self.file = file; self.line = line
    }

    public static func < (a: SiteName, b: SiteName) -> Bool {
        (a.site, a.file, a.line, a.function) < (b.site, b.file, b.line, b.function)
    }
}

/// One site's counts at a scrape: open now (summed over the running
/// processes) and, over the session, descriptors it opened and the program
/// closed again (cumulative: never decrease).
public struct SiteSample: Sendable, Equatable {
    public var name: SiteName
    public var open: Int
    public var opened: Int64
    public var closed: Int64

    public init(name: SiteName, open: Int, opened: Int64, closed: Int64) {
        self.name = name; self.open = open; self.opened = opened; self.closed = closed
    }
}

/// What the metrics say at one scrape, summed over the traced processes
/// (a session's tree, or the one process `watch` reads). Built from the
/// collector's tables on its loop (`MetricsSampler`) or from /proc; the
/// parts that need /proc reads are completed off the loop
/// (`completeFromProc`).
public struct MetricsSample: Sendable, Equatable {
    /// The process the session started, attached to or watches.
    public var pid: Int32
    public var command: String
    /// Traced processes running now.
    public var processes: Int
    public var openByKind: [String: Int] = [:]
    /// The soft RLIMIT_NOFILE of the process holding the most descriptors
    /// (`limitPid`: read again from /proc off the loop while it runs).
    public var maxFDs: UInt64?
    public var limitPid: Int32?
    public var tcpStates: [String: Int] = [:]
    /// Seconds since the oldest open descriptor of each kind was opened
    /// (traced sessions only: /proc does not say when).
    public var oldestAgeByKind: [String: Double]?
    /// Calls that failed with EMFILE/ENFILE (once per burst; traced only).
    public var exhausted: Int?
    /// Per named site (traced sessions only); the rest is in the totals.
    public var sites: [SiteSample]?
    public var opened: Int64 = 0
    public var closed: Int64 = 0
    /// Descriptors to look at in /proc off the loop: sockets (TCP state)
    /// and those the opening call did not name a kind for (a dup), by pid.
    public var toInspect: [Int32: [Int32]] = [:]

    public init(pid: Int32, command: String, processes: Int) {
        self.pid = pid; self.command = command; self.processes = processes
    }

    public var totalOpen: Int { openByKind.values.reduce(0, +) }

    /// Reads what the tables cannot say from /proc: the TCP state of each
    /// socket and the kind of descriptors counted as "unknown".
    public mutating func completeFromProc() {
        if let pid = limitPid, let soft = ProcFiles.openFileLimits(pid).soft { maxFDs = soft }
        limitPid = nil
        for (pid, fds) in toInspect.sorted(by: { $0.key < $1.key }) {
            let net = ProcNet(pid: pid)
            for fd in fds {
                guard let d = ProcSnapshot.describe(fd: fd, of: pid, net: net) else { continue }
                if d.description.kind != .socket, openByKind["unknown", default: 0] > 0 {
                    openByKind["unknown", default: 0] -= 1
                    openByKind[d.description.kind.name, default: 0] += 1
                    if openByKind["unknown"] == 0 { openByKind["unknown"] = nil }
                }
                if let state = d.description.state, d.description.proto?.hasPrefix("TCP") == true {
                    tcpStates[state, default: 0] += 1
                }
            }
        }
        toInspect = [:]
    }

    /// `watch`: one process as /proc shows it, no call sites.
    public init(proc s: ProcSnapshot) {
        self.init(pid: s.pid, command: s.command.joined(separator: " "), processes: 1)
        openByKind = s.byKind
        maxFDs = s.rlimitSoft
        for g in s.groups {
            for f in g.fds where f.state != nil && f.protocol?.hasPrefix("TCP") == true { tcpStates[f.state!, default: 0] += 1 }
        }
    }
}

import Foundation

/// The report: what a run left open, grouped by the code that opened it.
/// Encoded to JSON with snake_case keys (schema in the README).
public struct Report: Codable, Sendable, Equatable {
    public var version = 1
    public var command: [String]
    public var exitStatus: Int32?
    public var processes: [ProcessReport]
    public var notes: [String]
    /// The collector's own cost (filled in by the command).
    public var collector: CollectorUsage?
    /// Set when this is a snapshot taken while the program ran.
    public var snapshot: SnapshotInfo?
    /// Set when the session attached to a running process (`fdtrace attach`).
    public var attach: AttachInfo?
    /// What the suppression files matched (nil when none was given).
    public var suppressions: SuppressionSummary?

    public var leakGroupCount: Int { processes.reduce(0) { $0 + $1.leaks.count } }
    /// Bad-close groups of every process.
    public var badCloseGroupCount: Int { processes.reduce(0) { $0 + ($1.badCloses?.count ?? 0) } }
}

public struct ProcessReport: Codable, Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32
    public var command: [String]
    public var executable: String
    /// Exit code, when the process exited; nil when killed by a signal.
    public var exitStatus: Int32?
    public var signal: Int32?
    public var ended: ProcessEnd
    public var durationSeconds: Double
    public var reconciliation: Reconciliation
    public var openAtExit: Int
    public var peakOpen: Int
    public var rlimitSoft: UInt64
    public var rlimitHard: UInt64
    public var leakedDescriptors: Int
    public var leaks: [LeakGroup]
    /// Descriptors this program inherited from a traced program that opened
    /// them without close-on-exec (grouped by where they were opened).
    public var inheritedLeaks: [LeakGroup]
    public var standard: [FDReport]
    public var inherited: [FDReport]
    public var unknownOrigin: [FDReport]
    public var internalErrors: [FDReport]
    public var notes: [String]
    public var events: EventCounts
    /// The process's own peak RSS and CPU time, as it reported at exit.
    public var maxRssKb: UInt64?
    public var cpuSeconds: Double?
    /// When the most descriptors were open, and which sites held them.
    public var peak: PeakReport?
    /// Why this report cannot be exact (the shim does not see all of the
    /// process's descriptors: a Go program), or nil. An incomplete report
    /// never says "no leaks".
    public var incomplete: String?
    /// The name the program was started as (argv[0]'s basename before it
    /// could rename itself; a fork child's is its parent's): the text names
    /// frames of `executable` by it (redis-server, a symlink to the
    /// redis-check-rdb that `executable` names).
    public var startedAs: String?
    /// For an image that exec'd: the descriptors it passed on to the next
    /// image without close-on-exec, which that image lists (once, with the
    /// line that opened them) among its inherited leaks.
    public var passedOnAtExec: Int?
    /// Open descriptors over the image's life, per leading site (the HTML chart).
    public var timeline: TimelineReport?
    /// A process `fdtrace attach` found running: the descriptors it held
    /// then and still holds, from /proc (no site, age unknown; not leaks).
    public var openBeforeAttach: [FDReport]? = nil
    /// Leak groups (and inherited ones) a suppression entry matched: kept
    /// out of `leaks`, `leaked_descriptors` and the exit status.
    public var suppressed: [LeakGroup]?
    /// Closes of descriptors that were not open, and stale streams' closes
    /// of reused numbers, grouped by site (absent: none).
    public var badCloses: [BadCloseGroup]?
}

/// An `fdtrace attach` session: which process, since when, for how long,
/// and what ended it.
public struct AttachInfo: Codable, Sendable, Equatable {
    public var pid: Int32
    /// ISO 8601, UTC.
    public var attachedAt: String
    public var attachedSeconds: Double
    public var detached: Detach
    /// The signal fdtrace received (`detached` is `signal`).
    public var signal: Int32?

    public enum Detach: String, Codable, Sendable {
        /// The process exited (its report is complete to its end).
        case exited
        /// --duration ran out; the process runs on.
        case duration
        /// fdtrace was told to stop (SIGINT, SIGTERM); the process runs on.
        case signal
    }

    public init(pid: Int32, attachedAt: String, attachedSeconds: Double, detached: Detach, signal: Int32? = nil) {
        self.pid = pid; self.attachedAt = attachedAt; self.attachedSeconds = attachedSeconds
        self.detached = detached; self.signal = signal
    }
}

/// Bad closes made from one site, with the same close before and opening
/// (valgrind's three stacks), largest group first.
public struct BadCloseGroup: Codable, Sendable, Equatable {
    /// `not_open`: the number was not open (EBADF); `stale_owner`: a stream
    /// (FILE*, DIR*) whose descriptor was closed underneath it closed the
    /// number another site had opened since.
    public var kind: BadClose.Kind
    public var count: Int
    /// The bad close: its call, stack, and the user's frame in it.
    public var call: String
    public var highlight: Int?
    public var frames: [FrameReport]
    /// The descriptor numbers (distinct, ascending, at most 32).
    public var fds: [Int32]
    /// The close before it (not open), or the close under the stream
    /// (stale owner); absent when none was seen.
    public var closedBefore: CallSiteReport?
    /// What opened the number before: the descriptor closed before, or the stream.
    public var opened: CallSiteReport?
    /// Stale owner: the descriptor this close hit, opened by another site.
    public var reusedBy: CallSiteReport?
}

/// A call with its stack.
public struct CallSiteReport: Codable, Sendable, Equatable, Hashable {
    public var call: String
    public var highlight: Int?
    public var frames: [FrameReport]
    /// What the descriptor is (a stale owner's victim).
    public var summary: String?
}

extension BadCloseGroup {
    public var highlightedFrame: FrameReport? {
        highlight.flatMap { frames.indices.contains($0) ? frames[$0] : nil }
    }
}

extension CallSiteReport {
    public var highlightedFrame: FrameReport? {
        highlight.flatMap { frames.indices.contains($0) ? frames[$0] : nil }
    }
}

/// How a process image ended, as the report says it.
public enum ProcessEnd: String, Codable, Sendable {
    case exited, killed
    /// Replaced by a new image of the same pid.
    case exec
    /// Still running (a live report, or it outlived the program).
    case running
    case unknown
}

/// Whether the tracer's table was compared with the kernel's view at exit.
public enum Reconciliation: String, Codable, Sendable {
    case complete
    /// Killed without warning, or exec'd: the table is the tracer's view.
    case unreconciled
}

/// Why a snapshot was taken.
public enum SnapshotReason: String, Codable, Sendable {
    /// A call failed for want of descriptors (the process waits for it).
    case emfile = "EMFILE", enfile = "ENFILE"
    /// A process held --snapshot-at descriptors.
    case threshold
    /// --snapshot-every.
    case periodic
    /// `fdtrace snapshot` or `fdtrace top` asked.
    case query
}

public struct PeakReport: Codable, Sendable, Equatable {
    public var open: Int
    /// Seconds after the process started.
    public var atSeconds: Double
    /// The sites holding the most descriptors at that moment (the
    /// program's own, traced descriptors), largest first.
    public var sites: [PeakSite]
}

public struct PeakSite: Codable, Sendable, Equatable {
    public var count: Int
    public var call: String
    public var site: FrameReport?
}

public struct SnapshotInfo: Codable, Sendable, Equatable {
    public var reason: SnapshotReason
    /// The process that triggered it (nil for a periodic one).
    public var pid: Int32?
    /// ISO 8601, UTC.
    public var takenAt: String
}

public struct CollectorUsage: Codable, Sendable, Equatable {
    public var cpuSeconds: Double
    public var maxRssKb: UInt64
    public var events: Int

    /// getrusage(RUSAGE_SELF) of this process.
    public static func current(events: Int) -> CollectorUsage {
        var ru = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
        let cpu = Double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + Double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6
        return CollectorUsage(cpuSeconds: cpu, maxRssKb: UInt64(ru.ru_maxrss), events: events)
    }
}

public struct EventCounts: Codable, Sendable, Equatable {
    public var opens: Int
    public var closes: Int
    public var closesOfUnknownDescriptors: Int
    public var opensOverOpenDescriptors: Int
    public var ringFullWaits: UInt64
    public var ringWaitMilliseconds: Double
    public var recordsLost: UInt64
}

public struct LeakGroup: Codable, Sendable, Equatable {
    /// Descriptors in the group.
    public var count: Int
    public var call: String
    /// What the descriptors are, e.g. "file /etc/hostname", "TCP 127.0.0.1:80 ⇐ 127.0.0.1:*".
    public var summary: String
    /// Index in `frames` of the first frame outside the C/C++ runtime.
    public var highlight: Int?
    public var frames: [FrameReport]
    public var fds: [FDReport]
    /// For inherited descriptors: the program that opened them.
    public var openedBy: OpenedBy?
    /// Several descriptors made by one call of the same line (an event
    /// loop: "eventpoll + 2 unix stream sockets"); `calls` times.
    public var bundle: String?
    public var calls: Int?
    /// The descriptors of one bundle, each with its own stack.
    public var parts: [LeakPart]?
    /// How many of `count` the runtime closed rather than the program
    /// (the rest were open at exit).
    public var closedByGc: Int?
    public var closedByFinalizer: Int?
    public var closedAtShutdown: Int?
    /// Descriptors per second this site gained over the last minute the
    /// process ran (sampled each second), and whether it kept rising.
    public var growthPerSecond: Double?
    public var growthSeconds: Double?
    public var growing: Bool?
    /// In `suppressed`: the name of the entry that matched it.
    public var suppressedBy: String?
}

/// What the suppression entries of a run matched, entry by entry, in the
/// order of their files.
public struct SuppressionSummary: Codable, Sendable, Equatable {
    public var entries: [SuppressionUse]

    public init(entries: [SuppressionUse]) { self.entries = entries }

    public var groups: Int { entries.reduce(0) { $0 + $1.groups } }
    public var descriptors: Int { entries.reduce(0) { $0 + $1.descriptors } }
    public var stale: [SuppressionUse] { entries.filter(\.stale) }
}

public struct SuppressionUse: Codable, Sendable, Equatable {
    public var name: String
    /// Where the entry is written.
    public var file: String
    public var line: Int
    /// Leak groups and descriptors it suppressed.
    public var groups: Int
    public var descriptors: Int
    /// It matched nothing.
    public var stale: Bool

    public init(name: String, file: String, line: Int, groups: Int = 0, descriptors: Int = 0) {
        self.name = name
        self.file = file
        self.line = line
        self.groups = groups
        self.descriptors = descriptors
        stale = groups == 0
    }
}

public struct LeakPart: Codable, Sendable, Equatable {
    public var call: String
    /// Descriptors of this part per bundle.
    public var count: Int
    public var summary: String
    public var frames: [FrameReport]
}

public struct OpenedBy: Codable, Sendable, Equatable, Hashable {
    public var pid: Int32
    public var command: [String]
}

public struct FrameReport: Codable, Sendable, Equatable, Hashable {
    public var function: String?
    public var file: String?
    public var line: Int?
    public var module: String?
    public var address: String
    public var inlined: Bool
    /// A Python frame (file and line of Python source); nil for native ones.
    public var python: Bool?
}

extension LeakGroup {
    /// The frame the group is named by (the user's line: `highlight`), if any.
    public var highlightedFrame: FrameReport? {
        highlight.flatMap { frames.indices.contains($0) ? frames[$0] : nil }
    }
}

/// Where records come from: the shim's rings (ShimSource), the kernel. A
/// source finds traced process images, says when one appears and when its
/// process ends, and hands each image's records, in that image's order, to
/// the collector (its host), which applies them to the image's tables. The
/// collector waits on every source's descriptors in one poll and, each
/// round, in this order: `admit`s newcomers, `drain`s what the images it
/// followed at the start of the round wrote, `serveRequests` they posted,
/// and finishes those whose process `ended`. Images are named by their
/// key, which the host gives when one appears.
public protocol EventSource: AnyObject {
    /// Descriptors the collector's poll waits on for this source.
    var pollDescriptors: [Int32] { get }

    /// Work is waiting that no descriptor announces (records written to
    /// shared memory wake no one): the collector polls without sleeping.
    var hasPendingWork: Bool { get }

    /// Pending work that should not wait for the next paced round: a ring
    /// filling up, or a process waiting for an answer.
    var hasUrgentWork: Bool { get }

    /// Processes have made themselves known that `admit` has not taken in
    /// yet (the shim's hellos wait in the socket: a process does not wait
    /// for its hello to be read, and may have ended since). The session
    /// does not end before they are.
    var hasNewcomers: Bool { get }

    /// Takes in what the `readable` descriptors announce: each new traced
    /// image through `host.appeared` (the host may refuse it), refusals
    /// through `host.refused`.
    func admit(readable: Set<Int32>, host: EventSourceHost)

    /// Hands the records waiting for image `key` (nil: for every image
    /// this source follows) to the host, through `host.feed`, at most
    /// `limit` per image. A source whose records arrive in one stream for
    /// all images may hand over others' too, in their order.
    func drain(_ key: Int?, limit: Int, into host: EventSourceHost)

    /// Answers what image `key` asks of the collector while it waits: a
    /// snapshot when a call failed with EMFILE (`host.snapshotRequested`),
    /// its report at exit (`host.reportRequested`).
    func serveRequests(_ key: Int, host: EventSourceHost)

    /// The images whose process ended, told by the `readable` descriptors.
    func ended(readable: Set<Int32>) -> [Int]

    /// Stops following image `key`. `processEnded`: it is gone (its
    /// counters are final); else it may run on (an exec replaced it, its
    /// stream broke, it outlived the program) and should stop recording.
    @discardableResult
    func stopFollowing(_ key: Int, processEnded: Bool) -> StreamCounters

    /// Whether image `key`, which a new image of the same pid is replacing
    /// (an exec), is really gone, rather than the same image appearing twice.
    func isReplaced(_ key: Int) -> Bool

    /// The report that image `key` asked for is written (it waits for it).
    func reportWritten(_ key: Int)

    /// Image `key`'s scope question `request` is answered: `status` 0 (the
    /// answer is written) or an errno (it waits for this).
    func scopeAnswered(_ key: Int, request: UInt32, status: Int32)
}

extension EventSource {
    /// A source that finds its images by itself (the kernel's) has none.
    public var hasNewcomers: Bool { false }

    public var hasUrgentWork: Bool { false }

    /// A source whose programs cannot ask (the kernel's) has none to answer.
    public func scopeAnswered(_ key: Int, request: UInt32, status: Int32) {}
}

/// What a source calls on the collector.
public protocol EventSourceHost: AnyObject {
    /// A traced image began: its key, or nil when the host refused it (the
    /// refusal is noted). The host drains what it needs first (the image an
    /// exec replaces, a fork child's parent) and follows the image through
    /// `source` from now on.
    func appeared(_ start: ProcessStart, from source: EventSource) -> Int?

    /// Whether `start` (an image that is no fork child's own) must wait
    /// before it appears: its parent began a fork and has not said yet
    /// which child it got, and this may be that child's exec'd program.
    func awaitsFork(_ start: ProcessStart) -> Bool

    /// A followed image began a fork whose child it has not named yet.
    var hasForksInFlight: Bool { get }

    /// A process the source would not trace, and why (the report lists these).
    func refused(_ reason: String)

    /// Whether `pid` is, or descends from, a process this session traces or
    /// one of the `connecting` ones (a traced server may drop privileges
    /// before it forks or execs).
    func isInTracedTree(_ pid: Int32, connecting: Set<Int32>) -> Bool

    /// Applies records of image `key`: `body` writes them into the sink,
    /// which holds that image. An error `body` throws ends the image's
    /// stream: it is noted in its report and the source stops following it.
    func feed(_ key: Int, _ body: (inout RecordSink) throws -> Void)

    /// Image `key` waits for a snapshot: a call failed with `errno`
    /// (EMFILE or ENFILE).
    func snapshotRequested(_ key: Int, errno: Int32)

    /// Image `key` (bare mode's owner) waits for its report.
    func reportRequested(_ key: Int)
}

/// A traced process image as its source first describes it.
public struct ProcessStart: Sendable {
    public var pid: Int32
    /// Its parent as the kernel named it when the image started.
    public var ppid: Int32
    /// The process that forked it, when it starts from a copy of that
    /// process's table; 0 otherwise.
    public var forkParent: Int32
    /// Which fork of `forkParent` made it (the parent's fork record names it).
    public var forkID: UInt64
    /// Its command line as it shows it.
    public var command: [String]
    public var executable: String
    /// CLOCK_MONOTONIC, nanoseconds, when the image started.
    public var startTime: UInt64
    /// RLIMIT_NOFILE then.
    public var rlimitSoft: UInt64
    public var rlimitHard: UInt64
    /// Its source sees every system call it makes (the kernel's), whatever
    /// runtime makes them: a Go program is not incomplete then.
    public var seesSystemCalls = false
    /// It ran before the session began (`fdtrace attach`): what it held
    /// then is listed as open before attach, and `startTime` is the attach.
    public var attached = false

    public init(
        pid: Int32, ppid: Int32, forkParent: Int32 = 0, forkID: UInt64 = 0, command: [String], executable: String,
        startTime: UInt64, rlimitSoft: UInt64, rlimitHard: UInt64
    ) {
        self.pid = pid; self.ppid = ppid; self.forkParent = forkParent; self.forkID = forkID
        self.command = command; self.executable = executable; self.startTime = startTime
        self.rlimitSoft = rlimitSoft; self.rlimitHard = rlimitHard
    }
}

/// What the way records travelled cost an image (shown in its report's
/// events): waits of its writers for room, records it had to drop.
public struct StreamCounters: Sendable, Equatable {
    public var fullWaits: UInt64 = 0
    public var fullWaitNanoseconds: UInt64 = 0
    public var recordsLost: UInt64 = 0

    public init(fullWaits: UInt64 = 0, fullWaitNanoseconds: UInt64 = 0, recordsLost: UInt64 = 0) {
        self.fullWaits = fullWaits; self.fullWaitNanoseconds = fullWaitNanoseconds; self.recordsLost = recordsLost
    }
}

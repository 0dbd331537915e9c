/// A descriptor a program received at exec from a traced image that opened
/// it without close-on-exec.
public struct InheritedLeak: Sendable, Equatable {
    public var fd: Int32
    public var view: KernelFD?
    public var origin: InheritedOrigin
}

/// Everything the collector knows about one traced process image.
public struct TracedProcess: Sendable {
    public enum End: Sendable, Equatable {
        case running
        case exited(reconciled: Bool)  // its process is gone (exit view complete or not)
        case execed  // replaced by a new image of the same pid
    }

    public let key: Int
    public var pid: Int32
    public var ppid: Int32
    public var forkParent: Int32
    /// The command line as the process shows it (retitled at exit and in
    /// live reports: a process may rename itself).
    public var command: [String]
    /// argv[0]'s basename as the image started (before main could rename
    /// it); a fork child's is its parent's.
    public var startedAs: String
    public var executable: String
    public var startTime: UInt64
    public var endTime: UInt64?
    /// When the session stopped following it while it still ran (it
    /// outlived the program and the wait after it).
    public var abandonedAt: UInt64?
    public var rlimitSoft: UInt64
    public var rlimitHard: UInt64
    public var table: ProcessTable
    public var stacks = StackStore()
    public var pythonCodes = PythonCodeStore()
    /// Open descriptors per site, sampled while it runs.
    public var growth = GrowthSeries()
    public var exitBegin: ExitBegin?
    public var kernelView: [KernelFD] = []
    public var kernelViewComplete = false
    public var notes: [String] = []
    public var end: End = .running
    /// Wait status from waitpid, when the collector is the parent.
    public var waitStatus: (exitCode: Int32?, signal: Int32?)?
    public var fullWaits: UInt64 = 0
    public var fullWaitNanoseconds: UInt64 = 0
    public var recordsLost: UInt64 = 0
    public var streamError: String?
    /// Snapshots of the table at each fork, for the children's copies.
    public var forkSnapshots: [UInt64: ProcessTable] = [:]
    /// Children announced by fork, not yet connected, by pid.
    public var expectedChildren: [Int32: ExpectedChild] = [:]
    /// Forks begun (their `fork` record read) whose `child` record is not
    /// read yet, with the time each began: a program exec'd by such a
    /// child may say hello before its parent says which pid the child got.
    public var forksInFlight: [UInt64: UInt64] = [:]
    /// The image this one replaced by exec (same pid), if traced.
    public var execPredecessor: Int?
    /// Descriptors this image inherited from a traced image that opened
    /// them without close-on-exec.
    public var inheritedLeaks: [InheritedLeak] = []
    /// The owner (bare mode) asked for the report.
    public var reportRequested = false
    public var kernelStartTime: UInt64?
    /// Why the shim cannot see all of this image's descriptors (a Go
    /// program), or nil: its report is then marked incomplete.
    public var blindness: String?
    /// For such images, the latest view of /proc/PID/fd while it ran (the
    /// kernel's table at exit cannot be read from inside: Go exits with a
    /// raw exit_group), and when it was taken.
    public var lastProcView: ProcSnapshot?
    public var lastProcViewTime: UInt64 = 0
    /// It ran before the session began (`fdtrace attach`): its descriptors
    /// of origin `.inherited` were open before the attach.
    public var attached = false

    public init(
        key: Int, pid: Int32, ppid: Int32, forkParent: Int32, command: [String], executable: String,
        startTime: UInt64, rlimitSoft: UInt64, rlimitHard: UInt64
    ) {
        self.key = key; self.pid = pid; self.ppid = ppid; self.forkParent = forkParent
        self.command = command; self.executable = executable; self.startTime = startTime
        self.startedAs = command.first.flatMap { $0.split(separator: "/").last.map(String.init) } ?? ""
        self.rlimitSoft = rlimitSoft; self.rlimitHard = rlimitHard
        self.table = ProcessTable(processKey: key)
        self.stacks.processKey = key
    }

    /// Stands in the collector's array while a process is being updated.
    static let placeholder = TracedProcess(
        key: -1, pid: -1, ppid: -1, forkParent: 0, command: [], executable: "",
        startTime: 0, rlimitSoft: 0, rlimitHard: 0)

    /// The command line the process shows now (from /proc, or sent at
    /// exit). A truncated one that only cuts short the known command line
    /// leaves it whole.
    public mutating func retitle(_ bytes: [UInt8], truncated: Bool = false) {
        let argv = ProcFiles.parseCommandLine(bytes)
        guard !argv.isEmpty else { return }
        if truncated {
            var cut = bytes[...]
            while cut.last == 0 { cut = cut.dropLast() }
            if Array(command.joined(separator: "\0").utf8).starts(with: cut) { return }
        }
        command = argv
    }

    /// Applies one record of this process's stream, in stream order.
    public mutating func apply(_ record: Record, registry: inout ModuleRegistry) {
        switch record {
        case .stack(let s): stacks.add(stack: s)
        case .module(let m): stacks.add(module: m, registry: &registry)
        case .exitBegin(let e):
            exitBegin = e
            kernelView = []
            rlimitSoft = e.rlimitSoft
            rlimitHard = e.rlimitHard
        case .kernelFD(let k):
            if exitBegin != nil && !kernelViewComplete && kernelView.count < 1 << 18 { kernelView.append(k) }
        case .exitEnd(let t, let failed):
            if exitBegin != nil {
                kernelViewComplete = !failed
                endTime = t
                if failed { notes.append("the kernel's view could not be read at exit (no descriptor left to read /proc/self/fd)") }
            }
        case .note(_, let text):
            if notes.count < 100 { notes.append(text) }
        case .fork(let time, let id):
            if forkSnapshots.count < 4096 {
                forkSnapshots[id] = table
                forksInFlight[id] = time
            }
        case .child(let time, let id, let pid):
            let began = forksInFlight.removeValue(forKey: id)
            if pid < 0 {
                forkSnapshots.removeValue(forKey: id)
            } else if expectedChildren.count < 65536 {
                expectedChildren[pid] = ExpectedChild(forkID: id, forkedAt: began ?? time)
            }
        case .commandLine(_, let bytes, let truncated):
            retitle(bytes, truncated: truncated)
        case .pyCode(let c): pythonCodes.add(c)
        case .pyCodeMore(let id, let offset, let table): pythonCodes.addMore(id: id, offset: offset, table: table)
        default:
            table.apply(record)
        }
    }
}

/// A child its parent said it forked: which fork, and when it began.
public struct ExpectedChild: Sendable, Equatable {
    public var forkID: UInt64
    public var forkedAt: UInt64
}

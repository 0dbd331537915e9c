import CFDTraceWire

/// Records of the event ring, decoded into value types. The layouts come
/// from CShim/include/fdtrace_wire.h (imported as CFDTraceWire).
public enum Record: Equatable, Sendable {
    case open(OpenEvent)
    case close(CloseEvent)
    /// The close this thread recorded at `time` failed with EBADF.
    case badClose(CloseEvent)
    case closeRange(CloseRangeEvent)
    case setFD(SetFDEvent)
    case stack(StackRecord)
    case module(ModuleRecord)
    case inherited(KernelFD)
    case exitBegin(ExitBegin)
    case kernelFD(KernelFD)
    case exitEnd(time: UInt64, viewFailed: Bool = false)
    case note(time: UInt64, text: String)
    /// About to fork; the child's hello names `id`.
    case fork(time: UInt64, id: UInt64)
    /// fork `id` returned in the parent with `child` (-1: the fork failed).
    case child(time: UInt64, id: UInt64, pid: Int32)
    /// A Python code object (its line table may continue in `pyCodeMore`).
    case pyCode(PyCodeRecord)
    case pyCodeMore(id: UInt32, offset: UInt32, table: [UInt8])
    /// The Python program began to exit (left its main script).
    case pyExit(time: UInt64, tid: Int32)
    /// A descriptor open when the Python program began to exit.
    case pyExitFD(KernelFD)
    /// /proc/self/cmdline as the process exited (its title, if it renamed
    /// itself); `truncated`: it had more than these bytes.
    case commandLine(time: UInt64, bytes: [UInt8], truncated: Bool)
    /// A scope of the program's own (fdtrace_api.h) begun, asked about, ended.
    case scope(ScopeEvent)
}

/// FDT_REC_SCOPE: the program marks a scope in its stream of events.
public struct ScopeEvent: Equatable, Sendable {
    public enum Op: Sendable, Equatable {
        case begin
        /// Which descriptors opened since the scope began are still open:
        /// the answer goes to `path`, and request `request` is answered.
        case report(request: UInt32, path: String)
        case end
    }
    public var time: UInt64
    public var op: Op
    public var scope: UInt32
    public var tid: Int32

    public init(time: UInt64, op: Op, scope: UInt32, tid: Int32) {
        self.time = time; self.op = op; self.scope = scope; self.tid = tid
    }
}

public struct PyCodeRecord: Equatable, Sendable {
    public var id: UInt32
    public var firstLine: Int32
    public var format: PythonLineFormat
    public var filename: String
    public var name: String
    public var table: [UInt8]
    /// Bytes of the whole table (`table` holds the first part).
    public var tableTotal: UInt32
}

/// Why a descriptor was closed, when not by an explicit close.
public enum CloseCause: UInt8, Sendable, Equatable, Codable {
    case explicit = 0
    case gc = 1  // during a garbage collection of the runtime
    case finalizer = 2  // by the finalizer of an object nobody referenced
    case shutdown = 3  // after the program began to exit

    public init(wire: UInt16) {
        if wire & UInt16(FDT_CLOSE_BY_GC) != 0 { self = .gc } else if wire & UInt16(FDT_CLOSE_BY_FINALIZER) != 0 { self = .finalizer } else { self = .explicit }
    }
}

public struct OpenEvent: Equatable, Sendable {
    public var time: UInt64
    public var fd: Int32
    public var call: Call
    public var cloexec: Bool
    public var stackID: UInt32
    public var tid: Int32
    public var sourceFD: Int32
    public var domain: Int32
    public var sockType: Int32
    public var proto: Int32
    public var group: UInt32
    public var path: String?

    public init(
        time: UInt64, fd: Int32, call: Call, cloexec: Bool = false, stackID: UInt32 = 0,
        tid: Int32 = 0, sourceFD: Int32 = -1, domain: Int32 = -1, sockType: Int32 = -1,
        proto: Int32 = -1, group: UInt32 = 0, path: String? = nil
    ) {
        self.time = time; self.fd = fd; self.call = call; self.cloexec = cloexec
        self.stackID = stackID; self.tid = tid; self.sourceFD = sourceFD; self.domain = domain
        self.sockType = sockType; self.proto = proto; self.group = group; self.path = path
    }
}

public struct CloseEvent: Equatable, Sendable {
    public var time: UInt64
    public var fd: Int32
    public var call: Call
    public var tid: Int32
    public var cause: CloseCause = .explicit
    /// The closing call's stack (0: none).
    public var stackID: UInt32 = 0
}

public struct CloseRangeEvent: Equatable, Sendable {
    public var time: UInt64
    public var first: UInt32
    public var last: UInt32
    public var call: Call
    /// close_range(CLOSE_RANGE_CLOEXEC): marks the range, closes nothing.
    public var cloexecOnly: Bool
}

public struct SetFDEvent: Equatable, Sendable {
    public var time: UInt64
    public var fd: Int32
    public var call: Call
    public var cloexec: Bool
}

public struct StackRecord: Equatable, Sendable {
    public var id: UInt32
    /// Return addresses, innermost first.
    public var pcs: [UInt64]
}

public struct ModuleRecord: Equatable, Sendable, Hashable {
    public var base: UInt64
    public var start: UInt64
    public var end: UInt64
    public var path: String
    public var buildID: [UInt8]
}

/// One descriptor as the kernel listed it inside the process.
public struct KernelFD: Equatable, Sendable {
    public var time: UInt64
    public var fd: Int32
    public var cloexec: Bool
    public var mode: UInt32
    public var domain: Int32
    public var sockType: Int32
    public var proto: Int32
    public var tcpState: Int32
    public var inode: UInt64
    public var target: String
    public var local: [UInt8]
    public var peer: [UInt8]

    public init(
        time: UInt64 = 0, fd: Int32, cloexec: Bool = false, mode: UInt32 = 0, domain: Int32 = -1,
        sockType: Int32 = -1, proto: Int32 = -1, tcpState: Int32 = -1, inode: UInt64 = 0,
        target: String, local: [UInt8] = [], peer: [UInt8] = []
    ) {
        self.time = time; self.fd = fd; self.cloexec = cloexec; self.mode = mode; self.domain = domain
        self.sockType = sockType; self.proto = proto; self.tcpState = tcpState; self.inode = inode
        self.target = target; self.local = local; self.peer = peer
    }
}

public struct ExitBegin: Equatable, Sendable {
    /// enum fdt_exit_how: exit() or main's return, or _exit.
    public enum How: RawRepresentable, Sendable {
        case normal, underscoreExit
        public init?(rawValue: UInt32) {
            switch rawValue {
            case FDT_EXIT_NORMAL.rawValue: self = .normal
            case FDT_EXIT_UNDERSCORE.rawValue: self = .underscoreExit
            default: return nil
            }
        }
        public var rawValue: UInt32 { self == .normal ? FDT_EXIT_NORMAL.rawValue : FDT_EXIT_UNDERSCORE.rawValue }
    }
    public var time: UInt64
    public var status: Int32
    public var how: How
    public var rlimitSoft: UInt64
    public var rlimitHard: UInt64
    public var maxRSSKB: UInt64 = 0
    public var cpuMicroseconds: UInt64 = 0
}

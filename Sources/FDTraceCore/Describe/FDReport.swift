/// One descriptor as reports and /proc views list it: its number, what it
/// is (an FDDescription's fields, flattened into the JSON), and, when the
/// tracer saw it opened, by which call, on which thread, when.
public struct FDReport: Codable, Sendable, Equatable {
    public var fd: Int32
    public var kind: FDKind
    public var path: String?
    public var deleted: Bool?
    public var `protocol`: String?
    public var local: String?
    public var peer: String?
    public var state: String?
    public var cloexec: Bool
    public var call: String?
    public var thread: Int32?
    /// Seconds after the process started.
    public var openedAt: Double?
    /// When the runtime, not the program, closed it; nil when it was open
    /// at exit.
    public var closed: ClosedBy?
}

extension FDReport {
    public init(
        fd: Int32, _ d: FDDescription, cloexec: Bool, call: String? = nil, thread: Int32? = nil,
        openedAt: Double? = nil, closed: ClosedBy? = nil
    ) {
        self.init(
            fd: fd, kind: d.kind, path: d.path, deleted: d.deleted ? true : nil, protocol: d.proto,
            local: d.local, peer: d.peer, state: d.state, cloexec: cloexec, call: call, thread: thread,
            openedAt: openedAt, closed: closed)
    }

    /// What it is, as a description (to summarize a group, or render it).
    public var described: FDDescription {
        FDDescription(
            kind: kind, path: path, proto: `protocol`, local: local, peer: peer, state: state,
            deleted: deleted ?? false)
    }
}

/// Who closed a descriptor the program left open: the runtime (a garbage
/// collection, a finalizer, the interpreter's shutdown), not the program.
public enum ClosedBy: String, Codable, Sendable {
    case gc, finalizer, shutdown

    /// Nil for an explicit close: the program's own.
    public init?(_ cause: CloseCause) {
        switch cause {
        case .gc: self = .gc
        case .finalizer: self = .finalizer
        case .shutdown: self = .shutdown
        case .explicit: return nil
        }
    }
}

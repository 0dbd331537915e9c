/// One descriptor as reports and /proc views list it: its number, what it
/// is (an FDDescription's fields, flattened into the JSON), and, when the
/// tracer saw it opened, by which call, on which thread, when.
public struct FDReport: Codable, Sendable, Equatable {
    public var fd: Int32
    public var kind: String
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
    /// "gc", "finalizer" or "shutdown" when the runtime, not the program,
    /// closed it; nil when it was open at exit.
    public var closed: String?
}

extension FDReport {
    public init(fd: Int32, _ d: FDDescription, cloexec: Bool, call: String? = nil, thread: Int32? = nil,
                openedAt: Double? = nil, closed: String? = nil) {
        self.init(fd: fd, kind: d.kind, path: d.path, deleted: d.deleted ? true : nil, protocol: d.proto,
                  local: d.local, peer: d.peer, state: d.state, cloexec: cloexec, call: call, thread: thread,
                  openedAt: openedAt, closed: closed)
    }

    /// What it is, as a description (to summarize a group, or render it).
    public var described: FDDescription {
        FDDescription(kind: kind, path: path, proto: `protocol`, local: local, peer: peer, state: state,
                      deleted: deleted ?? false)
    }
}

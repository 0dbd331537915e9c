/// What a descriptor is, named as reports name it: "file", "socket",
/// "eventpoll"… An anonymous inode the kernel names otherwise keeps the
/// kernel's name (`other`). Encoded as that name; two kinds are equal when
/// their names are (make one from a name with `init(name:)`).
public enum FDKind: Hashable, Sendable, Codable, CustomStringConvertible {
    case file, directory, device, fifo, memfd, mqueue, pipe, socket
    case eventpoll, eventfd, signalfd, timerfd, inotify, fanotify, pidfd, ioUring, userfaultfd, bpfMap, perfEvent
    /// An anonymous inode without a name.
    case anonInode
    case unknown
    /// Another anonymous inode, by the kernel's name for it.
    case other(String)

    /// Every kind with a name of fdtrace's own, by that name.
    static let named: [String: FDKind] = Dictionary(
        uniqueKeysWithValues: [
            FDKind.file, .directory, .device, .fifo, .memfd, .mqueue, .pipe, .socket, .eventpoll, .eventfd, .signalfd,
            .timerfd, .inotify, .fanotify, .pidfd, .ioUring, .userfaultfd, .bpfMap, .perfEvent, .anonInode, .unknown,
        ].map { ($0.name, $0) })

    public init(name: String) { self = Self.named[name] ?? .other(name) }

    public var name: String {
        switch self {
        case .file: "file"
        case .directory: "directory"
        case .device: "device"
        case .fifo: "fifo"
        case .memfd: "memfd"
        case .mqueue: "mqueue"
        case .pipe: "pipe"
        case .socket: "socket"
        case .eventpoll: "eventpoll"
        case .eventfd: "eventfd"
        case .signalfd: "signalfd"
        case .timerfd: "timerfd"
        case .inotify: "inotify"
        case .fanotify: "fanotify"
        case .pidfd: "pidfd"
        case .ioUring: "io_uring"
        case .userfaultfd: "userfaultfd"
        case .bpfMap: "bpf-map"
        case .perfEvent: "perf_event"
        case .anonInode: "anon_inode"
        case .unknown: "unknown"
        case .other(let name): name
        }
    }

    public var description: String { name }

    /// Kinds shown with their path ("file /etc/hostname").
    public var hasPath: Bool {
        switch self {
        case .file, .directory, .device, .fifo, .memfd, .mqueue: true
        default: false
        }
    }

    public static func == (a: FDKind, b: FDKind) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    public init(from decoder: Decoder) throws { self.init(name: try decoder.singleValueContainer().decode(String.self)) }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}

/// Where a stack lives: the process that sent it and its id there.
public struct StackRef: Hashable, Sendable {
    public var process: Int
    public var id: UInt32
    public init(process: Int, id: UInt32) { self.process = process; self.id = id }
}

/// A descriptor the collector believes open. Kept small: the collector
/// holds one per open descriptor of every traced process, and updates
/// them at millions of events per second.
public struct TrackedFD: Sendable, Equatable {
    public enum Origin: UInt8, Sendable, Equatable {
        case traced  // opened while traced, by the call below
        case inherited  // open when the image started
        case forked  // opened by the fork parent (call and stack are its), untouched here
    }
    public var fd: Int32
    public var origin: Origin
    public var cloexec: Bool
    public var call: Call
    public var tid: Int32
    public var stack: StackRef?
    public var openedAt: UInt64
    public var group: UInt32
    public var sourceFD: Int32
    public var domain: Int32
    public var sockType: Int32
    public var proto: Int32
    /// The path the opening call named, if any.
    public var path: String?

    public init(
        fd: Int32, origin: Origin, call: Call, cloexec: Bool = false, tid: Int32 = 0, stack: StackRef? = nil,
        openedAt: UInt64 = 0, group: UInt32 = 0, sourceFD: Int32 = -1, domain: Int32 = -1,
        sockType: Int32 = -1, proto: Int32 = -1, path: String? = nil
    ) {
        self.fd = fd; self.origin = origin; self.cloexec = cloexec; self.call = call; self.tid = tid
        self.stack = stack; self.openedAt = openedAt; self.group = group; self.sourceFD = sourceFD
        self.domain = domain; self.sockType = sockType; self.proto = proto; self.path = path
    }

    /// The descriptor an open event of process `key` made.
    @inline(__always)
    public init(_ e: OpenEvent, process key: Int) {
        self.init(
            fd: e.fd, origin: .traced, call: e.call, cloexec: e.cloexec, tid: e.tid,
            stack: e.stackID == 0 ? nil : StackRef(process: key, id: e.stackID),
            openedAt: e.time, group: e.group, sourceFD: e.sourceFD, domain: e.domain,
            sockType: e.sockType, proto: e.proto, path: e.path)
    }

    /// What the opening call said it opened (for fds the kernel view lacks).
    public var openingEvent: OpenEvent {
        OpenEvent(
            time: openedAt, fd: fd, call: call, cloexec: cloexec, stackID: stack?.id ?? 0, tid: tid,
            sourceFD: sourceFD, domain: domain, sockType: sockType, proto: proto, group: group, path: path)
    }
}

/// The opening of an inherited descriptor in the image before exec (or in
/// the parent that spawned this program).
public struct InheritedOrigin: Sendable, Equatable {
    public var processKey: Int
    public var pid: Int32
    public var command: [String]
    public var call: Call
    public var stack: StackRef?
    public var cloexec: Bool
}

/// Open descriptors per opening stack, sampled about once a second over
/// the last minute: how fast each site grows.
public struct GrowthSeries: Sendable {
    public static let window: UInt64 = 60_000_000_000
    public static let maxSamples = 90
    public struct Sample: Sendable {
        public var time: UInt64
        public var counts: [UInt32: Int]
    }
    public private(set) var samples: [Sample] = []

    public init() {}

    public mutating func add(time: UInt64, counts: [UInt32: Int]) {
        samples.append(Sample(time: time, counts: counts))
        while let first = samples.first, samples.count > Self.maxSamples || time &- first.time > Self.window {
            samples.removeFirst()
        }
    }

    public struct Growth: Sendable, Equatable {
        public var perSecond: Double
        public var seconds: Double
        /// Never fell over the window, and rose.
        public var rising: Bool
    }

    /// How the descriptors of `stacks` changed over the window, ending with
    /// `now` (the latest counts); nil with less than a second of samples.
    public func growth(of stacks: Set<UInt32>, now: Sample) -> Growth? {
        let points = (samples + [now]).map { s in (s.time, stacks.reduce(0) { $0 + (s.counts[$1] ?? 0) }) }
        guard let first = points.first, let last = points.last, last.0 > first.0,
            Double(last.0 - first.0) / 1e9 >= 1
        else { return nil }
        let seconds = Double(last.0 - first.0) / 1e9
        var rising = last.1 > first.1
        for i in 1..<points.count where points[i].1 < points[i - 1].1 { rising = false }
        return Growth(perSecond: Double(last.1 - first.1) / seconds, seconds: seconds, rising: rising)
    }
}

/// A descriptor the program left to the runtime: closed by a garbage
/// collection, by a finalizer, or at shutdown, not by the program's code.
public struct RuntimeClosed: Sendable, Equatable {
    public var fd: TrackedFD
    public var cause: CloseCause
    public var closedAt: UInt64
}

/// Open descriptors per opening stack, and the same counts as they were at
/// the table's peak, kept in O(1) per event: a stack's count is copied
/// aside the first time it changes after a new peak.
struct SiteCounts: Sendable {
    static let limit = 1 << 17
    private var current = ContiguousArray<Int32>()
    private var lastChange = ContiguousArray<UInt64>()
    private var atPeak = ContiguousArray<Int32>()
    private var atPeakFor = ContiguousArray<UInt64>()
    /// Descriptors each stack opened over the image's life (the metrics'
    /// per-site counters; closes are these minus the open ones).
    private var opened = ContiguousArray<Int64>()
    private var event: UInt64 = 0
    private(set) var peakEvent: UInt64 = 0

    mutating func change(_ id: UInt32, by delta: Int32) {
        event &+= 1
        let i = Int(id)
        guard i < Self.limit else { return }
        if i >= current.count {
            let n = max(i + 1, current.count * 2)
            current.append(contentsOf: repeatElement(0, count: n - current.count))
            lastChange.append(contentsOf: repeatElement(0, count: n - lastChange.count))
            atPeak.append(contentsOf: repeatElement(0, count: n - atPeak.count))
            atPeakFor.append(contentsOf: repeatElement(0, count: n - atPeakFor.count))
            opened.append(contentsOf: repeatElement(0, count: n - opened.count))
        }
        if delta > 0 { opened[i] &+= Int64(delta) }
        if lastChange[i] <= peakEvent && atPeakFor[i] != peakEvent {
            atPeak[i] = current[i]
            atPeakFor[i] = peakEvent
        }
        current[i] = max(0, current[i] &+ delta)
        lastChange[i] = event
    }

    mutating func notePeak() { peakEvent = event }

    /// Stack id → open descriptors now.
    func countsNow() -> [UInt32: Int] {
        var out: [UInt32: Int] = [:]
        for i in current.indices where current[i] > 0 { out[UInt32(i)] = Int(current[i]) }
        return out
    }

    /// Stack id → (descriptors open now, opened in all), for every stack
    /// that opened one.
    func activity() -> [(id: UInt32, open: Int, opened: Int64)] {
        var out: [(id: UInt32, open: Int, opened: Int64)] = []
        for i in opened.indices where opened[i] > 0 { out.append((UInt32(i), Int(current[i]), opened[i])) }
        return out
    }

    /// Stack id → open descriptors at the peak.
    func countsAtPeak() -> [UInt32: Int] {
        var out: [UInt32: Int] = [:]
        guard peakEvent > 0 else { return out }
        for i in current.indices {
            let v = lastChange[i] <= peakEvent ? current[i] : (atPeakFor[i] == peakEvent ? atPeak[i] : 0)
            if v > 0 { out[UInt32(i)] = Int(v) }
        }
        return out
    }
}

/// The table of open descriptors of one process image, driven by its
/// events in the order it made them. Pure: no I/O, unit-tested on its own.
/// Descriptor numbers below `denseLimit` live in an array indexed by number
/// (programs use small numbers); the rest in a dictionary.
public struct ProcessTable: Sendable {
    static let denseLimit: Int32 = 1 << 16
    /// Entries by number; a free number holds `vacant` (fd -1). Not
    /// optionals: testing an Optional<TrackedFD> is an outlined call per
    /// access, on the per-event path.
    private var dense = ContiguousArray<TrackedFD>()
    private static let vacant = TrackedFD(fd: -1, origin: .traced, call: .unknown)
    private var sparse: [Int32: TrackedFD] = [:]
    /// What the kernel said of descriptors open when the image started.
    public private(set) var inheritedViews: [Int32: KernelFD] = [:]
    /// For inherited descriptors: the traced image that opened them.
    public private(set) var inheritedOrigins: [Int32: InheritedOrigin] = [:]
    public private(set) var count = 0
    public private(set) var peak = 0
    public private(set) var peakTime: UInt64 = 0
    public private(set) var opens = 0
    public private(set) var closes = 0
    /// Closes of numbers the table did not hold (EBADF, or a descriptor
    /// created where the shim cannot see).
    public private(set) var closesOfUnknown = 0
    /// Opens that found their number still held (a close the shim missed).
    public private(set) var replacedWithoutClose = 0
    /// Descriptors the runtime closed for the program (bounded).
    public private(set) var runtimeClosed: [RuntimeClosed] = []
    public private(set) var runtimeClosedDropped = 0
    static let runtimeClosedLimit = 1 << 18
    /// When the (Python) program began to exit: what was open then and is
    /// closed later was closed at shutdown.
    public private(set) var exitBeganAt: UInt64?
    /// The kernel's view of each descriptor at that moment.
    public private(set) var exitViews: [Int32: KernelFD] = [:]
    /// Who opened and who closed each closed number, last (CloseHistory.swift).
    var history = CloseHistory()
    /// Closes of numbers that were not open, and stale streams' closes (bounded).
    public internal(set) var badCloses: [BadClose] = []
    public internal(set) var badClosesDropped = 0
    var sites = SiteCounts()
    /// Until this time an open over a descriptor held from before the
    /// table's first event, or a close of one it never held, is no bad
    /// event: the /proc read that gave an attached process its table
    /// overlapped its first events (`fdtrace attach`).
    public var settling: UInt64 = 0
    /// Open descriptors per stack over the image's life (the HTML chart).
    public internal(set) var timeline = SiteTimeline()
    /// Scopes the program holds open, and the questions it asked of them.
    public internal(set) var scopes = ScopeTracker()
    public let processKey: Int

    public init(processKey: Int) { self.processKey = processKey }

    public subscript(fd: Int32) -> TrackedFD? {
        if fd >= 0 && fd < Self.denseLimit { return Int(fd) < dense.count && dense[Int(fd)].fd >= 0 ? dense[Int(fd)] : nil }
        return sparse[fd]
    }

    /// Every open descriptor, by number.
    public var descriptors: [TrackedFD] {
        dense.filter { $0.fd >= 0 } + sparse.values.sorted { $0.fd < $1.fd }
    }

    public var isEmpty: Bool { count == 0 }

    // MARK: - events

    public mutating func apply(_ record: Record) {
        switch record {
        case .open(let e):
            open(TrackedFD(e, process: processKey))
        case .close(let e):
            close(e.fd, cause: e.cause, at: e.time, call: e.call, stack: e.stackID, tid: e.tid)
        case .badClose(let e):
            badClose(e)
        case .closeRange(let e):
            let hit = descriptors.map(\.fd).filter { UInt32(bitPattern: $0) >= e.first && UInt32(bitPattern: $0) <= e.last }
            for fd in hit {
                if e.cloexecOnly { update(fd) { $0.cloexec = true } } else { close(fd, at: e.time, call: e.call) }
            }
        case .setFD(let e):
            update(e.fd) { $0.cloexec = e.cloexec }
        case .inherited(let k):
            timeline.advance(to: k.time)
            store(TrackedFD(fd: k.fd, origin: .inherited, call: .unknown, cloexec: k.cloexec, openedAt: k.time))
            inheritedViews[k.fd] = k
            notePeak(k.time)
        case .pyExit(let time, _):
            markExitBegan(time)
        case .pyExitFD(let k):
            if exitViews.count < Self.runtimeClosedLimit { exitViews[k.fd] = k }
        case .scope(let e):
            let now = self  // what a question sees (shares storage: no copy)
            scopes.apply(e, table: now)
        case .stack, .module, .exitBegin, .kernelFD, .exitEnd, .note, .fork, .child, .pyCode, .pyCodeMore, .commandLine:
            break
        }
    }

    /// A descriptor came into existence (the hot path: no Record built).
    public mutating func open(_ t: TrackedFD) {
        if isOpen(t.fd) {
            let overlap = self[t.fd]?.origin == .inherited && t.openedAt <= settling
            if t.call != .dup2 && t.call != .dup3 && !overlap { replacedWithoutClose += 1 }
            forgetInherited(t.fd)
        }
        timeline.advance(to: t.openedAt)
        opens += 1
        store(t)
        notePeak(t.openedAt)
        if scopes.isActive { scopes.opened(t.fd, at: t.openedAt) }
    }

    /// A descriptor is about to be closed, by the program or (for Python)
    /// by the runtime on its behalf; `call` from `stack` (0: none).
    public mutating func close(
        _ fd: Int32, cause: CloseCause = .explicit, at time: UInt64 = 0, call: Call = .close, stack: UInt32 = 0,
        tid: Int32 = 0
    ) {
        timeline.advance(to: time)
        if cause != .explicit || exitBeganAt != nil, let t = self[fd], t.origin == .traced {
            var how = cause
            if let exit = exitBeganAt, t.openedAt <= exit { how = .shutdown }
            if how != .explicit {
                if runtimeClosed.count < Self.runtimeClosedLimit {
                    runtimeClosed.append(RuntimeClosed(fd: t, cause: how, closedAt: time))
                } else {
                    runtimeClosedDropped += 1
                }
            }
        }
        if call.closesStream { checkStaleOwner(fd, call: call, stack: stack, tid: tid, at: time) }
        if let r = remove(fd) {
            closes += 1
            noteClosed(r, by: call, stack: stack, tid: tid, at: time)
        } else if time > settling {
            closesOfUnknown += 1
        }
    }

    public mutating func markExitBegan(_ time: UInt64) {
        if exitBeganAt == nil { exitBeganAt = time }
    }

    /// Opening stack id → descriptors open at the peak (this image's own
    /// stacks; descriptors copied from a fork parent are not counted).
    public func stacksAtPeak() -> [UInt32: Int] { sites.countsAtPeak() }

    /// Opening stack id → descriptors open now (this image's own stacks).
    public func stacksNow() -> [UInt32: Int] { sites.countsNow() }

    /// Per own stack that opened a descriptor: how many are open now and
    /// how many it opened in all (read at a metrics scrape, not per event).
    public func stackActivity() -> [(id: UInt32, open: Int, opened: Int64)] { sites.activity() }

    /// Records where an inherited descriptor was opened.
    public mutating func attribute(fd: Int32, to origin: InheritedOrigin) {
        if self[fd] != nil { inheritedOrigins[fd] = origin }
    }

    /// The table a fork child starts with: its parent's, entries keeping
    /// the parent's opening stacks and marked as the parent's (not the
    /// child's leaks while the child leaves them alone).
    public func copy(to key: Int) -> ProcessTable {
        var t = ProcessTable(processKey: key)
        t.dense = dense
        t.sparse = sparse
        for i in t.dense.indices where t.dense[i].fd >= 0 && t.dense[i].origin == .traced { t.dense[i].origin = .forked }
        for (fd, e) in t.sparse where e.origin == .traced { t.sparse[fd]!.origin = .forked }
        t.inheritedViews = inheritedViews
        t.inheritedOrigins = inheritedOrigins
        t.count = count
        t.peak = count
        t.exitBeganAt = exitBeganAt
        t.history = history
        return t
    }

    // MARK: - storage

    /// Whether the table holds `fd` (without copying its entry).
    @inline(__always)
    private func isOpen(_ fd: Int32) -> Bool {
        if fd >= 0 && fd < Self.denseLimit { return Int(fd) < dense.count && dense[Int(fd)].fd >= 0 }
        return sparse[fd] != nil
    }

    // The entry in place of the one before is moved, not copied: a copy
    // retains and releases its path (the per-event hot path).
    private mutating func store(_ t: TrackedFD) {
        let fd = t.fd, added = t.stack, call = t.call
        var old: TrackedFD?
        if fd >= 0 && fd < Self.denseLimit {
            let i = Int(fd)
            if i >= dense.count {
                dense.append(contentsOf: repeatElement(Self.vacant, count: max(i + 1, dense.count * 2) - dense.count))
            }
            var slot = consume t
            swap(&slot, &dense[i])
            if slot.fd >= 0 { old = consume slot }
        } else {
            old = sparse.updateValue(t, forKey: fd)
        }
        let removed = old?.stack
        if old == nil { count += 1 }
        if let o = removed, o.process == processKey { sites.change(o.id, by: -1) }
        if let s = added, s.process == processKey { sites.change(s.id, by: 1) }
        timeline.changed(removed: removed, added: added, call: call, total: count, process: processKey)
    }

    private mutating func remove(_ fd: Int32) -> TrackedFD? {
        let removed: TrackedFD?
        if fd >= 0 && fd < Self.denseLimit {
            let i = Int(fd)
            if i < dense.count && dense[i].fd >= 0 {
                var slot = Self.vacant
                swap(&slot, &dense[i])
                removed = consume slot
            } else {
                removed = nil
            }
        } else {
            removed = sparse.removeValue(forKey: fd)
        }
        if let s = removed?.stack {
            if s.process == processKey { sites.change(s.id, by: -1) }
        }
        if removed != nil {
            count -= 1
            timeline.changed(removed: removed?.stack, added: nil, call: .unknown, total: count, process: processKey)
            forgetInherited(fd)
        }
        return removed
    }

    private mutating func update(_ fd: Int32, _ body: (inout TrackedFD) -> Void) {
        if fd >= 0 && fd < Self.denseLimit {
            let i = Int(fd)
            if i < dense.count && dense[i].fd >= 0 { body(&dense[i]) }
        } else if sparse[fd] != nil {
            body(&sparse[fd]!)
        }
    }

    private mutating func forgetInherited(_ fd: Int32) {
        if !inheritedViews.isEmpty { inheritedViews.removeValue(forKey: fd) }
        if !inheritedOrigins.isEmpty { inheritedOrigins.removeValue(forKey: fd) }
    }

    private mutating func notePeak(_ time: UInt64) {
        if count > peak { peak = count; peakTime = time; sites.notePeak() }
    }
}

/// A call and the stack it was made from.
public struct CallSite: Hashable, Sendable {
    public var call: Call
    public var stack: StackRef?
    public init(call: Call, stack: StackRef?) { self.call = call; self.stack = stack }
}

/// What a table remembers of a number after its descriptor was closed: the
/// call that opened it and the close, so that a later close of the number
/// that fails can name both (valgrind's three stacks).
public struct ClosedSlot: Sendable, Equatable {
    public var opened: CallSite
    public var closed: CallSite
    public var closedAt: UInt64
    public var tid: Int32
    /// The descriptor belonged to a stream (FILE*, DIR*) and something else
    /// than the stream closed it: the stream still holds the number.
    public var dangling: Bool
}

/// A close of a number that was not open (the kernel said EBADF), or a
/// stream's close of a number that another site had opened since its own
/// descriptor was closed underneath it (it closed somebody else's).
public struct BadClose: Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case notOpen = "not_open"
        case staleOwner = "stale_owner"
    }
    public var kind: Kind
    public var fd: Int32
    /// This close.
    public var site: CallSite
    public var tid: Int32
    public var time: UInt64
    /// The close before (not open), or the close under the stream (stale owner).
    public var closedBefore: CallSite?
    /// What opened the number before: the descriptor closed before, or the stream.
    public var opened: CallSite?
    /// Stale owner: the descriptor the stream's close hit instead of its own.
    public var reusedBy: TrackedFD?
}

/// Closed numbers' last `ClosedSlot`, dense for small numbers (as the table).
struct CloseHistory: Sendable {
    private var dense = ContiguousArray<ClosedSlot?>()
    private var sparse: [Int32: ClosedSlot] = [:]

    subscript(fd: Int32) -> ClosedSlot? {
        get {
            if fd >= 0 && fd < ProcessTable.denseLimit { return Int(fd) < dense.count ? dense[Int(fd)] : nil }
            return sparse[fd]
        }
        set {
            if fd >= 0 && fd < ProcessTable.denseLimit {
                let i = Int(fd)
                if i >= dense.count {
                    guard newValue != nil else { return }
                    dense.append(contentsOf: repeatElement(nil, count: max(i + 1, dense.count * 2) - dense.count))
                }
                dense[i] = newValue
            } else {
                sparse[fd] = newValue
            }
        }
    }
}

extension ProcessTable {
    static let badCloseLimit = 1 << 16

    /// Remembers who opened and who closed a number whose descriptor `r` a
    /// close just removed (the hot path: one store).
    @inline(__always)
    mutating func noteClosed(_ r: TrackedFD, by call: Call, stack: UInt32, tid: Int32, at time: UInt64) {
        history[r.fd] = ClosedSlot(
            opened: CallSite(call: r.call, stack: r.stack),
            closed: CallSite(call: call, stack: stack == 0 ? nil : StackRef(process: processKey, id: stack)),
            closedAt: time, tid: tid, dangling: r.call.opensStream && !call.closesStream)
    }

    /// Before a stream's own close of `fd` removes what the table holds: if
    /// the stream's descriptor was closed underneath it and the number was
    /// opened since by another site, this close hits that descriptor.
    mutating func checkStaleOwner(_ fd: Int32, call: Call, stack: UInt32, tid: Int32, at time: UInt64) {
        guard let h = history[fd], h.dangling, let current = self[fd], current.openedAt >= h.closedAt,
            current.stack != h.opened.stack
        else { return }
        history[fd]?.dangling = false
        addBadClose(
            BadClose(
                kind: .staleOwner, fd: fd, site: site(call, stack), tid: tid, time: time, closedBefore: h.closed,
                opened: h.opened, reusedBy: current))
    }

    /// The close this thread recorded at `e.time` failed with EBADF.
    mutating func badClose(_ e: CloseEvent) {
        var before: CallSite?
        var opened: CallSite?
        if let h = history[e.fd] {
            opened = h.opened
            // When this very close removed an entry, the table believed the
            // number open (it was closed where the shim cannot see): no close
            // before is known.
            if h.closedAt != e.time || h.tid != e.tid { before = h.closed }
            if e.call.closesStream { history[e.fd]?.dangling = false }
        }
        addBadClose(
            BadClose(
                kind: .notOpen, fd: e.fd, site: site(e.call, e.stackID), tid: e.tid, time: e.time, closedBefore: before,
                opened: opened))
    }

    private func site(_ call: Call, _ stack: UInt32) -> CallSite {
        CallSite(call: call, stack: stack == 0 ? nil : StackRef(process: processKey, id: stack))
    }

    private mutating func addBadClose(_ b: BadClose) {
        if badCloses.count < Self.badCloseLimit { badCloses.append(b) } else { badClosesDropped += 1 }
    }
}

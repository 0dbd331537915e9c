/// Where a stack lives: the process that sent it and its id there.
public struct StackRef: Hashable, Sendable {
    public var process: Int
    public var id: UInt32
    public init(process: Int, id: UInt32) { self.process = process; self.id = id }
}

/// A descriptor the collector believes open.
public struct TrackedFD: Sendable, Equatable {
    public enum Origin: Sendable, Equatable {
        case traced      // opened while traced, by the call below
        case inherited   // open when the image started
    }
    public var fd: Int32
    public var origin: Origin
    public var call: Call
    public var cloexec: Bool
    public var stack: StackRef?
    public var tid: Int32
    public var openedAt: UInt64
    public var group: UInt32
    /// The opening event (what the call said it opened), if traced.
    public var opening: OpenEvent?
    /// What the kernel said when the descriptor was inherited.
    public var inheritedView: KernelFD?
    /// For an inherited descriptor: the traced image that opened it.
    public var inheritedFrom: InheritedOrigin?
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

/// The table of open descriptors of one process image, driven by its
/// events in ring order. Pure: no I/O, unit-tested on its own.
public struct ProcessTable: Sendable {
    public private(set) var open: [Int32: TrackedFD] = [:]
    public private(set) var peak = 0
    public private(set) var peakTime: UInt64 = 0
    public private(set) var opens = 0
    public private(set) var closes = 0
    /// Closes of numbers the table did not hold (EBADF, or a descriptor
    /// created where the shim cannot see).
    public private(set) var closesOfUnknown = 0
    /// Opens that found their number still held (a close the shim missed).
    public private(set) var replacedWithoutClose = 0
    public let processKey: Int

    public init(processKey: Int) { self.processKey = processKey }

    public mutating func apply(_ record: Record) {
        switch record {
        case .open(let e):
            if open[e.fd] != nil && e.call != .dup2 && e.call != .dup3 { replacedWithoutClose += 1 }
            opens += 1
            open[e.fd] = TrackedFD(
                fd: e.fd, origin: .traced, call: e.call, cloexec: e.cloexec,
                stack: e.stackID == 0 ? nil : StackRef(process: processKey, id: e.stackID),
                tid: e.tid, openedAt: e.time, group: e.group, opening: e, inheritedView: nil, inheritedFrom: nil)
            notePeak(e.time)
        case .close(let e):
            if open.removeValue(forKey: e.fd) != nil { closes += 1 } else { closesOfUnknown += 1 }
        case .closeRange(let e):
            let hit = open.keys.filter { UInt32(bitPattern: $0) >= e.first && UInt32(bitPattern: $0) <= e.last }
            for fd in hit {
                if e.cloexecOnly { open[fd]?.cloexec = true } else { open.removeValue(forKey: fd); closes += 1 }
            }
        case .setFD(let e):
            open[e.fd]?.cloexec = e.cloexec
        case .inherited(let k):
            open[k.fd] = TrackedFD(fd: k.fd, origin: .inherited, call: .unknown, cloexec: k.cloexec, stack: nil,
                                   tid: 0, openedAt: k.time, group: 0, opening: nil, inheritedView: k, inheritedFrom: nil)
            notePeak(k.time)
        case .stack, .module, .exitBegin, .kernelFD, .exitEnd, .note, .fork, .child:
            break
        }
    }

    private mutating func notePeak(_ time: UInt64) {
        if open.count > peak { peak = open.count; peakTime = time }
    }
}

extension ProcessTable {
    /// Records where an inherited descriptor was opened.
    public mutating func attribute(fd: Int32, to origin: InheritedOrigin) {
        open[fd]?.inheritedFrom = origin
    }

    /// The table a fork child starts with: its parent's, entries keeping
    /// the parent's opening stacks.
    public func copy(to key: Int) -> ProcessTable {
        var t = ProcessTable(processKey: key)
        t.open = open
        t.peak = open.count
        t.peakTime = 0
        return t
    }
}

/// A frame before symbolization: a module of the registry and the address
/// inside it (the return address minus the module's load bias).
public struct RawFrame: Hashable, Sendable {
    public var module: Int?      // index in ModuleRegistry, nil if no module covers the pc
    public var address: UInt64   // module-relative, or the absolute pc if module is nil
}

/// Loaded objects seen by any process, deduplicated by path and build id,
/// so that every process's frames in one library symbolize once.
public struct ModuleRegistry: Sendable {
    public struct Entry: Hashable, Sendable {
        public var path: String
        public var buildID: [UInt8]
    }
    public private(set) var entries: [Entry] = []
    private var index: [Entry: Int] = [:]
    public static let limit = 65536

    public init() {}

    public mutating func intern(_ m: ModuleRecord) -> Int? {
        let e = Entry(path: m.path, buildID: m.buildID)
        if let i = index[e] { return i }
        guard entries.count < Self.limit else { return nil }
        entries.append(e)
        index[e] = entries.count - 1
        return entries.count - 1
    }
}

/// Interned stacks of one process image, resolved against the modules that
/// were loaded when each stack arrived.
public struct StackStore: Sendable {
    /// Bounds that keep the collector's memory finite whatever a process
    /// sends: 256 Ki stacks and 4 Mi frames (64 MiB) per process image.
    public static let maxStacks = 1 << 18
    public static let maxFrames = 1 << 22
    public static let maxModules = 4096
    private var frameCount = 0
    private var modules: [(record: ModuleRecord, id: Int)] = []
    public private(set) var stacks: [UInt32: [RawFrame]] = [:]
    public private(set) var dropped = 0

    public init() {}

    public mutating func add(module m: ModuleRecord, registry: inout ModuleRegistry) {
        guard modules.count < Self.maxModules, let id = registry.intern(m) else { dropped += 1; return }
        // A newer object at the same addresses replaces the old one.
        modules.removeAll { $0.record.start < m.end && m.start < $0.record.end }
        modules.append((m, id))
    }

    public mutating func add(stack s: StackRecord) {
        guard stacks[s.id] == nil, stacks.count < Self.maxStacks, frameCount + s.pcs.count <= Self.maxFrames else {
            dropped += 1
            return
        }
        frameCount += s.pcs.count
        stacks[s.id] = s.pcs.map { pc in
            if let m = modules.last(where: { pc >= $0.record.start && pc < $0.record.end }) {
                return RawFrame(module: m.id, address: pc &- m.record.base)
            }
            return RawFrame(module: nil, address: pc)
        }
    }

    public func frames(_ id: UInt32) -> [RawFrame]? { stacks[id] }

    /// Copies what a forked child inherits from its parent.
    public func copy() -> StackStore { self }
}

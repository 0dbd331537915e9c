/// What symbolizers are given: frames as return addresses in modules, and
/// the modules themselves. (Process tables hold their stacks as these.)

/// A frame before symbolization: a module of the registry and the address
/// inside it (the return address minus the module's load bias).
public struct RawFrame: Hashable, Sendable {
    public var module: Int?  // index in ModuleRegistry, nil if no module covers the pc
    public var address: UInt64  // module-relative, or the absolute pc if module is nil;
    // for a Python frame, the instruction's byte offset
    public var python: PythonCodeRef?

    public init(module: Int?, address: UInt64, python: PythonCodeRef? = nil) {
        self.module = module; self.address = address; self.python = python
    }
}

/// A Python code object: the process that sent it and its id there.
public struct PythonCodeRef: Hashable, Sendable {
    public var process: Int
    public var id: UInt32
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

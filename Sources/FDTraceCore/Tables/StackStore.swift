import CFDTraceWire

/// A Python code object as the shim described it.
public struct PythonCode: Sendable, Equatable {
    public var filename: String
    public var name: String
    public var lines: PythonLineTable
    /// Bytes of the whole line table (it may arrive in parts).
    public var tableTotal: Int

    /// The line of the instruction at `offset` (UInt32.max: the function's first line).
    public func line(at offset: UInt64) -> Int? {
        if offset >= UInt64(UInt32.max) { return lines.firstLine }
        return lines.line(atByteOffset: Int(offset))
    }
}

/// The code objects of one process image, bounded like its stacks.
public struct PythonCodeStore: Sendable {
    public static let maxCodes = 1 << 18
    public static let maxTableBytes = 64 << 20
    public private(set) var codes: [UInt32: PythonCode] = [:]
    private var tableBytes = 0

    public init() {}

    public mutating func add(_ r: PyCodeRecord) {
        guard codes[r.id] == nil, codes.count < Self.maxCodes, tableBytes + Int(r.tableTotal) <= Self.maxTableBytes else { return }
        tableBytes += Int(r.tableTotal)
        codes[r.id] = PythonCode(
            filename: r.filename, name: r.name,
            lines: PythonLineTable(format: r.format, firstLine: Int(r.firstLine), table: r.table),
            tableTotal: Int(r.tableTotal))
    }

    /// The next part of a long line table; parts come in order.
    public mutating func addMore(id: UInt32, offset: UInt32, table: [UInt8]) {
        guard var c = codes[id], c.lines.table.count == Int(offset), Int(offset) + table.count <= c.tableTotal else { return }
        codes[id] = nil  // no second copy while appending
        c.lines.table += table
        codes[id] = c
    }

    public subscript(id: UInt32) -> PythonCode? { codes[id] }
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
    /// The process whose code objects Python frames name.
    public var processKey = -1

    public init() {}

    public mutating func add(module m: ModuleRecord, registry: inout ModuleRegistry) {
        guard modules.count < Self.maxModules, let id = registry.intern(m) else { return }
        // A newer object at the same addresses replaces the old one.
        modules.removeAll { $0.record.start < m.end && m.start < $0.record.end }
        modules.append((m, id))
    }

    public mutating func add(stack s: StackRecord) {
        guard stacks[s.id] == nil, stacks.count < Self.maxStacks, frameCount + s.pcs.count <= Self.maxFrames else { return }
        frameCount += s.pcs.count
        stacks[s.id] = s.pcs.map { pc in
            if fdt_pyframe_is(pc) != 0 {
                return RawFrame(
                    module: nil, address: UInt64(fdt_pyframe_offset(pc)),
                    python: PythonCodeRef(process: processKey, id: fdt_pyframe_code(pc)))
            }
            if let m = modules.last(where: { pc >= $0.record.start && pc < $0.record.end }) {
                return RawFrame(module: m.id, address: pc &- m.record.base)
            }
            return RawFrame(module: nil, address: pc)
        }
    }

    public func frames(_ id: UInt32) -> [RawFrame]? { stacks[id] }
}

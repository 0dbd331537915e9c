/// Frames in Go binaries, resolved from Go's own line table (GoLineTable)
/// rather than by llvm-symbolizer, which cannot name anything in a stripped
/// Go binary (Debian's have no symbol table and no DWARF) and does not know
/// Go's inline trees without DWARF. Each module is read once per call; a
/// module whose file on disk is no longer the one that ran (another build
/// id), or is not Go, is left to llvm-symbolizer, and so is any pc the
/// table has no function for (cgo's C code).
struct GoSymbolizer {
    private var tables: [Int: GoLineTable?] = [:]
    private var files: [Int: ElfFile] = [:]
    /// The target of the direct call before a return address (nil: not one).
    private var callTargets: [RawFrame: UInt64?] = [:]

    /// The frames resolved here, by raw frame; the others are not in the result.
    mutating func symbolize(_ frames: [RawFrame], modules: ModuleRegistry) -> [RawFrame: [SymbolizedFrame]] {
        var out: [RawFrame: [SymbolizedFrame]] = [:]
        for f in frames {
            guard let m = f.module, m < modules.entries.count, let table = table(m, modules) else { continue }
            let path = modules.entries[m].path
            guard let go = table.frames(returnAddress: f.address), !go.isEmpty else { continue }
            out[f] = go.map {
                SymbolizedFrame(
                    function: $0.function, file: $0.file, line: $0.line, module: path,
                    address: f.address, inlined: $0.inlined)
            }
        }
        return out
    }

    private mutating func table(_ m: Int, _ modules: ModuleRegistry) -> GoLineTable? {
        if let t = tables[m] { return t }
        let entry = modules.entries[m]
        var t: GoLineTable?
        if let elf = ElfFile(path: entry.path), GoLineTable.sectionNames.contains(where: { elf.section(named: $0) != nil }),
            entry.buildID.isEmpty || elf.buildID() == entry.buildID
        {
            t = GoLineTable.load(elf)
            if t != nil { files[m] = elf }
        }
        tables[m] = t
        return t
    }

    /// The stack without the frames that were never called. The kernel
    /// source reads a stack by scanning the words below the first frame
    /// pointer for return addresses (glibc keeps no frame pointers), and in
    /// Go code those words are a frame's stale locals: return addresses of
    /// calls that already returned (runtime.entersyscall above
    /// syscall.Syscall6, whatever ran on that stack before), different from
    /// one call to the next, so one site would be reported as several.
    /// A frame is dropped when the instruction before it is a direct call to
    /// another function than the frame above's and a frame further down
    /// makes that call (the real caller): indirect calls, other modules and
    /// anything not Go are left as they are.
    mutating func callChain(_ frames: [RawFrame], modules: ModuleRegistry) -> [RawFrame] {
        guard frames.count > 2, frames.contains(where: { $0.module != nil && table($0.module!, modules) != nil }) else {
            return frames
        }
        var out = [frames[0]]
        var i = 1
        while i < frames.count {
            let callee = out[out.count - 1]
            if calls(frames[i], callee, modules) == false,
                let j = frames[(i + 1)...].firstIndex(where: { calls($0, callee, modules) == true })
            {
                i = j
            }
            out.append(frames[i])
            i += 1
        }
        return out
    }

    /// Whether the call before return address `caller` goes to the function
    /// holding `callee`'s pc; nil when that cannot be told.
    private mutating func calls(_ caller: RawFrame, _ callee: RawFrame, _ modules: ModuleRegistry) -> Bool? {
        guard caller.python == nil, callee.python == nil, let m = caller.module, callee.module == m,
            let table = table(m, modules), let target = directCallTarget(caller, m),
            let entry = table.function(at: callee.address &- 1)?.entry
        else { return nil }
        return target == entry
    }

    /// x86-64 `call rel32` (e8) ending at the return address: its target.
    private mutating func directCallTarget(_ f: RawFrame, _ m: Int) -> UInt64? {
        if let known = callTargets[f] { return known }
        var target: UInt64?
        if let elf = files[m], f.address >= 5, let seg = elf.loadSegment(containing: f.address &- 5),
            f.address - seg.address <= seg.fileSize,
            let b = elf.read(offset: seg.offset &+ (f.address &- 5 &- seg.address), count: 5), b[0] == 0xe8
        {
            let rel = Int32(bitPattern: UInt32(b[1]) | UInt32(b[2]) << 8 | UInt32(b[3]) << 16 | UInt32(b[4]) << 24)
            target = UInt64(bitPattern: Int64(bitPattern: f.address) &+ Int64(rel))
        }
        callTargets[f] = target
        return target
    }
}

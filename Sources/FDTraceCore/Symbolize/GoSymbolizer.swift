/// Frames in Go binaries, resolved from Go's own line table (GoLineTable)
/// rather than by llvm-symbolizer, which cannot name anything in a stripped
/// Go binary (Debian's have no symbol table and no DWARF) and does not know
/// Go's inline trees without DWARF. Each module is read once per call; a
/// module whose file on disk is no longer the one that ran (another build
/// id), or is not Go, is left to llvm-symbolizer, and so is any pc the
/// table has no function for (cgo's C code).
struct GoSymbolizer {
    private var tables: [Int: GoLineTable?] = [:]

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
        }
        tables[m] = t
        return t
    }
}

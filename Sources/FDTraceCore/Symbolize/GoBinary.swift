/// Loads a Go binary's line table from an ELF file: the pclntab by section
/// name, the inline trees' memory, and for 1.18+ the moduledata that says
/// where they are (GoModuleData).
///
/// Not handled: binaries without section headers (the pclntab would have
/// to be found through the moduledata or by its magic); big-endian and
/// 32-bit ELF; Go before 1.16; several text sections (large arm64/ppc64
/// binaries, where the runtime maps offsets through textsectmap); a PIE
/// whose funcdata pointers (1.16-1.17) are only in relocations.
extension GoLineTable {
    /// Section names the Go linker gives the pclntab.
    static let sectionNames = [".gopclntab", ".data.rel.ro.gopclntab"]

    /// The line table of the Go binary at `path`, or nil if it is not one
    /// (or its table is not one this reads).
    public static func load(path: String) -> GoLineTable? {
        guard let elf = ElfFile(path: path) else { return nil }
        return load(elf)
    }

    static func load(_ elf: ElfFile) -> GoLineTable? {
        guard let section = sectionNames.lazy.compactMap({ elf.section(named: $0) }).first,
            let bytes = elf.contents(of: section, limit: 1 << 30),
            let bare = GoLineTable(pclntab: bytes, address: section.address)
        else { return nil }
        switch bare.format {
        case .go116:
            // funcdata are pointers: keep the loaded, non-executable segments.
            var regions: [GoInlineTree.Region] = []
            var total = 0
            for s in elf.segments where s.type == ElfFile.Segment.load && s.flags & ElfFile.Segment.execute == 0 {
                guard total + Int(min(s.fileSize, 1 << 30)) <= 1 << 30, let b = elf.contents(of: s) else { continue }
                total += b.count
                regions.append(.init(address: s.address, bytes: b))
            }
            return GoLineTable(pclntab: bytes, address: section.address, inlineTrees: GoInlineTree(gofunc: nil, regions: regions))
        case .go118, .go120:
            guard let md = GoModuleData.locate(in: elf, table: bare), let s = elf.loadSegment(containing: md.gofunc),
                let b = elf.read(offset: s.offset &+ (md.gofunc - s.address), count: Int(min(s.fileSize - (md.gofunc - s.address), 1 << 30)))
            else {
                return bare  // names, files and lines, without inlined frames
            }
            return GoLineTable(
                pclntab: bytes, address: section.address, textStart: md.text,
                inlineTrees: GoInlineTree(gofunc: md.gofunc, regions: [.init(address: md.gofunc, bytes: b)]))
        }
    }
}

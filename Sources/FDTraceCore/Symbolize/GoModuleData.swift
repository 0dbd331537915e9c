/// The Go runtime's `moduledata` of a binary, found without symbols: the
/// linker writes it in writable data, its first word pointing at the
/// pclntab header and the next slices at the header's tables. Read for the
/// two addresses the pclntab lacks: `text` (where function offsets count
/// from) and `gofunc` (go:func.*, where funcdata offsets count from, 1.18+).
///
/// Layout (64-bit words): pcHeader; funcnametab, cutab, filetab, pctab,
/// pclntable, ftab (slices: 3 words each); findfunctab; minpc, maxpc; text
/// (word 22), etext, then 8 more section bounds (10 from 1.20: covctrs);
/// end, gcdata, gcbss, types, etypes, rodata, gofunc: word 38 in 1.18-1.19,
/// 40 from 1.20 (unchanged up to 1.25).
struct GoModuleData: Equatable {
    var address: UInt64
    var text: UInt64
    var gofunc: UInt64

    /// Candidates are the words equal to the pclntab's address (or, in a
    /// PIE, RELATIVE relocations that put it there); one is taken only
    /// when its table slices are the header's tables.
    static func locate(in elf: ElfFile, table: GoLineTable) -> GoModuleData? {
        guard table.pointerSize == 8, table.format != .go116 else { return nil }
        let gofuncWord = table.format == .go118 ? 38 : 40
        let relocations = elf.type == 3 ? elf.relativeRelocations() : [:]
        let tableOffsets = [1, 4, 7, 10, 13]
        let expected = [table.funcnames, table.cutab, table.filetab, table.pctab, table.functab].map { table.address &+ UInt64($0.lowerBound) }
        for s in elf.segments where s.type == ElfFile.Segment.load && s.flags & ElfFile.Segment.write != 0 {
            guard let bytes = elf.contents(of: s, limit: 1 << 28) else { continue }
            func word(_ at: Int) -> UInt64? {
                guard let v = bytes.u64(at: at) else { return nil }
                return v != 0 ? v : relocations[s.address &+ UInt64(at)] ?? 0
            }
            var candidates: [Int] = []
            for (at, target) in relocations where target == table.address && at >= s.address && at - s.address < UInt64(bytes.count) {
                candidates.append(Int(at - s.address))
            }
            var i = 0
            while i + 8 <= bytes.count {
                if bytes.u64(at: i) == table.address { candidates.append(i) }
                i += 8
            }
            for c in candidates.sorted() {
                guard zip(tableOffsets, expected).allSatisfy({ word(c + 8 * $0) == $1 }),
                    let text = word(c + 8 * 22), let rodata = word(c + 8 * (gofuncWord - 1)), let gofunc = word(c + 8 * gofuncWord),
                    gofunc >= rodata, elf.loadSegment(containing: gofunc) != nil
                else { continue }
                return GoModuleData(address: s.address &+ UInt64(c), text: text, gofunc: gofunc)
            }
        }
        return nil
    }
}

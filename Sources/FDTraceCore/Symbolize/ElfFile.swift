import Foundation

/// The headers of an ELF file on disk (64-bit little-endian only: the
/// machines fdtrace runs on), and bounded reads of its contents: sections
/// by name, loadable segments, addresses to file offsets, the GNU build id,
/// RELATIVE relocations. The one ELF reader of the project (BlindRuntime,
/// ElfBuildID and GoLineTable use it).
///
/// Nothing in the file is trusted: every count is capped, every table must
/// lie inside the file, and a read that would go past the end answers nil.
struct ElfFile {
    struct Section: Equatable {
        var name: String
        var type: UInt32
        var flags: UInt64
        var address: UInt64
        var offset: UInt64
        var size: UInt64
    }

    struct Segment: Equatable {
        var type: UInt32
        var flags: UInt32
        var offset: UInt64
        var address: UInt64
        var fileSize: UInt64
        var memorySize: UInt64

        static let load: UInt32 = 1, interp: UInt32 = 3, note: UInt32 = 4
        static let execute: UInt32 = 1, write: UInt32 = 2
    }

    let path: String
    let fileSize: UInt64
    /// `e_type`: 2 an executable at fixed addresses, 3 a shared object or PIE.
    let type: UInt16
    let machine: UInt16
    let sections: [Section]
    let segments: [Segment]

    /// Caps on what one file may make us read or hold.
    static let maxSections = 1 << 16
    static let maxSegments = 1 << 12
    static let maxRead = 1 << 30

    init?(path: String) {
        guard let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        guard let size = try? fh.seekToEnd(), let ehdr = Self.read(fh, 0, 64, fileSize: size),
            ehdr.starts(with: [0x7f, 0x45, 0x4c, 0x46]), ehdr[4] == 2, ehdr[5] == 1
        else { return nil }
        self.path = path
        self.fileSize = size
        type = UInt16(Self.le(ehdr, 16, 2))
        machine = UInt16(Self.le(ehdr, 18, 2))
        segments = Self.programHeaders(fh, ehdr, fileSize: size)
        sections = Self.sectionHeaders(fh, ehdr, fileSize: size)
    }

    func section(named name: String) -> Section? { sections.first { $0.name == name } }

    var sectionNames: Set<String> { Set(sections.map(\.name)) }

    /// `count` bytes at `offset` in the file, or nil if they are not all there.
    func read(offset: UInt64, count: Int) -> [UInt8]? {
        guard let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        return Self.read(fh, offset, count, fileSize: fileSize)
    }

    /// A section's contents (nil for SHT_NOBITS, or past `limit` bytes).
    func contents(of s: Section, limit: Int = ElfFile.maxRead) -> [UInt8]? {
        guard s.type != 8, s.size <= UInt64(limit) else { return nil }
        return read(offset: s.offset, count: Int(s.size))
    }

    /// The loadable segment whose file-backed bytes hold `address`.
    func loadSegment(containing address: UInt64) -> Segment? {
        segments.first { $0.type == Segment.load && address >= $0.address && address - $0.address < $0.fileSize }
    }

    /// The file-backed bytes of a loadable segment (capped at `limit`).
    func contents(of s: Segment, limit: Int = ElfFile.maxRead) -> [UInt8]? {
        guard s.fileSize <= UInt64(limit) else { return nil }
        return read(offset: s.offset, count: Int(s.fileSize))
    }

    /// The GNU build id, from the PT_NOTE segments.
    func buildID() -> [UInt8]? {
        for s in segments where s.type == Segment.note && s.fileSize < 1 << 20 {
            guard let notes = read(offset: s.offset, count: Int(s.fileSize)) else { continue }
            var p = 0
            while p + 12 <= notes.count {
                let namesz = Int(Self.le(notes, p, 4)), descsz = Int(Self.le(notes, p + 4, 4)), type = Self.le(notes, p + 8, 4)
                let name = p + 12, desc = name + ((namesz + 3) & ~3), next = desc + ((descsz + 3) & ~3)
                guard next <= notes.count, desc + descsz <= notes.count else { break }
                if type == 3 && namesz == 4 && Array(notes[name..<name + 3]) == Array("GNU".utf8) {
                    return Array(notes[desc..<desc + descsz])
                }
                p = next
            }
        }
        return nil
    }

    /// The targets of RELATIVE relocations (x86-64 type 8, AArch64 1027)
    /// in the SHT_RELA sections, by the address they patch: in a
    /// position-independent executable a pointer's value may be there
    /// rather than in the bytes at its address. Capped at `limit` entries.
    func relativeRelocations(limit: Int = 1 << 22) -> [UInt64: UInt64] {
        let relative: UInt64 = machine == 183 ? 1027 : 8
        var out: [UInt64: UInt64] = [:]
        for s in sections where s.type == 4 && s.size % 24 == 0 {
            guard out.count + Int(s.size / 24) <= limit, let rela = contents(of: s, limit: limit * 24) else { continue }
            for i in stride(from: 0, to: rela.count, by: 24) where Self.le(rela, i + 8, 8) & 0xffff_ffff == relative {
                out[Self.le(rela, i, 8)] = Self.le(rela, i + 16, 8)
            }
        }
        return out
    }

    // MARK: - Headers

    private static func programHeaders(_ fh: FileHandle, _ ehdr: [UInt8], fileSize: UInt64) -> [Segment] {
        let phoff = le(ehdr, 32, 8), phentsize = Int(le(ehdr, 54, 2)), phnum = Int(le(ehdr, 56, 2))
        guard phentsize >= 56, phnum > 0, phnum <= maxSegments,
            let ph = read(fh, phoff, phentsize * phnum, fileSize: fileSize)
        else { return [] }
        return (0..<phnum).map { i in
            let b = i * phentsize
            return Segment(
                type: UInt32(le(ph, b, 4)), flags: UInt32(le(ph, b + 4, 4)), offset: le(ph, b + 8, 8),
                address: le(ph, b + 16, 8), fileSize: le(ph, b + 32, 8), memorySize: le(ph, b + 40, 8))
        }
    }

    private static func sectionHeaders(_ fh: FileHandle, _ ehdr: [UInt8], fileSize: UInt64) -> [Section] {
        let shoff = le(ehdr, 40, 8), shentsize = Int(le(ehdr, 58, 2)), shnum = Int(le(ehdr, 60, 2)), shstrndx = Int(le(ehdr, 62, 2))
        guard shoff != 0, shentsize >= 64, shnum > 0, shnum <= maxSections, shstrndx < shnum,
            let sh = read(fh, shoff, shentsize * shnum, fileSize: fileSize)
        else { return [] }
        let strBase = shstrndx * shentsize
        let strOff = le(sh, strBase + 24, 8), strSize = le(sh, strBase + 32, 8)
        guard strSize < 1 << 20, let strtab = read(fh, strOff, Int(strSize), fileSize: fileSize) else { return [] }
        return (0..<shnum).map { i in
            let b = i * shentsize
            let nameOff = Int(le(sh, b, 4))
            var name = ""
            if nameOff < strtab.count {
                let start = strtab.startIndex + nameOff
                let end = strtab[start...].firstIndex(of: 0) ?? strtab.endIndex
                name = String(decoding: strtab[start..<end], as: UTF8.self)
            }
            return Section(
                name: name, type: UInt32(le(sh, b + 4, 4)), flags: le(sh, b + 8, 8), address: le(sh, b + 16, 8),
                offset: le(sh, b + 24, 8), size: le(sh, b + 32, 8))
        }
    }

    /// Bytes as an array: parsing them through Data's subscript cost more
    /// than the reads (~0.3 ms of a one-leak `fdtrace run`).
    private static func read(_ fh: FileHandle, _ offset: UInt64, _ count: Int, fileSize: UInt64) -> [UInt8]? {
        guard count >= 0, count <= maxRead, offset <= fileSize, UInt64(count) <= fileSize - offset else { return nil }
        if count == 0 { return [] }
        guard (try? fh.seek(toOffset: offset)) != nil, let d = try? fh.read(upToCount: count), d.count == count else { return nil }
        return [UInt8](d)
    }

    /// Little-endian unsigned integer of `n` bytes at `off` (callers check bounds).
    static func le<C: RandomAccessCollection>(_ d: C, _ off: Int, _ n: Int) -> UInt64 where C.Element == UInt8, C.Index == Int {
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(d[d.startIndex + off + i]) }
        return v
    }
}

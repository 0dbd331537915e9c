import Foundation

/// The loadable segments of an ELF file and its interpreter: enough to turn
/// a mapping (address, file offset) into the load bias symbolization needs.
/// Only the headers are read.
struct ElfSegments: Sendable {
    struct Load: Sendable {
        var offset: UInt64
        var vaddr: UInt64
        var filesz: UInt64
        var memsz: UInt64
        var executable: Bool
    }
    var loads: [Load]
    var interpreter: String?

    static let pageSize: UInt64 = 4096

    static func read(path: String) -> ElfSegments? {
        guard let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        guard let ehdr = try? fh.read(upToCount: 64), ehdr.count == 64,
            ehdr.starts(with: [0x7f, 0x45, 0x4c, 0x46]), ehdr[4] == 2, ehdr[5] == 1
        else { return nil }
        let phoff = le(ehdr, 32, 8), phentsize = le(ehdr, 54, 2), phnum = le(ehdr, 56, 2)
        guard phentsize >= 56, phnum < 256 else { return nil }
        try? fh.seek(toOffset: phoff)
        guard let ph = try? fh.read(upToCount: Int(phentsize * phnum)), ph.count == Int(phentsize * phnum) else { return nil }
        var loads: [Load] = []
        var interp: (offset: UInt64, size: UInt64)?
        for i in 0..<Int(phnum) {
            let b = i * Int(phentsize)
            let type = le(ph, b, 4), flags = le(ph, b + 4, 4)
            let offset = le(ph, b + 8, 8), vaddr = le(ph, b + 16, 8), filesz = le(ph, b + 32, 8), memsz = le(ph, b + 40, 8)
            if type == 1 {  // PT_LOAD
                loads.append(Load(offset: offset, vaddr: vaddr, filesz: filesz, memsz: memsz, executable: flags & 1 != 0))
            } else if type == 3, filesz > 0, filesz < 4096 {  // PT_INTERP
                interp = (offset, filesz)
            }
        }
        var interpreter: String?
        if let (offset, size) = interp {
            try? fh.seek(toOffset: offset)
            if let bytes = try? fh.read(upToCount: Int(size)) {
                interpreter = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return loads.isEmpty ? nil : ElfSegments(loads: loads, interpreter: interpreter)
    }

    /// The load bias of a mapping of this file at `start` from file offset `offset`.
    func bias(start: UInt64, offset: UInt64) -> UInt64? {
        guard
            let seg = loads.first(where: {
                ($0.offset & ~(Self.pageSize - 1)) <= offset && offset < $0.offset + max($0.filesz, 1)
            })
        else { return nil }
        return start &- (seg.vaddr &- seg.offset &+ offset)
    }

    /// The object's extent once loaded with `bias`.
    func extent(bias: UInt64) -> (start: UInt64, end: UInt64) {
        let lo = loads.map(\.vaddr).min() ?? 0, hi = loads.map { $0.vaddr + $0.memsz }.max() ?? 0
        return (bias &+ (lo & ~(Self.pageSize - 1)), bias &+ hi)
    }

    /// The lowest address of an executable segment (mm->start_code minus the bias).
    var firstCode: UInt64? { loads.filter(\.executable).map(\.vaddr).min() }

    private static func le(_ d: Data, _ off: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(d[d.startIndex + off + i]) }
        return v
    }
}

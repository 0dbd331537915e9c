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

    /// From the file's program headers (ElfFile, the one ELF reader).
    static func read(path: String) -> ElfSegments? {
        guard let elf = ElfFile(path: path) else { return nil }
        let loads = elf.segments.filter { $0.type == ElfFile.Segment.load }.map {
            Load(
                offset: $0.offset, vaddr: $0.address, filesz: $0.fileSize, memsz: $0.memorySize,
                executable: $0.flags & ElfFile.Segment.execute != 0)
        }
        let interpreter = elf.segments.first { $0.type == ElfFile.Segment.interp && $0.fileSize > 0 && $0.fileSize < 4096 }
            .flatMap { elf.contents(of: $0) }
            .map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
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
}

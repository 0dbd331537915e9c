import Foundation

/// Reads the GNU build id of an ELF file on disk (to check that the file
/// the report symbolizes is the one that ran). Only the note is read: all
/// debug information is left to the symbolizer.
public enum ElfBuildID {
    public static func read(path: String) -> [UInt8]? {
        guard let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        guard let ehdr = try? fh.read(upToCount: 64), ehdr.count == 64,
              ehdr.starts(with: [0x7f, 0x45, 0x4c, 0x46]), ehdr[4] == 2, ehdr[5] == 1 else { return nil }
        let phoff = le(ehdr, 32, 8), phentsize = le(ehdr, 54, 2), phnum = le(ehdr, 56, 2)
        guard phentsize >= 56, phnum < 256 else { return nil }
        try? fh.seek(toOffset: phoff)
        guard let ph = try? fh.read(upToCount: Int(phentsize * phnum)), ph.count == Int(phentsize * phnum) else { return nil }
        for i in 0..<Int(phnum) {
            let base = i * Int(phentsize)
            guard le(ph, base, 4) == 4 else { continue } // PT_NOTE
            let off = le(ph, base + 8, 8), size = le(ph, base + 32, 8)
            guard size < 1 << 20 else { continue }
            try? fh.seek(toOffset: off)
            guard let notes = try? fh.read(upToCount: Int(size)) else { continue }
            var p = 0
            while p + 12 <= notes.count {
                let namesz = Int(le(notes, p, 4)), descsz = Int(le(notes, p + 4, 4)), type = le(notes, p + 8, 4)
                let name = p + 12, desc = name + ((namesz + 3) & ~3), next = desc + ((descsz + 3) & ~3)
                guard next <= notes.count else { break }
                if type == 3 && namesz == 4 && Array(notes[notes.startIndex + name..<notes.startIndex + name + 3]) == Array("GNU".utf8) {
                    return Array(notes[notes.startIndex + desc..<notes.startIndex + desc + descsz])
                }
                p = next
            }
        }
        return nil
    }

    private static func le(_ d: Data, _ off: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(d[d.startIndex + off + i]) }
        return v
    }

    public static func hex(_ id: [UInt8]) -> String { id.map { String(format: "%02x", $0) }.joined() }
}

import Foundation

/// Programs whose descriptors the shim cannot see even though it is loaded:
/// their runtime makes system calls itself instead of calling libc. Go does
/// (even when linked with cgo, which is what loads the shim). Recognised by
/// the sections the Go linker writes (present in stripped binaries too).
public enum BlindRuntime {
    /// Why the shim is blind to `executable`'s descriptors, or nil.
    public static func reason(executable: String) -> String? {
        let names = ElfSections.names(path: executable)
        if names.contains(".go.buildinfo") || names.contains(".gopclntab") || names.contains(".note.go.buildid") {
            return "a Go program: Go's runtime makes its system calls itself, so the shim sees only what goes through libc (cgo); "
                + "the descriptors it never saw are listed as origin unknown, from /proc"
        }
        return nil
    }
}

/// The section names of an ELF file (64-bit little-endian), or [].
enum ElfSections {
    static func names(path: String) -> Set<String> {
        guard let fh = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? fh.close() }
        guard let ehdr = try? fh.read(upToCount: 64), ehdr.count == 64,
              ehdr.starts(with: [0x7f, 0x45, 0x4c, 0x46]), ehdr[4] == 2, ehdr[5] == 1 else { return [] }
        let shoff = le(ehdr, 40, 8), shentsize = le(ehdr, 58, 2), shnum = le(ehdr, 60, 2), shstrndx = le(ehdr, 62, 2)
        guard shentsize >= 64, shnum > 0, shnum < 1 << 16, shstrndx < shnum else { return [] }
        try? fh.seek(toOffset: shoff)
        guard let sh = try? fh.read(upToCount: Int(shentsize * shnum)), sh.count == Int(shentsize * shnum) else { return [] }
        let strBase = Int(shstrndx * shentsize)
        let strOff = le(sh, strBase + 24, 8), strSize = le(sh, strBase + 32, 8)
        guard strSize < 1 << 20 else { return [] }
        try? fh.seek(toOffset: strOff)
        guard let strtab = try? fh.read(upToCount: Int(strSize)), strtab.count == Int(strSize) else { return [] }
        var out = Set<String>()
        for i in 0..<Int(shnum) {
            let nameOff = Int(le(sh, i * Int(shentsize), 4))
            guard nameOff < strtab.count else { continue }
            let start = strtab.startIndex + nameOff
            let end = strtab[start...].firstIndex(of: 0) ?? strtab.endIndex
            out.insert(String(decoding: strtab[start..<end], as: UTF8.self))
        }
        return out
    }

    private static func le(_ d: Data, _ off: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(d[d.startIndex + off + i]) }
        return v
    }
}

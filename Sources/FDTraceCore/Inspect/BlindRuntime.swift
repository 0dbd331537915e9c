import Foundation

/// Programs whose descriptors the shim cannot see even though it is loaded:
/// their runtime makes system calls itself instead of calling libc. Go does
/// (even when linked with cgo, which is what loads the shim). Recognised by
/// the sections the Go linker writes (present in stripped binaries too).
public enum BlindRuntime {
    /// Why the shim is blind to `executable`'s descriptors, or nil.
    public static func reason(executable: String) -> String? {
        let names = ElfFile(path: executable)?.sectionNames ?? []
        if names.contains(".go.buildinfo") || names.contains(".gopclntab") || names.contains(".note.go.buildid") {
            return "a Go program: Go's runtime makes its system calls itself, so the shim sees only what goes through libc (cgo); "
                + "the descriptors it never saw are listed as origin unknown, from /proc"
        }
        return nil
    }
}

/// BlindRuntime's answers kept per executable file: a build or a shell
/// script starts the same few programs over and over, and reading an ELF
/// file's section headers for each of them cost the collector ~40 us a
/// process. Keyed by path and the file's identity (device, inode, size,
/// modification time), so a rebuilt program is read again.
struct BlindRuntimeVerdicts {
    private struct Identity: Equatable { var dev: UInt64, ino: UInt64, size: Int64, mtime: Int, mtimeNs: Int }
    private var known: [String: (Identity, String?)] = [:]

    mutating func reason(executable: String) -> String? {
        var st = stat()
        guard stat(executable, &st) == 0 else { return BlindRuntime.reason(executable: executable) }
        let id = Identity(
            dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), size: Int64(st.st_size), mtime: st.st_mtim.tv_sec,
            mtimeNs: st.st_mtim.tv_nsec)
        if let (was, answer) = known[executable], was == id { return answer }
        let answer = BlindRuntime.reason(executable: executable)
        if known.count >= 4096 { known.removeAll() }  // bounded: a session may run any number of programs
        known[executable] = (id, answer)
        return answer
    }
}

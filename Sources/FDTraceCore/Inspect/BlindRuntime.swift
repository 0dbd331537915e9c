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

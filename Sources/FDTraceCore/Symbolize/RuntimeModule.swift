/// Modules whose frames are runtime plumbing, not the program's code: the
/// C runtime's libraries, the loader, the shim. Reports never point at
/// them, and the symbolizer names them from their symbol tables only.
enum RuntimeModule {
    static func contains(_ path: String?) -> Bool {
        guard let path else { return true }
        let base = path.split(separator: "/").last.map(String.init) ?? path
        let prefixes = [
            "libc.so", "libc-", "ld-linux", "ld-", "libpthread", "libdl.", "libm.so", "libstdc++",
            "libgcc_s", "libfdtrace", "linux-vdso",
        ]
        return prefixes.contains { base.hasPrefix($0) }
    }
}

import Foundation

/// What a Go frame is, from its function name alone (as the pclntab
/// names it: import path, then receiver and function, e.g.
/// `net/http.(*Server).Serve`, `main.main.func2`): the runtime's and the
/// standard library's plumbing, the standard library's API, or the
/// program's own code (its main package and every non-standard module).
/// The report points its arrow at the first frame of the program's code
/// and names the descriptor's call the Go way: the standard library
/// function that code called (`net.(*TCPListener).Accept`, not the
/// `syscall.accept4` under it).
public enum GoFrames {
    public enum Kind: Equatable, Sendable {
        /// runtime, internal/..., syscall, vendored packages, unexported
        /// standard library functions and closures, compiler-generated code.
        case plumbing
        /// An exported function or method of the standard library.
        case library
        /// The program's own code, or a third-party module's.
        case user
    }

    /// The first element of every standard library import path (Go 1.16-1.23).
    static let standardRoots: Set<String> = [
        "archive", "bufio", "builtin", "bytes", "cmp", "compress", "container", "context", "crypto", "database",
        "debug", "embed", "encoding", "errors", "expvar", "flag", "fmt", "go", "hash", "html", "image", "index",
        "internal", "io", "iter", "log", "maps", "math", "mime", "net", "os", "path", "plugin", "reflect", "regexp",
        "runtime", "slices", "sort", "strconv", "strings", "structs", "sync", "syscall", "testing", "text", "time",
        "unicode", "unique", "unsafe", "vendor", "weak",
    ]

    /// The import path of a Go function name (`net/http` for
    /// `net/http.(*Server).Serve`), ignoring type arguments; nil when the
    /// name has no package.
    public static func package(of function: String) -> String? {
        let name = function.firstIndex(of: "[").map { function[..<$0] } ?? function[...]
        let lastSlash = name.lastIndex(of: "/")
        let tail = lastSlash.map { name[name.index(after: $0)...] } ?? name
        guard let dot = tail.firstIndex(of: "."), dot != tail.startIndex else { return nil }
        return String(name[..<dot])
    }

    public static func kind(of function: String) -> Kind {
        // The C side of cgo, and what the compiler and linker generate.
        // (go.uber.org/... is a module: only go.buildid is the linker's.)
        for prefix in ["_cgo_", "x_cgo_", "crosscall", "type..", "type:", "go:"] where function.hasPrefix(prefix) {
            return .plumbing
        }
        if function == "go.buildid" { return .plumbing }
        guard let pkg = package(of: function) else { return .user }
        let root = pkg.split(separator: "/", maxSplits: 1).first.map(String.init) ?? pkg
        guard standardRoots.contains(root) else { return .user }
        if pkg == "runtime" || pkg.hasPrefix("runtime/") || pkg == "syscall" || pkg == "unsafe" || root == "internal"
            || root == "vendor" || pkg.contains("/internal/") || pkg.hasSuffix("/internal")
        {
            return .plumbing
        }
        return isExported(function, package: pkg) ? .library : .plumbing
    }

    /// Every part of the name after the package is exported:
    /// `(*TCPListener).Accept` is, `(*TCPListener).accept` and
    /// `OpenFile.func1` (a closure) are not.
    static func isExported(_ function: String, package pkg: String) -> Bool {
        let name = function.firstIndex(of: "[").map { function[..<$0] } ?? function[...]
        guard name.count > pkg.count + 1 else { return false }
        let rest = name.dropFirst(pkg.count + 1)
        // Receivers may be (*T) or T; type arguments are gone.
        let parts = rest.split(separator: ".").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "(*)")) }
        return !parts.isEmpty && parts.allSatisfy { p in p.first.map { $0.isUppercase } ?? false }
    }

    /// The frame the report's arrow points at, in frames innermost first:
    /// the first of the program's code, else the first of the standard
    /// library's API, else nil.
    public static func headline(_ functions: [String]) -> Int? {
        let kinds = functions.map(kind(of:))
        return kinds.firstIndex(of: .user) ?? kinds.firstIndex(of: .library)
    }

    /// The call that made the descriptor, as the program made it: the
    /// outermost standard library API frame below the program's first
    /// frame (`os.Open`, inlined, over `os.OpenFile`, over `syscall.openat`).
    /// nil when the program's code is not in the stack or called no API.
    public static func call(_ functions: [String]) -> String? {
        let kinds = functions.map(kind(of:))
        guard let user = kinds.firstIndex(of: .user), user > 0 else { return nil }
        return (0..<user).reversed().first { kinds[$0] == .library }.map { functions[$0] }
    }
}

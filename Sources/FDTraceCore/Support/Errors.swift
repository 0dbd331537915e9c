#if canImport(Glibc)
import Glibc
#endif

/// Exit statuses of the fdtrace command (documented in the README).
public enum ExitStatus {
    /// What was asked cannot be shown (no such process, no session).
    public static let failure: Int32 = 1
    /// `--fail-on-leak` and the program exited 0 but leaked.
    public static let leaksFound: Int32 = 99
    /// --fail-on-bad-close: the program exited 0 but closed a descriptor that was not open.
    public static let badClosesFound: Int32 = 98
    /// Bad arguments or options.
    public static let usage: Int32 = 64
    /// `fdtrace attach` without the kernel event source (no privileges, no
    /// BTF, a build without it): the /proc view was shown instead.
    public static let procViewOnly: Int32 = 77
    /// The tracer itself could not work (socket, library, output file).
    public static let tracerFailure: Int32 = 70
    /// The command exists but cannot be executed.
    public static let notExecutable: Int32 = 126
    /// The command was not found.
    public static let notFound: Int32 = 127
}

/// An error shown as one line "fdtrace: <message>", exiting with `status`.
public struct FDTraceError: Error, CustomStringConvertible {
    public var message: String
    public var status: Int32
    public init(_ message: String, status: Int32) { self.message = message; self.status = status }
    public var description: String { message }
}

extension FDTraceError {
    /// The tracer could not do `what` (status 70), in the system's words
    /// for `errno`: "cannot listen on PATH: Address already in use".
    static func tracer(_ what: String, errno: Int32) -> FDTraceError {
        FDTraceError("\(what): \(String(cString: strerror(errno)))", status: ExitStatus.tracerFailure)
    }
}

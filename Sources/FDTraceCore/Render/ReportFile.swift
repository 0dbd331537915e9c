import CFDTraceSys
import Foundation

/// A report destination opened before the program runs (so a bad path
/// fails at once), without following symlinks, not world-writable.
public final class ReportFile {
    public let path: String
    let fd: Int32
    public init(path: String) throws {
        self.path = path
        let fd = fdtc_open_report(path)
        guard fd >= 0 else {
            throw FDTraceError.tracer("cannot write \(path)", errno: -fd)
        }
        self.fd = fd
    }
    deinit { close(fd) }
    /// A failed write (a full disk) is one "cannot write" line, like a bad path.
    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            guard let base = bytes.baseAddress else { return }
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, base + done, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let reason = n < 0 ? String(cString: strerror(errno)) : "nothing written"
                    throw FDTraceError("cannot write \(path): \(reason)", status: ExitStatus.tracerFailure)
                }
                done += n
            }
        }
    }
}

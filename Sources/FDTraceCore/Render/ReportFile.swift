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
            throw FDTraceError("cannot write \(path): \(String(cString: strerror(-fd)))", status: ExitStatus.tracerFailure)
        }
        self.fd = fd
    }
    deinit { close(fd) }
    public func write(_ data: Data) throws {
        try FileHandle(fileDescriptor: fd, closeOnDealloc: false).write(contentsOf: data)
    }
}

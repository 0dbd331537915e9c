import Foundation
import Testing

@testable import FDTraceCore

/// The /proc readers the collector runs per process, on this process.
@Suite struct ProcFilesTests {
    /// A process that is running is not ending; one killed and reaped (its
    /// pid gone) is.
    @Test func endingProcesses() throws {
        #expect(!ProcFiles.isEnding(getpid()))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["30"]
        try p.run()
        let pid = p.processIdentifier
        #expect(!ProcFiles.isEnding(pid))
        kill(pid, SIGKILL)
        p.waitUntilExit()
        #expect(ProcFiles.isEnding(pid))
    }

    /// A mapped file is found by its inode and a name in its path (how the
    /// collector tells that an image still maps its ring, a memfd), not by
    /// either alone; the search reads all of /proc/self/maps (longer than a
    /// page).
    @Test func mappingFoundByInodeAndName() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fdtrace-maps-probe-\(getpid())").path
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        #expect(ftruncate(fd, 4096) == 0)
        let p = try #require(mmap(nil, 4096, PROT_READ, MAP_SHARED, fd, 0))
        defer { munmap(p, 4096) }
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        let inode = UInt64(st.st_ino)
        #expect((ProcFiles.read("/proc/self/maps")?.utf8.count ?? 0) > 4096)
        #expect(ProcFiles.maps(pid: getpid(), inode: inode, name: "fdtrace-maps-probe"))
        #expect(!ProcFiles.maps(pid: getpid(), inode: inode &+ 1, name: "fdtrace-maps-probe"))
        #expect(!ProcFiles.maps(pid: getpid(), inode: inode, name: "fdtrace-ring"))
        #expect(!ProcFiles.maps(pid: getpid(), inode: inode, name: ""))
        #expect(!ProcFiles.maps(pid: -1, inode: inode, name: "fdtrace-maps-probe"))
    }
}

import Foundation

extension ProcessReport {
    /// A live report checked against the kernel's table now: descriptors
    /// /proc/PID/fd lists that the tracer never saw open (a Go runtime's raw
    /// system calls, io_uring) are listed as origin unknown, with what they
    /// are; ones the tracer holds and the kernel no longer does were closed
    /// since the records were read, and are left out. Call it right after
    /// every source was drained.
    mutating func reconcile(with view: ProcSnapshot) {
        let kernel = view.groups.flatMap(\.fds)
        let open = Set(kernel.map(\.fd))
        for g in leaks.indices { leaks[g].fds.removeAll { !open.contains($0.fd) } }
        leaks.removeAll { $0.fds.isEmpty }
        for g in leaks.indices { leaks[g].count = leaks[g].fds.count }
        leakedDescriptors = leaks.reduce(0) { $0 + $1.count }
        for g in inheritedLeaks.indices { inheritedLeaks[g].fds.removeAll { !open.contains($0.fd) } }
        inheritedLeaks.removeAll { $0.fds.isEmpty }
        for g in inheritedLeaks.indices { inheritedLeaks[g].count = inheritedLeaks[g].fds.count }
        standard.removeAll { !open.contains($0.fd) }
        inherited.removeAll { !open.contains($0.fd) }
        openBeforeAttach?.removeAll { !open.contains($0.fd) }
        let known = Set(
            leaks.flatMap(\.fds).map(\.fd) + inheritedLeaks.flatMap(\.fds).map(\.fd)
                + standard.map(\.fd) + inherited.map(\.fd) + (openBeforeAttach ?? []).map(\.fd))
        unknownOrigin = kernel.filter { !known.contains($0.fd) }.sorted { $0.fd < $1.fd }
        openAtExit = kernel.count
        // The tracer's peak never counted what it did not see.
        peakOpen = max(peakOpen, openAtExit)
    }
}

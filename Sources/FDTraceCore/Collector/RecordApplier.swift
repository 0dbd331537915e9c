import CFDTraceWire

/// Applies ring records to a process, with the hot records (open, close)
/// going straight into its table without building a `Record`. Shared by the
/// collector and its benchmark, so that the benchmark measures this code.
struct RecordApplier {
    var registry = ModuleRegistry()
    private var paths = PathCache()
    private(set) var records = 0

    mutating func apply(_ bytes: UnsafeRawBufferPointer, to p: inout TracedProcess, key: Int,
                        inherited: (KernelFD, inout TracedProcess) -> Void) throws {
        records += 1
        switch RecordDecoder.type(of: bytes) {
        case UInt16(FDT_REC_OPEN.rawValue):
            let (r, path) = try RecordDecoder.open(bytes, paths: &paths)
            p.table.open(TrackedFD(
                fd: r.fd, origin: .traced, call: Call(rawValue: r.call),
                cloexec: r.fd_flags & UInt16(FDT_FD_CLOEXEC) != 0, tid: r.tid,
                stack: r.stack_id == 0 ? nil : StackRef(process: key, id: r.stack_id),
                openedAt: RecordDecoder.time(of: bytes), group: r.group, sourceFD: r.source_fd,
                domain: r.domain, sockType: r.sock_type, proto: r.protocol, path: path))
        case UInt16(FDT_REC_CLOSE.rawValue):
            let r = try RecordDecoder.close(bytes)
            p.table.close(r.fd, cause: r.cause == 0 ? .explicit : CloseCause(wire: r.cause), at: RecordDecoder.time(of: bytes))
        default:
            let record = try RecordDecoder.decode(bytes)
            p.apply(record, registry: &registry)
            if case .inherited(let k) = record { inherited(k, &p) }
        }
    }
}

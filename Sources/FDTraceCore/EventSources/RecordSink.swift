/// Where every source writes the records it decoded: into the tables of
/// one traced image at a time (the collector moves the image in while a
/// source feeds it: no copy, no exclusivity check per record), the module
/// registry all images share, and a count. Opens and closes, the records
/// that come by the million, have their own entry points that build no
/// `Record`.
public struct RecordSink {
    /// The image being fed.
    public internal(set) var process: TracedProcess
    public internal(set) var registry = ModuleRegistry()
    /// Records applied, from every source.
    public private(set) var records = 0
    /// Finds where a descriptor the image inherited was opened (in another
    /// image: the collector's business), right when its record comes.
    var attributeInherited: (KernelFD, inout TracedProcess) -> Void

    public init(process: TracedProcess, attributeInherited: @escaping (KernelFD, inout TracedProcess) -> Void = { _, _ in }) {
        self.process = process
        self.attributeInherited = attributeInherited
    }

    /// A descriptor came into existence, with what its opening call said.
    public mutating func open(_ e: OpenEvent) {
        open(
            fd: e.fd, call: e.call, cloexec: e.cloexec, tid: e.tid, stackID: e.stackID, time: e.time, group: e.group,
            sourceFD: e.sourceFD, domain: e.domain, sockType: e.sockType, proto: e.proto, path: e.path)
    }

    /// The same, field by field: a source that decodes opens by the million
    /// calls this (measured: an OpenEvent in between is copied, not moved).
    @inline(__always)
    public mutating func open(
        fd: Int32, call: Call, cloexec: Bool, tid: Int32, stackID: UInt32, time: UInt64, group: UInt32 = 0,
        sourceFD: Int32 = -1, domain: Int32 = -1, sockType: Int32 = -1, proto: Int32 = -1,
        path: String?
    ) {
        records += 1
        process.table.open(
            TrackedFD(
                fd: fd, origin: .traced, call: call, cloexec: cloexec, tid: tid,
                stack: stackID == 0 ? nil : StackRef(process: process.key, id: stackID), openedAt: time, group: group,
                sourceFD: sourceFD, domain: domain, sockType: sockType, proto: proto, path: path))
    }

    @inline(__always)
    public mutating func close(_ e: CloseEvent) {
        records += 1
        process.table.close(e.fd, cause: e.cause, at: e.time, call: e.call, stack: e.stackID, tid: e.tid)
    }

    /// Any other record (an open or close too, the slow way).
    public mutating func apply(_ record: Record) {
        records += 1
        process.apply(record, registry: &registry)
        if case .inherited(let k) = record { attributeInherited(k, &process) }
    }
}

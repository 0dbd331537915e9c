import CFDTraceKernel
import CFDTraceWire
import Foundation

/// The kernel event source: fdtrace's BPF program (CShim/bpf), loaded and
/// attached, turned into the same `Record` values the shim's ring gives,
/// per traced process, in the order the kernel saw them.
///
/// The shim's stream has records a process writes about itself (its
/// modules, its exit view); here the kernel says what happened and this
/// class adds the rest: module records from the executable's ELF headers at
/// exec, from each executable mapping, and from /proc/PID/maps for a process
/// traced while it runs; a fork child inherits its parent's. Stacks arrive as
/// `.stack` records before the first open that names them, as from the shim.
///
/// Needs root (CAP_BPF, CAP_PERFMON). One thread owns an instance.
public final class KernelSource {
    public struct Options: Sendable {
        /// The BPF ring buffer's size: a power of two of at least 4096
        /// bytes, shared by every traced process (0: 16 MiB).
        public var ringBytes: UInt32
        /// Opens carry their stack (the program's costliest part).
        public var stacks: Bool
        public init(ringBytes: UInt32 = 0, stacks: Bool = true) { self.ringBytes = ringBytes; self.stacks = stacks }
    }

    public enum Event: Equatable, Sendable {
        /// A record of the current image of `pid`.
        case record(pid: Int32, Record)
        /// `parent` forked `child`: its `.fork(id)` and `.child` records
        /// were just given; the child starts with the parent's table as of
        /// that `.fork`. The child's own records follow.
        case forked(parent: Int32, child: Int32, forkID: UInt64, time: UInt64)
        /// `pid` replaced its image; the new image's records follow (its
        /// modules first). `table`: the descriptors it starts with (the
        /// kernel has closed the close-on-exec ones), if it was read.
        case exec(pid: Int32, KernelExec, command: [String], table: KernelFDTable?)
        /// `pid` ended (its last thread exited). `table`: what it held
        /// then, before the kernel closed it all, if it was read.
        case exited(pid: Int32, KernelExit, table: KernelFDTable?)
    }

    /// The program's counters (in the kernel) and this reader's.
    public struct Counters: Equatable, Sendable {
        public var events: UInt64 = 0
        /// Events lost: the ring buffer was full.
        public var ringDrops: UInt64 = 0
        public var stacksSent: UInt64 = 0
        /// Opens whose libc wrapper's caller the stack scan found, or not.
        public var callersFound: UInt64 = 0
        public var callersMissing: UInt64 = 0
        /// Paths not readable at system call entry, read again at exit; and
        /// those not readable then either (sent without a path).
        public var pathRetries: UInt64 = 0
        public var pathFailures: UInt64 = 0
        /// Calls not recorded: no per-thread storage for them.
        public var storageFailures: UInt64 = 0
        /// Fork children not traced: the traced set (65536 processes) was full.
        public var untracedChildren: UInt64 = 0
        /// Sockets held at exit that the ring had no room to describe (no
        /// event lost: the report describes them from what it had).
        public var socketsUndescribed: UInt64 = 0
        /// Program runs the kernel skipped (another BPF program was
        /// running on that CPU): their events are lost.
        public var missedRuns: UInt64 = 0
        /// Events this reader could not decode (dropped).
        public var decodeErrors: UInt64 = 0

        /// Everything that means an event was lost.
        public var lost: UInt64 { ringDrops + storageFailures + missedRuns + decodeErrors + untracedChildren }
    }

    private var handle: OpaquePointer?
    private var modules: [Int32: [ModuleRecord]] = [:]
    private var tables: [Int32: KernelFDTable] = [:]
    private var queued: [Event] = []
    private var sink: ((Event) -> Void)?
    private var decodeErrors: UInt64 = 0
    private var elfCache: [String: (segments: ElfSegments, buildID: [UInt8])] = [:]
    private var paths = PathCache()

    /// Loads and attaches the program. Throws an FDTraceError whose message
    /// says why it cannot (not root, no BTF, a build without the program).
    public init(options: Options = Options()) throws {
        var opts = fdtk_options(ring_bytes: options.ringBytes, no_stacks: options.stacks ? 0 : 1)
        var err = [CChar](repeating: 0, count: 512)
        guard let h = fdtk_open(&opts, &err, err.count) else {
            let message = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw FDTraceError(message, status: ExitStatus.tracerFailure)
        }
        handle = h
    }

    deinit { fdtk_close(handle) }

    /// Detaches the program (also done when the instance goes away).
    public func close() {
        fdtk_close(handle)
        handle = nil
    }

    /// Readable when the ring buffer is a quarter full (for poll(2) beside
    /// other descriptors); events below that wait for the next `poll`.
    public var fileDescriptor: Int32 { fdtk_fd(handle) }

    public var ringBytes: UInt32 { fdtk_ring_bytes(handle) }

    /// Traces `pid` and, from then on, every process it forks. A process
    /// traced while it runs gets its modules from /proc/PID/maps now; its
    /// descriptors opened before are not known to this source.
    public func trace(pid: Int32) throws {
        let rc = fdtk_trace(handle, pid)
        guard rc == 0 else {
            throw FDTraceError(
                "cannot trace pid \(pid) in the kernel: \(String(cString: strerror(-rc)))",
                status: ExitStatus.tracerFailure)
        }
        let found = Self.procModules(pid: pid, elf: { self.elf($0) })
        modules[pid] = found
        queued += found.map { .record(pid: pid, .module($0)) }
    }

    /// Stops tracing `pid` (its children already forked stay traced).
    public func untrace(pid: Int32) {
        _ = fdtk_untrace(handle, pid)
        modules[pid] = nil
        tables[pid] = nil
    }

    public func isTraced(_ pid: Int32) -> Bool { fdtk_is_traced(handle, pid) != 0 }

    /// The events of `pid` the ring lost, while it is in the traced set (a
    /// process whose exit event was lost stays there); nil when it is not.
    public func recordsLost(pid: Int32) -> UInt64? {
        var n: UInt64 = 0
        return fdtk_records_lost(handle, pid, &n) == 0 ? n : nil
    }

    /// Events the full ring buffer dropped so far (one map read: cheaper
    /// than `counters`, which asks the kernel about every program too).
    public var ringDrops: UInt64 {
        var k = fdt_kcounts()
        fdtk_counts(handle, &k)
        return k.ring_drops
    }

    public var counters: Counters {
        var k = fdt_kcounts()
        fdtk_counts(handle, &k)
        return Counters(
            events: k.events, ringDrops: k.ring_drops, stacksSent: k.stacks_sent,
            callersFound: k.callers_found, callersMissing: k.callers_missing,
            pathRetries: k.path_retries, pathFailures: k.path_failures,
            storageFailures: k.storage_failures, untracedChildren: k.untraced_children,
            socketsUndescribed: k.sockets_undescribed,
            missedRuns: fdtk_missed(handle),
            decodeErrors: decodeErrors)
    }

    /// Waits up to `timeoutMs` (0: not at all; at most FDTK_MAX_WAIT_MS,
    /// 20 ms: the program wakes the reader only when its ring is a quarter
    /// full) and hands every event there to `body`, in order. Call it again
    /// and again (from a poll loop: `fileDescriptor` is readable when the
    /// ring fills up). Returns how many kernel events were read.
    @discardableResult
    public func poll(timeoutMs: Int32, _ body: (Event) -> Void) throws -> Int {
        guard handle != nil else { throw FDTraceError("the kernel event source is closed", status: ExitStatus.tracerFailure) }
        let waiting = queued
        queued.removeAll()
        for e in waiting { body(e) }
        return try withoutActuallyEscaping(body) { body in
            sink = body
            defer { sink = nil }
            let n = fdtk_poll(
                handle, timeoutMs,
                { ctx, data, size in
                    guard let ctx, let data else { return 0 }
                    Unmanaged<KernelSource>.fromOpaque(ctx).takeUnretainedValue()
                        .consume(UnsafeRawBufferPointer(start: data, count: size))
                    return 0
                }, Unmanaged.passUnretained(self).toOpaque())
            if n < 0 && n != -EINTR {
                throw FDTraceError(
                    "reading the kernel event source: \(String(cString: strerror(-n)))",
                    status: ExitStatus.tracerFailure)
            }
            return max(Int(n), 0)
        }
    }

    // MARK: - events

    private func consume(_ bytes: UnsafeRawBufferPointer) {
        guard let sink else { return }
        let pid: Int32, event: KernelEvent
        do { (pid, event) = try KernelEventDecoder.decode(bytes, paths: &paths) } catch {
            decodeErrors += 1
            return
        }
        switch event {
        case .record(.child(let time, let id, let child)):
            sink(.record(pid: pid, .fork(time: time, id: id)))
            sink(.record(pid: pid, .child(time: time, id: id, pid: child)))
            sink(.forked(parent: pid, child: child, forkID: id, time: time))
            let inherited = modules[pid] ?? []
            modules[child] = inherited
            for m in inherited { sink(.record(pid: child, .module(m))) }
        case .record(.kernelFD(var k)):
            // A socket of the table just read: described with it (its
            // link named as /proc/PID/fd would name it).
            if k.target.isEmpty && k.inode != 0 { k.target = "socket:[\(k.inode)]" }
            tables[pid]?.sockets[k.fd] = k
        case .record(let r):
            sink(.record(pid: pid, r))
        case .table(let t):
            tables[pid] = t
        case .exec(let e):
            let table = tables.removeValue(forKey: pid)
            sink(.exec(pid: pid, e, command: Self.commandLine(pid) ?? [e.path], table: table))
            let found = execModules(e)
            modules[pid] = found
            for m in found { sink(.record(pid: pid, .module(m))) }
        case .mapping(let m):
            guard let info = elf(m.path), let bias = info.segments.bias(start: m.start, offset: m.offset) else { return }
            let module = ModuleRecord(base: bias, start: m.start, end: m.end, path: m.path, buildID: info.buildID)
            modules[pid, default: []].removeAll { $0.start < module.end && module.start < $0.end }
            modules[pid, default: []].append(module)
            sink(.record(pid: pid, .module(module)))
        case .exit(let x):
            let table = tables.removeValue(forKey: pid)
            modules[pid] = nil
            sink(.exited(pid: pid, x, table: table))
        }
    }

    /// The executable and its ELF interpreter, where exec loaded them.
    private func execModules(_ e: KernelExec) -> [ModuleRecord] {
        var out: [ModuleRecord] = []
        guard let exe = elf(e.path) else { return out }
        if let first = exe.segments.firstCode, e.startCode != 0 {
            let bias = e.startCode &- first
            let (start, end) = exe.segments.extent(bias: bias)
            out.append(ModuleRecord(base: bias, start: start, end: end, path: e.path, buildID: exe.buildID))
        }
        if e.interpreterBase != 0, let path = exe.segments.interpreter, let interp = elf(path) {
            let lowest = (interp.segments.loads.map(\.vaddr).min() ?? 0) & ~(ElfSegments.pageSize - 1)
            let bias = e.interpreterBase &- lowest
            let (start, end) = interp.segments.extent(bias: bias)
            out.append(ModuleRecord(base: bias, start: start, end: end, path: path, buildID: interp.buildID))
        }
        return out
    }

    private func elf(_ path: String) -> (segments: ElfSegments, buildID: [UInt8])? {
        if let hit = elfCache[path] { return hit }
        guard let segments = ElfSegments.read(path: path) else { return nil }
        let entry = (segments, ElfBuildID.read(path: path) ?? [])
        if elfCache.count < 4096 { elfCache[path] = entry }
        return entry
    }

    /// The executable file mappings of a running process, as module records.
    static func procModules(pid: Int32, elf: (String) -> (segments: ElfSegments, buildID: [UInt8])?) -> [ModuleRecord] {
        // Read to its end: a process with many libraries (CPython) maps more
        // than the first page Foundation's reader stops at.
        guard let text = ProcFiles.read("/proc/\(pid)/maps") else { return [] }
        var out: [ModuleRecord] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard f.count == 6, f[1].contains("x") else { continue }
            let path = f[5].trimmingCharacters(in: .whitespaces)
            guard path.hasPrefix("/"), !path.hasSuffix(" (deleted)") else { continue }
            let range = f[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                let offset = UInt64(f[2], radix: 16), let info = elf(path),
                let bias = info.segments.bias(start: start, offset: offset)
            else { continue }
            out.append(ModuleRecord(base: bias, start: start, end: end, path: path, buildID: info.buildID))
        }
        return out
    }

    /// /proc/PID/cmdline, split at NULs.
    static func commandLine(_ pid: Int32) -> [String]? {
        guard let data = ProcFiles.readData("/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        var parts = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if parts.last == "" { parts.removeLast() }
        return parts
    }
}

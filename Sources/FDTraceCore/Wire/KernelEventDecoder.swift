import CFDTraceWire

/// One event of the kernel event source (CShim/include/fdtrace_kernel.h),
/// decoded. Wire records (open, close, close_range, setfd, stack, child) are
/// decoded by the shim's own RecordDecoder: one event model, two sources.
public enum KernelEvent: Equatable, Sendable {
    /// A record laid out as the shim writes it.
    case record(Record)
    /// The process replaced its image (preceded by the table it starts with).
    case exec(KernelExec)
    /// A file mapped executable.
    case mapping(KernelMapping)
    /// The descriptor table, before an exec or an exit.
    case table(KernelFDTable)
    /// The process ended: its last thread exited.
    case exit(KernelExit)
}

public struct KernelExec: Equatable, Sendable {
    public var time: UInt64
    /// The thread that called execve (its tid before the exec).
    public var tid: Int32
    /// The executable's path from the root (as the kernel resolved it).
    public var path: String
    /// The executable's text as loaded, and where the ELF interpreter is (0: none).
    public var startCode: UInt64
    public var endCode: UInt64
    public var interpreterBase: UInt64
}

public struct KernelMapping: Equatable, Sendable {
    public var time: UInt64
    public var start: UInt64
    public var end: UInt64
    /// File offset of `start`.
    public var offset: UInt64
    public var path: String
}

/// Open descriptors (and which are close-on-exec) as the kernel's table had them.
public struct KernelFDTable: Equatable, Sendable {
    public var time: UInt64
    public var open: [Int32]
    public var cloexec: Set<Int32>
    /// The size of the process's table.
    public var maxFDs: UInt32
    /// The table was larger than the bitmaps sent: descriptors beyond
    /// `64 * FDT_KFDS_MAX_WORDS` are not listed.
    public var truncated: Bool
    /// The sockets among them as the kernel described them (at exit: the
    /// FDT_REC_KERNEL_FD records after the table), by descriptor.
    public var sockets: [Int32: KernelFD] = [:]

    public init(time: UInt64, open: [Int32], cloexec: Set<Int32>, maxFDs: UInt32, truncated: Bool) {
        self.time = time; self.open = open; self.cloexec = cloexec; self.maxFDs = maxFDs; self.truncated = truncated
    }
}

public struct KernelExit: Equatable, Sendable {
    public var time: UInt64
    /// As waitpid() reports it.
    public var waitStatus: Int32
    public var rlimitSoft: UInt64
    public var rlimitHard: UInt64
    /// Peak RSS of the process (all its images), KiB.
    public var maxRSSKB: UInt64
    public var cpuMicroseconds: UInt64
    /// Its events the ring buffer had no room for.
    public var recordsLost: UInt64

    public var exitCode: Int32? { waitStatus & 0x7f == 0 ? (waitStatus >> 8) & 0xff : nil }
    public var signal: Int32? { waitStatus & 0x7f != 0 ? waitStatus & 0x7f : nil }
}

/// Decodes one event of the kernel source's ring buffer. The kernel is
/// trusted, but every length is still checked against the event's size.
public enum KernelEventDecoder {
    public static let envelopeSize = MemoryLayout<fdt_kev>.size

    /// The process an event belongs to, and the event. `paths` hands back
    /// the same String for a path seen before (no allocation per open).
    public static func decode(_ bytes: UnsafeRawBufferPointer, paths: inout PathCache) throws -> (pid: Int32, event: KernelEvent) {
        guard bytes.count >= envelopeSize + RecordDecoder.headerSize else { throw DecodeError("kernel event of \(bytes.count) bytes") }
        let ev = bytes.loadUnaligned(as: fdt_kev.self)
        guard Int(ev.size) <= bytes.count, ev.size % 8 == 0, Int(ev.size) >= envelopeSize + RecordDecoder.headerSize else {
            throw DecodeError("kernel event size \(ev.size) of \(bytes.count) bytes")
        }
        guard ev.tgid > 0, ev.tgid <= UInt32(Int32.max) else { throw DecodeError("kernel event for pid \(ev.tgid)") }
        let record = UnsafeRawBufferPointer(rebasing: bytes[envelopeSize..<Int(ev.size)])
        let header = record.loadUnaligned(as: fdt_rec_header.self)
        guard Int(header.size) <= record.count, header.size % 8 == 0, Int(header.size) >= RecordDecoder.headerSize else {
            throw DecodeError("kernel record size \(header.size) in an event of \(ev.size) bytes")
        }
        let body = UnsafeRawBufferPointer(rebasing: record[0..<Int(header.size)])
        return (Int32(ev.tgid), try decodeRecord(body, header: header, paths: &paths))
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> (pid: Int32, event: KernelEvent) {
        var paths = PathCache()
        return try decode(bytes, paths: &paths)
    }

    private static func decodeRecord(
        _ bytes: UnsafeRawBufferPointer, header: fdt_rec_header,
        paths: inout PathCache
    ) throws -> KernelEvent {
        let time = header.time_ns
        switch UInt32(header.type) {
        case FDT_REC_OPEN.rawValue:
            return .record(.open(try RecordDecoder.open(bytes, paths: &paths)))
        case FDT_REC_CLOSE.rawValue, FDT_REC_CLOSE_RANGE.rawValue, FDT_REC_SETFD.rawValue,
            FDT_REC_STACK.rawValue, FDT_REC_CHILD.rawValue, FDT_REC_KERNEL_FD.rawValue:
            return .record(try RecordDecoder.decode(bytes))
        case FDT_KREC_EXEC.rawValue:
            let r: fdt_krec_exec = try fixed(bytes)
            let path = try string(bytes, at: MemoryLayout<fdt_krec_exec>.size, length: Int(r.path_len))
            return .exec(
                KernelExec(
                    time: time, tid: r.tid, path: path, startCode: r.start_code, endCode: r.end_code,
                    interpreterBase: r.interp_base))
        case FDT_KREC_MAP.rawValue:
            let r: fdt_krec_map = try fixed(bytes)
            guard r.start < r.end else { throw DecodeError("mapping \(r.start)..\(r.end) is empty") }
            let path = try string(bytes, at: MemoryLayout<fdt_krec_map>.size, length: Int(r.path_len))
            return .mapping(KernelMapping(time: time, start: r.start, end: r.end, offset: r.offset, path: path))
        case FDT_KREC_FDS.rawValue:
            let r: fdt_krec_fds = try fixed(bytes)
            let start = MemoryLayout<fdt_krec_fds>.size
            let words = Int(r.words)
            guard words <= Int(FDT_KFDS_MAX_WORDS), start + 16 * words <= bytes.count else {
                throw DecodeError("descriptor table of \(words) words runs past the record")
            }
            var open: [Int32] = [], cloexec = Set<Int32>()
            for w in 0..<words {
                let o = bytes.loadUnaligned(fromByteOffset: start + 8 * w, as: UInt64.self)
                let c = bytes.loadUnaligned(fromByteOffset: start + 8 * (words + w), as: UInt64.self)
                var bits = o
                while bits != 0 {
                    let b = bits.trailingZeroBitCount
                    let fd = Int32(64 * w + b)
                    open.append(fd)
                    if c & (1 << UInt64(b)) != 0 { cloexec.insert(fd) }
                    bits &= bits - 1
                }
            }
            return .table(
                KernelFDTable(
                    time: time, open: open, cloexec: cloexec, maxFDs: r.max_fds,
                    truncated: header.flags & UInt16(FDT_KFDS_TRUNCATED) != 0))
        case FDT_KREC_EXIT.rawValue:
            let r: fdt_krec_exit = try fixed(bytes)
            return .exit(
                KernelExit(
                    time: time, waitStatus: r.wait_status, rlimitSoft: r.rlimit_soft,
                    rlimitHard: r.rlimit_hard, maxRSSKB: r.max_rss_kb, cpuMicroseconds: r.cpu_us,
                    recordsLost: r.records_lost))
        default:
            throw DecodeError("unexpected record type \(header.type) from the kernel")
        }
    }

    private static func fixed<T>(_ bytes: UnsafeRawBufferPointer) throws -> T {
        guard bytes.count >= MemoryLayout<T>.size else { throw DecodeError("\(T.self) truncated") }
        return bytes.loadUnaligned(as: T.self)
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, at offset: Int, length: Int) throws -> String {
        guard length <= Int(FDT_MAX_PATH), offset + length <= bytes.count else { throw DecodeError("path runs past the record") }
        return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
    }
}

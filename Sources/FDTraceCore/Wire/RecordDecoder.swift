import CFDTraceWire

/// A record that breaks the wire format: the stream it came from is ended.
public struct DecodeError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Decodes one published ring record. Every length and reference is
/// checked against the record's own size: the bytes come from another
/// process and may be anything.
public enum RecordDecoder {
    public static let headerSize = MemoryLayout<fdt_rec_header>.size

    /// Checks a record size read at the ring's tail before the record is read.
    public static func validateSize(_ size: UInt32, capacity: UInt64) throws {
        guard size >= UInt32(headerSize), size % 8 == 0, size <= FDT_MAX_RECORD,
            UInt64(size) <= capacity
        else { throw DecodeError("bad record size \(size)") }
    }

    /// Any record, as a value. (The collector's hot path takes opens and
    /// closes through `open` and `close` directly.)
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> Record {
        guard bytes.count >= headerSize else { throw DecodeError("record shorter than its header") }
        let header = bytes.loadUnaligned(as: fdt_rec_header.self)
        guard Int(header.size) == bytes.count else {
            throw DecodeError("record size \(header.size) does not match \(bytes.count) bytes")
        }
        let time = header.time_ns
        switch UInt32(header.type) {
        case FDT_REC_OPEN.rawValue:
            var cache = PathCache()
            return .open(try open(bytes, paths: &cache))
        case FDT_REC_CLOSE.rawValue: return .close(try close(bytes))
        case FDT_REC_BAD_CLOSE.rawValue:
            let e = try close(bytes)
            guard e.fd >= 0 else { throw DecodeError("bad close of negative descriptor \(e.fd)") }
            return .badClose(e)
        case FDT_REC_CLOSE_RANGE.rawValue: return .closeRange(try closeRange(bytes, header))
        case FDT_REC_SETFD.rawValue:
            let r: fdt_rec_setfd = try fixed(bytes)
            return .setFD(
                SetFDEvent(
                    time: time, fd: r.fd, call: Call(rawValue: r.call),
                    cloexec: r.fd_flags & UInt16(FDT_FD_CLOEXEC) != 0))
        case FDT_REC_STACK.rawValue: return .stack(try stack(bytes))
        case FDT_REC_MODULE.rawValue: return .module(try module(bytes))
        case FDT_REC_INHERITED.rawValue: return .inherited(try kernelFD(bytes, time))
        case FDT_REC_KERNEL_FD.rawValue: return .kernelFD(try kernelFD(bytes, time))
        case FDT_REC_PY_EXIT_FD.rawValue: return .pyExitFD(try kernelFD(bytes, time))
        case FDT_REC_EXIT_BEGIN.rawValue: return .exitBegin(try exitBegin(bytes, time))
        case FDT_REC_EXIT_END.rawValue:
            return .exitEnd(time: time, viewFailed: header.flags & UInt16(FDT_EXIT_VIEW_FAILED) != 0)
        case FDT_REC_NOTE.rawValue:
            let r: fdt_rec_note = try fixed(bytes)
            return .note(time: time, text: try string(bytes, at: MemoryLayout<fdt_rec_note>.size, length: Int(r.text_len)))
        case FDT_REC_FORK.rawValue:
            let r: fdt_rec_fork = try fixed(bytes)
            return .fork(time: time, id: r.fork_id)
        case FDT_REC_CHILD.rawValue:
            let r: fdt_rec_fork = try fixed(bytes)
            // -1: the fork failed (no child to expect).
            guard r.child_pid > 0 || r.child_pid == -1 else { throw DecodeError("child pid \(r.child_pid)") }
            return .child(time: time, id: r.fork_id, pid: r.child_pid)
        case FDT_REC_PYCODE.rawValue: return .pyCode(try pyCode(bytes))
        case FDT_REC_PYCODE_MORE.rawValue: return try pyCodeMore(bytes)
        case FDT_REC_PY_EXIT.rawValue:
            let r: fdt_rec_py_exit = try fixed(bytes)
            return .pyExit(time: time, tid: r.tid)
        case FDT_REC_CMDLINE.rawValue: return try commandLine(bytes, header)
        case FDT_REC_SCOPE.rawValue: return .scope(try scope(bytes, time))
        default:
            throw DecodeError("unknown record type \(header.type)")
        }
    }

    /// The record type, from the header (the size was validated already).
    @inline(__always)
    public static func type(of bytes: UnsafeRawBufferPointer) -> UInt16 {
        bytes.load(fromByteOffset: MemoryLayout<fdt_rec_header>.offset(of: \.type)!, as: UInt16.self)
    }

    @inline(__always)
    public static func time(of bytes: UnsafeRawBufferPointer) -> UInt64 {
        bytes.loadUnaligned(fromByteOffset: MemoryLayout<fdt_rec_header>.offset(of: \.time_ns)!, as: UInt64.self)
    }

    // MARK: - descriptor events (open and close are the hot path)

    /// An FDT_REC_OPEN, checked, with its path (Strings reused by `paths`),
    /// as the shim wrote it: the collector's hot path takes its fields
    /// straight into the table (an OpenEvent in between costs a copy).
    @inline(__always)
    public static func openRecord(_ bytes: UnsafeRawBufferPointer, paths: inout PathCache) throws -> (fdt_rec_open, String?) {
        let r: fdt_rec_open = try fixed(bytes)
        guard Call(rawValue: r.call).isValid else { throw DecodeError("unknown call \(r.call)") }
        guard r.fd >= 0 else { throw DecodeError("negative descriptor \(r.fd)") }
        let start = MemoryLayout<fdt_rec_open>.size, length = Int(r.path_len)
        guard length <= Int(FDT_MAX_PATH), start + length <= bytes.count else { throw DecodeError("path runs past the record") }
        let path = length == 0 ? nil : paths.string(UnsafeRawBufferPointer(rebasing: bytes[start..<start + length]))
        return (r, path)
    }

    /// An FDT_REC_OPEN as an event.
    public static func open(_ bytes: UnsafeRawBufferPointer, paths: inout PathCache) throws -> OpenEvent {
        let (r, path) = try openRecord(bytes, paths: &paths)
        return OpenEvent(
            time: time(of: bytes), fd: r.fd, call: Call(rawValue: r.call),
            cloexec: r.fd_flags & UInt16(FDT_FD_CLOEXEC) != 0, stackID: r.stack_id, tid: r.tid,
            sourceFD: r.source_fd, domain: r.domain, sockType: r.sock_type, proto: r.protocol,
            group: r.group, path: path)
    }

    @inline(__always)
    public static func close(_ bytes: UnsafeRawBufferPointer) throws -> CloseEvent {
        let r: fdt_rec_close = try fixed(bytes)
        return CloseEvent(
            time: time(of: bytes), fd: r.fd, call: Call(rawValue: r.call), tid: r.tid,
            cause: r.cause == 0 ? .explicit : CloseCause(wire: r.cause), stackID: r.stack_id)
    }

    static func closeRange(_ bytes: UnsafeRawBufferPointer, _ header: fdt_rec_header) throws -> CloseRangeEvent {
        let r: fdt_rec_close_range = try fixed(bytes)
        guard r.first <= r.last else { throw DecodeError("close range \(r.first)..\(r.last) is empty") }
        return CloseRangeEvent(
            time: header.time_ns, first: r.first, last: r.last, call: Call(rawValue: r.call),
            cloexecOnly: header.flags & UInt16(FDT_RANGE_CLOEXEC_ONLY) != 0)
    }

    /// A descriptor as the kernel listed it (inherited, at exit, when a
    /// Python program began to exit).
    static func kernelFD(_ bytes: UnsafeRawBufferPointer, _ time: UInt64) throws -> KernelFD {
        let r: fdt_rec_kernel_fd = try fixed(bytes)
        var fields = Fields(bytes, at: MemoryLayout<fdt_rec_kernel_fd>.size)
        let target = try fields.string(Int(r.target_len))
        let local = try fields.raw(Int(r.local_len))
        let peer = try fields.raw(Int(r.peer_len))
        guard r.fd >= 0 else { throw DecodeError("negative descriptor \(r.fd)") }
        return KernelFD(
            time: time, fd: r.fd, cloexec: r.fd_flags & UInt16(FDT_FD_CLOEXEC) != 0,
            mode: r.st_mode, domain: r.domain, sockType: r.sock_type, proto: r.protocol,
            tcpState: r.tcp_state, inode: r.inode, target: target, local: local, peer: peer)
    }

    // MARK: - stacks and modules

    static func stack(_ bytes: UnsafeRawBufferPointer) throws -> StackRecord {
        let r: fdt_rec_stack = try fixed(bytes)
        guard r.depth <= FDT_MAX_DEPTH else { throw DecodeError("stack depth \(r.depth) over the limit") }
        let start = MemoryLayout<fdt_rec_stack>.size
        guard start + Int(r.depth) * 8 <= bytes.count else { throw DecodeError("stack record truncated") }
        guard r.stack_id != 0 else { throw DecodeError("stack id 0") }
        let pcs = (0..<Int(r.depth)).map { bytes.loadUnaligned(fromByteOffset: start + $0 * 8, as: UInt64.self) }
        return StackRecord(id: r.stack_id, pcs: pcs)
    }

    static func module(_ bytes: UnsafeRawBufferPointer) throws -> ModuleRecord {
        let r: fdt_rec_module = try fixed(bytes)
        var fields = Fields(bytes, at: MemoryLayout<fdt_rec_module>.size)
        let path = try fields.string(Int(r.path_len))
        let id = try fields.raw(Int(r.build_id_len))
        guard r.start <= r.end else { throw DecodeError("module range is inverted") }
        return ModuleRecord(base: r.base, start: r.start, end: r.end, path: path, buildID: id)
    }

    // MARK: - the process

    static func exitBegin(_ bytes: UnsafeRawBufferPointer, _ time: UInt64) throws -> ExitBegin {
        let r: fdt_rec_exit = try fixed(bytes)
        guard let how = ExitBegin.How(rawValue: r.how) else { throw DecodeError("unknown exit kind \(r.how)") }
        return ExitBegin(
            time: time, status: r.status, how: how, rlimitSoft: r.rlimit_soft,
            rlimitHard: r.rlimit_hard, maxRSSKB: r.max_rss_kb, cpuMicroseconds: r.cpu_us)
    }

    static func commandLine(_ bytes: UnsafeRawBufferPointer, _ header: fdt_rec_header) throws -> Record {
        let r: fdt_rec_cmdline = try fixed(bytes)
        guard r.len <= FDT_MAX_CMDLINE else { throw DecodeError("command line of \(r.len) bytes over the limit") }
        return .commandLine(
            time: header.time_ns, bytes: try raw(bytes, at: MemoryLayout<fdt_rec_cmdline>.size, length: Int(r.len)),
            truncated: header.flags & UInt16(FDT_CMDLINE_TRUNCATED) != 0)
    }

    /// A scope record: a known operation on a scope other than 0; a
    /// question names a request and an absolute path.
    static func scope(_ bytes: UnsafeRawBufferPointer, _ time: UInt64) throws -> ScopeEvent {
        let r: fdt_rec_scope = try fixed(bytes)
        guard r.scope != 0 else { throw DecodeError("scope 0") }
        let op: ScopeEvent.Op
        switch r.op {
        case FDT_SCOPE_BEGIN.rawValue: op = .begin
        case FDT_SCOPE_END.rawValue: op = .end
        case FDT_SCOPE_REPORT.rawValue:
            let path = try string(bytes, at: MemoryLayout<fdt_rec_scope>.size, length: Int(r.path_len))
            guard r.request != 0, path.hasPrefix("/") else { throw DecodeError("scope question without request or absolute path") }
            op = .report(request: r.request, path: path)
        default: throw DecodeError("unknown scope operation \(r.op)")
        }
        return ScopeEvent(time: time, op: op, scope: r.scope, tid: r.tid)
    }

    // MARK: - Python code objects

    static func pyCode(_ bytes: UnsafeRawBufferPointer) throws -> PyCodeRecord {
        let r: fdt_rec_pycode = try fixed(bytes)
        guard let format = PythonLineFormat(rawValue: r.lines_format) else { throw DecodeError("unknown line table format \(r.lines_format)") }
        guard r.code_id != 0 else { throw DecodeError("code id 0") }
        guard r.table_total <= FDT_PY_MAX_TABLE, UInt32(r.table_len) <= r.table_total else { throw DecodeError("line table of \(r.table_total) bytes") }
        var fields = Fields(bytes, at: MemoryLayout<fdt_rec_pycode>.size)
        let filename = try fields.string(Int(r.filename_len))
        let name = try fields.string(Int(r.name_len))
        let table = try fields.raw(Int(r.table_len))
        return PyCodeRecord(
            id: r.code_id, firstLine: r.first_line, format: format, filename: filename,
            name: name, table: table, tableTotal: r.table_total)
    }

    static func pyCodeMore(_ bytes: UnsafeRawBufferPointer) throws -> Record {
        let r: fdt_rec_pycode_more = try fixed(bytes)
        guard r.code_id != 0 else { throw DecodeError("code id 0") }
        let table = try raw(bytes, at: MemoryLayout<fdt_rec_pycode_more>.size, length: Int(r.table_len))
        guard UInt64(r.offset) + UInt64(table.count) <= UInt64(FDT_PY_MAX_TABLE) else { throw DecodeError("line table part past the limit") }
        return .pyCodeMore(id: r.code_id, offset: r.offset, table: table)
    }

    // MARK: - reading fields

    /// The variable fields that follow a record's struct, read in order.
    private struct Fields {
        let bytes: UnsafeRawBufferPointer
        var at: Int
        init(_ bytes: UnsafeRawBufferPointer, at: Int) { self.bytes = bytes; self.at = at }

        mutating func string(_ length: Int) throws -> String {
            defer { at += length }
            return try RecordDecoder.string(bytes, at: at, length: length)
        }

        mutating func raw(_ length: Int) throws -> [UInt8] {
            defer { at += length }
            return try RecordDecoder.raw(bytes, at: at, length: length)
        }
    }

    private static func fixed<T>(_ bytes: UnsafeRawBufferPointer) throws -> T {
        guard bytes.count >= MemoryLayout<T>.size else { throw DecodeError("\(T.self) truncated") }
        return bytes.loadUnaligned(as: T.self)
    }

    private static func raw(_ bytes: UnsafeRawBufferPointer, at offset: Int, length: Int) throws -> [UInt8] {
        guard length >= 0, offset + length <= bytes.count else { throw DecodeError("field runs past the record") }
        return Array(bytes[offset..<offset + length])
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, at offset: Int, length: Int) throws -> String {
        guard length <= Int(FDT_MAX_PATH) else { throw DecodeError("string of \(length) bytes over the limit") }
        return String(decoding: try raw(bytes, at: offset, length: length), as: UTF8.self)
    }
}

/// Turns path bytes into Strings, handing back the same String when the
/// same path comes again: no allocation for the paths a program opens over
/// and over.
public struct PathCache {
    private static let size = 512
    private var hashes = [UInt64](repeating: 0, count: PathCache.size)
    private var strings = [String?](repeating: nil, count: PathCache.size)

    public init() {}

    public mutating func string(_ bytes: UnsafeRawBufferPointer) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        let slot = Int(h % UInt64(Self.size))
        if hashes[slot] == h, let s = strings[slot], Self.same(s, bytes) { return s }
        let s = String(decoding: bytes, as: UTF8.self)
        hashes[slot] = h
        strings[slot] = s
        return s
    }

    /// One memcmp of the string's UTF-8 storage (elementsEqual walked it a
    /// byte at a time through the generic collection API: 5 % of the
    /// collector's time on a stream of opens).
    private static func same(_ string: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var s = string
        return s.withUTF8 { u in
            u.count == bytes.count && (u.isEmpty || memcmp(u.baseAddress!, bytes.baseAddress!, u.count) == 0)
        }
    }
}

import CFDTraceSys
import CFDTraceWire

#if canImport(Glibc)
import Glibc
#endif

/// The collector's end of a process's event ring: consumes published
/// records in reservation order and hands the space back.
///
/// Space goes back a chunk at a time: once every record of a chunk is
/// consumed, its pages are removed from the memfd (MADV_REMOVE: they read
/// as zero again, which is what a writer expects of unused space) and only
/// then does the tail the writers see move past the chunk's start. Before
/// that no writer can reserve any byte of the chunk's next lap (a writer
/// reserves below tail + capacity), so no record written there can be
/// removed. The ring's memory is then only what is in flight: a traced
/// program's resident size grows by the records the collector has not read
/// yet (plus one chunk), not by the whole ring once it has wrapped
/// (2 MiB of RssShmem in every busy process before).
public final class RingReader {
    private let header: UnsafeMutablePointer<fdt_ring_header>
    private let data: UnsafeMutableRawPointer
    public let capacity: UInt64
    /// The memfd's inode: the ring is still mapped by the image that made
    /// it while /proc/PID/maps lists this inode.
    public let inode: UInt64
    /// Where the next record is read; the tail in the header (what writers
    /// see) lags behind it, at the start of the chunk being read.
    private var readPosition: UInt64
    /// Bytes handed back at once (a power of two, at most a quarter of the
    /// ring: a writer always finds room for the largest record while the
    /// reader holds the current chunk).
    private let chunk: UInt64

    /// Maps the ring passed by the shim. Throws if the memfd is not a ring.
    public init(memfd: Int32, capacity: UInt64) throws {
        guard fdt_ring_capacity_valid(capacity) != 0 else { throw DecodeError("ring capacity \(capacity) is invalid") }
        var st = stat()
        guard fstat(memfd, &st) == 0, UInt64(st.st_size) >= UInt64(FDT_RING_HEADER_SIZE) + capacity else {
            throw DecodeError("ring memfd is smaller than announced")
        }
        guard let h = fdt_ring_map(memfd, capacity) else { throw DecodeError("cannot map the ring") }
        guard h.pointee.magic == FDT_WIRE_MAGIC, h.pointee.version == FDT_WIRE_VERSION,
            h.pointee.capacity == capacity
        else {
            fdt_ring_unmap(h, capacity)
            throw DecodeError("ring header does not match the wire version")
        }
        header = h
        data = UnsafeMutableRawPointer(fdt_ring_data(h))
        self.capacity = capacity
        self.inode = UInt64(st.st_ino)
        self.readPosition = fdt_ring_load_tail(h)
        self.chunk = min(64 * 1024, capacity / 4)
        fdt_ring_set_reader_alive(h, 1)
        fdt_ring_set_collector(h, getpid())
    }

    deinit { fdt_ring_unmap(header, capacity) }

    /// Marks the ring in `memfd` detached without reading it: a refused
    /// process does not wait for an answer, it finds this when it looks
    /// (its ring full, a request). Only the header page is mapped, and
    /// only a header that says it is one is written to.
    public static func refuse(memfd: Int32) {
        let size = Int(FDT_RING_HEADER_SIZE)
        var st = stat()
        guard fstat(memfd, &st) == 0, st.st_size >= size,
            let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0), base != MAP_FAILED
        else { return }
        let h = base.assumingMemoryBound(to: fdt_ring_header.self)
        if h.pointee.magic == FDT_WIRE_MAGIC && h.pointee.header_size == FDT_RING_HEADER_SIZE { fdt_ring_set_detached(h) }
        munmap(base, size)
    }

    /// The writer's request for a snapshot: EMFILE or ENFILE, or 0.
    public var snapshotRequest: UInt32 { fdt_ring_load_request(header, FDT_RING_REQ_SNAPSHOT) }
    /// The bare-mode owner asks for the report at its exit.
    public var reportRequested: Bool { fdt_ring_load_request(header, FDT_RING_REQ_REPORT) != 0 }
    /// Tells the waiting writer that its request was handled.
    public func complete(_ which: fdt_ring_request) { fdtc_ring_complete(header, Int32(which.rawValue)) }
    /// Tells the writer waiting for scope question `request` that it is
    /// answered (`status`: 0, or an errno).
    public func answerScope(_ request: UInt32, status: Int32) { fdtc_ring_answer_scope(header, request, status) }
    /// This ring is not read any more: its writers stop recording.
    public func detach() { fdt_ring_set_detached(header) }

    /// Appends an encoded record as a single writer would (benchmark, tests).
    /// Returns false when the ring is full.
    public func append(_ record: [UInt8]) -> Bool {
        record.withUnsafeBytes { fdt_ring_append(header, $0.baseAddress, UInt32($0.count)) == 0 }
    }

    /// Bytes reserved by writers and not yet consumed.
    public var pendingBytes: UInt64 { fdt_ring_load_head(header) &- readPosition }
    public var fullWaits: UInt64 { fdt_ring_load_full_waits(header) }
    public var fullWaitNanoseconds: UInt64 { fdt_ring_load_full_wait_ns(header) }
    public var recordsLost: UInt64 { header.pointee.records_lost }

    /// Consumes up to `limit` published records, up to the head as it was
    /// when called (busy writers must not keep the caller here forever).
    /// Stops at the first unpublished one. Throws on a malformed record (the
    /// caller drops the connection); records consumed before it have been
    /// handed to `body`.
    @discardableResult
    public func drain(limit: Int = .max, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var tail = readPosition
        var count = 0
        defer {
            readPosition = tail
            handBack(upTo: tail)
        }
        let head = fdt_ring_load_head(header)
        while count < limit {
            if head == tail { break }
            guard head &- tail <= capacity else { throw DecodeError("ring head is out of bounds") }
            let rec = data + Int(tail & (capacity - 1))
            let size = fdt_rec_load_size(rec)
            if size == 0 { break }
            try RecordDecoder.validateSize(size, capacity: capacity)
            guard UInt64(size) <= head &- tail else { throw DecodeError("record runs past the reserved space") }
            try body(UnsafeRawBufferPointer(start: rec, count: Int(size)))
            tail &+= UInt64(size)
            count += 1
            if tail & (chunk - 1) < UInt64(size) { handBack(upTo: tail) }  // crossed a chunk boundary
        }
        return count
    }

    /// Removes the pages of every chunk consumed wholly before `position`
    /// and publishes the tail at the last such chunk's end.
    private func handBack(upTo position: UInt64) {
        var published = fdt_ring_load_tail(header)
        let end = position & ~(chunk - 1)
        while published < end {
            let start = data + Int(published & (capacity - 1))
            // Where pages cannot be removed the chunk is zeroed instead.
            if madvise(start, Int(chunk), MADV_REMOVE) != 0 { memset(start, 0, Int(chunk)) }
            published &+= chunk
            fdt_ring_store_tail(header, published)
        }
    }
}

import CFDTraceSys
import CFDTraceWire
import Foundation

/// Workload (7) of the benchmark: the collector alone, fed a synthetic
/// stream of open/close pairs from `sites` distinct stacks, as fast as it
/// takes them. Only consumption (ring read, decode, table update) is timed,
/// through the code the shim's source runs (ShimSource.apply into a
/// RecordSink).
public enum CollectorBenchmark {
    public struct Result: Sendable {
        public var events: Int
        public var seconds: Double
        public var maxRssKb: UInt64
        public var eventsPerSecond: Double { Double(events) / seconds }
    }

    public static func run(events: Int, sites: Int, depth: Int = 24) throws -> Result {
        let capacity: UInt64 = 1 << 24
        let fd = fdtc_ring_create(capacity)
        guard fd >= 0 else { throw FDTraceError("cannot create a ring", status: ExitStatus.tracerFailure) }
        defer { close(fd) }
        let ring = try RingReader(memfd: fd, capacity: capacity)
        var sink = RecordSink(
            process: TracedProcess(
                key: 0, pid: 1, ppid: 0, forkParent: 0, command: ["bench"],
                executable: "bench", startTime: 0, rlimitSoft: 1024, rlimitHard: 1024))
        var paths = PathCache()
        var seconds = 0.0
        func drainTimed() throws {
            let t0 = monotonicNow()
            try ring.drain { bytes in try ShimSource.apply(bytes, to: &sink, paths: &paths) }
            seconds += Double(monotonicNow() - t0) / 1e9
        }
        // The module and the interned stacks travel first, once.
        var setup = [encodeModule()]
        for s in 0..<sites {
            setup.append(encodeStack(id: UInt32(s + 1), pcs: (0..<depth).map { UInt64(0x1000 + s * 64 + $0 * 8) }))
        }
        for r in setup where !ring.append(r) { try drainTimed(); _ = ring.append(r) }
        // Open/close pairs cycling through the sites and 64 descriptor numbers.
        let batch: [[UInt8]] = (0..<(sites * 2)).map { i in
            let fd = Int32(3 + (i / 2) % 64)
            return i % 2 == 0 ? encodeOpen(fd: fd, stack: UInt32((i / 2) % sites + 1)) : encodeClose(fd: fd)
        }
        var produced = setup.count
        var i = 0
        while produced < events {
            if ring.append(batch[i]) {
                produced += 1
                i = (i + 1) % batch.count
            } else {
                try drainTimed()
            }
        }
        try drainTimed()
        var ru = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
        return Result(events: sink.records, seconds: seconds, maxRssKb: UInt64(ru.ru_maxrss))
    }

    static func encodeModule() -> [UInt8] {
        var m = fdt_rec_module()
        m.base = 0; m.start = 0; m.end = 1 << 40
        let path = Array("/bench/program".utf8)
        m.path_len = UInt16(path.count)
        return RecordEncoder.encode(m, type: FDT_REC_MODULE, tail: path, time: 1)
    }

    static func encodeStack(id: UInt32, pcs: [UInt64]) -> [UInt8] {
        var s = fdt_rec_stack()
        s.stack_id = id; s.depth = UInt32(pcs.count)
        return RecordEncoder.encode(s, type: FDT_REC_STACK, tail: RecordEncoder.tail(pcs), time: 1)
    }

    static func encodeOpen(fd: Int32, stack: UInt32) -> [UInt8] {
        var o = fdt_rec_open()
        o.fd = fd; o.call = UInt16(FDT_CALL_OPEN.rawValue); o.stack_id = stack; o.tid = 1
        o.source_fd = -1; o.domain = -1; o.sock_type = -1; o.protocol = -1
        let path = Array("/dev/null".utf8)
        o.path_len = UInt16(path.count)
        return RecordEncoder.encode(o, type: FDT_REC_OPEN, tail: path, time: 1)
    }

    static func encodeClose(fd: Int32) -> [UInt8] {
        var c = fdt_rec_close()
        c.fd = fd; c.call = UInt16(FDT_CALL_CLOSE.rawValue); c.tid = 1
        return RecordEncoder.encode(c, type: FDT_REC_CLOSE, time: 1)
    }
}

import CFDTraceSys
import CFDTraceWire
import Foundation
import Testing

@testable import FDTraceCore

/// A generator-driven fuzzer for the record decoder and the ring reader:
/// valid records from the corpus, mutated (bytes flipped, sizes and types
/// changed, cut short, extended) with a seeded generator. Nothing may crash;
/// every input is either decoded or rejected with a DecodeError.
///
/// The suite runs 200 000 inputs; `make fuzz` runs 1 000 000 (or
/// FDTRACE_FUZZ_ITERATIONS) with FDTRACE_FUZZ_SEED to reproduce a run.
@Suite struct FuzzTests {
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e3779b97f4a7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
            z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
            return z ^ (z >> 31)
        }
    }

    static var corpusURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FuzzCorpus/seeds.hex")
    }

    /// The corpus: one hex-encoded record per line.
    static func corpus() throws -> [[UInt8]] {
        try String(contentsOf: corpusURL, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            stride(from: 0, to: line.count, by: 2).map { i in
                let a = line.index(line.startIndex, offsetBy: i)
                return UInt8(line[a...line.index(after: a)], radix: 16)!
            }
        }
    }

    /// The seed records, encoded from the wire structs (kept in the corpus
    /// file so that a run can be reproduced without this code).
    static func seeds() -> [[UInt8]] {
        var o = fdt_rec_open()
        o.fd = 5; o.call = UInt16(FDT_CALL_OPEN.rawValue); o.stack_id = 1; o.source_fd = -1
        o.domain = -1; o.sock_type = -1; o.protocol = -1; o.path_len = 10
        var s = fdt_rec_stack()
        s.stack_id = 1; s.depth = 2
        var m = fdt_rec_module()
        m.start = 0x1000; m.end = 0x2000; m.path_len = 4; m.build_id_len = 4
        var k = fdt_rec_kernel_fd()
        k.fd = 3; k.target_len = 11; k.local_len = 8; k.peer_len = 8
        var c = fdt_rec_close_range()
        c.first = 3; c.last = 10
        var e = fdt_rec_exit()
        e.how = 1
        var n = fdt_rec_note()
        n.text_len = 5
        let pcs: [UInt8] = [0x10, 0x11, 0, 0, 0, 0, 0, 0, 0x20, 0x12, 0, 0, 0, 0, 0, 0]
        var pc = fdt_rec_pycode()
        pc.code_id = 7; pc.first_line = 3; pc.lines_format = UInt16(FDT_PY_LINES_LOCATIONS.rawValue)
        pc.filename_len = 6; pc.name_len = 4; pc.table_len = 4; pc.table_total = 6
        var more = fdt_rec_pycode_more()
        more.code_id = 7; more.offset = 4; more.table_len = 2
        var cmd = fdt_rec_cmdline()
        cmd.len = 9
        var cl = fdt_rec_close()
        cl.fd = 4; cl.cause = UInt16(FDT_CLOSE_BY_GC)
        // A stack mixing a native frame and a Python frame (code 7, offset 8).
        let mixed: [UInt8] = [0x10, 0x11, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0x80]
        return [
            encode(o, type: FDT_REC_OPEN, tail: Array("/etc/hosts".utf8)),
            encode(fdt_rec_close(), type: FDT_REC_CLOSE),
            encode(cl, type: FDT_REC_BAD_CLOSE),
            encode(c, type: FDT_REC_CLOSE_RANGE),
            encode(fdt_rec_setfd(), type: FDT_REC_SETFD),
            encode(s, type: FDT_REC_STACK, tail: pcs),
            encode(m, type: FDT_REC_MODULE, tail: Array("/bin".utf8) + [1, 2, 3, 4]),
            encode(k, type: FDT_REC_KERNEL_FD, tail: Array("socket:[12]".utf8) + [2, 0, 0, 80, 127, 0, 0, 1] + [2, 0, 1, 1, 127, 0, 0, 1]),
            encode(k, type: FDT_REC_INHERITED, tail: Array("socket:[12]".utf8) + Array(repeating: 0, count: 16)),
            encode(e, type: FDT_REC_EXIT_BEGIN),
            encode(fdt_rec_header(), type: FDT_REC_EXIT_END),
            encode(n, type: FDT_REC_NOTE, tail: Array("hello".utf8)),
            encode(fdt_rec_fork(), type: FDT_REC_FORK),
            encode(pc, type: FDT_REC_PYCODE, tail: Array("app.py".utf8) + Array("main".utf8) + [0xd8, 0x02, 0x81, 0x88]),
            encode(more, type: FDT_REC_PYCODE_MORE, tail: [0x92, 0x00]),
            encode(cl, type: FDT_REC_CLOSE),
            encode(s, type: FDT_REC_STACK, tail: mixed),
            encode(fdt_rec_py_exit(), type: FDT_REC_PY_EXIT),
            encode(k, type: FDT_REC_PY_EXIT_FD, tail: Array("socket:[12]".utf8) + Array(repeating: 0, count: 16)),
            encode(cmd, type: FDT_REC_CMDLINE, tail: Array("nginx: w\0".utf8)),
        ]
    }

    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = seed
        switch rng.next() % 6 {
        case 0:  // flip bytes
            for _ in 0..<(1 + Int(rng.next() % 4)) where !b.isEmpty { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
        case 1:  // cut short
            b = Array(b.prefix(Int(rng.next() % UInt64(b.count + 1))))
        case 2:  // extend with noise
            b += (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 3:  // another type
            if b.count >= 6 { b[4] = UInt8(truncatingIfNeeded: rng.next() % 20); b[5] = 0 }
        case 4:  // a length field: any 16-bit word after the fixed header
            if b.count > 18 { let i = 16 + Int(rng.next() % UInt64(b.count - 17)); b[i] = 0xff; b[i + 1] = UInt8(truncatingIfNeeded: rng.next()) }
        default:  // pure noise
            b = (0..<Int(rng.next() % 256)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        return b
    }

    @Test func corpusMatchesTheWireStructs() throws {
        if ProcessInfo.processInfo.environment["FDTRACE_WRITE_CORPUS"] != nil {
            let text =
                "# fdtrace fuzz corpus: one ring record per line, hex (see FuzzTests.swift)\n"
                + Self.seeds().map { $0.map { String(format: "%02x", $0) }.joined() }.joined(separator: "\n") + "\n"
            try text.write(to: Self.corpusURL, atomically: true, encoding: .utf8)
        }
        #expect(try Self.corpus() == Self.seeds())
        for s in Self.seeds() { _ = try decode(s) }  // every seed is valid
    }

    @Test func decoderSurvivesMutatedRecords() throws {
        let env = ProcessInfo.processInfo.environment
        let iterations = env["FDTRACE_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 200_000
        var rng = SplitMix64(state: env["FDTRACE_FUZZ_SEED"].flatMap(UInt64.init) ?? 20261123)
        let seeds = try Self.corpus()
        var decoded = 0, rejected = 0
        var paths = PathCache()
        for _ in 0..<iterations {
            let input = Self.mutate(seeds[Int(rng.next() % UInt64(seeds.count))], &rng)
            input.withUnsafeBytes { bytes in
                do {
                    _ = try RecordDecoder.decode(bytes)
                    decoded += 1
                } catch is DecodeError {
                    rejected += 1
                } catch {
                    Issue.record("unexpected error \(error)")
                }
                if bytes.count >= MemoryLayout<fdt_rec_open>.size { _ = try? RecordDecoder.open(bytes, paths: &paths) }
            }
        }
        #expect(decoded + rejected == iterations)
        #expect(decoded > 0 && rejected > 0)
    }

    @Test func ringReaderSurvivesHostileContents() throws {
        let capacity: UInt64 = 1 << 16
        var rng = SplitMix64(state: 7)
        for round in 0..<200 {
            let fd = fdtc_ring_create(capacity)
            defer { close(fd) }
            let ring = try RingReader(memfd: fd, capacity: capacity)
            // Valid records first, then one mutated record, then more.
            let seeds = Self.seeds()
            for i in 0..<(round % 5) { _ = ring.append(seeds[i % seeds.count]) }
            var bad = Self.mutate(seeds[Int(rng.next() % UInt64(seeds.count))], &rng)
            while bad.count % 8 != 0 || bad.count < 16 { bad.append(0) }
            _ = ring.append(bad)
            var n = 0
            do {
                try ring.drain { bytes in
                    _ = try RecordDecoder.decode(bytes); n += 1
                }
            } catch is DecodeError {
                // rejected: the collector ends such a connection
            }
            #expect(n >= round % 5)
        }
    }
}

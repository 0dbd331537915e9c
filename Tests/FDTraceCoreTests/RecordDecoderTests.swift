import CFDTraceWire
import Testing

@testable import FDTraceCore

/// RecordEncoder.encode, at time 7 unless told.
func encode<T>(_ value: T, type: fdt_rec_type, tail: [UInt8] = [], flags: UInt16 = 0, time: UInt64 = 7) -> [UInt8] {
    RecordEncoder.encode(value, type: type, tail: tail, flags: flags, time: time)
}

func decode(_ bytes: [UInt8]) throws -> Record {
    try bytes.withUnsafeBytes { try RecordDecoder.decode($0) }
}

@Suite struct RecordDecoderTests {
    @Test func openWithPath() throws {
        var r = fdt_rec_open()
        r.fd = 7; r.call = UInt16(FDT_CALL_OPENAT.rawValue); r.fd_flags = UInt16(FDT_FD_CLOEXEC)
        r.stack_id = 3; r.tid = 42; r.source_fd = -1; r.domain = -1; r.sock_type = -1; r.protocol = -1
        r.group = 9; r.path_len = 5
        let rec = try decode(encode(r, type: FDT_REC_OPEN, tail: Array("/etc/".utf8)))
        #expect(
            rec
                == .open(
                    OpenEvent(
                        time: 7, fd: 7, call: Call.named("openat")!, cloexec: true, stackID: 3, tid: 42,
                        group: 9, path: "/etc/")))
    }

    @Test func closeRangeAndFlags() throws {
        var r = fdt_rec_close_range()
        r.first = 3; r.last = UInt32.max; r.call = UInt16(FDT_CALL_CLOSEFROM.rawValue)
        let rec = try decode(encode(r, type: FDT_REC_CLOSE_RANGE, flags: UInt16(FDT_RANGE_CLOEXEC_ONLY)))
        guard case .closeRange(let e) = rec else { Issue.record("not a close range"); return }
        #expect(e.first == 3 && e.last == UInt32.max && e.cloexecOnly && e.call.name == "closefrom")
    }

    @Test func stackRecord() throws {
        var r = fdt_rec_stack()
        r.stack_id = 5; r.depth = 3
        let pcs: [UInt64] = [0x1000, 0x2000, 0x3000]
        #expect(try decode(encode(r, type: FDT_REC_STACK, tail: RecordEncoder.tail(pcs))) == .stack(StackRecord(id: 5, pcs: pcs)))
    }

    @Test func kernelFDWithAddresses() throws {
        var r = fdt_rec_kernel_fd()
        r.fd = 4; r.st_mode = 0o140777; r.domain = 2; r.sock_type = 1; r.protocol = 6; r.tcp_state = 8
        r.inode = 99; r.target_len = 11; r.local_len = 16; r.peer_len = 0
        let local: [UInt8] = [2, 0, 0x13, 0x88, 127, 0, 0, 1] + Array(repeating: 0, count: 8)
        let rec = try decode(encode(r, type: FDT_REC_KERNEL_FD, tail: Array("socket:[99]".utf8) + local))
        guard case .kernelFD(let k) = rec else { Issue.record("not a kernel fd"); return }
        #expect(k.target == "socket:[99]" && k.local == local && k.peer.isEmpty)
        #expect(FDClassifier.describe(k).summary == "TCP 127.0.0.1:5000")
        #expect(FDClassifier.describe(k).state == "CLOSE_WAIT")
    }

    @Test("An O_PATH descriptor of a socket's file is described by its path, not as a socket")
    func socketFileByPath() throws {
        var r = fdt_rec_kernel_fd()
        let path = "/run/app.sock"
        r.fd = 5; r.st_mode = 0o140755; r.domain = -1; r.sock_type = -1; r.protocol = -1; r.tcp_state = -1
        r.inode = 7; r.target_len = UInt16(path.utf8.count)
        guard case .kernelFD(let k) = try decode(encode(r, type: FDT_REC_KERNEL_FD, tail: Array(path.utf8))) else {
            Issue.record("not a kernel fd")
            return
        }
        let d = FDClassifier.describe(k)
        #expect(d.kind == .socket && d.path == path && d.proto == nil && d.summary == "socket file /run/app.sock")
    }

    @Test func rejectsMalformedRecords() throws {
        var r = fdt_rec_open()
        r.fd = 3; r.path_len = 200  // longer than the record
        #expect(throws: DecodeError.self) { try decode(encode(r, type: FDT_REC_OPEN, tail: [1, 2, 3])) }
        r.path_len = 0; r.call = 999
        #expect(throws: DecodeError.self) { try decode(encode(r, type: FDT_REC_OPEN)) }
        r.call = 1; r.fd = -5
        #expect(throws: DecodeError.self) { try decode(encode(r, type: FDT_REC_OPEN)) }
        var s = fdt_rec_stack()
        s.stack_id = 1; s.depth = 1000
        #expect(throws: DecodeError.self) { try decode(encode(s, type: FDT_REC_STACK)) }
        var bytes = encode(fdt_rec_close(), type: FDT_REC_CLOSE)
        bytes[4] = 200  // unknown type
        #expect(throws: DecodeError.self) { try decode(bytes) }
        #expect(throws: DecodeError.self) { try decode(Array(bytes.prefix(8))) }
        var c = fdt_rec_close_range()
        c.first = 10; c.last = 2
        #expect(throws: DecodeError.self) { try decode(encode(c, type: FDT_REC_CLOSE_RANGE)) }
    }

    @Test func validatesSizesBeforeReading() {
        #expect(throws: DecodeError.self) { try RecordDecoder.validateSize(0, capacity: 1 << 16) }
        #expect(throws: DecodeError.self) { try RecordDecoder.validateSize(20, capacity: 1 << 16) }
        #expect(throws: DecodeError.self) { try RecordDecoder.validateSize(1 << 20, capacity: 1 << 16) }
        #expect(throws: Never.self) { try RecordDecoder.validateSize(64, capacity: 1 << 16) }
    }

    @Test func callNamesComeFromTheWireHeader() {
        #expect(Call.named("accept4")?.rawValue == UInt16(FDT_CALL_ACCEPT4.rawValue))
        #expect(Call(rawValue: UInt16(FDT_CALL_MKOSTEMPS64.rawValue)).name == "mkostemps64")
        #expect(!Call(rawValue: UInt16(FDT_CALL_COUNT.rawValue)).isValid)
    }
}

import CFDTraceWire
import Testing

@testable import FDTraceCore

/// The close records' stack and the BAD_CLOSE record, decoded; the table's
/// memory of closed numbers and what it calls a bad close.
@Suite struct BadCloseTableTests {
    func closeRecord(fd: Int32, call: fdt_call, stack: UInt32, tid: Int32 = 5) -> fdt_rec_close {
        var r = fdt_rec_close()
        r.fd = fd; r.call = UInt16(call.rawValue); r.tid = tid; r.stack_id = stack
        return r
    }

    @Test func decodesTheCloseStackAndTheBadClose() throws {
        let close = try decode(encode(closeRecord(fd: 4, call: FDT_CALL_FCLOSE, stack: 9), type: FDT_REC_CLOSE, time: 11))
        #expect(close == .close(CloseEvent(time: 11, fd: 4, call: .fclose, tid: 5, stackID: 9)))
        let bad = try decode(encode(closeRecord(fd: 4, call: FDT_CALL_CLOSE, stack: 3), type: FDT_REC_BAD_CLOSE, time: 11))
        #expect(bad == .badClose(CloseEvent(time: 11, fd: 4, call: .close, tid: 5, stackID: 3)))
        #expect(throws: DecodeError.self) { try decode(encode(closeRecord(fd: -1, call: FDT_CALL_CLOSE, stack: 3), type: FDT_REC_BAD_CLOSE)) }
    }

    func open(_ t: inout ProcessTable, fd: Int32, call: Call = .open, stack: UInt32, at time: UInt64) {
        t.apply(.open(OpenEvent(time: time, fd: fd, call: call, stackID: stack, tid: 5)))
    }

    func close(_ t: inout ProcessTable, fd: Int32, call: Call = .close, stack: UInt32, at time: UInt64, tid: Int32 = 5) {
        t.apply(.close(CloseEvent(time: time, fd: fd, call: call, tid: tid, stackID: stack)))
    }

    func site(_ call: Call, _ id: UInt32) -> CallSite { CallSite(call: call, stack: StackRef(process: 1, id: id)) }

    @Test func doubleCloseNamesTheCloseBeforeAndTheOpening() {
        var t = ProcessTable(processKey: 1)
        open(&t, fd: 3, stack: 1, at: 10)
        close(&t, fd: 3, stack: 2, at: 20)
        close(&t, fd: 3, stack: 3, at: 30)
        t.apply(.badClose(CloseEvent(time: 30, fd: 3, call: .close, tid: 5, stackID: 3)))
        #expect(t.badCloses.count == 1 && t.closesOfUnknown == 1)
        let b = t.badCloses[0]
        #expect(b.kind == .notOpen && b.fd == 3 && b.site == site(.close, 3))
        #expect(b.closedBefore == site(.close, 2) && b.opened == site(.open, 1) && b.reusedBy == nil)
    }

    @Test func neverOpenedAndAMissedCloseHaveNoCloseBefore() {
        var t = ProcessTable(processKey: 1)
        close(&t, fd: 1000, stack: 4, at: 5)
        t.apply(.badClose(CloseEvent(time: 5, fd: 1000, call: .close, tid: 5, stackID: 4)))
        #expect(t.badCloses.map(\.closedBefore) == [nil] && t.badCloses.map(\.opened) == [nil])
        // The table believed 7 open (it was closed where the shim cannot
        // see): this very close removed it; the opening is known, no close before.
        open(&t, fd: 7, stack: 1, at: 10)
        close(&t, fd: 7, stack: 2, at: 20)
        t.apply(.badClose(CloseEvent(time: 20, fd: 7, call: .close, tid: 5, stackID: 2)))
        #expect(t.badCloses.count == 2 && t.badCloses[1].closedBefore == nil && t.badCloses[1].opened == site(.open, 1))
    }

    @Test func staleStreamClosingAReusedNumber() {
        var t = ProcessTable(processKey: 1)
        open(&t, fd: 3, call: .fopen, stack: 1, at: 10)
        close(&t, fd: 3, stack: 2, at: 20)  // close(fileno(f))
        open(&t, fd: 3, stack: 3, at: 30)  // another site
        close(&t, fd: 3, call: .fclose, stack: 4, at: 40, tid: 6)
        #expect(t.badCloses.count == 1)
        let b = t.badCloses[0]
        #expect(b.kind == .staleOwner && b.fd == 3 && b.site == site(.fclose, 4) && b.tid == 6)
        #expect(b.opened == site(.fopen, 1) && b.closedBefore == site(.close, 2))
        #expect(b.reusedBy?.stack == StackRef(process: 1, id: 3) && b.reusedBy?.call == .open)
        // The owner of the reused number closes it next: not open any more.
        close(&t, fd: 3, stack: 5, at: 50)
        t.apply(.badClose(CloseEvent(time: 50, fd: 3, call: .close, tid: 5, stackID: 5)))
        #expect(t.badCloses.count == 2 && t.badCloses[1].closedBefore == site(.fclose, 4) && t.badCloses[1].opened == site(.open, 3))
    }

    @Test func notStaleWhenTheStreamClosedItsOwnOrTheSameSiteReopened() {
        var t = ProcessTable(processKey: 1)
        open(&t, fd: 3, call: .fopen, stack: 1, at: 10)
        close(&t, fd: 3, call: .fclose, stack: 2, at: 20)
        open(&t, fd: 3, stack: 3, at: 30)
        close(&t, fd: 3, call: .fclose, stack: 2, at: 40)  // an fdopen'd stream
        // A stream's number closed by a range, reopened by the same site.
        open(&t, fd: 4, call: .fopen, stack: 1, at: 50)
        t.apply(.closeRange(CloseRangeEvent(time: 60, first: 4, last: 100, call: .closeRange, cloexecOnly: false)))
        open(&t, fd: 4, call: .fopen, stack: 1, at: 70)
        close(&t, fd: 4, call: .fclose, stack: 2, at: 80)
        #expect(t.badCloses.isEmpty && t.closesOfUnknown == 0)
    }

    @Test func aForkChildRemembersItsParentsCloses() {
        var t = ProcessTable(processKey: 1)
        open(&t, fd: 3, stack: 1, at: 10)
        close(&t, fd: 3, stack: 2, at: 20)
        var child = t.copy(to: 2)
        child.apply(.close(CloseEvent(time: 30, fd: 3, call: .close, tid: 9, stackID: 7)))
        child.apply(.badClose(CloseEvent(time: 30, fd: 3, call: .close, tid: 9, stackID: 7)))
        #expect(child.badCloses.map(\.closedBefore) == [site(.close, 2)])
        #expect(child.badCloses.map(\.site) == [CallSite(call: .close, stack: StackRef(process: 2, id: 7))])
    }
}

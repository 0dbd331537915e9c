import CFDTraceWire
import Testing

@testable import FDTraceCore

/// Scopes (fdtrace_api.h): what a question sees, in stream order.
@Suite struct ScopeTrackerTests {
    func open(_ fd: Int32, time: UInt64) -> Record {
        .open(OpenEvent(time: time, fd: fd, call: .open, stackID: 1, tid: 1))
    }
    func close(_ fd: Int32) -> Record { .close(CloseEvent(time: 0, fd: fd, call: .close, tid: 1)) }
    func scope(_ op: ScopeEvent.Op, _ id: UInt32) -> Record { .scope(ScopeEvent(time: 0, op: op, scope: id, tid: 1)) }
    func ask(_ id: UInt32, _ request: UInt32) -> Record { scope(.report(request: request, path: "/tmp/a"), id) }

    @Test func questionSeesWhatWasOpenedSinceAndIsStillOpen() {
        var t = ProcessTable(processKey: 0)
        t.apply(open(3, time: 1))  // before the scope: not its own
        t.apply(scope(.begin, 7))
        t.apply(open(4, time: 2))  // left open
        t.apply(open(5, time: 3))
        t.apply(close(5))  // closed
        t.apply(close(3))
        t.apply(open(3, time: 4))  // the number again, within the scope
        t.apply(ask(7, 1))
        t.apply(close(4))  // after the question: it saw 4 open
        let q = t.scopes.questions
        #expect(q.count == 1 && q[0].request == 1 && q[0].path == "/tmp/a")
        #expect(q[0].open?.map(\.fd) == [3, 4])
        #expect(q[0].open?.map(\.openedAt) == [4, 2])
    }

    @Test func nestedScopesAndUnknownOnes() {
        var t = ProcessTable(processKey: 0)
        t.apply(scope(.begin, 1))
        t.apply(open(3, time: 1))
        t.apply(scope(.begin, 2))
        t.apply(open(4, time: 2))
        t.apply(ask(2, 1))
        t.apply(scope(.end, 2))
        t.apply(ask(1, 2))
        t.apply(ask(2, 3))  // ended: not known
        t.apply(ask(9, 4))  // never begun
        let q = t.scopes.takeQuestions()
        #expect(q.map { $0.open?.map(\.fd) } == [[4], [3, 4], nil, nil])
        #expect(t.scopes.questions.isEmpty)
        t.apply(scope(.end, 1))
        #expect(!t.scopes.isActive)
    }

    @Test func decodesScopeRecords() throws {
        var r = fdt_rec_scope()
        r.op = FDT_SCOPE_REPORT.rawValue; r.scope = 3; r.request = 9; r.tid = 42; r.path_len = 6
        let rec = try decode(encode(r, type: FDT_REC_SCOPE, tail: Array("/tmp/x".utf8)))
        #expect(rec == .scope(ScopeEvent(time: 7, op: .report(request: 9, path: "/tmp/x"), scope: 3, tid: 42)))
        r.op = FDT_SCOPE_BEGIN.rawValue; r.path_len = 0
        #expect(try decode(encode(r, type: FDT_REC_SCOPE)) == .scope(ScopeEvent(time: 7, op: .begin, scope: 3, tid: 42)))
        // Scope 0, an unknown operation, a question without an absolute path: the stream is ended.
        r.scope = 0
        #expect(throws: DecodeError.self) { try decode(encode(r, type: FDT_REC_SCOPE)) }
        r.scope = 3; r.op = 9
        #expect(throws: DecodeError.self) { try decode(encode(r, type: FDT_REC_SCOPE)) }
        r.op = FDT_SCOPE_REPORT.rawValue; r.path_len = 3
        #expect(throws: DecodeError.self) { try decode(encode(r, type: FDT_REC_SCOPE, tail: Array("tmp".utf8))) }
    }
}

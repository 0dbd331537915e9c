import Testing

@testable import FDTraceCore

@Suite struct ProcessTableTests {
    func open(_ fd: Int32, _ call: String = "open", stack: UInt32 = 1, time: UInt64 = 1) -> Record {
        .open(OpenEvent(time: time, fd: fd, call: Call.named(call)!, stackID: stack))
    }
    func close(_ fd: Int32) -> Record { .close(CloseEvent(time: 2, fd: fd, call: .close, tid: 1)) }

    @Test func reuseKeepsLifetimesApart() {
        var t = ProcessTable(processKey: 0)
        t.apply(open(5, stack: 1))
        t.apply(close(5))
        t.apply(open(5, stack: 2))
        #expect(t[5]?.stack == StackRef(process: 0, id: 2))
        #expect(t.opens == 2 && t.closes == 1 && t.closesOfUnknown == 0 && t.replacedWithoutClose == 0)
    }

    @Test func closeOfUnknownIsCounted() {
        var t = ProcessTable(processKey: 0)
        t.apply(close(9))
        #expect(t.closesOfUnknown == 1 && t.isEmpty)
    }

    @Test("An attached process's first events overlap the /proc read of its table: no bad events until it settled")
    func attachOverlapIsNoAnomaly() {
        var t = ProcessTable(processKey: 0)
        t.settling = 10
        t.apply(.inherited(KernelFD(time: 1, fd: 5, target: "/etc/hostname")))
        t.apply(open(5, time: 5))  // opened after the trace began, listed by the read too
        t.apply(.close(CloseEvent(time: 6, fd: 6, call: .close, tid: 1)))  // closed before the read reached it
        #expect(t.replacedWithoutClose == 0 && t.closesOfUnknown == 0 && t[5]?.origin == .traced)
        t.apply(.inherited(KernelFD(time: 1, fd: 7, target: "/etc/hostname")))
        t.apply(open(7, time: 11))
        t.apply(.close(CloseEvent(time: 12, fd: 8, call: .close, tid: 1)))
        #expect(t.replacedWithoutClose == 1 && t.closesOfUnknown == 1)
    }

    @Test func dup2ReplacesWithoutAnomaly() {
        var t = ProcessTable(processKey: 0)
        t.apply(open(3)); t.apply(open(4))
        t.apply(.open(OpenEvent(time: 3, fd: 4, call: .dup2, stackID: 7, sourceFD: 3)))
        #expect(t[4]?.call == .dup2 && t.replacedWithoutClose == 0)
        t.apply(open(4))
        #expect(t.replacedWithoutClose == 1)
    }

    @Test func closeRangeClosesOrMarks() {
        var t = ProcessTable(processKey: 0)
        for fd: Int32 in 3...10 { t.apply(open(fd)) }
        t.apply(.closeRange(CloseRangeEvent(time: 4, first: 3, last: 5, call: .close, cloexecOnly: true)))
        #expect(t.count == 8 && t[4]?.cloexec == true && t[6]?.cloexec == false)
        t.apply(.closeRange(CloseRangeEvent(time: 5, first: 6, last: UInt32.max, call: .close, cloexecOnly: false)))
        #expect(t.descriptors.map(\.fd) == [3, 4, 5])
    }

    @Test func setFDAndPeak() {
        var t = ProcessTable(processKey: 0)
        t.apply(.inherited(KernelFD(time: 0, fd: 0, target: "/dev/null")))
        t.apply(open(3, time: 10)); t.apply(open(4, time: 11)); t.apply(close(3))
        t.apply(.setFD(SetFDEvent(time: 12, fd: 4, call: .close, cloexec: true)))
        #expect(t.peak == 3 && t.peakTime == 11)
        #expect(t[4]?.cloexec == true && t[0]?.origin == .inherited)
    }

    @Test func forkCopyKeepsParentStacks() {
        var t = ProcessTable(processKey: 0)
        t.apply(open(3, stack: 4))
        let child = t.copy(to: 1)
        #expect(child[3]?.stack == StackRef(process: 0, id: 4) && child.processKey == 1)
    }

    @Test func stackStoreResolvesAgainstModulesOfTheTime() {
        var reg = ModuleRegistry()
        var s = StackStore()
        s.add(module: ModuleRecord(base: 0x1000, start: 0x1000, end: 0x2000, path: "/a", buildID: [1]), registry: &reg)
        s.add(stack: StackRecord(id: 1, pcs: [0x1500, 0x9000]))
        // Another object later loaded at the same addresses.
        s.add(module: ModuleRecord(base: 0x1000, start: 0x1000, end: 0x2000, path: "/b", buildID: [2]), registry: &reg)
        s.add(stack: StackRecord(id: 2, pcs: [0x1500]))
        #expect(s.frames(1) == [RawFrame(module: 0, address: 0x500), RawFrame(module: nil, address: 0x9000)])
        #expect(s.frames(2) == [RawFrame(module: 1, address: 0x500)])
        #expect(reg.entries.map(\.path) == ["/a", "/b"])
    }
}

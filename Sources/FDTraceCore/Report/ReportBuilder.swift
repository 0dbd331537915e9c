/// Turns the collector's tables into the report: reconciles each process's
/// table with the kernel's view at exit, symbolizes the stacks of what was
/// left open, and groups descriptors by opening site.
public struct ReportBuilder {
    public var processes: [TracedProcess]
    public var registry: ModuleRegistry
    public var symbolizer: Symbolizing

    public init(processes: [TracedProcess], registry: ModuleRegistry, symbolizer: Symbolizing) {
        self.processes = processes
        self.registry = registry
        self.symbolizer = symbolizer
    }

    /// Modules whose frames are runtime plumbing, not the program's code.
    static func isRuntimeModule(_ path: String?) -> Bool {
        guard let path else { return true }
        let base = path.split(separator: "/").last.map(String.init) ?? path
        let prefixes = ["libc.so", "libc-", "ld-linux", "ld-", "libpthread", "libdl.", "libm.so", "libstdc++",
                        "libgcc_s", "libfdtrace", "linux-vdso"]
        return prefixes.contains { base.hasPrefix($0) }
    }

    /// A descriptor to report with the site that opened it (for inherited
    /// ones, a site in the program that exec'd or spawned this one).
    struct Leak {
        var fd: Int32
        var call: Call
        var stack: StackRef?
        var cloexec: Bool
        var tid: Int32?
        var description: FDDescription
        var openedBy: OpenedBy?

        init(_ t: TrackedFD, _ d: FDDescription) {
            fd = t.fd; call = t.call; stack = t.stack; cloexec = t.cloexec; tid = t.tid; description = d
        }

        init(_ l: InheritedLeak) {
            fd = l.fd; call = l.origin.call; stack = l.origin.stack; cloexec = l.view?.cloexec ?? false
            description = l.view.map(FDClassifier.describe) ?? FDDescription(kind: "unknown")
            openedBy = OpenedBy(pid: l.origin.pid, command: l.origin.command)
        }
    }

    public func build(command: [String], exitStatus: Int32?, notes: [String] = []) -> Report {
        // 1. Per process: what is open at exit, and where it came from.
        var perProcess: [(TracedProcess, ProcessReport, [Leak], [Leak])] = []
        var wanted = Set<RawFrame>()
        for p in processes {
            let (report, leaks) = classify(p)
            let inheritedLeaks = p.inheritedLeaks.map(Leak.init)
            for l in leaks + inheritedLeaks { if let s = l.stack, let frames = stackFrames(s) { wanted.formUnion(frames) } }
            perProcess.append((p, report, leaks, inheritedLeaks))
        }
        // 2. Symbolize every frame that will be shown, in one batch.
        let symbols = wanted.isEmpty ? [:] : symbolizer.symbolize(wanted, modules: registry)
        // 3. Group leaks by call and symbolized stack.
        var reports: [ProcessReport] = []
        for (_, var report, leaks, inheritedLeaks) in perProcess {
            report.leaks = group(leaks, symbols: symbols)
            report.inheritedLeaks = group(inheritedLeaks, symbols: symbols)
            report.leakedDescriptors = leaks.count
            reports.append(report)
        }
        return Report(command: command, exitStatus: exitStatus, processes: reports, notes: notes, collector: nil)
    }

    private func stackFrames(_ ref: StackRef) -> [RawFrame]? {
        guard ref.process < processes.count else { return nil }
        return processes[ref.process].stacks.frames(ref.id)
    }

    private func classify(_ p: TracedProcess) -> (ProcessReport, [Leak]) {
        let reconciled = p.kernelViewComplete
        var kernel: [Int32: KernelFD] = [:]
        for k in p.kernelView { kernel[k.fd] = k }
        var leaks: [Leak] = []
        var standard: [FDReport] = [], inherited: [FDReport] = [], unknown: [FDReport] = [], internalErrs: [FDReport] = []
        for t in p.table.descriptors {
            let k = kernel[t.fd]
            if reconciled && k == nil {
                internalErrs.append(fdReport(t.fd, FDClassifier.describe(t.openingEvent), t, p))
                continue
            }
            let desc = k.map(FDClassifier.describe) ?? p.table.inheritedViews[t.fd].map(FDClassifier.describe)
                ?? (t.origin == .traced ? FDClassifier.describe(t.openingEvent) : FDDescription(kind: "unknown"))
            if p.end == .execed {
                // At exec, close-on-exec descriptors ended and the others
                // went on into the next image, which reports them.
                continue
            } else if t.fd <= 2 {
                standard.append(fdReport(t.fd, desc, t, p))
            } else if t.origin == .inherited && p.table.inheritedOrigins[t.fd] != nil {
                continue // listed with the inherited leaks
            } else if t.origin == .inherited {
                inherited.append(fdReport(t.fd, desc, t, p))
            } else {
                leaks.append(Leak(t, desc))
            }
        }
        if reconciled {
            for k in p.kernelView.sorted(by: { $0.fd < $1.fd }) where p.table[k.fd] == nil {
                unknown.append(fdReport(k.fd, FDClassifier.describe(k), nil, p, cloexec: k.cloexec))
            }
        }
        let ended: String
        var exitCode: Int32? = nil, signal: Int32? = nil
        // An owner still waiting for this report has already exited.
        let ending: TracedProcess.End = p.end == .running && reconciled ? .exited(reconciled: true) : p.end
        switch ending {
        case .execed: ended = "exec"
        case .running: ended = "running"
        case .exited:
            if let w = p.waitStatus {
                exitCode = w.exitCode
                signal = w.signal
                ended = w.signal != nil ? "killed" : "exited"
            } else if let e = p.exitBegin, e.status >= 0 {
                exitCode = e.status
                ended = "exited"
            } else {
                ended = p.exitBegin != nil ? "exited" : "unknown"
            }
        }
        let end = p.endTime ?? p.startTime
        var notes = p.notes
        if let err = p.streamError { notes.append(err) }
        if !reconciled && ending != .execed && ending != .running {
            notes.append("unreconciled: the process ended without reporting its descriptors (killed by a signal?); the table is the tracer's view")
        }
        let report = ProcessReport(
            pid: p.pid, ppid: p.ppid, command: p.command, executable: p.executable,
            exitStatus: exitCode, signal: signal, ended: ended,
            durationSeconds: Double(end &- p.startTime) / 1e9,
            reconciliation: reconciled ? "complete" : "unreconciled",
            openAtExit: reconciled ? p.kernelView.count : p.table.count,
            peakOpen: max(p.table.peak, reconciled ? p.kernelView.count : 0),
            rlimitSoft: p.rlimitSoft, rlimitHard: p.rlimitHard,
            leakedDescriptors: 0, leaks: [], inheritedLeaks: [], standard: standard, inherited: inherited,
            unknownOrigin: unknown, internalErrors: internalErrs, notes: notes,
            events: EventCounts(
                opens: p.table.opens, closes: p.table.closes,
                closesOfUnknownDescriptors: p.table.closesOfUnknown,
                opensOverOpenDescriptors: p.table.replacedWithoutClose,
                ringFullWaits: p.fullWaits, ringWaitMilliseconds: Double(p.fullWaitNanoseconds) / 1e6,
                recordsLost: p.recordsLost),
            maxRssKb: p.exitBegin.map(\.maxRSSKB), cpuSeconds: p.exitBegin.map { Double($0.cpuMicroseconds) / 1e6 },
            tracerDescriptors: p.exitBegin.map(\.tracerDescriptors))
        return (report, leaks)
    }

    private func fdReport(_ fd: Int32, _ d: FDDescription, _ t: TrackedFD?, _ p: TracedProcess, cloexec: Bool? = nil) -> FDReport {
        FDReport(fd: fd, kind: d.kind, path: d.path, deleted: d.deleted ? true : nil, protocol: d.proto,
                 local: d.local, peer: d.peer, state: d.state, cloexec: cloexec ?? t?.cloexec ?? false,
                 call: t.flatMap { $0.origin == .traced ? $0.call.name : nil },
                 thread: t.flatMap { $0.origin == .traced ? $0.tid : nil },
                 openedAt: t.flatMap { $0.origin == .traced ? Double($0.openedAt &- p.startTime) / 1e9 : nil })
    }

    /// The source frames of a leak's opening stack (inlined frames expanded).
    private func sourceFrames(_ l: Leak, _ symbols: [RawFrame: [SymbolizedFrame]]) -> [FrameReport] {
        guard let s = l.stack, let raw = stackFrames(s) else { return [] }
        return raw.flatMap { f in
            (symbols[f] ?? []).map { sf in
                FrameReport(function: sf.function, file: sf.file, line: sf.line, module: sf.module,
                            address: "0x" + String(sf.address, radix: 16), inlined: sf.inlined)
            }
        }
    }

    private func group(_ leaks: [Leak], symbols: [RawFrame: [SymbolizedFrame]]) -> [LeakGroup] {
        struct Key: Hashable { var call: String; var frames: [FrameReport]; var openedBy: OpenedBy? }
        var groups: [Key: [Leak]] = [:]
        var order: [Key] = []
        var framesOf: [Key: [FrameReport]] = [:]
        for l in leaks {
            let frames = sourceFrames(l, symbols)
            // Group by source location, not by address: two return addresses
            // on one line are one site.
            let key = Key(call: l.call.name, frames: frames.map {
                FrameReport(function: $0.function, file: $0.file, line: $0.line, module: $0.module,
                            address: $0.file == nil ? $0.address : "", inlined: $0.inlined)
            }, openedBy: l.openedBy)
            if groups[key] == nil { order.append(key); framesOf[key] = frames }
            groups[key, default: []].append(l)
        }
        var out: [LeakGroup] = []
        for key in order {
            let members = groups[key]!.sorted { $0.fd < $1.fd }
            let frames = framesOf[key] ?? []
            let highlight = frames.firstIndex { !Self.isRuntimeModule($0.module) }
            let fds = members.map { m -> FDReport in
                let d = m.description
                return FDReport(fd: m.fd, kind: d.kind, path: d.path, deleted: d.deleted ? true : nil,
                                protocol: d.proto, local: d.local, peer: d.peer, state: d.state,
                                cloexec: m.cloexec, call: m.call.name, thread: m.tid, openedAt: nil)
            }
            out.append(LeakGroup(count: members.count, call: key.call,
                                 summary: Self.summarize(members.map(\.description)),
                                 highlight: highlight, frames: frames, fds: fds, openedBy: key.openedBy))
        }
        return out.sorted { $0.count != $1.count ? $0.count > $1.count : ($0.frames.first?.line ?? 0) < ($1.frames.first?.line ?? 0) }
    }

    /// One description for a group: shared fields kept, differing ones
    /// shown as "*" (addresses keep their shared host), kinds counted.
    static func summarize(_ ds: [FDDescription]) -> String {
        guard let first = ds.first else { return "" }
        let kinds = Set(ds.map(\.kind))
        if kinds.count > 1 {
            var counts: [String: Int] = [:]
            for d in ds { counts[d.kind, default: 0] += 1 }
            return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { "\($0.value) \($0.key)" }.joined(separator: " + ")
        }
        var merged = first
        func same<T: Equatable>(_ k: KeyPath<FDDescription, T?>) -> Bool { ds.allSatisfy { $0[keyPath: k] == first[keyPath: k] } }
        if !same(\.path) {
            let paths = Set(ds.compactMap(\.path))
            merged.path = "(\(paths.count) paths, e.g. \(paths.sorted().first ?? "?"))"
        }
        if !same(\.proto) { merged.proto = first.kind }
        if !same(\.local) { merged.local = mergeAddresses(ds.map(\.local)) }
        if !same(\.peer) { merged.peer = mergeAddresses(ds.map(\.peer)) }
        var s = merged.summary
        let states = ds.compactMap(\.state)
        if !states.isEmpty {
            var counts: [String: Int] = [:]
            for st in states { counts[st, default: 0] += 1 }
            s += ", " + counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        }
        return s
    }

    static func mergeAddresses(_ addrs: [String?]) -> String {
        let hosts = Set(addrs.map { a -> String in
            guard let a, let colon = a.lastIndex(of: ":") else { return a ?? "" }
            return String(a[..<colon])
        })
        if hosts.count == 1, let h = hosts.first, !h.isEmpty { return h + ":*" }
        return "*"
    }
}

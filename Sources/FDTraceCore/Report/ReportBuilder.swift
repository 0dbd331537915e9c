import Foundation

/// Turns the collector's tables into the report: reconciles each process's
/// table with the kernel's view at exit, symbolizes the stacks of what was
/// left open, and groups descriptors by opening site.
public struct ReportBuilder {
    /// The images to report.
    public let processes: [TracedProcess]
    /// Every image the collector knows, by key: a stack or code object is
    /// named by the image that sent it (a fork parent, the image before an
    /// exec), which a live report of some processes does not include, and
    /// keys are not positions in `processes`.
    private var images: [Int: TracedProcess] = [:]
    public var registry: ModuleRegistry
    public var symbolizer: Symbolizing
    /// Keep the interpreter's own native frames in Python stacks.
    public var nativeFrames: Bool

    /// `images`: all the collector's images (default: `processes`).
    public init(
        processes: [TracedProcess], images: [TracedProcess]? = nil, registry: ModuleRegistry, symbolizer: Symbolizing,
        nativeFrames: Bool = false
    ) {
        self.processes = processes
        for p in images ?? processes { self.images[p.key] = p }
        for p in processes { self.images[p.key] = p }
        self.registry = registry
        self.symbolizer = symbolizer
        self.nativeFrames = nativeFrames
    }

    /// Native frames of the Python interpreter itself (its executable,
    /// libpython, the standard library's C modules): machinery between
    /// Python frames, hidden unless --native.
    static func isInterpreterModule(_ path: String?) -> Bool {
        guard let path else { return false }
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base.hasPrefix("libpython") || base.hasPrefix("python") || path.contains("/lib-dynload/")
    }

    /// Python source that is not the user's own: the standard library,
    /// installed packages, frozen modules.
    static func isLibraryPython(_ file: String?) -> Bool {
        guard let file else { return true }
        if file.hasPrefix("<frozen") { return true }
        return file.contains("/site-packages/") || file.contains("/dist-packages/")
            || file.range(of: #"/lib(64)?/python[0-9.]+/"#, options: .regularExpression) != nil
    }

    /// The frame a group is named by: in a Python stack the first frame of
    /// the user's own code (else the first Python frame); in a Go one the
    /// first Go frame outside Go's standard library; in a native one the
    /// first frame outside the C/C++ runtime.
    static func headline(_ frames: [FrameReport]) -> Int? {
        if frames.contains(where: { $0.python == true }) {
            return frames.firstIndex { $0.python == true && !isLibraryPython($0.file) }
                ?? frames.firstIndex { $0.python == true }
        }
        if let own = frames.firstIndex(where: { $0.file?.hasSuffix(".go") == true && !isGoStandardLibrary($0.function) }) {
            return own
        }
        return frames.firstIndex { !RuntimeModule.contains($0.module) && !isInterpreterModule($0.module) }
            ?? frames.firstIndex { !RuntimeModule.contains($0.module) }
    }

    /// Why a report whose events were partly lost is incomplete: never a
    /// guess presented as exact.
    static func lostEvents(_ p: TracedProcess) -> String? {
        guard p.recordsLost > 0 else { return nil }
        return "\(p.recordsLost) of its events were lost (the kernel's ring buffer was full): "
            + "descriptors may be missing, or listed as leaks that were closed"
    }

    /// The call a Go stack made, named as the program made it: the
    /// standard library API its code called (`net.(*TCPListener).Accept`,
    /// not the `accept4` system call under it); nil for other stacks.
    static func goCall(_ frames: [FrameReport]) -> String? {
        guard frames.contains(where: { $0.file?.hasSuffix(".go") == true }) else { return nil }
        return GoFrames.call(frames.map { $0.function ?? "?" })
    }

    /// A Go function of the standard library (`runtime.main`,
    /// `internal/poll.(*FD).Accept`): its package path's first element has
    /// no dot, and it is not `main`.
    static func isGoStandardLibrary(_ function: String?) -> Bool {
        guard let function else { return true }
        let slash = function.lastIndex(of: "/").map { function.index(after: $0) } ?? function.startIndex
        let package = function[..<(function[slash...].firstIndex(of: ".") ?? function.endIndex)]
        let first = package.split(separator: "/").first.map(String.init) ?? ""
        return first != "main" && !first.contains(".")
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
        var closed: CloseCause?
        var group: UInt32 = 0
        /// Seconds after the process started.
        var openedAt: Double?

        init(_ t: TrackedFD, _ d: FDDescription, closed: CloseCause? = nil, start: UInt64? = nil) {
            fd = t.fd; call = t.call; stack = t.stack; cloexec = t.cloexec; tid = t.tid; description = d
            self.closed = closed; group = t.group
            if let start, t.openedAt >= start { openedAt = Double(t.openedAt - start) / 1e9 }
        }

        init(_ l: InheritedLeak) {
            fd = l.fd; call = l.origin.call; stack = l.origin.stack; cloexec = l.view?.cloexec ?? false
            description = l.view.map(FDClassifier.describe) ?? FDDescription(kind: .unknown)
            openedBy = OpenedBy(pid: l.origin.pid, command: l.origin.command)
        }
    }

    public func build(command: [String], exitStatus: Int32?, notes: [String] = []) -> Report {
        // 1. Per process: what is open at exit, and where it came from.
        var perProcess: [(TracedProcess, ProcessReport, [Leak], [Leak])] = []
        var wanted = Set<RawFrame>()
        var peaks: [[UInt32: Int]] = []
        for p in processes {
            let (report, open) = classify(p)
            // What the runtime closed for the program is a leak too.
            let leaks =
                open
                + p.table.runtimeClosed.map { r in
                    // Closed at shutdown: described as the kernel saw it when
                    // the program began to exit (a socket's TCP state).
                    let view = r.cause == .shutdown ? p.table.exitViews[r.fd.fd] : nil
                    return Leak(
                        r.fd, view.map(FDClassifier.describe) ?? FDClassifier.describe(r.fd.openingEvent), closed: r.cause,
                        start: p.startTime)
                }
            // An image that exec'd lists only what ended in it: what went on
            // into the next image is listed there, once (a chain of execs
            // would repeat each descriptor in every image after its own).
            let inheritedLeaks = p.inheritedLeaks.filter { p.end != .execed || !Self.goesOn(p.table[$0.fd], in: p.table) }
                .map(Leak.init)
            for l in leaks + inheritedLeaks { if let s = l.stack, let frames = stackFrames(s) { wanted.formUnion(frames) } }
            let peak = p.table.peak > 0 ? p.table.stacksAtPeak() : [:]
            for id in peak.keys { if let frames = stackFrames(StackRef(process: p.key, id: id)) { wanted.formUnion(frames) } }
            for id in Self.timelineStacks(p) { if let frames = stackFrames(StackRef(process: p.key, id: id)) { wanted.formUnion(frames) } }
            wanted.formUnion(badCloseFrames(p))
            peaks.append(peak)
            perProcess.append((p, report, leaks, inheritedLeaks))
        }
        // 2. Symbolize every frame that will be shown, in one batch (Python
        // frames from the code objects the shim sent).
        let native = wanted.filter { $0.python == nil }
        let named = native.isEmpty ? SymbolizedFrames() : symbolizer.symbolizeNoting(native, modules: registry)
        var symbols = named.frames
        for f in wanted where f.python != nil { symbols[f] = [pythonFrame(f)] }
        // 3. Group leaks by call and symbolized stack.
        var reports: [ProcessReport] = []
        for (i, (p, var report, leaks, inheritedLeaks)) in perProcess.enumerated() {
            let now = GrowthSeries.Sample(time: p.endTime ?? monotonicNow(), counts: p.table.stacksNow())
            let growth: Growth = { ids in p.growth.growth(of: ids, now: now) }
            report.leaks = group(leaks, symbols: symbols, growth: growth, processKey: p.key)
            report.inheritedLeaks = group(inheritedLeaks, symbols: symbols)
            if p.end == .execed {
                report.passedOnAtExec = p.table.descriptors.filter { Self.goesOn($0, in: p.table) }.count
            }
            report.leakedDescriptors = leaks.count
            if p.table.runtimeClosedDropped > 0 {
                report.notes.append(
                    "\(p.table.runtimeClosedDropped) more descriptors closed by the runtime were not kept (limit \(ProcessTable.runtimeClosedLimit))")
            }
            addBadCloses(p, to: &report, symbols: symbols)
            report.peak = peakReport(p, peaks[i], symbols: symbols)
            report.timeline = timelineReport(p, symbols: symbols, leaks: report.leaks)
            reports.append(report)
        }
        return Report(command: command, exitStatus: exitStatus, processes: reports, notes: notes + named.notes, collector: nil)
    }

    /// A Python frame from its code object: file, function, line.
    func pythonFrame(_ f: RawFrame) -> SymbolizedFrame {
        guard let ref = f.python, let code = images[ref.process]?.pythonCodes[ref.id] else {
            return SymbolizedFrame(function: nil, file: nil, line: nil, module: nil, address: f.address)
        }
        return SymbolizedFrame(function: code.name, file: code.filename, line: code.line(at: f.address), module: nil, address: f.address)
    }

    private func peakReport(_ p: TracedProcess, _ counts: [UInt32: Int], symbols: [RawFrame: [SymbolizedFrame]]) -> PeakReport? {
        guard p.table.peak > 0 else { return nil }
        struct Key: Hashable { var site: FrameReport? }
        var bySite: [Key: Int] = [:]
        var callsOf: [Key: [String]] = [:]
        // Which call opened each stack: any descriptor of the stack says.
        var calls: [UInt32: String] = [:]
        for t in p.table.descriptors { if let s = t.stack, s.process == p.key { calls[s.id] = t.call.name } }
        for r in p.table.runtimeClosed { if let s = r.fd.stack, s.process == p.key { calls[s.id] = r.fd.call.name } }
        for (id, n) in counts {
            let frames = sourceFrames(StackRef(process: p.key, id: id), symbols)
            let site = Self.headline(frames).map { i -> FrameReport in
                var f = frames[i]; f.address = f.file == nil ? f.address : ""; return f
            }
            let key = Key(site: site)
            bySite[key, default: 0] += n
            if let c = calls[id], !(callsOf[key] ?? []).contains(c) { callsOf[key, default: []].append(c) }
        }
        let sites = bySite.sorted { $0.value != $1.value ? $0.value > $1.value : ($0.key.site?.line ?? 0) < ($1.key.site?.line ?? 0) }
            .prefix(10).map { PeakSite(count: $0.value, call: (callsOf[$0.key] ?? ["?"]).sorted().joined(separator: "+"), site: $0.key.site) }
        return PeakReport(open: p.table.peak, atSeconds: Double(p.table.peakTime &- p.startTime) / 1e9, sites: Array(sites))
    }

    private static let shells: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "mksh", "busybox"]

    /// A shell keeps the script it runs open until it exits.
    static func isScriptInput(_ d: FDDescription, _ command: [String]) -> Bool {
        guard d.kind == .file, let path = d.path, command.count > 1,
            let shell = command[0].split(separator: "/").last, shells.contains(String(shell))
        else { return false }
        let script = command[1]
        return path == script || (!script.hasPrefix("/") && path.hasSuffix("/" + script))
    }

    /// Whether a descriptor an image held at its exec reaches the next image
    /// as a leak it reports (Collector.attributeInherited): past 0-2, not
    /// close-on-exec, opened by a traced image (this one, a fork parent, or
    /// one before).
    static func goesOn(_ t: TrackedFD?, in table: ProcessTable) -> Bool {
        guard let t, t.fd > 2, !t.cloexec else { return false }
        return t.origin != .inherited || table.inheritedOrigins[t.fd] != nil
    }

    func stackFrames(_ ref: StackRef) -> [RawFrame]? {
        images[ref.process]?.stacks.frames(ref.id).map { symbolizer.callChain($0, modules: registry) }
    }

    /// A process's report without its groups (those come after
    /// symbolization), and the descriptors it leaked.
    private func classify(_ p: TracedProcess) -> (ProcessReport, [Leak]) {
        let reconciled = p.kernelViewComplete
        let open = sortOpen(p, reconciled: reconciled)
        let end = Ending(p, reconciled: reconciled)
        var notes = p.notes
        if let err = p.streamError { notes.append(err) }
        if !reconciled && end.state != .execed && end.state != .running {
            notes.append(Self.unreconciledNote(p))
        }
        // Still running: its life so far, up to when the session left it.
        let endTime = p.endTime ?? p.abandonedAt ?? p.startTime
        let report = ProcessReport(
            pid: p.pid, ppid: p.ppid, command: p.command, executable: p.executable,
            exitStatus: end.exitCode, signal: end.signal, ended: end.ended,
            durationSeconds: Double(endTime &- p.startTime) / 1e9,
            reconciliation: reconciled ? .complete : .unreconciled,
            openAtExit: reconciled ? p.kernelView.count : p.table.count,
            peakOpen: max(p.table.peak, reconciled ? p.kernelView.count : 0),
            rlimitSoft: p.rlimitSoft, rlimitHard: p.rlimitHard,
            leakedDescriptors: 0, leaks: [], inheritedLeaks: [], standard: open.standard, inherited: open.inherited,
            unknownOrigin: unknownOrigin(p, reconciled: reconciled), internalErrors: open.internalErrors, notes: notes,
            events: EventCounts(
                opens: p.table.opens, closes: p.table.closes,
                closesOfUnknownDescriptors: p.table.closesOfUnknown,
                opensOverOpenDescriptors: p.table.replacedWithoutClose,
                ringFullWaits: p.fullWaits, ringWaitMilliseconds: Double(p.fullWaitNanoseconds) / 1e6,
                recordsLost: p.recordsLost),
            maxRssKb: p.exitBegin.map(\.maxRSSKB), cpuSeconds: p.exitBegin.map { Double($0.cpuMicroseconds) / 1e6 },
            incomplete: p.blindness ?? Self.lostEvents(p), startedAs: p.startedAs.isEmpty ? nil : p.startedAs,
            openBeforeAttach: p.attached ? open.beforeAttach : nil)
        return (report, open.leaks)
    }

    /// The descriptors the tracer holds open, sorted out.
    private struct OpenDescriptors {
        var leaks: [Leak] = []
        var standard: [FDReport] = []
        var inherited: [FDReport] = []
        /// An attached process's descriptors from before the attach.
        var beforeAttach: [FDReport] = []
        /// Held by the tracer, not by the kernel (at exit).
        var internalErrors: [FDReport] = []
    }

    private func sortOpen(_ p: TracedProcess, reconciled: Bool) -> OpenDescriptors {
        var kernel: [Int32: KernelFD] = [:]
        for k in p.kernelView { kernel[k.fd] = k }
        var out = OpenDescriptors()
        for t in p.table.descriptors {
            let k = kernel[t.fd]
            if reconciled && k == nil {
                out.internalErrors.append(fdReport(t.fd, FDClassifier.describe(t.openingEvent), t, p))
                continue
            }
            if p.end == .execed {
                // At exec, close-on-exec descriptors ended and the others
                // went on into the next image, which reports them.
                continue
            }
            let desc =
                k.map(FDClassifier.describe) ?? p.table.inheritedViews[t.fd].map(FDClassifier.describe)
                ?? (t.origin != .inherited ? FDClassifier.describe(t.openingEvent) : FDDescription(kind: .unknown))
            if p.attached && t.origin == .inherited {
                // Held when the session attached: no site, not a leak.
                out.beforeAttach.append(fdReport(t.fd, desc, t, p))
            } else if t.fd <= 2 || Self.isScriptInput(desc, p.command) {
                // A shell keeps the script it reads open until it
                // exits: that is its input, not a leak.
                out.standard.append(fdReport(t.fd, desc, t, p))
            } else if t.origin == .inherited && p.table.inheritedOrigins[t.fd] != nil {
                continue  // listed with the inherited leaks
            } else if t.origin == .inherited || t.origin == .forked {
                // Forked: the parent's, reported at its site in the parent.
                out.inherited.append(fdReport(t.fd, desc, t, p))
            } else {
                out.leaks.append(Leak(t, desc, start: p.startTime))
            }
        }
        return out
    }

    /// What the kernel had and the tracer never saw opened: from the view at
    /// exit, or, without one (a raw exit_group), the last /proc view.
    private func unknownOrigin(_ p: TracedProcess, reconciled: Bool) -> [FDReport] {
        if reconciled {
            return p.kernelView.sorted(by: { $0.fd < $1.fd }).filter { p.table[$0.fd] == nil }.map { k in
                fdReport(k.fd, FDClassifier.describe(k), nil, p, cloexec: k.cloexec)
            }
        } else if let view = p.lastProcView, p.end != .execed {
            return view.groups.flatMap(\.fds).filter { p.table[$0.fd] == nil }.sorted { $0.fd < $1.fd }
        }
        return []
    }

    /// How a process ended, as the report says it.
    private struct Ending {
        var ended: ProcessEnd
        var exitCode: Int32?
        var signal: Int32?
        var state: TracedProcess.End

        init(_ p: TracedProcess, reconciled: Bool) {
            // An owner still waiting for this report has already exited.
            state = p.end == .running && reconciled ? .exited(reconciled: true) : p.end
            switch state {
            case .execed: ended = .exec
            case .running: ended = .running
            case .exited:
                if let w = p.waitStatus {
                    exitCode = w.exitCode
                    signal = w.signal
                    ended = w.signal != nil ? .killed : .exited
                } else if let e = p.exitBegin, e.status >= 0 {
                    exitCode = e.status
                    ended = .exited
                } else {
                    ended = p.exitBegin != nil ? .exited : .unknown
                }
            }
        }
    }

    /// Why an ended process has no kernel view at exit, as far as known.
    static func unreconciledNote(_ p: TracedProcess) -> String {
        var why: String
        if let signal = p.waitStatus?.signal {
            why = "it was killed by signal \(signal)"
        } else if let code = p.waitStatus?.exitCode {
            why = "it exited (status \(code)) without passing through libc's exit (a raw exit_group)"
        } else if p.blindness != nil {
            why = "Go's runtime exits with a raw exit_group"
        } else {
            why = "it ended without reporting its descriptors (a signal, or a raw exit_group)"
        }
        if let view = p.lastProcView, let end = p.endTime {
            let ms = Double(end &- p.lastProcViewTime) / 1e6
            why += "; origin unknown lists /proc/\(p.pid)/fd as last read, \(String(format: "%.0f", ms)) ms before it ended (\(view.open) open)"
        } else {
            why += "; the table is the tracer's view"
        }
        return "unreconciled: " + why
    }

    private func fdReport(_ fd: Int32, _ d: FDDescription, _ t: TrackedFD?, _ p: TracedProcess, cloexec: Bool? = nil) -> FDReport {
        FDReport(
            fd: fd, d, cloexec: cloexec ?? t?.cloexec ?? false,
            call: t.flatMap { $0.origin == .traced ? $0.call.name : nil },
            thread: t.flatMap { $0.origin == .traced ? $0.tid : nil },
            openedAt: t.flatMap { $0.origin == .traced ? Double($0.openedAt &- p.startTime) / 1e9 : nil })
    }

    /// The source frames of an opening stack (inlined frames expanded). In
    /// a Python stack, the interpreter's own native frames are left out
    /// unless `nativeFrames`.
    func sourceFrames(_ stack: StackRef?, _ symbols: [RawFrame: [SymbolizedFrame]]) -> [FrameReport] {
        guard let s = stack, let raw = stackFrames(s) else { return [] }
        let isPython = raw.contains { $0.python != nil }
        return raw.flatMap { f -> [FrameReport] in
            if isPython && f.python == nil && !nativeFrames {
                let path = f.module.map { registry.entries[$0].path }
                if Self.isInterpreterModule(path) || RuntimeModule.contains(path) { return [] }
            }
            return (symbols[f] ?? []).map { sf in
                FrameReport(
                    function: sf.function, file: sf.file, line: sf.line, module: sf.module,
                    address: f.python != nil ? "+\(sf.address)" : "0x" + String(sf.address, radix: 16),
                    inlined: sf.inlined, python: f.python != nil ? true : nil)
            }
        }
    }

    /// A leak's site with its source frames.
    private struct Sited {
        var leak: Leak
        var frames: [FrameReport]
        var headline: Int?
        /// Identifies the site: the call and the frames by source location
        /// (two return addresses on one line are one site).
        var key: SiteKey
        var isPython: Bool
    }

    struct SiteKey: Hashable {
        var call: String
        var frames: [FrameReport]
        var openedBy: OpenedBy?
    }

    static func locationOnly(_ f: FrameReport) -> FrameReport {
        var g = f
        if g.file != nil { g.address = "" }
        return g
    }

    typealias Growth = (Set<UInt32>) -> GrowthSeries.Growth?

    private func group(_ leaks: [Leak], symbols: [RawFrame: [SymbolizedFrame]], growth: Growth? = nil, processKey: Int = -1) -> [LeakGroup] {
        let sited = leaks.map { l -> Sited in
            let frames = sourceFrames(l.stack, symbols)
            let key = SiteKey(call: l.call.name, frames: frames.map(Self.locationOnly), openedBy: l.openedBy)
            return Sited(
                leak: l, frames: frames, headline: Self.headline(frames), key: key,
                isPython: frames.contains { $0.python == true })
        }
        var out = groupBySite(sited.filter { !$0.isPython })
        out += groupPythonBundles(sited.filter(\.isPython))
        if let growth {
            // Growth of a group: of the stacks its descriptors were opened by.
            for i in out.indices {
                let ids = Set(
                    leaks.filter { l in out[i].fds.contains { $0.fd == l.fd && $0.call == l.call.name } }
                        .compactMap { $0.stack?.process == processKey ? $0.stack?.id : nil })
                if !ids.isEmpty, let g = growth(ids), g.perSecond != 0 {
                    out[i].growthPerSecond = (g.perSecond * 10).rounded() / 10
                    out[i].growthSeconds = g.seconds.rounded()
                    out[i].growing = g.rising
                }
            }
        }
        func line(_ g: LeakGroup) -> Int { g.highlight.flatMap { g.frames[$0].line } ?? 0 }
        return out.sorted { a, b in a.count != b.count ? a.count > b.count : line(a) < line(b) }
    }

    private func fdReport(_ m: Leak) -> FDReport {
        let d = m.description
        return FDReport(
            fd: m.fd, d, cloexec: m.cloexec, call: m.call.name, thread: m.tid, openedAt: m.openedAt,
            closed: m.closed.flatMap(ClosedBy.init))
    }

    private func withClosedCounts(_ g: LeakGroup, _ members: [Leak]) -> LeakGroup {
        var g = g
        func n(_ c: CloseCause) -> Int? { let k = members.filter { $0.closed == c }.count; return k > 0 ? k : nil }
        g.closedByGc = n(.gc)
        g.closedByFinalizer = n(.finalizer)
        g.closedAtShutdown = n(.shutdown)
        return g
    }

    /// Native leaks: one group per site.
    private func groupBySite(_ sited: [Sited]) -> [LeakGroup] {
        var groups: [SiteKey: [Sited]] = [:]
        var order: [SiteKey] = []
        for s in sited {
            if groups[s.key] == nil { order.append(s.key) }
            groups[s.key, default: []].append(s)
        }
        return order.map { key in
            let members = groups[key]!.sorted { $0.leak.fd < $1.leak.fd }
            let first = members[0]
            let leaks = members.map(\.leak)
            return withClosedCounts(
                LeakGroup(
                    count: members.count, call: Self.goCall(first.frames) ?? key.call,
                    summary: FDDescription.summary(of: leaks.map(\.description)),
                    highlight: first.headline, frames: first.frames, fds: leaks.map(fdReport),
                    openedBy: key.openedBy), leaks)
        }
    }

    /// Python leaks: one group per line of the user's code. Descriptors one
    /// call of that line made together (the epoll and socketpair of an
    /// event loop) form a bundle; groups count bundles of the same shape.
    private func groupPythonBundles(_ sited: [Sited]) -> [LeakGroup] {
        struct Headline: Hashable { var file: String?; var line: Int?; var function: String?; var openedBy: OpenedBy? }
        func headline(_ s: Sited) -> Headline {
            let f = s.headline.map { s.frames[$0] }
            return Headline(file: f?.file, line: f?.line, function: f?.function, openedBy: s.leak.openedBy)
        }
        // Bundles: on each thread, in the order of the calls, consecutive
        // leaks of one headline form a bundle until a part repeats (the
        // next call of the same line) - or one call made several (a pair).
        let ordered = sited.sorted { ($0.leak.tid ?? 0, $0.leak.group, $0.leak.fd) < ($1.leak.tid ?? 0, $1.leak.group, $1.leak.fd) }
        var bundles: [[Sited]] = []
        var current: [Sited] = []
        func flush() { if !current.isEmpty { bundles.append(current); current = [] } }
        for s in ordered {
            if let last = current.last {
                let sameThread = last.leak.tid == s.leak.tid
                let sameCall = sameThread && last.leak.group == s.leak.group
                let repeats = current.contains { $0.key == s.key && $0.leak.group != s.leak.group }
                if !sameThread || headline(last) != headline(s) || (!sameCall && repeats) { flush() }
            }
            current.append(s)
        }
        flush()
        // Groups: bundles of the same headline and the same parts.
        struct Shape: Hashable { var headline: Headline; var parts: [SiteKey] }
        var groups: [Shape: [[Sited]]] = [:]
        var order: [Shape] = []
        for b in bundles {
            let shape = Shape(headline: headline(b[0]), parts: b.map(\.key).sorted { $0.call + "\($0.frames.count)" < $1.call + "\($1.frames.count)" })
            if groups[shape] == nil { order.append(shape) }
            groups[shape, default: []].append(b)
        }
        return order.map { shape in
            let bs = groups[shape]!
            let leaks = bs.flatMap { $0.map(\.leak) }.sorted { $0.fd < $1.fd }
            let first = bs[0][0]
            var g = LeakGroup(
                count: leaks.count, call: first.leak.call.name,
                summary: FDDescription.summary(of: leaks.map(\.description)),
                highlight: first.headline, frames: first.frames, fds: leaks.map(fdReport), openedBy: first.leak.openedBy)
            if bs[0].count > 1 {
                // Parts in the order one call made them.
                var parts: [LeakPart] = []
                var seen: [SiteKey: Int] = [:]
                for s in bs[0] {
                    if let i = seen[s.key] { parts[i].count += 1; continue }
                    seen[s.key] = parts.count
                    let same = bs.compactMap { b in b.first { $0.key == s.key }?.leak.description }
                    parts.append(LeakPart(call: s.leak.call.name, count: 1, summary: FDDescription.summary(of: same), frames: s.frames))
                }
                g.parts = parts
                g.calls = bs.count
                g.bundle = Self.bundleName(bs[0].map(\.leak.description))
                g.call = Array(NSOrderedSet(array: parts.map(\.call))).compactMap { $0 as? String }.joined(separator: "+")
            }
            return withClosedCounts(g, leaks)
        }
    }

    /// "eventpoll + 2 unix stream sockets": the kinds one call made.
    static func bundleName(_ ds: [FDDescription]) -> String {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for d in ds {
            var kind = d.kind.name
            if d.kind == .socket, let p = d.proto { kind = "\(p) socket" }
            if counts[kind] == nil { order.append(kind) }
            counts[kind, default: 0] += 1
        }
        return order.map { k in
            let n = counts[k]!
            if n == 1 { return k }
            return "\(n) \(k.hasSuffix("socket") || k == "file" || k == "pipe" ? k + "s" : k)"
        }.joined(separator: " + ")
    }
}

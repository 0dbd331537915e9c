/// Builds a traced session's `MetricsSample` from the collector's tables,
/// on the collector's loop, at a scrape: nothing on the record path. Gauges
/// sum the running processes of the tree; counters sum every image the
/// session followed (an image that ended or exec'd keeps its counts, so they
/// never go back).
///
/// Sites are named by symbolizing stacks, which costs: only the stacks that
/// rank high (by open now and by opens) are named, once each, at most
/// `namesPerScrape` a scrape. A stack named after a scrape already counted
/// it in "other" leaves what it had at that scrape in "other" (its
/// baseline), so that no counter of a site or of "other" goes back when a
/// name appears.
public final class MetricsSampler {
    public let topSites: Int
    public let rankedPerScrape: Int
    public let namesPerScrape: Int
    /// The N-th best site (open, opened) at the last scrape: a stack that
    /// does not beat it alone is not worth symbolizing (naming runs
    /// llvm-symbolizer on the loop; steady state names nothing).
    private var bar: (open: Int, opened: Int64) = (-1, -1)
    let symbolizer: Symbolizing
    let nativeFrames: Bool
    private var names: [StackRef: SiteName] = [:]
    /// Stacks a previous scrape saw unnamed, with their counts then (what
    /// they gave to "other"), and those counts of a stack named since.
    private var seenUnnamed: [StackRef: (opened: Int64, closed: Int64)] = [:]
    private var baseline: [StackRef: (opened: Int64, closed: Int64)] = [:]

    public init(symbolizer: Symbolizing, nativeFrames: Bool = false, topSites: Int) {
        self.symbolizer = symbolizer
        self.nativeFrames = nativeFrames
        self.topSites = topSites
        rankedPerScrape = max(16, 4 * topSites)
        namesPerScrape = 4096
    }

    struct Activity {
        var ref: StackRef
        /// Open now in a process shown (0 in one that ended).
        var open: Int
        var opened: Int64
        /// Opened and closed again by the program (not by its end).
        var closed: Int64
    }

    /// The sample of `processes` (all the collector's images) now. `final`:
    /// the session is over and the gauges show every process as it ended.
    public func sample(
        _ processes: [TracedProcess], registry: ModuleRegistry, root: Int32, command: [String], exhausted: Int,
        final: Bool = false, now: UInt64? = nil
    ) -> MetricsSample {
        let now = now ?? monotonicNow()
        let shown = processes.filter { final ? $0.end != .execed : $0.end == .running }
        var s = MetricsSample(
            pid: root, command: (processes.last { $0.pid == root }?.command ?? command).joined(separator: " "),
            processes: final ? 0 : shown.count)
        s.exhausted = exhausted
        var oldest: [String: UInt64] = [:]
        for p in shown { countOpen(p, into: &s, oldest: &oldest, inspect: !final) }
        s.oldestAgeByKind = oldest.mapValues { Double(now &- min($0, now)) / 1e9 }
        let fullest = shown.max { $0.table.count < $1.table.count }
        s.maxFDs = fullest?.rlimitSoft
        if !final { s.limitPid = fullest?.pid }
        let shownKeys = Set(shown.map(\.key))
        var activity: [Activity] = []
        for p in processes {
            s.opened += Int64(p.table.opens)
            s.closed += Int64(p.table.opens - p.table.descriptors.lazy.filter { $0.origin == .traced }.count)
            let isShown = shownKeys.contains(p.key)
            for a in p.table.stackActivity() {
                activity.append(
                    Activity(ref: StackRef(process: p.key, id: a.id), open: isShown ? a.open : 0, opened: a.opened, closed: a.opened - Int64(a.open)))
            }
        }
        name(activity, processes: processes, registry: registry)
        s.sites = sites(activity)
        return s
    }

    /// Open descriptors of one image by kind, the oldest of each kind, and
    /// which to look at in /proc (sockets, kinds the call did not tell).
    private func countOpen(_ p: TracedProcess, into s: inout MetricsSample, oldest: inout [String: UInt64], inspect: Bool) {
        var look: [Int32] = []
        for t in p.table.descriptors {
            let kind: FDKind
            if t.origin == .inherited, let k = p.table.inheritedViews[t.fd] {
                kind = FDClassifier.describe(k).kind
            } else {
                kind = FDClassifier.describe(t.openingEvent).kind
            }
            s.openByKind[kind.name, default: 0] += 1
            let opened = max(t.openedAt, p.startTime)
            if opened < oldest[kind.name] ?? .max { oldest[kind.name] = opened }
            if kind == .socket || kind == .unknown { look.append(t.fd) }
        }
        if inspect && !look.isEmpty { s.toInspect[p.pid, default: []] += look }
    }

    /// Names the stacks that rank high and have no name yet.
    private func name(_ activity: [Activity], processes: [TracedProcess], registry: ModuleRegistry) {
        let bar = self.bar
        let unnamed = activity.filter { names[$0.ref] == nil && ($0.open, $0.opened) > bar }
        // What stays unnamed now has been counted in "other" from here on.
        defer { for a in activity where names[a.ref] == nil { seenUnnamed[a.ref] = (a.opened, a.closed) } }
        guard !unnamed.isEmpty else { return }
        let byOpen = unnamed.sorted { $0.open > $1.open }.prefix(rankedPerScrape).filter { $0.open > 0 }
        let byOpened = unnamed.sorted { $0.opened > $1.opened }.prefix(rankedPerScrape)
        var chosen: [StackRef: Activity] = [:]
        for a in byOpen + byOpened where chosen.count < namesPerScrape { chosen[a.ref] = a }
        let builder = ReportBuilder(processes: [], images: processes, registry: registry, symbolizer: symbolizer, nativeFrames: nativeFrames)
        for (ref, n) in builder.siteNames(Array(chosen.keys), processes: processes) {
            names[ref] = n
            if let before = seenUnnamed.removeValue(forKey: ref) { baseline[ref] = before }
        }
    }

    /// Named stacks merged by name; counters less what each had given to
    /// "other" before it was named.
    private func sites(_ activity: [Activity]) -> [SiteSample] {
        var byName: [SiteName: SiteSample] = [:]
        for a in activity {
            guard let n = names[a.ref] else { continue }
            let base = baseline[a.ref] ?? (0, 0)
            var e = byName[n] ?? SiteSample(name: n, open: 0, opened: 0, closed: 0)
            e.open += a.open
            e.opened += max(0, a.opened - base.opened)
            e.closed += max(0, a.closed - base.closed)
            byName[n] = e
        }
        let ranked = byName.values.map { ($0.open, $0.opened) }.sorted { $0 > $1 }
        bar = ranked.count >= topSites ? ranked[topSites - 1] : (-1, -1)
        return byName.values.sorted { $0.name < $1.name }
    }
}

extension ReportBuilder {
    /// Each stack named by its headline frame (the user's line), symbolized
    /// in one batch; a stack without frames by its opening call.
    func siteNames(_ refs: [StackRef], processes: [TracedProcess]) -> [StackRef: SiteName] {
        var wanted = Set<RawFrame>()
        for r in refs { if let f = stackFrames(r) { wanted.formUnion(f) } }
        let native = wanted.filter { $0.python == nil }
        var symbols = native.isEmpty ? [:] : symbolizer.symbolize(native, modules: registry)
        for f in wanted where f.python != nil { symbols[f] = [pythonFrame(f)] }
        var out: [StackRef: SiteName] = [:]
        for r in refs {
            let frames = sourceFrames(r, symbols)
            if let h = Self.headline(frames) {
                let f = frames[h]
                let place = (f.file ?? f.module).map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "?"
                out[r] = SiteName(
                    site: place + (f.line.map { ":\($0)" } ?? ""), function: f.function ?? "", file: f.file ?? f.module ?? "",
                    line: f.line.map(String.init) ?? "")
            } else {
                let call = processes.indices.contains(r.process) ? processes[r.process].table.timeline.call(of: r.id) : nil
                out[r] = SiteName(site: call?.name ?? "unknown")
            }
        }
        return out
    }
}

/// Bad closes in the report: grouped by the close's site and the sites of
/// the close before and the opening (source locations, as leaks are).
extension ReportBuilder {
    /// The frames a process's bad closes show (symbolized with the rest).
    func badCloseFrames(_ p: TracedProcess) -> Set<RawFrame> {
        var out = Set<RawFrame>()
        for b in p.table.badCloses {
            for s in [b.site.stack, b.closedBefore?.stack, b.opened?.stack, b.reusedBy?.stack] {
                if let s, let frames = stackFrames(s) { out.formUnion(frames) }
            }
        }
        return out
    }

    private struct BadCloseKey: Hashable {
        var kind: BadClose.Kind
        var sites: [CallSiteReport?]
    }

    /// A process's bad-close groups into its report (and a note if some were not kept).
    func addBadCloses(_ p: TracedProcess, to report: inout ProcessReport, symbols: [RawFrame: [SymbolizedFrame]]) {
        report.badCloses = badCloseGroups(p, symbols: symbols)
        if p.table.badClosesDropped > 0 {
            report.notes.append("\(p.table.badClosesDropped) more bad closes were not kept (limit \(ProcessTable.badCloseLimit))")
        }
    }

    /// The groups of one process, largest first; nil when it made none.
    func badCloseGroups(_ p: TracedProcess, symbols: [RawFrame: [SymbolizedFrame]]) -> [BadCloseGroup]? {
        guard !p.table.badCloses.isEmpty else { return nil }
        var order: [BadCloseKey] = []
        var groups: [BadCloseKey: BadCloseGroup] = [:]
        for b in p.table.badCloses {
            let site = callSite(b.site, symbols)
            let before = b.closedBefore.map { callSite($0, symbols) }
            let opened = b.opened.map { callSite($0, symbols) }
            var reused = b.reusedBy.map { callSite(CallSite(call: $0.call, stack: $0.stack), symbols) }
            reused?.summary = b.reusedBy.map { FDDescription.summary(of: [FDClassifier.describe($0.openingEvent)]) }
            let key = BadCloseKey(kind: b.kind, sites: [site, before, opened, reused].map { $0.map(Self.locationOnly) })
            if groups[key] == nil {
                order.append(key)
                groups[key] = BadCloseGroup(
                    kind: b.kind, count: 0, call: site.call, highlight: site.highlight, frames: site.frames, fds: [],
                    closedBefore: before, opened: opened, reusedBy: reused)
            }
            groups[key]!.count += 1
            if !groups[key]!.fds.contains(b.fd) && groups[key]!.fds.count < 32 { groups[key]!.fds.append(b.fd) }
        }
        func line(_ g: BadCloseGroup) -> Int { g.highlightedFrame?.line ?? 0 }
        return order.compactMap { groups[$0] }.map { g in
            var g = g
            g.fds.sort()
            return g
        }.sorted { a, b in
            // A stale stream closed somebody else's descriptor: first.
            if (a.kind == .staleOwner) != (b.kind == .staleOwner) { return a.kind == .staleOwner }
            return a.count != b.count ? a.count > b.count : line(a) < line(b)
        }
    }

    private func callSite(_ s: CallSite, _ symbols: [RawFrame: [SymbolizedFrame]]) -> CallSiteReport {
        let frames = sourceFrames(s.stack, symbols)
        return CallSiteReport(call: s.call.name, highlight: Self.headline(frames), frames: frames)
    }

    /// A site by call and source locations (addresses dropped where a line is known).
    private static func locationOnly(_ s: CallSiteReport) -> CallSiteReport {
        var out = s
        out.frames = s.frames.map(ReportBuilder.locationOnly)
        return out
    }
}

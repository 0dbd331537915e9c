import Foundation

/// Two runs compared site by site (`fdtrace report --diff OLD NEW`): which
/// leak sites are new, gone, grew or shrank. Sites are matched by identity
/// (the call, the user's frame, the class of descriptor: SiteIdentity), and
/// counted over every process of the run (leaks and inherited leaks).
public struct ReportDiff: Sendable {
    public enum Change: String, Sendable, CaseIterable {
        case new, grew, gone, shrank, same
    }

    public struct Site: Sendable {
        public var identity: SiteIdentity
        public var old: Int
        public var new: Int
        /// What the descriptors are (from the newer run when it has them).
        public var summary: String
        public var change: Change {
            if old == 0 { return .new }
            if new == 0 { return .gone }
            return new > old ? .grew : new < old ? .shrank : .same
        }
    }

    public var sites: [Site]

    public init(old: Report, new: Report) {
        var counts: [SiteIdentity: (old: Int, new: Int, summary: String)] = [:]
        for (report, isNew) in [(old, false), (new, true)] {
            for p in report.processes {
                for g in p.leaks + p.inheritedLeaks {
                    let id = SiteIdentity(g)
                    var c = counts[id] ?? (0, 0, g.summary)
                    if isNew { c.new += g.count; c.summary = g.summary } else { c.old += g.count }
                    counts[id] = c
                }
            }
        }
        let order = Change.allCases
        sites = counts.map { Site(identity: $0.key, old: $0.value.old, new: $0.value.new, summary: $0.value.summary) }
            .sorted { a, b in
                let (ca, cb) = (order.firstIndex(of: a.change)!, order.firstIndex(of: b.change)!)
                if ca != cb { return ca < cb }
                let (da, db) = (abs(a.new - a.old), abs(b.new - b.old))
                return da != db ? da > db : a.identity < b.identity
            }
    }

    public func count(_ c: Change) -> Int { sites.filter { $0.change == c }.count }

    /// Something is new or grew: the newer run leaks more.
    public var regressed: Bool { count(.new) > 0 || count(.grew) > 0 }

    public func render(oldName: String, newName: String) -> String {
        let n = { (c: Change) in count(c) }
        var out = "fdtrace: \(oldName) → \(newName): \(n(.new)) new, \(n(.gone)) gone, \(n(.grew)) grew, \(n(.shrank)) shrank, \(n(.same)) unchanged"
        out += regressed ? "\n" : " (no new or grown leak)\n"
        let shown = sites.filter { $0.change != .same }
        let width = shown.map { "\($0.old) → \($0.new)".count }.max() ?? 0
        for s in shown {
            let counts = "\(s.old) → \(s.new)"
            let pad = String(repeating: " ", count: max(0, width - counts.count))
            out += "  \(s.change.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(pad)\(counts)   \(s.identity.label)"
            out += s.summary.isEmpty ? "\n" : "   \(s.summary)\n"
        }
        return out
    }
}

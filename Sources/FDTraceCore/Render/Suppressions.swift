import Foundation

/// The suppression entries of a run (`--suppressions FILE`, repeatable;
/// `FDTRACE_SUPPRESSIONS` in bare mode), and the one place they are applied
/// to a finished report. A pure value: `match` answers for one leak group
/// (what the pytest plugin's per-test answer asks too), `apply` moves the
/// matched groups out of the leak lists and says what each entry matched.
public struct Suppressions: Sendable, Equatable {
    public var entries: [SuppressionEntry]

    public init(entries: [SuppressionEntry] = []) { self.entries = entries }

    public var isEmpty: Bool { entries.isEmpty }

    /// The files, in order; each problem is one usage error naming the file
    /// (and line), before anything runs.
    public static func load(_ paths: [String]) throws -> Suppressions {
        var entries: [SuppressionEntry] = []
        var names: [String: SuppressionEntry] = [:]
        for path in paths {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw FDTraceError("cannot read suppressions \(path): \(reason(path))", status: ExitStatus.usage)
            }
            for e in try SuppressionParser.parse(text, file: path) {
                if let first = names[e.name] {
                    throw FDTraceError("\(e.place): entry '\(e.name)' is already defined at \(first.place)", status: ExitStatus.usage)
                }
                names[e.name] = e
                entries.append(e)
            }
        }
        return Suppressions(entries: entries)
    }

    /// `FDTRACE_SUPPRESSIONS`: files separated by ':'.
    public static func paths(fromEnvironment value: String?) -> [String] {
        (value ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    private static func reason(_ path: String) -> String {
        var st = stat()
        if stat(path, &st) != 0 { return String(cString: strerror(errno)) }
        if st.st_mode & S_IFMT == S_IFDIR { return "it is a directory" }
        if access(path, R_OK) != 0 { return String(cString: strerror(errno)) }
        return "it is not UTF-8 text"
    }

    /// The first entry that matches the group, in file order.
    public func match(_ g: LeakGroup) -> SuppressionEntry? {
        entries.first { $0.matches(g) }
    }

    /// The report without the groups an entry matches (they move to each
    /// process's `suppressed`, with the entry's name), and the summary of
    /// what each entry matched. A report already suppressed keeps what it
    /// had: the entries are added to its summary.
    public func apply(to report: Report) -> Report {
        guard !isEmpty else { return report }
        var r = report
        var uses = entries.map { SuppressionUse(name: $0.name, file: $0.file, line: $0.line) }
        func take(_ g: LeakGroup, into suppressed: inout [LeakGroup]) -> Bool {
            guard let i = entries.firstIndex(where: { $0.matches(g) }) else { return false }
            uses[i].groups += 1
            uses[i].descriptors += g.count
            var s = g
            s.suppressedBy = entries[i].name
            suppressed.append(s)
            return true
        }
        for pi in r.processes.indices {
            var p = r.processes[pi]
            var suppressed = p.suppressed ?? []
            var kept: [LeakGroup] = []
            var newIndex: [Int: Int] = [:]
            for (i, g) in p.leaks.enumerated() {
                if take(g, into: &suppressed) {
                    p.leakedDescriptors -= g.count
                } else {
                    newIndex[i] = kept.count
                    kept.append(g)
                }
            }
            p.leaks = kept
            p.inheritedLeaks = p.inheritedLeaks.filter { !take($0, into: &suppressed) }
            // The timeline names leak groups by index in `leaks`.
            if var t = p.timeline {
                for k in t.sites.indices { t.sites[k].leakGroup = t.sites[k].leakGroup.flatMap { newIndex[$0] } }
                p.timeline = t
            }
            p.suppressed = suppressed.isEmpty ? nil : suppressed
            r.processes[pi] = p
        }
        for k in uses.indices { uses[k].stale = uses[k].groups == 0 }
        r.suppressions = SuppressionSummary(entries: (report.suppressions?.entries ?? []) + uses)
        return r
    }
}

/// Which sites get series of their own at a scrape, and the counts of the
/// one `site="other"` series: at most `limit` sites, those holding the most
/// descriptors now (then the most opened; a site already shown wins a tie,
/// so the set does not flap), and "other" for the rest — so at most
/// `limit + 1` series per metric, however many sites the program has.
///
/// Counters never go back. Between two scrapes nothing is exported, so
/// each site's growth since the last scrape is credited to its own series
/// if it is shown now and to "other" if not; a site's series counts what
/// was credited to it (it continues where it stopped if it drops out and
/// comes back), and "other" is everything opened less what all sites were
/// credited. Pure: the exporter keeps one fold per session.
public struct SiteSeriesFold: Sendable {
    public let limit: Int
    private var last: [SiteName: (opened: Int64, closed: Int64)] = [:]
    private var credited: [SiteName: (opened: Int64, closed: Int64)] = [:]
    private var shown: Set<SiteName> = []

    public init(limit: Int) { self.limit = max(0, limit) }

    /// One series: a site, or "other" (name nil).
    public struct Series: Sendable, Equatable {
        public var name: SiteName?
        public var open: Int
        public var opened: Int64
        public var closed: Int64
    }

    /// The series of a sample's sites; `totalOpen`, `opened` and `closed`
    /// count every descriptor (named sites or not).
    public mutating func fold(_ sites: [SiteSample], totalOpen: Int, opened: Int64, closed: Int64) -> [Series] {
        let ranked = sites.sorted { a, b in
            if a.open != b.open { return a.open > b.open }
            if a.opened != b.opened { return a.opened > b.opened }
            let (sa, sb) = (shown.contains(a.name), shown.contains(b.name))
            if sa != sb { return sa }
            return a.name < b.name
        }
        let now = ranked.prefix(limit)
        shown = Set(now.map(\.name))
        for s in sites {
            let before = last[s.name] ?? (0, 0)
            last[s.name] = (max(before.opened, s.opened), max(before.closed, s.closed))
            guard shown.contains(s.name) else { continue }
            let c = credited[s.name] ?? (0, 0)
            credited[s.name] = (c.opened + max(0, s.opened - before.opened), c.closed + max(0, s.closed - before.closed))
        }
        var out = now.map { s in
            Series(name: s.name, open: s.open, opened: credited[s.name]?.opened ?? 0, closed: credited[s.name]?.closed ?? 0)
        }
        let creditedOpened = credited.values.reduce(Int64(0)) { $0 + $1.opened }
        let creditedClosed = credited.values.reduce(Int64(0)) { $0 + $1.closed }
        out.append(
            Series(
                name: nil, open: max(0, totalOpen - now.reduce(0) { $0 + $1.open }), opened: max(0, opened - creditedOpened),
                closed: max(0, closed - creditedClosed)))
        return out
    }
}

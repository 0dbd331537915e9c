extension FDDescription {
    /// One description for a group: shared fields kept, differing ones
    /// shown as "*" (addresses keep their shared host), kinds counted.
    public static func summary(of ds: [FDDescription]) -> String {
        guard let first = ds.first else { return "" }
        let kinds = Set(ds.map(\.kind))
        if kinds.count > 1 { return tally(ds.map(\.kind.name)).joined(separator: " + ") }
        var merged = first
        func same<T: Equatable>(_ k: KeyPath<FDDescription, T?>) -> Bool { ds.allSatisfy { $0[keyPath: k] == first[keyPath: k] } }
        if !same(\.path) {
            let paths = Set(ds.compactMap(\.path))
            merged.path = "(\(paths.count) paths, e.g. \(paths.sorted().first ?? "?"))"
        }
        if !same(\.proto) { merged.proto = first.kind.name }
        if !same(\.local) { merged.local = mergeAddresses(ds.map(\.local)) }
        if !same(\.peer) { merged.peer = mergeAddresses(ds.map(\.peer)) }
        var s = merged.summary
        let states = ds.compactMap(\.state)
        if !states.isEmpty { s += ", " + tally(states).joined(separator: ", ") }
        return s
    }

    /// "3 CLOSE_WAIT", "1 ESTABLISHED": each value with how often it comes,
    /// most first, then alphabetically.
    static func tally(_ values: [String]) -> [String] {
        var counts: [String: Int] = [:]
        for v in values { counts[v, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.value) \($0.key)" }
    }

    static func mergeAddresses(_ addrs: [String?]) -> String {
        let hosts = Set(
            addrs.map { a -> String in
                guard let a, let colon = a.lastIndex(of: ":") else { return a ?? "" }
                return String(a[..<colon])
            })
        if hosts.count == 1, let h = hosts.first, !h.isEmpty { return h + ":*" }
        return "*"
    }
}

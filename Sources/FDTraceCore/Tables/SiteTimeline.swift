/// Open descriptors per opening stack over the whole life of a process
/// image, in a bounded number of time buckets: what the HTML report's chart
/// draws. A bucket holds, per stack that changed in it, the most descriptors
/// it had open during the bucket and what it had at its end; a stack that did
/// not change keeps its last value. Buckets start 1 ms wide; when the run
/// outgrows `maxBuckets`, or the entries outgrow `maxEntries`, adjacent
/// buckets merge pairwise (keeping the most per bucket) and every bucket
/// doubles in width. O(1) per event, except the merges (O(entries), each
/// halving the buckets).
public struct SiteTimeline: Sendable {
    public static let maxBuckets = 2048
    public static let maxEntries = 1 << 17
    static let stackLimit = 1 << 17
    static let firstWidth: UInt64 = 1_000_000
    static let maxMarks = 256

    struct Entry: Sendable {
        var bucket: UInt32
        var stack: UInt32
        var most: Int32
        var last: Int32
    }

    /// A moment worth marking on the chart (EMFILE, a snapshot).
    public struct Mark: Sendable, Equatable {
        public var reason: String
        public var time: UInt64
    }

    /// Start of bucket 0 (the image's first event), monotonic ns.
    public private(set) var origin: UInt64 = 0
    /// Width of every bucket, ns.
    public private(set) var width: UInt64 = firstWidth
    public private(set) var marks: [Mark] = []
    /// Entries that found no room (only with more stacks than entries).
    public private(set) var dropped = 0
    private var started = false
    private var now: UInt64 = 0
    private var current = 0
    private var totalMost = ContiguousArray<Int32>()
    private var totalNow: Int32 = 0
    private var counts = ContiguousArray<Int32>()
    private var peaks = ContiguousArray<Int32>()
    private var calls = ContiguousArray<UInt16>()
    private var latest = ContiguousArray<Int32>()
    private var entries = ContiguousArray<Entry>()

    public init() {}

    /// Buckets in use (0 before the first event).
    public var bucketCount: Int { started ? current + 1 : 0 }

    /// The time of the next changes (event times; 0 = unknown, kept as is).
    public mutating func advance(to time: UInt64) {
        guard time != 0 else { return }
        if !started {
            started = true
            origin = time
            now = time
            totalMost = [totalNow]
            return
        }
        if time > now { now = time }
        var b = Int((now &- origin) / width)
        while b >= Self.maxBuckets {
            merge()
            b = Int((now &- origin) / width)
        }
        if b > current {
            totalMost.append(contentsOf: repeatElement(totalNow, count: b - current))
            current = b
        }
    }

    /// A descriptor left the table (opened at stack `removed`) and/or one
    /// entered it (opened at `added` by `call`); `total` is the table's
    /// count after the change. Only stacks of `process` (the image's own)
    /// are followed per stack. Stacks, not whole entries: this runs per
    /// event, and copying an entry copies its path.
    public mutating func changed(removed: StackRef?, added: StackRef?, call: Call, total: Int, process: Int) {
        if let s = removed, s.process == process { change(s.id, by: -1, call: call) }
        if let s = added, s.process == process { change(s.id, by: 1, call: call) }
        totalNow = Int32(clamping: total)
        if started && totalMost[current] < totalNow { totalMost[current] = totalNow }
    }

    /// Marks the chart at `time` (monotonic ns).
    public mutating func mark(_ reason: String, at time: UInt64) {
        if marks.count < Self.maxMarks { marks.append(Mark(reason: reason, time: time)) }
    }

    private mutating func change(_ id: UInt32, by delta: Int32, call: Call) {
        let i = Int(id)
        guard i < Self.stackLimit else { return }
        if i >= counts.count {
            let n = max(i + 1, counts.count * 2)
            counts.append(contentsOf: repeatElement(0, count: n - counts.count))
            peaks.append(contentsOf: repeatElement(0, count: n - peaks.count))
            calls.append(contentsOf: repeatElement(0, count: n - calls.count))
            latest.append(contentsOf: repeatElement(-1, count: n - latest.count))
        }
        let before = counts[i]
        let after = max(0, before &+ delta)
        counts[i] = after
        if after > peaks[i] { peaks[i] = after }
        if delta > 0 { calls[i] = call.rawValue }
        guard started else { return }
        let e = Int(latest[i])
        if e >= 0 && entries[e].bucket == UInt32(current) {
            if after > entries[e].most { entries[e].most = after }
            entries[e].last = after
            return
        }
        if entries.count >= Self.maxEntries {
            while entries.count >= Self.maxEntries * 3 / 4 && current > 0 { merge() }
            if entries.count >= Self.maxEntries + Self.stackLimit { dropped += 1; return }
        }
        latest[i] = Int32(entries.count)
        entries.append(Entry(bucket: UInt32(current), stack: id, most: max(before, after), last: after))
    }

    /// Adjacent buckets merge pairwise: the most of the two, the last of
    /// the second; every bucket doubles in width.
    private mutating func merge() {
        width *= 2
        current /= 2
        var merged = ContiguousArray<Int32>()
        merged.reserveCapacity(current + 1)
        for k in stride(from: 0, to: totalMost.count, by: 2) {
            merged.append(k + 1 < totalMost.count ? max(totalMost[k], totalMost[k + 1]) : totalMost[k])
        }
        totalMost = merged
        for k in latest.indices { latest[k] = -1 }
        var w = 0
        for r in entries.indices {
            var e = entries[r]
            e.bucket /= 2
            let s = Int(e.stack)
            let prior = Int(latest[s])
            if prior >= 0 && entries[prior].bucket == e.bucket {
                entries[prior].most = max(entries[prior].most, e.most)
                entries[prior].last = e.last
            } else {
                entries[w] = e
                latest[s] = Int32(w)
                w += 1
            }
        }
        entries.removeLast(entries.count - w)
    }

    // MARK: - reading

    /// The most descriptors the image had open in each bucket.
    public var totals: [Int] { totalMost.map(Int.init) }

    /// The stacks that ever held the most descriptors at once, most first
    /// (ties by id), at most `limit`.
    public func leadingStacks(_ limit: Int) -> [UInt32] {
        peaks.indices.filter { peaks[$0] > 0 }
            .sorted { peaks[$0] != peaks[$1] ? peaks[$0] > peaks[$1] : $0 < $1 }
            .prefix(limit).map(UInt32.init)
    }

    /// The call that opened the stack's descriptors.
    public func call(of stack: UInt32) -> Call? {
        Int(stack) < calls.count && peaks[Int(stack)] > 0 ? Call(rawValue: calls[Int(stack)]) : nil
    }

    /// The most descriptors of `stack` open in each bucket.
    public func series(_ stack: UInt32) -> [Int] { series(of: [stack])[stack] ?? [] }

    /// The same for several stacks, in one pass over the entries.
    public func series(of stacks: [UInt32]) -> [UInt32: [Int]] {
        var out: [UInt32: [Int]] = [:]
        var carry: [UInt32: Int] = [:]
        var next: [UInt32: Int] = [:]
        for s in stacks { out[s] = [Int](repeating: 0, count: bucketCount); carry[s] = 0; next[s] = 0 }
        for e in entries where out[e.stack] != nil {
            let b = Int(e.bucket)
            var n = next[e.stack]!, c = carry[e.stack]!
            while n < b { out[e.stack]![n] = c; n += 1 }
            out[e.stack]![b] = Int(e.most)
            carry[e.stack] = Int(e.last)
            next[e.stack] = b + 1
        }
        for s in stacks {
            var n = next[s]!
            let c = carry[s]!
            while n < bucketCount { out[s]![n] = c; n += 1 }
        }
        return out
    }
}

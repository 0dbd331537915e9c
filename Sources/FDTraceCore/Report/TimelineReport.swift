import Foundation

/// Open descriptors of one process image over its life (JSON `timeline`):
/// the most open in each time bucket, in all and for the sites that held the
/// most at once, and the moments marked (EMFILE, snapshots). Buckets are
/// equally wide and cover the image's life from its first descriptor event
/// to its last; their number is bounded (SiteTimeline).
public struct TimelineReport: Codable, Sendable, Equatable {
    /// Where bucket 0 starts, seconds after the process started.
    public var startSeconds: Double
    /// The width of each bucket, seconds.
    public var bucketSeconds: Double
    /// The most descriptors the process had open in each bucket.
    public var total: BucketCounts
    /// The leading sites, most at once first.
    public var sites: [TimelineSite]
    public var marks: [TimelineMark]

    public var buckets: Int { total.values.count }
}

/// A site as leak groups are: the call and its stack (a Python stack: the
/// call and the user's line).
public struct TimelineSite: Codable, Sendable, Equatable {
    public var call: String
    /// The site's frame as the report names it (the user's line).
    public var site: FrameReport?
    /// The process's leak group of this site (index in `leaks`), when its
    /// descriptors leaked.
    public var leakGroup: Int?
    /// The most it held at once.
    public var peak: Int
    /// The most it held in each bucket.
    public var counts: BucketCounts
}

public struct TimelineMark: Codable, Sendable, Equatable {
    /// "EMFILE", "ENFILE", "threshold", "periodic".
    public var reason: String
    public var atSeconds: Double
}

/// Counts per bucket, written in JSON as one string (a chart's series would
/// otherwise take a line per bucket): comma-separated, a run of N equal
/// values V as "VxN" — "0x12,1,2,3x40".
public struct BucketCounts: Codable, Sendable, Equatable {
    public var values: [Int]
    public init(_ values: [Int]) { self.values = values }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let array = try? c.decode([Int].self) { values = array; return }
        let text = try c.decode(String.self)
        guard let parsed = Self.parse(text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a list of counts: \(text.prefix(40))")
        }
        values = parsed
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }

    public var text: String {
        var parts: [String] = []
        var i = 0
        while i < values.count {
            var j = i + 1
            while j < values.count && values[j] == values[i] { j += 1 }
            parts.append(j - i > 1 ? "\(values[i])x\(j - i)" : "\(values[i])")
            i = j
        }
        return parts.joined(separator: ",")
    }

    static func parse(_ text: String) -> [Int]? {
        if text.isEmpty { return [] }
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "x", omittingEmptySubsequences: false)
            guard pieces.count <= 2, let v = Int(pieces[0]) else { return nil }
            let n = pieces.count == 2 ? Int(pieces[1]) : 1
            guard let n, n >= 1, n <= 1 << 20, out.count + n <= 1 << 20 else { return nil }
            out.append(contentsOf: repeatElement(v, count: n))
        }
        return out
    }
}

extension ReportBuilder {
    /// Sites a timeline names at most.
    static let timelineSites = 8

    /// The stacks a timeline may name (their frames are symbolized with the
    /// rest of the report's).
    static func timelineStacks(_ p: TracedProcess) -> [UInt32] {
        p.table.timeline.leadingStacks(4 * timelineSites)
    }

    /// The image's timeline: its leading stacks merged by site as leak
    /// groups are (the call and the frames by source location; in a Python
    /// stack the call and the user's line), the leading sites kept, each
    /// with its leak group (`leaks`: the process's).
    func timelineReport(_ p: TracedProcess, symbols: [RawFrame: [SymbolizedFrame]], leaks: [LeakGroup]) -> TimelineReport? {
        let t = p.table.timeline
        guard t.bucketCount > 0 else { return nil }
        struct Key: Hashable { var call: String; var frames: [FrameReport]; var python: Bool }
        func located(_ f: FrameReport) -> FrameReport {
            var f = f
            if f.file != nil { f.address = "" }
            return f
        }
        var bySite: [Key: [Int]] = [:]
        var siteOf: [Key: FrameReport] = [:]
        var order: [Key] = []
        let stacks = Self.timelineStacks(p)
        let seriesOf = t.series(of: stacks)
        for id in stacks {
            let frames = sourceFrames(StackRef(process: p.key, id: id), symbols).map(located)
            let head = Self.headline(frames)
            let python = frames.contains { $0.python == true }
            let key = Key(call: t.call(of: id)?.name ?? "?", frames: python ? head.map { [frames[$0]] } ?? [] : frames, python: python)
            if let head { siteOf[key] = frames[head] }
            let series = seriesOf[id] ?? []
            if let sum = bySite[key] {
                bySite[key] = zip(sum, series).map { $0 + $1 }
            } else {
                bySite[key] = series
                order.append(key)
            }
        }
        var ranked: [(index: Int, site: TimelineSite)] = []
        for (i, k) in order.enumerated() {
            let counts = bySite[k] ?? []
            let peak = counts.max() ?? 0
            guard peak > 0 else { continue }
            let group = leaks.firstIndex { g in
                guard g.openedBy == nil else { return false }
                if k.python {
                    return g.call.split(separator: "+").contains { $0 == k.call } && g.highlightedFrame.map(located) == siteOf[k]
                }
                return g.call == k.call && g.frames.map(located) == k.frames
            }
            ranked.append((i, TimelineSite(call: k.call, site: siteOf[k], leakGroup: group, peak: peak, counts: BucketCounts(counts))))
        }
        ranked.sort { a, b in a.site.peak != b.site.peak ? a.site.peak > b.site.peak : a.index < b.index }
        let sites = ranked.prefix(Self.timelineSites).map { $0.site }
        func seconds(_ time: UInt64) -> Double { Double(Int64(bitPattern: time &- p.startTime)) / 1e9 }
        return TimelineReport(
            startSeconds: seconds(t.origin), bucketSeconds: Double(t.width) / 1e9,
            total: BucketCounts(t.totals), sites: Array(sites),
            marks: t.marks.map { TimelineMark(reason: $0.reason, atSeconds: seconds($0.time)) })
    }
}

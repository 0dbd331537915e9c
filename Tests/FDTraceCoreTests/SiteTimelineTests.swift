import Foundation
import Testing

@testable import FDTraceCore

@Suite struct SiteTimelineTests {
    static let ms: UInt64 = 1_000_000
    static let t0: UInt64 = 5_000_000_000

    func open(_ fd: Int32, stack: UInt32, at ms: UInt64) -> Record {
        .open(OpenEvent(time: Self.t0 + ms * Self.ms, fd: fd, call: .open, stackID: stack))
    }
    func close(_ fd: Int32, at ms: UInt64) -> Record {
        .close(CloseEvent(time: Self.t0 + ms * Self.ms, fd: fd, call: .close, tid: 1))
    }

    @Test("Each bucket holds the most a stack had open in it; a stack that did not change keeps its value")
    func mostPerBucket() {
        var t = ProcessTable(processKey: 0)
        t.apply(open(3, stack: 1, at: 0))
        t.apply(open(4, stack: 1, at: 0))
        t.apply(close(4, at: 0))  // bucket 0: 2 at most, 1 at its end
        t.apply(open(5, stack: 2, at: 3))  // bucket 3: stack 2 opens one
        t.apply(close(3, at: 5))  // bucket 5: stack 1 back to 0
        let tl = t.timeline
        #expect(tl.bucketCount == 6 && tl.width == Self.ms && tl.origin == Self.t0)
        #expect(tl.series(1) == [2, 1, 1, 1, 1, 1])
        #expect(tl.series(2) == [0, 0, 0, 1, 1, 1])
        #expect(tl.totals == [2, 1, 1, 2, 2, 2])
        #expect(tl.leadingStacks(8) == [1, 2])
        #expect(tl.call(of: 1) == .open)
    }

    @Test("Out of buckets: adjacent ones merge pairwise keeping the most, and widths double")
    func mergesPairwise() {
        var t = ProcessTable(processKey: 0)
        // A sawtooth: one descriptor opened and closed every ms, and one
        // more kept every 100 ms, for 10 s: 10 000 ms > 2048 buckets.
        var kept: Int32 = 1000
        for ms in UInt64(0)..<10_000 {
            t.apply(open(3, stack: 1, at: ms))
            t.apply(close(3, at: ms))
            if ms % 100 == 99 { t.apply(open(kept, stack: 2, at: ms)); kept += 1 }
        }
        let tl = t.timeline
        #expect(tl.bucketCount <= SiteTimeline.maxBuckets && tl.bucketCount > SiteTimeline.maxBuckets / 2)
        #expect(tl.width == 8 * Self.ms)
        let s1 = tl.series(1), s2 = tl.series(2)
        #expect(s1.allSatisfy { $0 == 1 }, "the sawtooth's most is 1 in every bucket")
        // Stack 2 after k ms holds k/100 (rounded down); a bucket keeps its
        // largest value: the one at its end.
        for (b, v) in s2.enumerated() {
            let end = UInt64(b + 1) * 8 - 1
            #expect(v == Int(min(end, 9999) + 1) / 100, "bucket \(b)")
        }
        #expect(tl.totals.last == 100)
    }

    @Test("Many stacks: the entries stay bounded, buckets merge instead")
    func boundedEntries() {
        var t = ProcessTable(processKey: 0)
        for ms in UInt64(0)..<2000 {
            for s in UInt32(1)...200 {
                t.apply(open(3, stack: s, at: ms))
                t.apply(close(3, at: ms))
            }
        }
        let tl = t.timeline
        #expect(tl.bucketCount * 200 <= SiteTimeline.maxEntries)
        #expect(tl.series(77).allSatisfy { $0 == 1 } && tl.dropped == 0)
    }

    @Test("A fork child's copy starts its own timeline; the parent's stacks are not its own")
    func forkChild() {
        var t = ProcessTable(processKey: 0)
        t.apply(open(3, stack: 1, at: 0))
        var child = t.copy(to: 1)
        #expect(child.timeline.bucketCount == 0)
        child.apply(.open(OpenEvent(time: Self.t0 + 2 * Self.ms, fd: 4, call: .pipe, stackID: 9)))
        child.apply(close(3, at: 3))
        #expect(child.timeline.leadingStacks(8) == [9] && child.timeline.call(of: 9) == .pipe)
        // Bucket 1 starts with the 2 open before the close: its most is 2.
        #expect(child.timeline.totals == [2, 2])
    }

    @Test("Counts in JSON: one string, runs as VxN; arrays are read too")
    func bucketCountsText() throws {
        let c = BucketCounts([0, 0, 0, 1, 2, 2, 7])
        #expect(c.text == "0x3,1,2x2,7")
        #expect(BucketCounts.parse("0x3,1,2x2,7") == c.values)
        #expect(BucketCounts.parse("") == [])
        #expect(BucketCounts.parse("1,,2") == nil && BucketCounts.parse("1x0") == nil && BucketCounts.parse("x") == nil)
        #expect(BucketCounts.parse("1x99999999") == nil)
        let data = try JSONRenderer.encode(["a": c])
        #expect(String(decoding: data, as: UTF8.self).contains("\"0x3,1,2x2,7\""))
        #expect(try JSONRenderer.decode([String: BucketCounts].self, from: data)["a"] == c)
        #expect(try JSONRenderer.decode([String: BucketCounts].self, from: Data("{\"a\":[1,2]}".utf8))["a"]?.values == [1, 2])
    }
}

import Foundation
import Glibc
import Testing

@testable import FDTraceCore

/// A small pclntab written here in each layout (1.16-1.17, 1.18-1.19,
/// 1.20+): two functions, the first with two nested inlined calls; the
/// answers must be the same in every layout. Real 1.19 binaries are in
/// GoLineTableTests; Debian has no other Go to build 1.16 or 1.20 ones.
/// Then malformed tables: each answers nil, nothing traps, nothing hangs.
@Suite struct GoLineTableFormatTests {
    typealias Frame = GoLineTable.Frame
    static let text: UInt64 = 0x401000, tableAddress: UInt64 = 0x500000, gofunc: UInt64 = 0x600000

    /// Function main.outer at text+0x100 (0x40 bytes):
    ///   [0x00,0x10) outer.go:10, [0x10,0x20) leaf.go:30 in leaf inlined in
    ///   mid, [0x20,0x30) outer.go:20 in mid inlined in outer, [0x30,0x40)
    ///   outer.go:12. Tree: 0 = mid called from pc 0x04, 1 = leaf called from 0x24.
    /// Function main.other at text+0x140 (0x10 bytes): outer.go:40, no tree.
    struct Synthetic {
        var table: [UInt8]
        var regions: [GoInlineTree.Region]
        var inlineTreeAddress: UInt64
    }

    static func zigzag(_ d: Int32) -> UInt32 { UInt32(bitPattern: (d << 1) ^ (d >> 31)) }
    static func varint(_ v: UInt32) -> [UInt8] {
        var v = v, out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        return out + [UInt8(v)]
    }
    /// A pc-value table from (value, length in bytes) runs.
    static func pcvalues(_ runs: [(Int32, Int)]) -> [UInt8] {
        var out: [UInt8] = [], last: Int32 = -1
        for (v, n) in runs { out += varint(zigzag(v - last)) + varint(UInt32(n)); last = v }
        return out + [0]
    }
    static func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    static func build(_ format: GoLineTable.Format) -> Synthetic {
        let names = Array("main.outer\0main.mid\0main.leaf\0main.other\0".utf8)
        let cutab = le(0, 4) + le(9, 4)  // file 0 outer.go, file 1 leaf.go
        let files = Array("outer.go\0leaf.go\0".utf8)
        var pctab: [UInt8] = [0]
        func add(_ t: [UInt8]) -> UInt32 { defer { pctab += t }; return UInt32(pctab.count) }
        let f1 = (
            file: add(pcvalues([(0, 0x10), (1, 0x10), (0, 0x20)])),
            line: add(pcvalues([(10, 0x10), (30, 0x10), (20, 0x10), (12, 0x10)])),
            inl: add(pcvalues([(-1, 0x10), (1, 0x10), (0, 0x10), (-1, 0x10)]))
        )
        let f2 = (file: add(pcvalues([(0, 0x10)])), line: add(pcvalues([(40, 0x10)])))
        let ptr = 8
        let headerSize = 8 + (format == .go116 ? 7 : 8) * ptr
        let nameOff = headerSize, cuOff = nameOff + names.count, fileOff = cuOff + cutab.count
        let pcOff = fileOff + files.count, ftabOff = (pcOff + pctab.count + 7) & ~7
        var t = le(UInt64(format == .go116 ? 0xffff_fffa : format == .go118 ? 0xffff_fff0 : 0xffff_fff1), 4) + [0, 0, 1, 8]
        t += le(2, 8) + le(2, 8)
        if format != .go116 { t += le(text, 8) }
        for o in [nameOff, cuOff, fileOff, pcOff, ftabOff] { t += le(UInt64(o), 8) }
        t += names + cutab + files + pctab
        t += [UInt8](repeating: 0, count: ftabOff - t.count)
        // Function table then the two _func records (8-aligned).
        let field = format == .go116 ? 8 : 4
        let ftabSize = 5 * field
        let rec1 = (ftabSize + 7) & ~7
        let entry1: UInt64 = text + 0x100, entry2 = text + 0x140, end = text + 0x150
        func ftEntry(_ e: UInt64) -> [UInt8] { format == .go116 ? le(e, 8) : le(e - text, 4) }
        func record(at: Int, entry: UInt64, name: Int, file: UInt32, line: UInt32, inl: UInt32?, tree: UInt64?) -> [UInt8] {
            var r = format == .go116 ? le(entry, 8) : le(entry - text, 4)
            r += le(UInt64(name), 4) + le(0, 4) + le(0, 4) + le(0, 4) + le(UInt64(file), 4) + le(UInt64(line), 4)
            r += le(3, 4) + le(0, 4)  // npcdata, cuOffset
            if format == .go120 { r += le(1, 4) }  // startLine
            r += [0, 0, 0, 4]  // funcID, flag, pad, nfuncdata
            r += le(0, 4) + le(0, 4) + le(UInt64(inl ?? 0), 4)
            if format == .go116 {
                if (Int(tableAddress) + ftabOff + at + r.count) % 8 != 0 { r += [0, 0, 0, 0] }  // pointers are 8-aligned
                r += le(0, 8) + le(0, 8) + le(0, 8) + le(tree ?? 0, 8)
            } else {
                r += le(0xffff_ffff, 4) + le(0xffff_ffff, 4) + le(0xffff_ffff, 4) + le(tree.map { $0 - gofunc } ?? 0xffff_ffff, 4)
            }
            return r
        }
        let treeAddress = gofunc + 0x10
        let r1 = record(at: rec1, entry: entry1, name: 0, file: f1.file, line: f1.line, inl: f1.inl, tree: treeAddress)
        let rec2 = (rec1 + r1.count + 7) & ~7
        let r2 = record(at: rec2, entry: entry2, name: 30, file: f2.file, line: f2.line, inl: nil, tree: nil)
        var ft = ftEntry(entry1) + le(UInt64(rec1), field) + ftEntry(entry2) + le(UInt64(rec2), field) + ftEntry(end)
        ft += [UInt8](repeating: 0, count: rec1 - ft.count) + r1
        ft += [UInt8](repeating: 0, count: rec2 - ft.count) + r2
        t += ft
        // Inline tree entries: mid (name 11) called at 0x04, leaf (name 20) at 0x24.
        var tree = [UInt8](repeating: 0xee, count: 0x10)
        for (name, parentPc) in [(11, 0x04), (20, 0x24)] {
            if format == .go120 {
                tree += [0, 0, 0, 0] + le(UInt64(name), 4) + le(UInt64(parentPc), 4) + le(1, 4)
            } else {
                tree += le(0xffff, 2) + [0, 0] + le(0, 4) + le(0, 4) + le(UInt64(name), 4) + le(UInt64(parentPc), 4)
            }
        }
        return Synthetic(table: t, regions: [.init(address: gofunc, bytes: tree)], inlineTreeAddress: treeAddress)
    }

    static func table(_ s: Synthetic, _ format: GoLineTable.Format) -> GoLineTable? {
        GoLineTable(
            pclntab: s.table, address: tableAddress,
            inlineTrees: GoInlineTree(gofunc: format == .go116 ? nil : gofunc, regions: s.regions))
    }

    @Test(arguments: [GoLineTable.Format.go116, .go118, .go120])
    func everyLayoutGivesTheSameFrames(_ format: GoLineTable.Format) throws {
        let t = try #require(Self.table(Self.build(format), format))
        #expect(t.format == format && t.functionCount == 2 && t.hasInlineTrees)
        let e = Self.text + 0x100
        #expect(t.frames(at: e) == [Frame(function: "main.outer", file: "outer.go", line: 10, inlined: false)])
        #expect(
            t.frames(at: e + 0x14) == [
                Frame(function: "main.leaf", file: "leaf.go", line: 30, inlined: true),
                Frame(function: "main.mid", file: "outer.go", line: 20, inlined: true),
                Frame(function: "main.outer", file: "outer.go", line: 10, inlined: false),
            ])
        // A return address just after the inlined code: the call is at pc - 1.
        #expect(t.frames(returnAddress: e + 0x20)?.count == 3)
        #expect(t.frames(returnAddress: e + 0x21)?.count == 2)
        #expect(t.frames(at: e + 0x3f)?.first?.line == 12)
        #expect(t.frames(at: e + 0x40) == [Frame(function: "main.other", file: "outer.go", line: 40, inlined: false)])
        #expect(t.function(at: e + 0x4f)?.name == "main.other")
        #expect(t.frames(at: e + 0x50) == nil)  // past the last function
        #expect(t.frames(at: e - 1) == nil)
        #expect(t.frames(returnAddress: 0) == nil)
        #expect(t.entries(named: "main.other") == [e + 0x40])
        // Without the inline trees' memory: the outer function, innermost position.
        let bare = try #require(GoLineTable(pclntab: Self.build(format).table, address: Self.tableAddress))
        #expect(bare.frames(at: e + 0x14) == [Frame(function: "main.outer", file: "leaf.go", line: 30, inlined: false)])
    }

    @Test(arguments: [GoLineTable.Format.go116, .go118, .go120])
    func malformedHeadersAnswerNil(_ format: GoLineTable.Format) throws {
        let good = Self.build(format).table
        var bad: [[UInt8]] = []
        for n in [0, 1, 7, 8, 15, 16, 40, 71] { bad.append(Array(good.prefix(n))) }
        for (i, v) in [(0, 0xfb), (3, 0x00), (4, 1), (5, 1), (6, 3), (6, 0), (7, 5), (7, 0)] as [(Int, UInt8)] {
            var b = good; b[i] = v; bad.append(b)
        }
        // nfunc 0, nfunc too large for the table, a table offset past the end.
        for (word, value) in [(0, UInt64(0)), (0, UInt64(1) << 40), (format == .go116 ? 2 : 3, UInt64(good.count + 1))] {
            var b = good
            b.replaceSubrange(8 + 8 * word..<16 + 8 * word, with: Self.le(value, 8))
            bad.append(b)
        }
        for b in bad { #expect(GoLineTable(pclntab: b, address: Self.tableAddress) == nil) }
    }

    /// A table cut anywhere after its header: lookups answer nil or the
    /// right frames, never anything else.
    @Test(arguments: [GoLineTable.Format.go116, .go118, .go120])
    func truncatedTables(_ format: GoLineTable.Format) throws {
        let s = Self.build(format)
        let full = try #require(Self.table(s, format))
        let pcs = (0..<0x58).map { Self.text + 0xfc + UInt64($0) }
        for n in 0..<s.table.count {
            var cut = s
            cut.table = Array(s.table.prefix(n))
            guard let t = Self.table(cut, format) else { continue }
            for pc in pcs {
                if let got = t.frames(at: pc) { #expect(got == full.frames(at: pc), "cut at \(n), pc \(pc)") }
            }
        }
        for n in 0..<s.regions[0].bytes.count {
            var cut = s
            cut.regions[0].bytes = Array(s.regions[0].bytes.prefix(n))
            let t = try #require(Self.table(cut, format))
            let got = t.frames(at: Self.text + 0x114)
            #expect(got == nil || got == full.frames(at: Self.text + 0x114))
        }
    }

    /// An inline tree whose parent pc leads back to itself: nil after
    /// maxInlineDepth steps, not a hang.
    @Test(arguments: [GoLineTable.Format.go116, .go118, .go120])
    func inlineCycleAnswersNil(_ format: GoLineTable.Format) throws {
        var s = Self.build(format)
        // Entry 0 (mid) called from 0x24, which is in mid itself.
        let parentPc = 0x10 + (format == .go120 ? 8 : 16)
        s.regions[0].bytes.replaceSubrange(parentPc..<parentPc + 4, with: Self.le(0x24, 4))
        let t = try #require(Self.table(s, format))
        #expect(t.frames(at: Self.text + 0x124) == nil)
        #expect(t.frames(at: Self.text + 0x100)?.count == 1)
        // A negative parent pc, an index past the tree, a name outside funcnametab.
        var s2 = Self.build(format)
        s2.regions[0].bytes.replaceSubrange(parentPc..<parentPc + 4, with: Self.le(0xffff_fff0, 4))
        #expect(try #require(Self.table(s2, format)).frames(at: Self.text + 0x124) == nil)
        var s3 = Self.build(format)
        s3.regions[0].bytes.removeLast(format == .go120 ? 16 : 20)
        #expect(try #require(Self.table(s3, format)).frames(at: Self.text + 0x114) == nil)
        var s4 = Self.build(format)
        let nameAt = 0x10 + (format == .go120 ? 4 : 12)
        s4.regions[0].bytes.replaceSubrange(nameAt..<nameAt + 4, with: Self.le(0x7fff_0000, 4))
        #expect(try #require(Self.table(s4, format)).frames(at: Self.text + 0x124) == nil)
    }

    /// Random mutations of a real table (the cgo fixture's, with its inline
    /// trees) and of the synthetic ones: no trap, no hang, answers only
    /// with what a table can say.
    @Test func mutatedTablesNeverCrashOrHang() throws {
        var inputs: [(GoLineTable, [UInt64])] = []
        if let real = GoLineTable.load(path: try GoFixture.path(.cgo)) {
            let first = try #require(real.functionEntry(0)), end = try #require(real.functionEntry(real.functionCount))
            var rng = FuzzTests.SplitMix64(state: 1)
            inputs.append((real, (0..<64).map { _ in UInt64.random(in: first..<end, using: &rng) }))
        }
        for f in [GoLineTable.Format.go116, .go118, .go120] {
            inputs.append((try #require(Self.table(Self.build(f), f)), (0..<0x58).map { Self.text + 0xfc + UInt64($0) }))
        }
        var rng = FuzzTests.SplitMix64(state: 0x60_5e_ed)
        let clock = ContinuousClock()
        let started = clock.now
        var parsed = 0, answered = 0
        for round in 0..<3000 {
            let (base, pcs) = inputs[round % inputs.count]
            var table = base.table
            var regions = base.inlineTrees?.regions ?? []
            // Mutations: near the header and function table most of the time.
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let hot = Int.random(in: 0...3, using: &rng)
                let span = hot == 0 ? min(table.count, 128) : hot == 1 ? table.count : min(table.count, base.functab.lowerBound + 4096)
                let lo = hot == 2 ? min(base.functab.lowerBound, span - 1) : 0
                let at = Int.random(in: lo..<span, using: &rng)
                switch Int.random(in: 0...4, using: &rng) {
                case 0: table[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: table[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                case 2:
                    let v: [UInt32] = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]
                    let w = v[Int.random(in: 0..<v.count, using: &rng)]
                    for k in 0..<4 where at + k < table.count { table[at + k] = UInt8(truncatingIfNeeded: w >> (8 * k)) }
                case 3: table.removeLast(Int.random(in: 0...min(table.count, 256), using: &rng))
                default:
                    if !regions.isEmpty, !regions[0].bytes.isEmpty {
                        let r = Int.random(in: 0..<regions[0].bytes.count, using: &rng)
                        regions[0].bytes[r] = UInt8.random(in: 0...255, using: &rng)
                    }
                }
                if table.isEmpty { break }
            }
            let trees = base.inlineTrees.map { GoInlineTree(gofunc: $0.gofunc, regions: regions) }
            guard let t = GoLineTable(pclntab: table, address: base.address, inlineTrees: trees) else { continue }
            parsed += 1
            for pc in pcs + [0, 1, UInt64.max, base.textStart] {
                guard let frames = t.frames(returnAddress: pc) else { continue }
                answered += 1
                #expect(!frames.isEmpty && frames.count <= GoLineTable.maxInlineDepth)
                #expect(frames.last?.inlined == false && frames.dropLast().allSatisfy(\.inlined))
                #expect(frames.allSatisfy { $0.line.map { $0 >= 0 } ?? true })
            }
        }
        #expect(parsed > 100 && answered > 100, "parsed \(parsed), answered \(answered)")
        #expect(clock.now - started < .seconds(60))
    }

    /// Damaged copies of a real binary (ELF headers, program and section
    /// headers, the pclntab's header, data around the moduledata; cut
    /// short): loading answers a table or nil, never traps.
    @Test func damagedBinariesNeverCrash() throws {
        let path = try GoFixture.path(.strippedCgo)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let elf = try #require(ElfFile(path: path))
        let pcln = try #require(elf.section(named: ".gopclntab"))
        let shoff = Int(ElfFile.le(original, 40, 8)), phoff = Int(ElfFile.le(original, 32, 8))
        let data = try #require(elf.segments.first { $0.type == ElfFile.Segment.load && $0.flags & ElfFile.Segment.write != 0 })
        let hot: [Range<Int>] = [
            0..<64, phoff..<phoff + 56 * 12, shoff..<original.count, Int(pcln.offset)..<Int(pcln.offset) + 72,
            Int(data.offset)..<min(original.count, Int(data.offset) + 4096),
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdtrace-goelf-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = FuzzTests.SplitMix64(state: 0xe1f)
        var loaded = 0
        for round in 0..<120 {
            var bytes = original
            if round % 4 == 3 {
                bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            } else {
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let r = hot[Int.random(in: 0..<hot.count, using: &rng)].clamped(to: 0..<bytes.count)
                    guard !r.isEmpty else { continue }
                    bytes[Int.random(in: r, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            let copy = dir.appendingPathComponent("\(round)")
            try Data(bytes).write(to: copy)
            if let t = GoLineTable.load(path: copy.path) {
                loaded += 1
                for pc in stride(from: t.textStart, to: t.textStart + 0x4000, by: 0x101) { _ = t.frames(returnAddress: pc) }
            }
            try? FileManager.default.removeItem(at: copy)
        }
        #expect(loaded > 0)
    }
}

import Foundation
import Glibc
import Testing

@testable import FDTraceCore

/// GoLineTable against what the Go runtime of the same binary says: the
/// fixture (Tests/Fixtures/go_symbols, built here with Debian's Go 1.19,
/// linked by Go and by the system linker (cgo), as a PIE, and stripped)
/// prints runtime.Callers pcs with runtime.CallersFrames' frame for each,
/// then dies of SIGQUIT with GOTRACEBACK=system, which prints every
/// goroutine's frames with their pcs. Every frame must be the same:
/// function, file, line, and which were inlined.
@Suite struct GoLineTableTests {
    typealias Frame = GoLineTable.Frame

    /// Runs the fixture `v` and checks every pc it printed.
    static func checkAgainstRuntime(_ v: GoFixture.Variant) throws -> (table: GoLineTable, truth: GoTruth, bias: UInt64) {
        let exe = try GoFixture.path(v)
        let fifo = "$DIR/fifo"
        let (truth, stdout, stderr) = try GoTruth.collect(
            [exe, fifo], readyMarker: "ready",
            prepare: { dir in
                mkfifo(dir + "/fifo", 0o600)
            })
        let elf = try #require(ElfFile(path: exe))
        let table = try #require(GoLineTable.load(elf))
        #expect(table.format == .go118)
        #expect(table.hasInlineTrees)
        let firstLoad = try #require(elf.segments.first { $0.type == ElfFile.Segment.load })
        let bias = truth.bias &- (firstLoad.address & ~0xfff)
        #expect(v == .pie || bias == 0)
        // runtime.Callers: one frame per pc, inlined calls as pcs of their own.
        #expect(truth.callers.count >= 6, "\(stdout)")
        var i = 0
        while i < truth.callers.count {
            let got = try #require(table.frames(returnAddress: truth.callers[i].pc &- bias), "pc \(truth.callers[i].pc)")
            #expect(i + got.count <= truth.callers.count)
            let want = truth.callers[i..<min(truth.callers.count, i + got.count)].enumerated().map { k, c in
                var f = c.frame; f.inlined = k < got.count - 1; return f
            }
            #expect(got == want, "\(v) pc 0x\(String(truth.callers[i].pc, radix: 16))")
            i += 1  // every pc, the inlined calls' own pcs too
        }
        // The goroutine dump.
        #expect(truth.dump.count >= 10, "\(stderr.prefix(2000))")
        for site in truth.dump {
            let got = table.frames(returnAddress: site.pc &- bias)
            #expect(got == site.frames, "\(v) \(site)")
        }
        return (table, truth, bias)
    }

    @Test(arguments: GoFixture.Variant.allCases)
    func framesMatchTheGoRuntime(_ v: GoFixture.Variant) throws {
        let (_, truth, _) = try Self.checkAgainstRuntime(v)
        let main = GoFixture.source.appendingPathComponent("main.go").path
        // The inlined call: capture's caller is inlinedStep, inlined into outer.
        let frames = truth.callers.map(\.frame)
        #expect(frames.prefix(3).map(\.function) == ["main.capture", "main.inlinedStep", "main.outer"])
        #expect(frames.prefix(3).map(\.line) == [GoFixture.line("callers"), GoFixture.line("inlined"), GoFixture.line("outer")])
        // os.Open (inlined) at main.go:LINE(open), blocked in the open of the FIFO.
        let open = try #require(truth.dump.first { $0.frames.last?.function == "main.openFifo" })
        #expect(open.frames.map(\.function) == ["os.Open", "main.openFifo"])
        #expect(open.frames.last?.file == main && open.frames.last?.line == GoFixture.line("open"))
        #expect(open.frames.first?.inlined == true)
        // (*TCPListener).Accept under main.acceptLoop at LINE(accept).
        let accept = try #require(truth.dump.first { $0.frames.last?.function == "main.acceptLoop" })
        #expect(accept.frames == [Frame(function: "main.acceptLoop", file: main, line: GoFixture.line("accept"), inlined: false)])
        let acceptIndex = try #require(truth.dump.firstIndex { $0.frames.last?.function == "net.(*TCPListener).Accept" })
        #expect(truth.dump[acceptIndex + 1].frames.last?.function == "main.acceptLoop")
    }

    /// The report's symbolizer resolves frames of a stripped Go module
    /// through the Go table (libdwfl could not: no symbols, no DWARF).
    @Test(arguments: [GoFixture.Variant.strippedCgo, .pie])
    func symbolizerUsesTheGoTable(_ v: GoFixture.Variant) throws {
        let (_, truth, bias) = try Self.checkAgainstRuntime(v)
        let path = try GoFixture.path(v)
        var registry = ModuleRegistry()
        let interned = registry.intern(ModuleRecord(base: bias, start: 0, end: 0, path: path, buildID: ElfBuildID.read(path: path) ?? []))
        let module = try #require(interned)
        let frames = truth.dump.map { RawFrame(module: module, address: $0.pc &- bias) }
        let symbols = DwflSymbolizer().symbolize(Set(frames), modules: registry)
        for (raw, site) in zip(frames, truth.dump) {
            let got = try #require(symbols[raw])
            #expect(got.map(\.function) == site.frames.map(\.function))
            #expect(got.map(\.file) == site.frames.map(\.file))
            #expect(got.map(\.line) == site.frames.map(\.line))
            #expect(got.map(\.inlined) == site.frames.map(\.inlined))
            #expect(got.allSatisfy { $0.module == path && $0.address == raw.address })
        }
        // A module whose file is not the one that ran is left alone.
        var other = ModuleRegistry()
        let staleModule = other.intern(ModuleRecord(base: 0, start: 0, end: 0, path: path, buildID: [1, 2, 3]))
        let stale = try #require(staleModule)
        let raw = RawFrame(module: stale, address: frames[0].address)
        #expect(DwflSymbolizer().symbolize([raw], modules: other)[raw]?.first?.function == nil)
    }

    /// Stripping removes the symbol table and DWARF, not the pclntab.
    @Test func strippedBinariesHaveNoSymbols() throws {
        for v in [GoFixture.Variant.strippedInternal, .strippedCgo] {
            let names = try #require(ElfFile(path: try GoFixture.path(v))).sectionNames
            #expect(!names.contains(".symtab"))
            #expect(!names.contains { $0.hasPrefix(".debug") || $0.hasPrefix(".zdebug") })
            #expect(names.contains(".gopclntab"))
        }
    }

    /// Each function's entry maps back to the function; names are unique
    /// per entry; the last byte of a function is still in it.
    @Test func everyFunctionRoundTrips() throws {
        let table = try #require(GoLineTable.load(path: try GoFixture.path(.strippedCgo)))
        var checked = 0
        for i in 0..<table.functionCount {
            let entry = try #require(table.functionEntry(i)), next = try #require(table.functionEntry(i + 1))
            let f = try #require(table.function(at: entry))
            #expect(f.entry == entry)
            #expect(table.function(at: next - 1)?.entry == entry)
            #expect(table.frames(at: entry) != nil)
            checked += 1
        }
        #expect(checked == table.functionCount)
        #expect(table.entries(named: "main.openFifo").count == 1)
    }

    /// Debian's prometheus-pushgateway (Go 1.19, cgo, stripped by the
    /// package build): its own SIGQUIT dump, every pc; then facts found
    /// through the table.
    @Test func pushgatewayMatchesItsRuntime() throws {
        guard FileManager.default.isExecutableFile(atPath: GoFixture.pushgateway) else {
            Issue.record("\(GoFixture.pushgateway) is not installed (make setup installs prometheus-pushgateway)")
            return
        }
        let elf = try #require(ElfFile(path: GoFixture.pushgateway))
        #expect(!elf.sectionNames.contains(".symtab"))
        #expect(!elf.sectionNames.contains { $0.hasPrefix(".debug") || $0.hasPrefix(".zdebug") })
        let table = try #require(GoLineTable.load(elf))
        #expect(table.format == .go118 && table.hasInlineTrees)
        // The system linker put C code first: the header's text start is not .text's.
        #expect(table.textStart == 0x4023e0 && elf.section(named: ".text")?.address == 0x4022e0)
        let (truth, _, stderr) = try GoTruth.collect(
            [GoFixture.pushgateway, "--web.listen-address=127.0.0.1:0", "--log.level=info"], readyMarker: "Listening on")
        #expect(truth.dump.count >= 10, "\(stderr.prefix(3000))")
        var inlined = 0
        for site in truth.dump {
            let got = table.frames(returnAddress: site.pc)
            #expect(got == site.frames, "\(site)")
            inlined += site.frames.count - 1
        }
        #expect(inlined > 0)
        // The server's accept loop blocks in net.(*TCPListener).Accept.
        let accept = try #require(truth.dump.first { $0.frames.last?.function == "net.(*TCPListener).Accept" })
        let entries = table.entries(named: "net.(*TCPListener).Accept")
        #expect(entries.count == 1)
        let entry = try #require(entries.first)
        #expect(table.function(at: accept.pc - 1)?.entry == entry)
        #expect(table.function(at: entry)?.name == "net.(*TCPListener).Accept")
        // Debian builds with -trimpath: the standard library's files are relative.
        #expect(table.frames(at: entry)?.last?.file == "net/tcpsock.go")
        #expect(table.functionCount == 0x32ba)
    }

    /// Lookups per second, on the pushgateway's table (printed: a note for the README).
    @Test func lookupCost() throws {
        let path = FileManager.default.isExecutableFile(atPath: GoFixture.pushgateway) ? GoFixture.pushgateway : try GoFixture.path(.cgo)
        let clock = ContinuousClock()
        var table: GoLineTable?
        let load = clock.measure { table = GoLineTable.load(path: path) }
        let t = try #require(table)
        let first = try #require(t.functionEntry(0)), end = try #require(t.functionEntry(t.functionCount))
        var rng = FuzzTests.SplitMix64(state: 99)
        let pcs = (0..<50_000).map { _ in UInt64.random(in: first..<end, using: &rng) }
        var frames = 0
        let elapsed = clock.measure { for pc in pcs { frames += t.frames(returnAddress: pc + 1)?.count ?? 0 } }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("GoLineTable: \(path): load \(load), \(pcs.count) lookups in \(elapsed): \(Int(Double(pcs.count) / seconds)) pcs/s, \(frames) frames")
        #expect(frames >= pcs.count)
    }
}

import Foundation
import Testing

@testable import FDTraceCore

/// The in-process symbolizer (libdwfl) on small programs built here: return
/// addresses found with objdump and nm, frames checked line by line.
@Suite struct DwflSymbolizerTests {
    /// Line 2 opens inside `inner`, inlined into `outer` (line 3), inlined
    /// into `main` (line 4); `ns::keep` (line 5) is C++ for demangling.
    static let source = """
        #include <fcntl.h>
        static inline __attribute__((always_inline)) int inner(void) { return open("/etc/hostname", O_RDONLY); }
        static inline __attribute__((always_inline)) int outer(void) { return inner() + 1; }
        int main(void) { return outer() < 0; }
        namespace ns { __attribute__((noinline)) int keep(int x, const char *s) { return x + s[0]; } }
        """

    struct Built {
        var dir: URL
        var exe: String
    }

    static func build(flags: [String] = []) throws -> Built {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdtrace-dwfl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let src = dir.appendingPathComponent("inl.cpp")
        try source.write(to: src, atomically: true, encoding: .utf8)
        let exe = dir.appendingPathComponent("inl").path
        let cc = runTool(["/usr/bin/c++", "-g", "-O0", src.path, "-o", exe] + flags)
        guard cc.status == 0 else { throw FixtureFailure("c++ failed: \(cc.stderr)") }
        return Built(dir: dir, exe: exe)
    }

    /// The return address of main's call to open (the instruction after it).
    static func openReturnAddress(_ exe: String) throws -> UInt64 {
        let dump = runTool(["/usr/bin/objdump", "-d", "--no-show-raw-insn", exe]).stdout.split(separator: "\n")
        let mainStart = try #require(dump.firstIndex { $0.hasSuffix("<main>:") })
        let call = try #require(dump[mainStart...].firstIndex { $0.contains("call") && $0.contains("<open") })
        let next = dump[call + 1].trimmingCharacters(in: .whitespaces)
        return try #require(UInt64(next.prefix { $0 != ":" }, radix: 16))
    }

    static func registry(_ path: String, buildID: [UInt8]? = nil) -> (ModuleRegistry, Int) {
        var r = ModuleRegistry()
        let m = r.intern(ModuleRecord(base: 0, start: 0, end: 0, path: path, buildID: buildID ?? ElfBuildID.read(path: path) ?? []))
        return (r, m!)
    }

    @Test func inlinedFramesWithTheirCallSites() throws {
        let b = try Self.build()
        defer { try? FileManager.default.removeItem(at: b.dir) }
        let (reg, m) = Self.registry(b.exe)
        let raw = RawFrame(module: m, address: try Self.openReturnAddress(b.exe))
        let frames = try #require(DwflSymbolizer().symbolize([raw], modules: reg)[raw])
        #expect(frames.map(\.function) == ["inner", "outer", "main"])  // as llvm-symbolizer names them
        #expect(frames.map(\.line) == [2, 3, 4])
        #expect(frames.map(\.inlined) == [true, true, false])
        #expect(frames.allSatisfy { $0.file == b.dir.appendingPathComponent("inl.cpp").path })
        #expect(frames.allSatisfy { $0.module == b.exe && $0.address == raw.address })
    }

    /// A symbol's address + 1: the demangled name, with its line from DWARF;
    /// stripped, the symbol table's (dynamic) name only, or nothing.
    @Test func demangledNamesAndStrippedBinaries() throws {
        let b = try Self.build(flags: ["-rdynamic"])
        defer { try? FileManager.default.removeItem(at: b.dir) }
        let nm = runTool(["/usr/bin/nm", b.exe]).stdout.split(separator: "\n")
        let line = try #require(nm.first { $0.hasSuffix(" _ZN2ns4keepEiPKc") })
        let address = try #require(UInt64(line.prefix { $0 != " " }, radix: 16)) + 2
        let (reg, m) = Self.registry(b.exe)
        let raw = RawFrame(module: m, address: address)
        let frames = try #require(DwflSymbolizer().symbolize([raw], modules: reg)[raw])
        #expect(frames.map(\.function) == ["ns::keep(int, char const*)"])
        #expect(frames.map(\.line) == [5])
        let stripped = b.dir.appendingPathComponent("inl-stripped").path
        #expect(runTool(["/usr/bin/strip", "-o", stripped, b.exe]).status == 0)
        let (sreg, sm) = Self.registry(stripped)
        let sraw = RawFrame(module: sm, address: address)
        let named = try #require(DwflSymbolizer().symbolize([sraw], modules: sreg)[sraw])
        #expect(named.map(\.function) == ["ns::keep(int, char const*)"])
        #expect(named.map(\.file) == [nil])
    }

    /// Debug information split off into a file named by .gnu_debuglink,
    /// next to the program (not under /usr/lib/debug): still found, lines
    /// and all. A stripped system program with no debug file installed
    /// (bash: a debuglink, no /usr/lib/debug file) is named from its
    /// symbols without loading libdebuginfod when no server is configured
    /// (elfutils would load it and ~28 libraries, ~6 ms, to ask nobody).
    @Test func debuglinkFoundAndDebuginfodLeftAlone() throws {
        let b = try Self.build()
        defer { try? FileManager.default.removeItem(at: b.dir) }
        let address = try Self.openReturnAddress(b.exe)
        let debug = b.exe + ".debug"
        #expect(runTool(["/usr/bin/objcopy", "--only-keep-debug", b.exe, debug]).status == 0)
        #expect(runTool(["/usr/bin/strip", "--strip-debug", b.exe]).status == 0)
        #expect(runTool(["/usr/bin/objcopy", "--add-gnu-debuglink=\(debug)", b.exe]).status == 0, "objcopy")
        // Build ids differ per build (the path is in them): none of /usr/lib/debug's.
        let (reg, m) = Self.registry(b.exe)
        let raw = RawFrame(module: m, address: address)
        let frames = try #require(DwflSymbolizer().symbolize([raw], modules: reg)[raw])
        #expect(frames.map(\.function) == ["inner", "outer", "main"])
        #expect(frames.map(\.line) == [2, 3, 4])

        let urls = ProcessInfo.processInfo.environment["DEBUGINFOD_URLS"] ?? ""
        guard urls.isEmpty else { return }
        let bash = "/usr/bin/bash"
        let (breg, bm) = Self.registry(bash)
        let braw = RawFrame(module: bm, address: 0xbc9e0 + 4)  // in _getenv (nm -D)
        #expect(DwflSymbolizer().symbolize([braw], modules: breg)[braw]?.map(\.function) == ["_getenv"])
        // Read whole (Foundation's reader stops at the first page of a /proc file).
        let maps = try #require(ProcFiles.read("/proc/self/maps"))
        #expect(maps.contains("libdw") && !maps.contains("libdebuginfod"), "libdebuginfod was loaded")
    }

    /// A file that cannot be read, or is no longer the one that ran: the
    /// frame keeps its module and address, and the report says why, once.
    @Test func unreadableModulesDegradeWithANote() throws {
        let (reg, m) = Self.registry("/nonexistent/libgone.so", buildID: [])
        let raws: Set = [RawFrame(module: m, address: 0x1234), RawFrame(module: m, address: 0x5678)]
        let out = DwflSymbolizer().symbolizeNoting(raws, modules: reg)
        for raw in raws {
            #expect(out.frames[raw] == [SymbolizedFrame(function: nil, file: nil, line: nil, module: "/nonexistent/libgone.so", address: raw.address)])
        }
        #expect(out.notes == ["frames in /nonexistent/libgone.so are not symbolized: No such file or directory"])
        let (stale, sm) = Self.registry("/bin/sh", buildID: [0xde, 0xad])
        let raw = RawFrame(module: sm, address: 0x10)
        let again = DwflSymbolizer().symbolizeNoting([raw], modules: stale)
        #expect(again.frames[raw]?.first?.function == nil)
        #expect(
            again.notes == [
                "frames in /bin/sh are not symbolized: the file has changed since it ran (another build id), and no debug file has its build id"
            ])
        #expect(DwflSymbolizer().symbolizeNoting([RawFrame(module: nil, address: 0x10)], modules: reg).notes.isEmpty)
    }

    /// A library's symbol names are the same whether its table is scanned
    /// (a module's first lookups) or sorted and searched (later ones): 200
    /// addresses in libc asked in one order, then in the other.
    @Test func symbolTableScannedOrSortedAgrees() throws {
        let libc = "/lib/x86_64-linux-gnu/libc.so.6"
        let dynamic = runTool(["/usr/bin/nm", "-D", "--defined-only", libc]).stdout.split(separator: "\n")
        var startOf: [String: UInt64] = [:]
        for line in dynamic {
            let f = line.split(separator: " ")
            if f.count == 3, f[1] == "T", let a = UInt64(f[0], radix: 16) { startOf[String(f[2].prefix { $0 != "@" })] = a }
        }
        let main = try #require(startOf["__libc_start_main"])
        let sample = Set(startOf.values).sorted().enumerated().filter { $0.offset % 7 == 0 }.prefix(199).map(\.element)
        let addresses = [main + 1] + sample.map { $0 + 1 }
        #expect(addresses.count == 200)
        let entry = ModuleRegistry.Entry(path: libc, buildID: [])
        func names(_ order: [UInt64]) throws -> [UInt64: String] {
            let files = DwarfFiles()
            let h = try files.file(entry).get()
            var out: [UInt64: String] = [:]
            for a in order { out[a] = DwarfFiles.frames(h, address: a, debugInfo: false).first?.function ?? "?" }
            return out
        }
        let forward = try names(addresses), backward = try names(addresses.reversed())
        #expect(forward == backward)
        #expect(forward[main + 1] == "__libc_start_main")
        #expect(forward.values.filter { $0 == "?" }.count <= 2)
    }

    @Test func choiceFromTheEnvironment() {
        #expect(SymbolizerChoice.fromEnvironment([:]) is DwflSymbolizer)
        #expect(SymbolizerChoice.fromEnvironment(["FDTRACE_SYMBOLIZER": "libdw"]) is DwflSymbolizer)
        #expect((SymbolizerChoice.fromEnvironment(["FDTRACE_SYMBOLIZER": "/bin/true"]) as? LLVMSymbolizer)?.executable == "/bin/true")
        let missing = SymbolizerChoice.fromEnvironment(["FDTRACE_SYMBOLIZER": "/nonexistent/llvm-symbolizer"])
        #expect(missing is DwflSymbolizer)
        #expect(
            missing.symbolizeNoting([], modules: ModuleRegistry()).notes == [
                "FDTRACE_SYMBOLIZER=/nonexistent/llvm-symbolizer cannot be run: symbolized with libdw"
            ])
    }
}

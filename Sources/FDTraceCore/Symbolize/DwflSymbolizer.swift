import CFDTraceDwarf
import Foundation

/// Symbolization inside the collector by elfutils' libdwfl (what perf,
/// strace and heaptrack use): demangled function names, file:line, inlined
/// frames, separate debug files (/usr/lib/debug/.build-id, .gnu_debuglink)
/// and symbol-table names where there is no DWARF. No process is started:
/// the first answer costs the files' opening, not a symbolizer's start, and
/// files stay open for the session (DwarfFiles), so later reports (exit,
/// snapshots, `top`) reuse them. Frames in Go binaries come from Go's own
/// line table (GoSymbolizer).
public struct DwflSymbolizer: Symbolizing {
    private let files = DwarfFiles()
    private let go = GoTables()
    /// Said in every report (a symbolizer asked for that could not be run).
    private let note: String?

    public init(note: String? = nil) { self.note = note }

    public func symbolize(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> [RawFrame: [SymbolizedFrame]] {
        symbolizeNoting(frames, modules: modules).frames
    }

    public func symbolizeNoting(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> SymbolizedFrames {
        var out = SymbolizedFrames()
        if let note { out.notes.append(note) }
        var known: [RawFrame] = []
        for f in frames {
            if let m = f.module, m < modules.entries.count { known.append(f) } else { out.frames[f] = [Self.bare(f, module: nil)] }
        }
        let viaGo = go.tables.symbolize(known, modules: modules)
        out.frames.merge(viaGo) { a, _ in a }
        var unreadable: Set<Int> = []
        for f in known where viaGo[f] == nil {
            let entry = modules.entries[f.module!]
            switch files.file(entry) {
            case .success(let file):
                // The C runtime's own libraries (libc, ld.so, libstdc++: the
                // report's runtime modules) by their symbol tables only: their
                // frames are never the site a report points at, and reading
                // libc's compressed DWARF (libc6-dbg) for the start-up frames
                // below main cost ~50 ms of every report.
                let named = DwarfFiles.frames(
                    file, address: f.address &- 1, debugInfo: !RuntimeModule.contains(entry.path))
                out.frames[f] =
                    named.isEmpty
                    ? [Self.bare(f, module: entry.path)]
                    : named.enumerated().map { i, s in
                        SymbolizedFrame(
                            function: s.function, file: s.file, line: s.line, module: entry.path, address: f.address,
                            inlined: i < named.count - 1)
                    }
            case .failure(let why):
                out.frames[f] = [Self.bare(f, module: entry.path)]
                // Pseudo-modules ("linux-vdso.so.1") have no file to read.
                if entry.path.hasPrefix("/"), unreadable.insert(f.module!).inserted {
                    out.notes.append("frames in \(entry.path) are not symbolized: \(why.reason)")
                }
            }
        }
        return out
    }

    public func callChain(_ frames: [RawFrame], modules: ModuleRegistry) -> [RawFrame] {
        go.tables.callChain(frames, modules: modules)
    }

    static func bare(_ f: RawFrame, module: String?) -> SymbolizedFrame {
        SymbolizedFrame(function: nil, file: nil, line: nil, module: module, address: f.address)
    }
}

/// Go's line tables, read once per module for the session (a module that
/// is not Go is remembered as such: its ELF file is not parsed again).
final class GoTables: @unchecked Sendable {
    var tables = GoSymbolizer()
}

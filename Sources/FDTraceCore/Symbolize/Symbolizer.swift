import CFDTraceWire
import Foundation

/// A source-level frame. One return address yields several when calls
/// were inlined (innermost first, `inlined` on all but the last).
public struct SymbolizedFrame: Hashable, Sendable, Codable {
    public var function: String?
    public var file: String?
    public var line: Int?
    public var module: String?
    public var address: UInt64
    public var inlined: Bool

    public init(function: String?, file: String?, line: Int?, module: String?, address: UInt64, inlined: Bool = false) {
        self.function = function; self.file = file; self.line = line
        self.module = module; self.address = address; self.inlined = inlined
    }
}

public protocol Symbolizing {
    /// Source frames for each raw frame (return addresses).
    func symbolize(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> [RawFrame: [SymbolizedFrame]]
    /// The same, with one note for each thing that left frames unnamed (a
    /// module's file that cannot be read, a missing symbolizer).
    func symbolizeNoting(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> SymbolizedFrames
    /// A stack's frames without those that were never called (stale
    /// return addresses a stack scan picked up: GoSymbolizer.callChain).
    func callChain(_ frames: [RawFrame], modules: ModuleRegistry) -> [RawFrame]
}

/// Frames named by a symbolizer, and what it could not read.
public struct SymbolizedFrames: Sendable {
    public var frames: [RawFrame: [SymbolizedFrame]] = [:]
    public var notes: [String] = []
}

extension Symbolizing {
    public func symbolizeNoting(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> SymbolizedFrames {
        SymbolizedFrames(frames: symbolize(frames, modules: modules), notes: [])
    }

    public func callChain(_ frames: [RawFrame], modules: ModuleRegistry) -> [RawFrame] { frames }
}

/// Symbolization by llvm-symbolizer (function names demangled, file:line,
/// inlined frames, debug files found by build id), run once per report: the
/// fallback FDTRACE_SYMBOLIZER chooses (DwflSymbolizer is the default; see
/// SymbolizerChoice). Frames in Go binaries come from Go's own line table
/// (GoSymbolizer).
public struct LLVMSymbolizer: Symbolizing {
    public let executable: String?
    public private(set) var notes: [String] = []
    private let go = GoTables()

    public init(executable: String? = LLVMSymbolizer.locate()) { self.executable = executable }

    public func callChain(_ frames: [RawFrame], modules: ModuleRegistry) -> [RawFrame] {
        go.tables.callChain(frames, modules: modules)
    }

    public static func locate() -> String? {
        let env = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let e = env[FDT_ENV_SYMBOLIZER], !e.isEmpty { candidates.append(e) }
        for dir in (env["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(dir)/llvm-symbolizer")
            // The Swift toolchain ships one next to swift itself.
            let swift = "\(dir)/swift"
            if let real = try? FileManager.default.destinationOfSymbolicLink(atPath: swift) {
                let d = (real.hasPrefix("/") ? real : "\(dir)/\(real)") as NSString
                candidates.append(d.deletingLastPathComponent + "/llvm-symbolizer")
            }
        }
        candidates += ["/opt/swift/usr/bin/llvm-symbolizer", "/usr/bin/llvm-symbolizer"]
        candidates += (11...21).reversed().map { "/usr/bin/llvm-symbolizer-\($0)" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public func symbolize(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> [RawFrame: [SymbolizedFrame]] {
        symbolizeNoting(frames, modules: modules).frames
    }

    public func symbolizeNoting(_ frames: Set<RawFrame>, modules: ModuleRegistry) -> SymbolizedFrames {
        var result: [RawFrame: [SymbolizedFrame]] = [:]
        for f in frames where f.module == nil {
            result[f] = [SymbolizedFrame(function: nil, file: nil, line: nil, module: nil, address: f.address)]
        }
        var known = frames.filter { $0.module != nil }.sorted { ($0.module!, $0.address) < ($1.module!, $1.address) }
        let viaGo = go.tables.symbolize(known, modules: modules)
        result.merge(viaGo) { a, _ in a }
        known.removeAll { viaGo[$0] != nil }
        // Which name to give llvm-symbolizer for each module: the file if it
        // is still the one that ran, else its build id (debug file lookup).
        var objectName: [Int: String] = [:]
        for f in known where objectName[f.module!] == nil {
            let m = modules.entries[f.module!]
            var name = "\"\(m.path)\""
            if !m.buildID.isEmpty, let onDisk = ElfBuildID.read(path: m.path), onDisk != m.buildID {
                name = "BUILDID:" + ElfBuildID.hex(m.buildID)
            }
            objectName[f.module!] = name
        }
        var output: [String] = []
        var notes: [String] = []
        if executable == nil, !known.isEmpty { notes.append("no llvm-symbolizer was found: native frames are not symbolized") }
        if let executable, !known.isEmpty {
            let input = known.map { "\(objectName[$0.module!]!) 0x\(String($0.address &- 1, radix: 16))" }.joined(separator: "\n") + "\n"
            output = run(executable, input: input)
        }
        for (i, f) in known.enumerated() {
            let modulePath = modules.entries[f.module!].path
            let parsed = i < output.count ? parse(output[i], module: modulePath, address: f.address) : []
            result[f] =
                parsed.isEmpty
                ? [SymbolizedFrame(function: nil, file: nil, line: nil, module: modulePath, address: f.address)]
                : parsed
        }
        return SymbolizedFrames(frames: result, notes: notes)
    }

    private func run(_ executable: String, input: String) -> [String] {
        let dir = FileManager.default.temporaryDirectory
        let inURL = dir.appendingPathComponent("fdtrace-sym-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt")
        guard FileManager.default.createFile(atPath: inURL.path, contents: Data(input.utf8), attributes: [.posixPermissions: 0o600]),
            let inHandle = FileHandle(forReadingAtPath: inURL.path)
        else { return [] }
        defer { try? inHandle.close(); try? FileManager.default.removeItem(at: inURL) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["--output-style=JSON", "--inlining", "--demangle", "--functions=linkage"]
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "LD_PRELOAD")
        p.environment = env
        p.standardInput = inHandle
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return [] }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    private struct Line: Decodable {
        struct Sym: Decodable {
            var FunctionName: String?
            var FileName: String?
            var Line: Int?
        }
        var Symbol: [Sym]?
    }

    func parse(_ json: String, module: String, address: UInt64) -> [SymbolizedFrame] {
        guard let line = try? JSONDecoder().decode(Line.self, from: Data(json.utf8)), let syms = line.Symbol else { return [] }
        return syms.enumerated().map { i, s in
            SymbolizedFrame(
                function: s.FunctionName.flatMap { $0 == "??" || $0.isEmpty ? nil : $0 },
                file: s.FileName.flatMap { $0 == "??" || $0.isEmpty ? nil : $0 },
                line: s.Line.flatMap { $0 > 0 ? $0 : nil },
                module: module, address: address, inlined: i < syms.count - 1)
        }
    }
}

import Foundation

/// `make bench`'s symbolizer workload: the native frames of a saved report
/// named again three ways — libdwfl in this process (the default), one
/// llvm-symbolizer per report (the driver before it), and one llvm-symbolizer
/// kept warm for the session (addresses written one at a time to a process
/// started once). For each: the time to the first answer (from nothing: no
/// file open, no process) and the cost per address once warm.
public enum SymbolizerBenchmark {
    public struct Result: Sendable {
        public var name: String
        public var firstMs: Double
        /// Every frame of the report, the first time (files opened as needed).
        public var reportMs: Double
        public var perAddressUs: Double
    }

    public static func run(report: Report, llvm: String?) -> (addresses: Int, results: [Result]) {
        var registry = ModuleRegistry()
        var frames: [RawFrame] = []
        var seen = Set<RawFrame>()
        for p in report.processes {
            for f in (p.leaks + p.inheritedLeaks).flatMap(\.frames) where f.python != true {
                guard let path = f.module, let a = UInt64(f.address.dropFirst(2), radix: 16),
                    let m = registry.intern(ModuleRecord(base: 0, start: 0, end: 0, path: path, buildID: []))
                else { continue }
                let raw = RawFrame(module: m, address: a)
                if seen.insert(raw).inserted { frames.append(raw) }
            }
        }
        guard !frames.isEmpty else { return (0, []) }
        var results = [measure("libdw (in process)", frames, registry) { DwflSymbolizer() }]
        if let llvm {
            results.append(measure("llvm-symbolizer per report", frames, registry) { LLVMSymbolizer(executable: llvm) })
            if let warm = WarmLLVMSymbolizer.measure(llvm, frames, registry) { results.append(warm) }
        }
        return (frames.count, results)
    }

    private static func measure(
        _ name: String, _ frames: [RawFrame], _ registry: ModuleRegistry, _ make: () -> Symbolizing
    ) -> Result {
        var t = monotonicNow()
        _ = make().symbolize([frames[0]], modules: registry)
        let first = Double(monotonicNow() - t) / 1e6
        let s = make()
        t = monotonicNow()
        _ = s.symbolize(Set(frames), modules: registry)
        let report = Double(monotonicNow() - t) / 1e6
        let rounds = 20
        t = monotonicNow()
        for _ in 0..<rounds { _ = s.symbolize(Set(frames), modules: registry) }
        let per = Double(monotonicNow() - t) / 1e3 / Double(rounds * frames.count)
        return Result(name: name, firstMs: first, reportMs: report, perAddressUs: per)
    }
}

/// An llvm-symbolizer started once and asked one address at a time, as a
/// session would keep it (measured only: libdwfl was chosen).
enum WarmLLVMSymbolizer {
    static func measure(_ executable: String, _ frames: [RawFrame], _ registry: ModuleRegistry) -> SymbolizerBenchmark.Result? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["--output-style=JSON", "--inlining", "--demangle", "--functions=linkage"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        let lines = frames.map { "\"\(registry.entries[$0.module!].path)\" 0x\(String($0.address &- 1, radix: 16))\n" }
        let reader = LineReader(output.fileHandleForReading)
        func ask(_ line: String) { input.fileHandleForWriting.write(Data(line.utf8)); _ = reader.line() }
        var t = monotonicNow()
        do { try p.run() } catch { return nil }
        defer { try? input.fileHandleForWriting.close(); p.waitUntilExit() }
        ask(lines[0])
        let first = Double(monotonicNow() - t) / 1e6
        t = monotonicNow()
        lines.forEach(ask)
        let report = Double(monotonicNow() - t) / 1e6
        let rounds = 20
        t = monotonicNow()
        for _ in 0..<rounds { lines.forEach(ask) }
        let per = Double(monotonicNow() - t) / 1e3 / Double(rounds * lines.count)
        return SymbolizerBenchmark.Result(name: "llvm-symbolizer kept warm", firstMs: first, reportMs: report, perAddressUs: per)
    }

    /// Lines of a pipe, read as they come.
    final class LineReader {
        let handle: FileHandle
        var buffer = Data()
        init(_ handle: FileHandle) { self.handle = handle }
        func line() -> Data? {
            while true {
                if let nl = buffer.firstIndex(of: 0x0A) {
                    let l = buffer[buffer.startIndex..<nl]
                    buffer = Data(buffer[(nl + 1)...])
                    return Data(l)
                }
                let more = handle.availableData
                if more.isEmpty { return nil }
                buffer.append(more)
            }
        }
    }
}

import Foundation

/// The answer to a scope question (fdtrace_api.h; the pytest plugin asks at
/// the end of each test's teardown): the descriptors the program opened
/// since the scope began that were still open when it asked, grouped and
/// described as the report groups leaks (Python bundles, the user's line,
/// sockets with their TCP state now). Written as JSON (snake_case keys).
public struct ScopeAnswer: Codable, Sendable, Equatable {
    public var version = 1
    public var pid: Int32
    public var scope: UInt32
    public var leaks: [LeakGroup]
    public var leakedDescriptors: Int
    /// Thread id → its name (/proc/PID/task/TID/comm), for the threads that
    /// opened them and still run.
    public var threads: [String: String]
    /// Groups the session's suppressions took out: entry name → descriptors.
    public var suppressed: [String: Int]
}

public enum ScopeReport {
    /// The answer to `question` of image `p` (`images`: all the collector's,
    /// for stacks and code objects sent by others). `suppression` names the
    /// entry that suppresses a group, or nil to keep it.
    public static func answer(
        _ question: ScopeQuestion, of p: TracedProcess, images: [TracedProcess], registry: ModuleRegistry,
        symbolizer: Symbolizing, nativeFrames: Bool, suppression: ((LeakGroup) -> String?)? = nil
    ) -> ScopeAnswer {
        // 0-2 are the standard streams, never leaks (pytest's capture dup2s
        // onto 1 and 2 in every test). Nothing else: nothing to build.
        let open = (question.open ?? []).filter { $0.fd > 2 }
        guard !open.isEmpty else {
            return ScopeAnswer(pid: p.pid, scope: question.scope, leaks: [], leakedDescriptors: 0, threads: [:], suppressed: [:])
        }
        var scoped = p
        scoped.table = ProcessTable(processKey: p.key)
        for t in open { scoped.table.open(t) }
        scoped.end = .running
        scoped.kernelView = []
        scoped.kernelViewComplete = false
        scoped.inheritedLeaks = []
        let report = ReportBuilder(
            processes: [scoped], images: images, registry: registry, symbolizer: symbolizer, nativeFrames: nativeFrames
        )
        .build(command: p.command, exitStatus: nil)
        var process = report.processes[0]
        if !process.leaks.isEmpty { LiveReport.describeFromProc(&process) }
        var kept: [LeakGroup] = []
        var suppressed: [String: Int] = [:]
        for g in process.leaks {
            if let name = suppression?(g) { suppressed[name, default: 0] += g.count } else { kept.append(g) }
        }
        var threads: [String: String] = [:]
        for tid in Set(kept.flatMap(\.fds).compactMap(\.thread)) {
            if let name = ProcFiles.read("/proc/\(p.pid)/task/\(tid)/comm") {
                threads[String(tid)] = name.trimmingCharacters(in: .newlines)
            }
        }
        return ScopeAnswer(
            pid: p.pid, scope: question.scope, leaks: kept, leakedDescriptors: kept.reduce(0) { $0 + $1.count },
            threads: threads, suppressed: suppressed)
    }
}

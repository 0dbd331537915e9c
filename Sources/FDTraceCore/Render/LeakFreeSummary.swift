/// The one line of the text report that stands for every process without
/// leaks: how many, and their programs by name, most frequent first —
/// `78 more processes without leaks: bash ×77, env ×1` — instead of their
/// command lines (a pyenv shim alone starts dozens of bash processes).
enum LeakFreeSummary {
    /// `more`: sections of processes that leaked come before the line.
    static func line(_ processes: [ProcessReport], more: Bool) -> String {
        let n = processes.count
        return "\(n) \(more ? "more " : "")process\(n == 1 ? "" : "es") without leaks: \(names(processes))"
    }

    /// "bash ×77, env ×1": each program's name (argv[0] without its
    /// directory) with how many ran, most first, then alphabetically.
    static func names(_ processes: [ProcessReport]) -> String {
        var count: [String: Int] = [:]
        for p in processes { count[name(p), default: 0] += 1 }
        return count.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    }

    static func name(_ p: ProcessReport) -> String {
        let word = p.command.first.flatMap { $0.isEmpty ? nil : $0 } ?? p.executable
        return word.split(separator: "/").last.map(String.init) ?? "?"
    }
}

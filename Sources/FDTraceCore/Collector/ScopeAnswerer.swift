import CFDTraceSys
import Foundation

/// Answers the scope questions traced programs ask (fdtrace_api.h: the
/// pytest plugin, at the end of each test): writes ScopeReport's answer at
/// the path the program named, then the program goes on.
public final class ScopeAnswerer {
    let symbolizer: Symbolizing
    let nativeFrames: Bool
    /// The session's suppressions, when it has some: the name of the entry
    /// that matches a leak group, or nil to keep the group. A suppressed
    /// group leaves the answer and is counted in its `suppressed`.
    public var suppression: ((LeakGroup) -> String?)?

    public init(symbolizer: Symbolizing, nativeFrames: Bool) {
        self.symbolizer = symbolizer
        self.nativeFrames = nativeFrames
    }

    /// Answers `collector`'s scope questions from now on.
    public func install(on collector: Collector) {
        collector.scopeHook = { [unowned collector, self] key, question in
            self.answer(question, key: key, collector: collector)
        }
    }

    /// 0 once the answer is written, or an errno: ENOENT for a scope the
    /// image does not hold, EACCES for a process of another user (the file
    /// would be written as the collector's user), or why the file could not
    /// be created (EEXIST: it is never replaced; never through a symlink).
    func answer(_ question: ScopeQuestion, key: Int, collector: Collector) -> Int32 {
        guard question.open != nil else { return ENOENT }
        let p = collector.processes[key]
        var st = stat()
        guard stat("/proc/\(p.pid)", &st) == 0, st.st_uid == geteuid() else { return EACCES }
        let answer = ScopeReport.answer(
            question, of: p, images: collector.processes, registry: collector.registry, symbolizer: symbolizer,
            nativeFrames: nativeFrames, suppression: suppression)
        guard let data = try? JSONRenderer.encode(answer) else { return EIO }
        let fd = fdtc_create_answer(question.path)
        guard fd >= 0 else { return -fd }
        defer { close(fd) }
        return data.withUnsafeBytes { bytes -> Int32 in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return n < 0 ? errno : EIO }
                done += n
            }
            return 0
        }
    }
}

import Foundation

/// The loop both sessions run (`fdtrace run`, and the collector a bare
/// `LD_PRELOAD` starts): the collector's rounds, queries from other
/// terminals, and the end. Once the program is done, the rest of the traced
/// tree gets `lingerSeconds` to end too; what still runs then is abandoned
/// (it outlived the program), with a note naming the wait.
struct SessionLoop {
    let collector: Collector
    let queries: QueryServer?
    let lingerSeconds: Double
    /// How the wait is set, for the note: "--wait", "FDTRACE_WAIT".
    let waitName: String
    /// A process that stays followed to the end (bare mode's owner: it
    /// waits for its report), and does not count as the rest of the tree.
    var keep: Int32? = nil
    /// --metrics / --metrics-file: served while the loop runs, the file
    /// written once more when it ends.
    var metrics: SessionMetrics? = nil

    enum ProgramState {
        case running
        /// Done: the rest of the tree gets the linger time from now on.
        case ended
        /// Nothing to wait for any more (no process ever came).
        case givenUp
    }

    /// Runs rounds until the traced tree is done. Each round also waits on
    /// the caller's `extra()` descriptors, then `round` handles those that
    /// are readable and says where the program is.
    func run(extra: () -> [Int32], round: (Set<Int32>) -> ProgramState) {
        defer { metrics?.finish(collector) }
        var deadline: UInt64? = nil
        while true {
            let ready = collector.poll(
                timeoutMs: 20, extra: extra() + (queries.map { [$0.fd] } ?? []) + (metrics.map { [$0.descriptor] } ?? []))
            if let q = queries, ready.contains(q.fd) { q.handle(collector) }
            if let m = metrics, ready.contains(m.descriptor) { m.answer(collector) }
            switch round(ready) {
            case .running: continue
            case .givenUp: return
            case .ended:
                let now = monotonicNow()
                if deadline == nil { deadline = now + UInt64(lingerSeconds * 1e9) }
                if restHasEnded { return }
                if let d = deadline, now > d {
                    collector.abandonRemaining(wait: "\(waitName) \(String(format: "%g", lingerSeconds)) s", except: keep)
                    return
                }
            }
        }
    }

    /// Every traced process but `keep` has ended, no fork child is still on
    /// its way, and no hello waits to be read.
    private var restHasEnded: Bool {
        let kept = keep.map { collector.isFollowed($0) ? 1 : 0 } ?? 0
        return collector.followedImages - kept == 0 && !collector.hasNewcomers && collector.pendingChildren.isEmpty
    }
}

import Foundation

/// --snapshot-dir and its triggers: where snapshots go, and when besides
/// EMFILE/ENFILE they are taken (`fdtrace run`, `fdtrace attach`).
public struct SnapshotOptions: Sendable {
    public var directory: String
    /// --snapshot-at: a count, or a share of the soft limit.
    public var atCount: Int?
    public var atPercent: Double?
    /// --snapshot-every, seconds.
    public var every: Double?
    public init(directory: String, atCount: Int? = nil, atPercent: Double? = nil, every: Double? = nil) {
        self.directory = directory; self.atCount = atCount; self.atPercent = atPercent; self.every = every
    }
}

/// --snapshot-dir: snapshots of the running images when a call fails with
/// EMFILE or ENFILE, at a threshold, and every few seconds.
final class LiveSnapshots {
    let options: SnapshotOptions
    let writer: SnapshotWriter
    let command: [String]
    let symbolizer: Symbolizing
    let nativeFrames: Bool
    private var nextPeriodic: UInt64?

    init(_ options: SnapshotOptions, command: [String], symbolizer: Symbolizing, nativeFrames: Bool) throws {
        self.options = options
        writer = try SnapshotWriter(directory: options.directory)
        self.command = command
        self.symbolizer = symbolizer
        self.nativeFrames = nativeFrames
        nextPeriodic = options.every.map { monotonicNow() + UInt64($0 * 1e9) }
    }

    /// The collector calls back for EMFILE/ENFILE and thresholds.
    func install(on collector: Collector) {
        collector.snapshotHook = { [unowned collector, self] key, reason in
            self.take(collector, keys: [key], reason: reason, pid: collector.processes[key].pid)
        }
        if let n = options.atCount {
            collector.snapshotThreshold = { _ in n }
        } else if let pct = options.atPercent {
            collector.snapshotThreshold = { soft in max(1, Int(Double(min(soft, 1 << 30)) * pct / 100)) }
        }
    }

    /// Every --snapshot-every seconds, of everything still running.
    func periodic(_ collector: Collector) {
        guard let due = nextPeriodic, let every = options.every, monotonicNow() >= due else { return }
        collector.drainAll()
        take(collector, keys: nil, reason: .periodic, pid: nil)
        collector.markTimelines(.periodic)
        nextPeriodic = monotonicNow() + UInt64(every * 1e9)
    }

    /// A snapshot of the images `keys` (all) that still run, if any.
    private func take(_ collector: Collector, keys: Set<Int>?, reason: SnapshotReason, pid: Int32?) {
        guard LiveReport.hasRunning(collector.processes, keys: keys) else { return }
        writer.write(
            LiveReport.build(
                collector.processes, keys: keys, registry: collector.registry, command: command,
                symbolizer: symbolizer, nativeFrames: nativeFrames),
            reason: reason, pid: pid)
    }
}

import ArgumentParser
import FDTraceCore

/// --snapshot-dir, --snapshot-at and --snapshot-every: snapshots while a
/// traced session runs, one option group for `run` and `attach`.
struct SnapshotArguments: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write snapshots (JSON and text) into DIR while the program runs: when a call fails with EMFILE/ENFILE, and at --snapshot-at / --snapshot-every.",
            valueName: "DIR"))
    var snapshotDir: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Snapshot a process when it holds N open descriptors, or N% of its soft limit (needs --snapshot-dir).", valueName: "N|N%"))
    var snapshotAt: String?

    @Option(name: .long, help: ArgumentHelp("Snapshot every SECONDS while the program runs (needs --snapshot-dir).", valueName: "SECONDS"))
    var snapshotEvery: Double?

    func validate() throws {
        if (snapshotAt != nil || snapshotEvery != nil) && snapshotDir == nil {
            throw ValidationError("--snapshot-at and --snapshot-every need --snapshot-dir")
        }
        if let at = snapshotAt, Self.threshold(at) == nil {
            throw ValidationError("--snapshot-at must be a count (e.g. 900) or a share of the soft limit (e.g. 80%)")
        }
        if let every = snapshotEvery, !(every >= 0.1 && every <= 86400) {
            throw ValidationError("--snapshot-every must be from 0.1 to 86400 seconds")
        }
    }

    /// What the session is given (nil: no --snapshot-dir).
    var options: SnapshotOptions? {
        guard let dir = snapshotDir else { return nil }
        let at = snapshotAt.flatMap(Self.threshold)
        return SnapshotOptions(directory: dir, atCount: at?.count, atPercent: at?.percent, every: snapshotEvery)
    }

    /// "900" or "80%".
    static func threshold(_ s: String) -> (count: Int?, percent: Double?)? {
        if s.hasSuffix("%"), let p = Double(s.dropLast()), p > 0, p <= 100 { return (nil, p) }
        if let n = Int(s), n > 0 { return (n, nil) }
        return nil
    }
}

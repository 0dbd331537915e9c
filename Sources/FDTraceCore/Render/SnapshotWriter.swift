import Foundation

/// Writes snapshots taken while the program runs (--snapshot-dir): one JSON
/// and one text file each, named by sequence, reason and pid, e.g.
/// `snapshot-003-EMFILE-4242.json`. The same report as at exit, for the
/// processes as they are now: open descriptors per site, with their age.
public final class SnapshotWriter {
    public let directory: String
    public private(set) var written: [String] = []
    private var sequence = 0

    public init(directory: String) throws {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw FDTraceError("cannot create the snapshot directory \(directory)", status: ExitStatus.tracerFailure)
            }
        } else if !isDir.boolValue {
            throw FDTraceError("--snapshot-dir \(directory) is not a directory", status: ExitStatus.tracerFailure)
        }
        guard access(directory, W_OK) == 0 else {
            throw FDTraceError("cannot write in the snapshot directory \(directory)", status: ExitStatus.tracerFailure)
        }
        self.directory = directory
    }

    /// Writes `report` (a live report) as the next snapshot, taken for
    /// `reason` (in process `pid`, if one asked), and returns the JSON
    /// file's path.
    @discardableResult
    public func write(_ report: Report, reason: SnapshotReason, pid: Int32?) -> String? {
        sequence += 1
        var report = report
        let stamp = ISO8601DateFormatter().string(from: Date())
        report.snapshot = SnapshotInfo(reason: reason, pid: pid, takenAt: stamp)
        let base = "\(directory)/snapshot-\(String(format: "%03d", sequence))-\(reason.rawValue)\(pid.map { "-\($0)" } ?? "")"
        do {
            try ReportFile(path: base + ".json").write(try JSONRenderer.render(report))
            let text =
                "fdtrace: snapshot \(sequence) (\(reason.rawValue)\(pid.map { " in pid \($0)" } ?? "")) at \(stamp)\n"
                + TextRenderer().render(report)
            try ReportFile(path: base + ".txt").write(Data(text.utf8))
        } catch {
            FileHandle.standardError.write(Data("fdtrace: cannot write snapshot \(base): \(error)\n".utf8))
            return nil
        }
        written.append(base + ".json")
        return base + ".json"
    }
}

import Foundation

/// What a traced session serves beside its sources, set up alike by
/// `fdtrace run` and `fdtrace attach`: snapshots into --snapshot-dir, and
/// answers to `fdtrace snapshot` and `fdtrace top` from other terminals
/// (a session whose socket cannot be made still runs, and says so).
struct SessionServices {
    let live: LiveSnapshots?
    let queries: QueryServer?
    /// Why the session cannot be queried, for the report's notes.
    let queryNote: String?

    init(
        collector: Collector, name: String?, command: [String], snapshots: SnapshotOptions?, symbolizer: Symbolizing,
        nativeFrames: Bool
    ) throws {
        live = try snapshots.map { try LiveSnapshots($0, command: command, symbolizer: symbolizer, nativeFrames: nativeFrames) }
        live?.install(on: collector)
        do {
            queries = try QueryServer(name: name, command: command, symbolizer: symbolizer, nativeFrames: nativeFrames)
            queryNote = nil
        } catch {
            queries = nil
            queryNote = "this session cannot be queried: \(error)"
        }
    }

    /// One `fdtrace:` line on stderr.
    static func say(_ line: String) { FileHandle.standardError.write(Data("fdtrace: \(line)\n".utf8)) }
}

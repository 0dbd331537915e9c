import CFDTraceDwarf
import Foundation

/// The ELF files libdwfl has open for a symbolizer, one per module (path and
/// build id), kept for the session; a file that could not be read is
/// remembered with the reason. A module whose file on disk is no longer the
/// one that ran (another build id) is read from its debug file by build id,
/// as llvm-symbolizer's BUILDID: lookup does. Used from one thread at a
/// time (the collector's loop).
final class DwarfFiles: @unchecked Sendable {
    struct Unreadable: Error { var reason: String }
    struct Frame { var function: String?, file: String?, line: Int? }

    private var opened: [ModuleRegistry.Entry: Result<OpaquePointer, Unreadable>] = [:]
    static let debugDirectory = "/usr/lib/debug/.build-id"

    deinit { for case .success(let h) in opened.values { fdtd_close(h) } }

    func file(_ entry: ModuleRegistry.Entry) -> Result<OpaquePointer, Unreadable> {
        if let known = opened[entry] { return known }
        let result = Self.open(entry)
        opened[entry] = result
        return result
    }

    private static func open(_ entry: ModuleRegistry.Entry) -> Result<OpaquePointer, Unreadable> {
        var why: String
        switch openELF(entry.path) {
        case .success(let h):
            if entry.buildID.isEmpty || buildID(h) == entry.buildID { return .success(h) }
            fdtd_close(h)
            why = "the file has changed since it ran (another build id)"
        case .failure(let e): why = e.reason
        }
        guard entry.buildID.count >= 2 else { return .failure(Unreadable(reason: why)) }
        let hex = ElfBuildID.hex(entry.buildID)
        let debug = "\(debugDirectory)/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
        guard FileManager.default.fileExists(atPath: debug) else {
            return .failure(Unreadable(reason: "\(why), and no debug file has its build id"))
        }
        return openELF(debug)
    }

    private static func openELF(_ path: String) -> Result<OpaquePointer, Unreadable> {
        var err = [CChar](repeating: 0, count: 512)
        guard let h = fdtd_open(path, &err, err.count) else {
            return .failure(Unreadable(reason: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
        }
        return .success(h)
    }

    private static func buildID(_ h: OpaquePointer) -> [UInt8] {
        var id = [UInt8](repeating: 0, count: 64)
        let n = fdtd_build_id(h, &id, id.count)
        return Array(id.prefix(min(n, id.count)))
    }

    /// The source frames at a file address, innermost first.
    /// `debugInfo` false: the symbol table's name only (no DWARF, no line).
    static func frames(_ h: OpaquePointer, address: UInt64, debugInfo: Bool = true) -> [Frame] {
        var frames: [Frame] = []
        withUnsafeMutablePointer(to: &frames) { list in
            _ = (debugInfo ? fdtd_symbolize : fdtd_symbolize_by_symbol)(
                h, address,
                { ctx, function, file, line in
                    let list = ctx!.assumingMemoryBound(to: [Frame].self)
                    list.pointee.append(
                        Frame(
                            function: function.map { String(cString: $0) }, file: file.map { String(cString: $0) },
                            line: line > 0 ? Int(line) : nil))
                }, list)
        }
        return frames
    }
}

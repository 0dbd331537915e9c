import Foundation

/// Reads the GNU build id of an ELF file on disk (to check that the file
/// the report symbolizes is the one that ran). Only the note is read: all
/// debug information is left to the symbolizer.
public enum ElfBuildID {
    public static func read(path: String) -> [UInt8]? { ElfFile(path: path)?.buildID() }

    public static func hex(_ id: [UInt8]) -> String { id.map { String(format: "%02x", $0) }.joined() }
}

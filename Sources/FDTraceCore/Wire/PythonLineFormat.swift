import CFDTraceWire

/// How a code object maps instruction offsets to lines; the wire values are
/// enum fdt_py_lines in CShim/include/fdtrace_wire.h.
public enum PythonLineFormat: RawRepresentable, Sendable, Codable {
    /// CPython 3.8 and 3.9 `co_lnotab`: (address delta, signed line delta) byte pairs.
    case lnotab
    /// CPython 3.10 `co_linetable`: (range length, signed line delta) byte pairs; -128 is "no line".
    case linetable
    /// CPython 3.11+ `co_linetable`: location entries (Objects/locations.md).
    case locations

    public init?(rawValue: UInt16) {
        switch UInt32(rawValue) {
        case FDT_PY_LINES_LNOTAB.rawValue: self = .lnotab
        case FDT_PY_LINES_LINETABLE.rawValue: self = .linetable
        case FDT_PY_LINES_LOCATIONS.rawValue: self = .locations
        default: return nil
        }
    }

    public var rawValue: UInt16 {
        switch self {
        case .lnotab: UInt16(FDT_PY_LINES_LNOTAB.rawValue)
        case .linetable: UInt16(FDT_PY_LINES_LINETABLE.rawValue)
        case .locations: UInt16(FDT_PY_LINES_LOCATIONS.rawValue)
        }
    }
}

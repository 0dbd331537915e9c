import CFDTraceWire

/// A libc call that creates or releases descriptors (enum fdt_call).
public struct Call: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The call's name, from the wire header's one table of names.
    public var name: String { String(cString: fdt_call_name(UInt32(rawValue))) }
    public var description: String { name }
    public var isValid: Bool { UInt32(rawValue) < fdt_call_count() }

    public static func named(_ name: String) -> Call? {
        (0..<UInt16(fdt_call_count())).map(Call.init(rawValue:)).first { $0.name == name }
    }
    public static let unknown = Call(rawValue: UInt16(FDT_CALL_UNKNOWN.rawValue))
    public static let open = Call(rawValue: UInt16(FDT_CALL_OPEN.rawValue))
    public static let close = Call(rawValue: UInt16(FDT_CALL_CLOSE.rawValue))
    public static let dup2 = Call(rawValue: UInt16(FDT_CALL_DUP2.rawValue))
    public static let dup3 = Call(rawValue: UInt16(FDT_CALL_DUP3.rawValue))
    public static let fopen = Call(rawValue: UInt16(FDT_CALL_FOPEN.rawValue))
    public static let socket = Call(rawValue: UInt16(FDT_CALL_SOCKET.rawValue))
    public static let accept4 = Call(rawValue: UInt16(FDT_CALL_ACCEPT4.rawValue))
    public static let pipe = Call(rawValue: UInt16(FDT_CALL_PIPE.rawValue))
    public static let fclose = Call(rawValue: UInt16(FDT_CALL_FCLOSE.rawValue))
    public static let closeRange = Call(rawValue: UInt16(FDT_CALL_CLOSE_RANGE.rawValue))

    /// A call that opens a descriptor for a stream (FILE*, DIR*) owning it.
    public var opensStream: Bool {
        switch UInt32(rawValue) {
        case FDT_CALL_FOPEN.rawValue, FDT_CALL_FOPEN64.rawValue, FDT_CALL_FREOPEN.rawValue, FDT_CALL_FREOPEN64.rawValue,
            FDT_CALL_TMPFILE.rawValue, FDT_CALL_TMPFILE64.rawValue, FDT_CALL_OPENDIR.rawValue, FDT_CALL_POPEN.rawValue:
            return true
        default: return false
        }
    }

    /// A stream's own close of its descriptor (fclose, closedir, pclose,
    /// and freopen's close of the old one).
    @inline(__always)
    public var closesStream: Bool {
        switch UInt32(rawValue) {
        case FDT_CALL_FCLOSE.rawValue, FDT_CALL_CLOSEDIR.rawValue, FDT_CALL_PCLOSE.rawValue, FDT_CALL_FREOPEN.rawValue,
            FDT_CALL_FREOPEN64.rawValue:
            return true
        default: return false
        }
    }
}

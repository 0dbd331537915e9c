import CFDTraceWire

/// Records as the shim writes them, for the collector benchmark and the
/// tests: the C record struct, then its variable tail, padded to 8 bytes,
/// with the header's size and type filled in. The decoder's counterpart.
public enum RecordEncoder {
    public static func encode<T>(
        _ value: T, type: fdt_rec_type, tail: [UInt8] = [], flags: UInt16 = 0,
        time: UInt64 = 0
    ) -> [UInt8] {
        var v = value
        var bytes = withUnsafeBytes(of: &v) { Array($0) } + tail
        while bytes.count % 8 != 0 { bytes.append(0) }
        var h = fdt_rec_header(size: UInt32(bytes.count), type: UInt16(type.rawValue), flags: flags, time_ns: time)
        withUnsafeBytes(of: &h) { for (i, b) in $0.enumerated() { bytes[i] = b } }
        return bytes
    }

    /// A stack's program counters as they follow struct fdt_rec_stack.
    public static func tail(_ pcs: [UInt64]) -> [UInt8] {
        pcs.flatMap { pc in withUnsafeBytes(of: pc) { Array($0) } }
    }
}

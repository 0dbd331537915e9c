/// Bounds-checked little-endian reads from bytes that came from a foreign
/// binary: every read answers nil rather than trap when it would leave the
/// bytes (or the given range).
extension Array where Element == UInt8 {
    @inline(__always)
    func u8(at offset: Int) -> UInt8? {
        offset >= 0 && offset < count ? self[offset] : nil
    }

    @inline(__always)
    func u32(at offset: Int) -> UInt32? {
        guard offset >= 0, count >= 4, offset <= count - 4 else { return nil }
        return UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16 | UInt32(self[offset + 3]) << 24
    }

    @inline(__always)
    func i32(at offset: Int) -> Int32? { u32(at: offset).map { Int32(bitPattern: $0) } }

    @inline(__always)
    func u64(at offset: Int) -> UInt64? {
        guard let lo = u32(at: offset), let hi = u32(at: offset + 4) else { return nil }
        return UInt64(lo) | UInt64(hi) << 32
    }

    /// A pointer-sized word (4 or 8 bytes).
    @inline(__always)
    func word(at offset: Int, size: Int) -> UInt64? {
        size == 8 ? u64(at: offset) : u32(at: offset).map(UInt64.init)
    }

    /// The NUL-terminated string at `offset`, which must end before
    /// `range.upperBound` and be at most `limit` bytes long.
    func cString(at offset: Int, in range: Range<Int>, limit: Int = 1 << 16) -> String? {
        guard offset >= range.lowerBound, offset < range.upperBound, range.upperBound <= count else { return nil }
        let end = Swift.min(range.upperBound, offset + limit)
        var i = offset
        while i < end && self[i] != 0 { i += 1 }
        guard i < end else { return nil }
        return String(decoding: self[offset..<i], as: UTF8.self)
    }
}

/// A CPython code object's line table, copied out of the traced process,
/// and the interpreter's own offset-to-line lookup over it.
///
/// `line(atByteOffset:)` gives what `PyCode_Addr2Line(co, offset)` gives in
/// the interpreter that wrote the table (test vectors from the real 3.8-3.13
/// interpreters are in Tests/FDTraceCoreTests/python_line_vectors.jsonl,
/// made by scripts/gen_python_line_vectors.py). Where CPython answers -1
/// ("no line") this answers nil.
///
/// The bytes come from another process, so nothing about them is trusted:
/// every read is bounds-checked, every loop moves forward through the table
/// and stops at its end, and a table that cannot be what CPython wrote (a
/// varint cut short or too long, a 3.11+ table that does not start with an
/// entry) answers nil. A line outside 0...Int32.max (CPython's lines are C
/// ints, -1 meaning none) is garbage too and answers nil. The lookup does
/// not allocate.
public struct PythonLineTable: Sendable, Equatable {
    public var format: PythonLineFormat
    /// `co_firstlineno`.
    public var firstLine: Int
    /// `co_lnotab` (3.8, 3.9) or `co_linetable` (3.10+), as the interpreter stores it.
    public var table: [UInt8]

    public init(format: PythonLineFormat, firstLine: Int, table: [UInt8]) {
        self.format = format
        self.firstLine = firstLine
        self.table = table
    }

    /// The line of the instruction at `offset` (bytes from the start of the code), or nil when the table says it has none.
    public func line(atByteOffset offset: Int) -> Int? {
        switch format {
        case .lnotab: return lnotabLine(offset)
        case .linetable: return linetableLine(offset)
        case .locations: return locationsLine(offset)
        }
    }

    @inline(__always)
    private static func valid(_ line: Int) -> Int? {
        line >= 0 && line <= Int(Int32.max) ? line : nil
    }

    /// 3.8/3.9 `PyCode_Addr2Line`: walk the (address delta, line delta)
    /// pairs while the address stays <= offset. There is no "no line" here:
    /// offsets before the code get the first line, offsets past its end the
    /// last one. A trailing odd byte is ignored, as CPython does (size / 2).
    private func lnotabLine(_ offset: Int) -> Int? {
        let pairs = table.count / 2
        var addr = 0
        var line = firstLine
        var i = 0
        for _ in 0..<pairs {
            addr += Int(table[i])
            if addr > offset { break }
            line &+= Int(Int8(bitPattern: table[i + 1]))
            i += 2
        }
        return Self.valid(line)
    }

    /// 3.10 `PyCode_Addr2Line` (`_PyCode_CheckLineNumber` over
    /// `PyLineTable_NextAddressRange`): each pair is a range [start, start +
    /// length) whose line is the running line plus the delta, or none when
    /// the delta is -128 (which then does not move the running line).
    /// Zero-length ranges only move the running line (the compiler emits
    /// them for line jumps beyond +-127). Negative offsets get the first
    /// line; offsets past the last range get nil. A trailing odd byte is
    /// ignored (CPython would read one byte past the table).
    private func linetableLine(_ offset: Int) -> Int? {
        if offset < 0 { return Self.valid(firstLine) }
        let end = table.count & ~1
        var start = 0
        var computed = firstLine
        var i = 0
        while i < end {
            let length = Int(table[i])
            let delta = Int8(bitPattern: table[i + 1])
            i += 2
            if delta != -128 { computed &+= Int(delta) }
            let rangeEnd = start + length
            // start <= offset holds here, so an empty range never matches.
            if offset < rangeEnd {
                return delta == -128 ? nil : Self.valid(computed)
            }
            start = rangeEnd
        }
        return nil
    }

    /// 3.11+ `PyCode_Addr2Line` over location entries: the first byte of an
    /// entry has bit 7 set, bits 3-6 are its code and bits 0-2 its length
    /// in code units minus one. The line delta is a signed varint after the
    /// first byte for codes 13 (no columns) and 14 (long form), code - 10 for
    /// the one-line forms 10-12 and 0 otherwise; code 15 has no location.
    /// The rest of the entry (columns) is skipped up to the next byte with
    /// bit 7 set. Negative offsets get the first line; offsets past the last
    /// entry get nil.
    private func locationsLine(_ offset: Int) -> Int? {
        if offset < 0 { return Self.valid(firstLine) }
        let count = table.count
        guard count > 0, table[0] & 0x80 != 0 else { return nil }
        var end = 0
        var computed = firstLine
        var i = 0
        while i < count {
            let first = table[i]
            let code = (first >> 3) & 15
            switch code {
            case 13, 14:
                guard let delta = signedVarint(at: i + 1) else { return nil }
                computed &+= delta
            case 10, 11, 12:
                computed &+= Int(code) - 10
            default:
                break
            }
            end += (Int(first & 7) + 1) * 2
            // Ranges are never empty and follow each other from 0, so the
            // previous end is <= offset here.
            if offset < end {
                // CPython's is_no_line_marker: (b >> 3) == 0x1f.
                return first >> 3 == 0x1F ? nil : Self.valid(computed)
            }
            i += 1
            while i < count && table[i] & 0x80 == 0 { i += 1 }
        }
        return nil
    }

    /// CPython's `scan_signed_varint` at `index`: 6-bit chunks, least
    /// significant first, bit 6 set on all but the last, read as a C
    /// unsigned int; then the low bit is the sign. nil when the varint runs
    /// past the table or has more chunks than 32 bits can hold.
    private func signedVarint(at index: Int) -> Int? {
        var i = index
        guard i < table.count else { return nil }
        var read = UInt32(table[i])
        var value = read & 63
        var shift: UInt32 = 0
        while read & 64 != 0 {
            i += 1
            shift += 6
            guard i < table.count, shift <= 30 else { return nil }
            read = UInt32(table[i])
            value |= (read & 63) &<< shift
        }
        let magnitude = Int(value >> 1)
        return value & 1 != 0 ? -magnitude : magnitude
    }
}

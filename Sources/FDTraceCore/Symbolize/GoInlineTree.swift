/// The inline trees of a Go binary (FUNCDATA_InlTree): the memory they
/// live in, and their entries.
///
/// Entry layouts (runtime.inlinedCall): Go 1.12-1.19, 20 bytes: parent
/// int16, funcID, pad, file int32, line int32, func_ int32 (name offset in
/// funcnametab), parentPc int32. Go 1.20+, 16 bytes: funcID, 3 pad bytes,
/// nameOff int32, parentPc int32, startLine int32. Only the name and
/// parentPc are read: the file and line of every frame come from the pc
/// tables, as the runtime's own traceback does.
struct GoInlineTree: Sendable {
    struct Region: Sendable {
        var address: UInt64
        var bytes: [UInt8]
    }

    struct Call: Equatable {
        var nameOffset: Int32
        var parentPc: Int32
    }

    /// go:func.* (`go.func.*` before 1.20): funcdata offsets count from
    /// it since 1.18. nil for 1.16-1.17, whose funcdata are pointers.
    var gofunc: UInt64?
    /// Loaded bytes of the binary, by address.
    var regions: [Region]

    /// Entry `index` of the tree at `address`, or nil if it is not all in memory.
    func call(at address: UInt64, index: Int, format: GoLineTable.Format) -> Call? {
        let size: UInt64 = format == .go120 ? 16 : 20
        guard index >= 0, index < 1 << 24 else { return nil }
        let (at, overflow) = address.addingReportingOverflow(UInt64(index) * size)
        guard !overflow, let r = regions.first(where: { at >= $0.address && at - $0.address < UInt64($0.bytes.count) }) else { return nil }
        let o = Int(at - r.address)
        if format == .go120 {
            guard let name = r.bytes.i32(at: o + 4), let parentPc = r.bytes.i32(at: o + 8) else { return nil }
            return Call(nameOffset: name, parentPc: parentPc)
        }
        guard let name = r.bytes.i32(at: o + 12), let parentPc = r.bytes.i32(at: o + 16) else { return nil }
        return Call(nameOffset: name, parentPc: parentPc)
    }
}

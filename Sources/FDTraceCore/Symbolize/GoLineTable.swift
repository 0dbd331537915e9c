/// Go's own line table (the pclntab the runtime uses for tracebacks), read
/// from a Go binary on disk, and the runtime's pc lookup over it: function,
/// file and line at a pc, with the frames of the calls inlined there. It
/// works on stripped binaries (no DWARF, no symbol table): Go keeps the
/// table, in `.gopclntab` (`.data.rel.ro.gopclntab` in a PIE the Go linker
/// made).
///
/// Formats: the pclntab of Go 1.16-1.17 (magic 0xfffffffa), 1.18-1.19
/// (0xfffffff0) and 1.20 and later (0xfffffff1; checked up to 1.22),
/// little-endian. Inline trees: the 1.12-1.19 layout (20-byte entries) and
/// the 1.20+ one (16 bytes), see GoInlineTree.
///
/// What the runtime does (runtime/symtab.go): the function is found by a
/// binary search of the function table; file and line come from the
/// function's pcfile and pcln tables, which give the innermost (inlined)
/// position; when PCDATA_InlTreeIndex is >= 0 at the pc, the innermost
/// frame is the inlined function the tree names, and the caller's position
/// is looked up again at the entry + parentPc the tree gives, until the
/// index is -1 (the function itself).
///
/// The bytes come from a file we do not trust: every read is
/// bounds-checked, every loop is bounded (a pc-value table by its bytes,
/// inline chains by `maxInlineDepth`), and a table that cannot be what Go
/// wrote answers nil.
public struct GoLineTable: Sendable {
    public enum Format: String, Sendable, Equatable {
        case go116 = "go1.16-1.17", go118 = "go1.18-1.19", go120 = "go1.20+"
    }

    public struct Frame: Equatable, Sendable, CustomStringConvertible {
        public var function: String
        public var file: String?
        public var line: Int?
        /// Inlined into the frame after it.
        public var inlined: Bool

        public init(function: String, file: String?, line: Int?, inlined: Bool) {
            self.function = function; self.file = file; self.line = line; self.inlined = inlined
        }

        public var description: String { "\(function) \(file ?? "?"):\(line.map(String.init) ?? "?")\(inlined ? " (inlined)" : "")" }
    }

    public let format: Format
    /// Bytes per instruction unit (pc deltas are in these).
    public let quantum: Int
    public let pointerSize: Int
    public let functionCount: Int
    /// Where the function table's entry offsets count from (1.18+).
    public let textStart: UInt64
    /// The calls inlined at a pc can be named (the funcdata of inline trees
    /// could be located).
    public var hasInlineTrees: Bool { inlineTrees != nil }

    /// More nested inlined calls than any real program has: a longer chain
    /// means a malformed tree.
    public static let maxInlineDepth = 1024

    let table: [UInt8]
    /// The table's address when loaded.
    let address: UInt64
    let funcnames: Range<Int>, cutab: Range<Int>, filetab: Range<Int>, pctab: Range<Int>, functab: Range<Int>
    let inlineTrees: GoInlineTree?

    static let magic116: UInt32 = 0xffff_fffa, magic118: UInt32 = 0xffff_fff0, magic120: UInt32 = 0xffff_fff1
    static let pcdataInlTreeIndex = 2
    static let funcdataInlTree = 3

    /// Parses the pclntab `table`, loaded at `address`. `textStart`
    /// overrides the header's (for a caller that knows better);
    /// `inlineTrees` is the memory funcdata points into.
    init?(pclntab table: [UInt8], address: UInt64, textStart: UInt64? = nil, inlineTrees: GoInlineTree? = nil) {
        guard table.count >= 16, table[4] == 0, table[5] == 0,
            let magic = table.u32(at: 0)
        else { return nil }
        switch magic {
        case Self.magic116: format = .go116
        case Self.magic118: format = .go118
        case Self.magic120: format = .go120
        default: return nil
        }
        let quantum = Int(table[6]), ptr = Int(table[7])
        guard quantum == 1 || quantum == 2 || quantum == 4, ptr == 4 || ptr == 8 else { return nil }
        self.quantum = quantum
        pointerSize = ptr
        func word(_ i: Int) -> UInt64? { table.word(at: 8 + i * ptr, size: ptr) }
        // nfunc, nfiles, [textStart], then the offsets of funcnametab, cutab,
        // filetab, pctab and the function table (followed by the _func records).
        let first = format == .go116 ? 2 : 3
        guard let nfunc = word(0), let headerText = format == .go116 ? 0 : word(2) else { return nil }
        var offsets: [Int] = []
        for i in first..<first + 5 {
            guard let o = word(i), o >= UInt64(8 + (first + 5) * ptr), o <= UInt64(table.count) else { return nil }
            offsets.append(Int(o))
        }
        // Each table ends where the next one (in address order) starts.
        func range(_ k: Int) -> Range<Int> {
            let start = offsets[k]
            let end = offsets.filter { $0 > start }.min() ?? table.count
            return start..<end
        }
        funcnames = range(0); cutab = range(1); filetab = range(2); pctab = range(3)
        let fieldSize = format == .go116 ? ptr : 4
        let maxFuncs = UInt64(table.count - offsets[4]) / UInt64(2 * fieldSize)
        guard nfunc > 0, nfunc < maxFuncs else { return nil }
        functionCount = Int(nfunc)
        functab = offsets[4]..<table.count
        self.textStart = textStart ?? headerText
        self.table = table
        self.address = address
        self.inlineTrees = inlineTrees
    }

    // MARK: - Lookup

    /// The frames at a return address (the call before it: pc - 1, as
    /// Go's traceback does), innermost first; nil when no Go function has it.
    public func frames(returnAddress pc: UInt64) -> [Frame]? {
        pc == 0 ? nil : frames(at: pc - 1)
    }

    /// The frames at `pc` itself, innermost first.
    public func frames(at pc: UInt64) -> [Frame]? {
        guard let f = function(containing: pc) else { return nil }
        var frames: [Frame] = []
        var tracepc = pc
        let tree = f.funcdata(Self.funcdataInlTree, in: self).flatMap { address in inlineTrees.map { ($0, address) } }
        for _ in 0..<Self.maxInlineDepth {
            let position = location(f, tracepc)
            let index = tree == nil ? -1 : pcvalue(f.pcdata(Self.pcdataInlTreeIndex, in: self), f.entry, tracepc) ?? -1
            if index < 0 {
                guard let name = table.cString(at: funcnames.lowerBound &+ Int(f.nameOffset), in: funcnames) else { return nil }
                frames.append(Frame(function: name, file: position.file, line: position.line, inlined: false))
                return frames
            }
            guard let (trees, address) = tree, let call = trees.call(at: address, index: Int(index), format: format),
                call.parentPc >= 0,
                let name = table.cString(at: funcnames.lowerBound &+ Int(call.nameOffset), in: funcnames)
            else { return nil }
            frames.append(Frame(function: name, file: position.file, line: position.line, inlined: true))
            tracepc = f.entry &+ UInt64(call.parentPc)
        }
        return nil
    }

    /// The entry and name of the function whose code holds `pc`.
    public func function(at pc: UInt64) -> (entry: UInt64, name: String)? {
        guard let f = function(containing: pc),
            let name = table.cString(at: funcnames.lowerBound &+ Int(f.nameOffset), in: funcnames)
        else { return nil }
        return (f.entry, name)
    }

    /// Entries of the functions named `name` (a linear scan: for tests and tools).
    public func entries(named name: String) -> [UInt64] {
        var out: [UInt64] = []
        for i in 0..<functionCount {
            guard let entry = functionEntry(i), let f = function(index: i, entry: entry),
                table.cString(at: funcnames.lowerBound &+ Int(f.nameOffset), in: funcnames) == name
            else { continue }
            out.append(entry)
        }
        return out
    }

    /// The entry of function `i` of the function table, and of the end
    /// of the text for `i == functionCount`.
    func functionEntry(_ i: Int) -> UInt64? {
        if format == .go116 {
            return table.word(at: functab.lowerBound + 2 * i * pointerSize, size: pointerSize)
        }
        return table.u32(at: functab.lowerBound + 8 * i).map { textStart &+ UInt64($0) }
    }

    /// Binary search of the function table, as the runtime's findfunc
    /// answers (it uses a bucket index to the same effect).
    func function(containing pc: UInt64) -> GoFunc? {
        guard let first = functionEntry(0), let end = functionEntry(functionCount), pc >= first, pc < end else { return nil }
        var lo = 0, hi = functionCount  // entry(lo) <= pc < entry(hi)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            guard let e = functionEntry(mid) else { return nil }
            if e <= pc { lo = mid } else { hi = mid }
        }
        guard let entry = functionEntry(lo) else { return nil }
        return function(index: lo, entry: entry)
    }

    func function(index i: Int, entry: UInt64) -> GoFunc? {
        let funcOffset: UInt64?
        if format == .go116 {
            funcOffset = table.word(at: functab.lowerBound + (2 * i + 1) * pointerSize, size: pointerSize)
        } else {
            funcOffset = table.u32(at: functab.lowerBound + 8 * i + 4).map(UInt64.init)
        }
        guard let funcOffset, funcOffset < UInt64(functab.count) else { return nil }
        return GoFunc(table: self, offset: functab.lowerBound + Int(funcOffset), entry: entry)
    }

    /// File and line at `pc` in `f` (the innermost inlined position).
    func location(_ f: GoFunc, _ pc: UInt64) -> (file: String?, line: Int?) {
        var file: String?
        if let fileIndex = pcvalue(f.pcfile, f.entry, pc), fileIndex >= 0 {
            let slot = UInt64(f.cuOffset) + UInt64(fileIndex)
            if slot < UInt64(cutab.count / 4), let fileOffset = table.u32(at: cutab.lowerBound + 4 * Int(slot)),
                fileOffset != UInt32.max
            {
                file = table.cString(at: filetab.lowerBound + Int(fileOffset), in: filetab)
            }
        }
        let line = pcvalue(f.pcln, f.entry, pc).flatMap { $0 >= 0 ? Int($0) : nil }
        return (file, line)
    }

    /// The value a pc-value table at `offset` in pctab gives for `target`
    /// in the function starting at `entry`, or nil (offset 0: no table; the
    /// table ends before the pc; a varint cut short). Each step is a
    /// zig-zag varint value delta then a varint pc delta in quanta; a zero
    /// value delta after the first step ends the table. Every step reads at
    /// least two bytes, so the loop ends with the table.
    func pcvalue(_ offset: UInt32, _ entry: UInt64, _ target: UInt64) -> Int32? {
        guard offset != 0, UInt64(offset) < UInt64(pctab.count) else { return nil }
        var p = pctab.lowerBound + Int(offset)
        var pc = entry
        var value: Int32 = -1
        var first = true
        while p < pctab.upperBound {
            guard let (uvdelta, n1) = varint(p), uvdelta != 0 || first else { return nil }
            p += n1
            guard let (pcdelta, n2) = varint(p) else { return nil }
            p += n2
            first = false
            value &+= Int32(bitPattern: (uvdelta >> 1) ^ (0 &- (uvdelta & 1)))
            pc &+= UInt64(pcdelta) &* UInt64(quantum)
            if target < pc { return value }
        }
        return nil
    }

    /// An unsigned LEB128 varint of at most 32 bits in pctab at `p`.
    @inline(__always)
    private func varint(_ p: Int) -> (UInt32, Int)? {
        var v: UInt32 = 0
        var shift: UInt32 = 0
        var i = p
        while i < pctab.upperBound {
            let b = table[i]
            i += 1
            v |= UInt32(b & 0x7f) << shift
            if b & 0x80 == 0 { return (v, i - p) }
            shift += 7
            if shift > 28 { return nil }
        }
        return nil
    }
}

/// A `_func` record of the table: the fields the lookup reads.
struct GoFunc {
    var entry: UInt64
    var nameOffset: Int32
    var pcfile: UInt32
    var pcln: UInt32
    var npcdata: UInt32
    var cuOffset: UInt32
    var nfuncdata: UInt8
    /// Where the pcdata offsets start, in the table.
    var dataStart: Int
    /// Where the record starts, in the table.
    var offset: Int

    /// Layouts: 1.16-1.17 entry uintptr, then nameoff, args, deferreturn,
    /// pcsp, pcfile, pcln, npcdata, cuOffset (4 bytes each), funcID, 2
    /// bytes, nfuncdata; 1.18+ the entry is a 4-byte offset from textStart,
    /// and 1.20+ has startLine after cuOffset.
    init?(table t: GoLineTable, offset: Int, entry: UInt64) {
        let b = t.table
        let entrySize = t.format == .go116 ? t.pointerSize : 4
        let fields = offset + entrySize
        let header = fields + (t.format == .go120 ? 36 : 32)
        guard let recorded = b.word(at: offset, size: entrySize),
            let nameOffset = b.i32(at: fields), let pcfile = b.u32(at: fields + 16), let pcln = b.u32(at: fields + 20),
            let npcdata = b.u32(at: fields + 24), let cuOffset = b.u32(at: fields + 28),
            let nfuncdata = b.u8(at: header + 3), nameOffset >= 0
        else { return nil }
        // The record names the entry the function table gave.
        let recordedEntry = t.format == .go116 ? recorded : t.textStart &+ recorded
        guard recordedEntry == entry, npcdata < 1 << 16 else { return nil }
        // The pcdata and funcdata slots are all in the table: a record cut
        // short is malformed, not a function without inline tree.
        var slots = header + 4 + 4 * Int(npcdata)
        if t.format == .go116 && t.pointerSize == 8 && (t.address &+ UInt64(slots)) % 8 != 0 { slots += 4 }
        guard slots + Int(nfuncdata) * (t.format == .go116 ? t.pointerSize : 4) <= b.count else { return nil }
        self.entry = entry; self.nameOffset = nameOffset; self.pcfile = pcfile; self.pcln = pcln
        self.npcdata = npcdata; self.cuOffset = cuOffset; self.nfuncdata = nfuncdata
        self.dataStart = header + 4
        self.offset = offset
    }

    /// The pctab offset of pc-data table `i` (0: none).
    func pcdata(_ i: Int, in t: GoLineTable) -> UInt32 {
        guard i < Int(npcdata) else { return 0 }
        return t.table.u32(at: dataStart + 4 * i) ?? 0
    }

    /// The address funcdata `i` points at, or nil. 1.18+: a 4-byte offset
    /// from go:func.* (~0: none); before: a pointer, 8-byte aligned in
    /// memory.
    func funcdata(_ i: Int, in t: GoLineTable) -> UInt64? {
        guard i < Int(nfuncdata) else { return nil }
        var p = dataStart + 4 * Int(npcdata)
        if t.format == .go116 {
            if t.pointerSize == 8 && (t.address &+ UInt64(p)) % 8 != 0 { p += 4 }
            guard let v = t.table.word(at: p + i * t.pointerSize, size: t.pointerSize), v != 0 else { return nil }
            return v
        }
        guard let off = t.table.u32(at: p + 4 * i), off != UInt32.max, let base = t.inlineTrees?.gofunc else { return nil }
        return base &+ UInt64(off)
    }
}

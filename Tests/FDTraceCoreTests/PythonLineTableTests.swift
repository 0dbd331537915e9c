import Foundation
import Testing

@testable import FDTraceCore

/// PythonLineTable against the real interpreters: every code object of a
/// varied source compiled by CPython 3.8-3.13, with the line each
/// interpreter gives for its instruction offsets (python_line_vectors.jsonl
/// next to this file, made by scripts/gen_python_line_vectors.py); then
/// hand-made tables for the corners, and hostile tables that must neither
/// crash nor hang.
@Suite struct PythonLineTableTests {
    struct Vector: Decodable, Sendable {
        var version: String
        var name: String
        var format: UInt16
        var first_line: Int
        var code_len: Int
        var table: String
        /// [byte offset, line or null]
        var lines: [[Int?]]
    }

    static let versions = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]

    static var vectorsURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python_line_vectors.jsonl")
    }

    static func loadVectors() throws -> [Vector] {
        let text = try String(contentsOf: vectorsURL, encoding: .utf8)
        let decoder = JSONDecoder()
        return try text.split(separator: "\n").map { try decoder.decode(Vector.self, from: Data($0.utf8)) }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = nibble(digits[i]), let lo = nibble(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    // MARK: - The interpreters' own answers

    @Test(arguments: versions)
    func matchesInterpreter(version: String) throws {
        let vectors = try Self.loadVectors().filter { $0.version == version }
        try #require(!vectors.isEmpty, "no vectors for Python \(version) in \(Self.vectorsURL.path)")
        let expectedFormat: PythonLineFormat =
            version == "3.8" || version == "3.9"
            ? .lnotab
            : version == "3.10" ? .linetable : .locations
        var checked = 0, mismatches = 0, nulls = 0
        for v in vectors {
            let format = try #require(PythonLineFormat(rawValue: v.format))
            #expect(format == expectedFormat, "\(version) \(v.name)")
            let table = try #require(Self.bytes(hex: v.table), "\(version) \(v.name): bad hex")
            let lt = PythonLineTable(format: format, firstLine: v.first_line, table: table)
            for point in v.lines {
                try #require(point.count == 2 && point[0] != nil, "\(version) \(v.name): bad point \(point)")
                let offset = point[0]!, want = point[1]
                let got = lt.line(atByteOffset: offset)
                checked += 1
                if want == nil && offset >= 0 && offset < v.code_len { nulls += 1 }
                if got != want {
                    mismatches += 1
                    if mismatches <= 20 {
                        Issue.record(
                            "\(version) \(v.name) (first line \(v.first_line)) offset \(offset): got \(got.map(String.init) ?? "nil"), interpreter says \(want.map(String.init) ?? "None")"
                        )
                    }
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(checked) offsets differ for Python \(version)")
        #expect(checked > 1000, "too few offsets for Python \(version): \(checked)")
        if expectedFormat != .lnotab {
            // The source has code without a line (cleanup after except/with).
            #expect(nulls > 0, "no offset without a line for Python \(version)")
        }
    }

    @Test func vectorsCoverEveryVersionAndTheHardCases() throws {
        let vectors = try Self.loadVectors()
        #expect(Set(vectors.map(\.version)) == Set(Self.versions))
        // The long function: code over 255 bytes at one line, jumps of more
        // than 127 (and 4095) lines, in every version.
        for version in Self.versions {
            let long = vectors.filter { $0.version == version && $0.name == "long_function" }
            #expect(long.count == 1, "\(version): long_function missing")
            if let l = long.first {
                #expect(l.code_len > 1000)
                let lines = l.lines.compactMap { $0[1] }
                #expect((lines.max() ?? 0) - (lines.min() ?? 0) > 4300, "\(version): line span \(lines.min() ?? 0)...\(lines.max() ?? 0)")
            }
        }
    }

    // MARK: - Hand-made tables

    @Test func lnotabCorners() {
        // (0,+1) (6,+1) (255,0) (10,-128) (4,+127) and an odd trailing byte.
        let t = PythonLineTable(
            format: .lnotab, firstLine: 200,
            table: [0, 1, 6, 1, 255, 0, 10, 0x80, 4, 127, 9])
        #expect(t.line(atByteOffset: -1) == 200)
        #expect(t.line(atByteOffset: 0) == 201)
        #expect(t.line(atByteOffset: 5) == 201)
        #expect(t.line(atByteOffset: 6) == 202)
        #expect(t.line(atByteOffset: 260) == 202)
        #expect(t.line(atByteOffset: 261) == 202)
        #expect(t.line(atByteOffset: 270) == 202)
        #expect(t.line(atByteOffset: 271) == 74)
        #expect(t.line(atByteOffset: 275) == 201)
        #expect(t.line(atByteOffset: 1 << 40) == 201)  // past the end: the last line
        #expect(PythonLineTable(format: .lnotab, firstLine: 7, table: []).line(atByteOffset: 100) == 7)
        // A line that goes negative is garbage.
        #expect(PythonLineTable(format: .lnotab, firstLine: 1, table: [0, 0xF0]).line(atByteOffset: 0) == nil)
    }

    @Test func linetableCorners() {
        // [0,4) +1; zero-length +127 twice; [4,8) no line; [8,10) +1; [10,264) +0 as two pieces.
        let t = PythonLineTable(
            format: .linetable, firstLine: 10,
            table: [4, 1, 0, 127, 0, 127, 4, 0x80, 2, 1, 254, 0, 0, 0])
        #expect(t.line(atByteOffset: -2) == 10)
        #expect(t.line(atByteOffset: 0) == 11)
        #expect(t.line(atByteOffset: 3) == 11)
        #expect(t.line(atByteOffset: 4) == nil)
        #expect(t.line(atByteOffset: 7) == nil)
        #expect(t.line(atByteOffset: 8) == 266)
        #expect(t.line(atByteOffset: 10) == 266)
        #expect(t.line(atByteOffset: 263) == 266)
        #expect(t.line(atByteOffset: 264) == nil)  // past the end
        #expect(PythonLineTable(format: .linetable, firstLine: 3, table: []).line(atByteOffset: 0) == nil)
        #expect(PythonLineTable(format: .linetable, firstLine: 3, table: []).line(atByteOffset: -1) == 3)
        #expect(PythonLineTable(format: .linetable, firstLine: 3, table: [2]).line(atByteOffset: 0) == nil)
    }

    @Test func locationsCorners() {
        // 0xF0 = 1 1110 000: long form, 1 unit; line delta svarint, then end line, columns.
        // 0xE8 = 1 1101 000: no columns, 1 unit.
        // 0xD9 = 1 1011 001: one line form +1, 2 units, two column bytes.
        // 0xF8 = 1 1111 000: no location, 1 unit.
        // 0x81 = 1 0000 001: short form 0, 2 units, one byte.
        // svarint 8193 * 2 = 16386 = 0b100_000000_000010 -> chunks 2|64, 0|64, 4.
        let table: [UInt8] = [
            0xF0, 2, 0, 1, 5,  // +1 -> 11, [0,2)
            0xE8, 3,  // -1 -> 10, [2,4)
            0xD9, 4, 9,  // +1 -> 11, [4,8)
            0xF8,  // none, [8,10)
            0xE8, 2 | 64, 0 | 64, 4,  // +8193 -> 8204, [10,12)
            0x81, 0x12,  // same, [12,16)
        ]
        let t = PythonLineTable(format: .locations, firstLine: 10, table: table)
        #expect(t.line(atByteOffset: -1) == 10)
        #expect(t.line(atByteOffset: 0) == 11)
        #expect(t.line(atByteOffset: 1) == 11)
        #expect(t.line(atByteOffset: 2) == 10)
        #expect(t.line(atByteOffset: 4) == 11)
        #expect(t.line(atByteOffset: 6) == 11)
        #expect(t.line(atByteOffset: 8) == nil)
        #expect(t.line(atByteOffset: 10) == 8204)
        #expect(t.line(atByteOffset: 14) == 8204)
        #expect(t.line(atByteOffset: 16) == nil)  // past the end
        #expect(t.line(atByteOffset: Int.max) == nil)
    }

    // MARK: - Hostile tables

    @Test func emptyTables() {
        for format in [PythonLineFormat.lnotab, .linetable, .locations] {
            let t = PythonLineTable(format: format, firstLine: 5, table: [])
            for offset in [Int.min, -1, 0, 1, 2, 1000, Int.max] {
                let line = t.line(atByteOffset: offset)
                if format == .lnotab || offset < 0 {
                    #expect(line == 5, "\(format) \(offset)")
                } else {
                    #expect(line == nil, "\(format) \(offset)")
                }
            }
        }
    }

    @Test func truncatedAndOverlongVarints() {
        let cut: [[UInt8]] = [
            [0xF0],  // long form with nothing after it
            [0xE8],  // no-columns form with nothing after it
            [0xE8, 0x40],  // continuation bit, then the end
            [0xE8, 0x41, 0x7F],  // two continuations, then the end
            [0x80, 0x00, 0xF0],  // good entry, then a cut one
            [0xE8, 0x7F, 0x7F, 0x7F, 0x7F, 0x7F, 0x7F, 0x7F, 0x3F],  // more chunks than 32 bits
        ]
        for table in cut {
            let t = PythonLineTable(format: .locations, firstLine: 1, table: table)
            for offset in [0, 1, 2, 3, 4, 100] {
                let line = t.line(atByteOffset: offset)
                if table.first == 0x80 && offset < 2 {
                    #expect(line == 1)
                } else {
                    #expect(line == nil, "\(table) at \(offset)")
                }
            }
        }
        // A full 32-bit varint is read (6 chunks, the last shifted by 30).
        let big = PythonLineTable(format: .locations, firstLine: 0, table: [0xE8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x01])
        #expect(big.line(atByteOffset: 0) == 1 << 29)  // uval 2^30: even, so +2^29
        // A table not starting with an entry is not a 3.11+ table.
        #expect(PythonLineTable(format: .locations, firstLine: 1, table: [0x10, 0x80]).line(atByteOffset: 0) == nil)
    }

    @Test func randomTablesNeverCrashOrHang() {
        var rng = FuzzTests.SplitMix64(state: 0x5eed_11e7_ab1e)
        let clock = ContinuousClock()
        let started = clock.now
        var answered = 0
        for round in 0..<10_000 {
            let length = round % 10 == 0 ? Int.random(in: 0...4096, using: &rng) : Int.random(in: 0...64, using: &rng)
            var table = [UInt8](repeating: 0, count: length)
            for i in 0..<length { table[i] = UInt8.random(in: 0...255, using: &rng) }
            // Half of the 3.11+ tables get a valid first byte, to get past the first check.
            if round % 2 == 0, !table.isEmpty { table[0] |= 0x80 }
            let firstLine =
                round % 7 == 0
                ? Int.random(in: Int(Int32.min)...Int(Int32.max), using: &rng)
                : Int.random(in: 0...100_000, using: &rng)
            for format in [PythonLineFormat.lnotab, .linetable, .locations] {
                let t = PythonLineTable(format: format, firstLine: firstLine, table: table)
                for offset in [Int.min, -1, 0, 2, Int.random(in: 0...(length * 16 + 2), using: &rng), Int.max] {
                    if let line = t.line(atByteOffset: offset) {
                        #expect(line >= 0 && line <= Int(Int32.max))
                        answered += 1
                    }
                }
            }
        }
        #expect(answered > 0)
        #expect(clock.now - started < .seconds(30))
    }

    @Test func largeTableIsLinear() {
        var rng = FuzzTests.SplitMix64(state: 42)
        var table = [UInt8](repeating: 0, count: 1 << 20)
        for i in 0..<table.count { table[i] = UInt8.random(in: 0...255, using: &rng) }
        table[0] |= 0x80
        let clock = ContinuousClock()
        let started = clock.now
        for format in [PythonLineFormat.lnotab, .linetable, .locations] {
            _ = PythonLineTable(format: format, firstLine: 1, table: table).line(atByteOffset: Int.max)
        }
        #expect(clock.now - started < .seconds(20))
    }
}

import Foundation
import Testing

/// The shape of the sources, kept as the README's map describes it: the
/// folders of FDTraceCore depend on each other in layers, without cycles,
/// and no function runs long without saying why.
@Suite struct SourceShapeTests {
    /// FDTraceCore's folders, lowest first. A folder's files may use types
    /// (and top-level functions) defined in its own folder or in folders of
    /// lower layers only; folders of one layer do not use each other. (The
    /// same list is in the README's map.)
    static let layers: [[String]] = [
        ["Support"],  // errors, the clock
        ["Wire"],  // the shim's records and ring
        ["Describe", "Symbolize"],  // what a descriptor is; naming addresses
        ["Inspect"],  // /proc readers
        ["Tables"],  // per-process tables, driven by records
        ["Report", "EventSources"],  // the report model and builders; where records come from
        ["Render"],  // text, JSON, top, snapshot files
        ["Collector"],  // the loop, sessions, queries
    ]

    /// Functions longer than this say why in a comment above them
    /// (a line starting with "Long:").
    static let maxFunctionLines = 60

    @Test("FDTraceCore's folders depend on lower layers only: no cycles")
    func foldersAreLayered() throws {
        let edges = try SourceScan(root: Self.sourcesRoot.appendingPathComponent("FDTraceCore")).folderEdges()
        let rank = Dictionary(uniqueKeysWithValues: Self.layers.enumerated().flatMap { i, l in l.map { ($0, i) } })
        for folder in Set(edges.keys).union(edges.values.flatMap(\.keys)) {
            #expect(rank[folder] != nil, "folder \(folder) is in no layer: add it to SourceShapeTests.layers and the README's map")
        }
        for (from, targets) in edges {
            for (to, names) in targets {
                guard let a = rank[from], let b = rank[to] else { continue }
                #expect(a > b, "\(from) (layer \(a)) uses \(to) (layer \(b)): \(names.sorted().joined(separator: ", "))")
            }
        }
        #expect(Self.cycle(in: edges.mapValues { Set($0.keys) }) == nil)
    }

    @Test("No function in Sources runs over 60 lines without a reason (a comment line starting with \"Long:\")")
    func functionsAreShort() throws {
        let long = try SourceScan(root: Self.sourcesRoot).functions().filter { $0.lines > Self.maxFunctionLines && !$0.hasReason }
        #expect(long.isEmpty, "\(long.map { "\($0.file):\($0.line) \($0.name): \($0.lines) lines" })")
    }

    @Test("The scanner sees through comments and strings, and finds a cycle")
    func scannerItself() {
        let text = SourceScan.code(
            """
            let a = "Collector \\(Wire.x) \\"quoted\\"" // Report
            /* Render */ let b = 1
            """)
        #expect(text.contains("Wire.x") && !text.contains("Collector") && !text.contains("Report") && !text.contains("Render"))
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count == 2)
        #expect(Self.cycle(in: ["A": ["B"], "B": ["C"], "C": ["A"]]) != nil)
        #expect(Self.cycle(in: ["A": ["B"], "B": ["C"], "D": ["A"]]) == nil)
    }

    static var sourcesRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources")
    }

    /// A cycle of the graph as a path, or nil.
    static func cycle(in graph: [String: Set<String>]) -> [String]? {
        var state: [String: Int] = [:]  // 1 on the path, 2 done
        var path: [String] = []
        func visit(_ n: String) -> [String]? {
            if state[n] == 2 { return nil }
            if state[n] == 1 { return path.drop { $0 != n } + [n] }
            state[n] = 1
            path.append(n)
            for m in (graph[n] ?? []).sorted() { if let c = visit(m) { return c } }
            path.removeLast()
            state[n] = 2
            return nil
        }
        for n in graph.keys.sorted() { if let c = visit(n) { return c } }
        return nil
    }
}

/// A rough reading of Swift sources (no parser): comments and string
/// literals removed (interpolations kept), top-level declarations by name,
/// function bodies by brace matching.
struct SourceScan {
    var files: [(folder: String, path: String, code: String, text: String)] = []

    init(root: URL) throws {
        let fm = FileManager.default
        guard let walk = fm.enumerator(at: root, includingPropertiesForKeys: nil) else { return }
        for case let url as URL in walk where url.pathExtension == "swift" {
            let relative = url.path.dropFirst(root.path.count + 1)
            let folder = relative.contains("/") ? String(relative.split(separator: "/")[0]) : ""
            let text = try String(contentsOf: url, encoding: .utf8)
            files.append((folder, String(relative), Self.code(text), text))
        }
        files.sort { $0.path < $1.path }
    }

    /// Folder → folder it uses → the names it uses there. A name counts
    /// when exactly one folder declares it at top level and the using
    /// folder declares nothing of that name itself (nested types).
    func folderEdges() -> [String: [String: Set<String>]] {
        let topLevel = Self.declaration(indented: false), any = Self.declaration(indented: true)
        var owners: [String: Set<String>] = [:], local: [String: Set<String>] = [:]
        for f in files {
            for name in Self.names(topLevel, in: f.code) { owners[name, default: []].insert(f.folder) }
            for name in Self.names(any, in: f.code) { local[f.folder, default: []].insert(name) }
        }
        var edges: [String: [String: Set<String>]] = [:]
        for f in files {
            for word in Set(Self.words(f.code)) {
                guard let o = owners[word], o.count == 1, let owner = o.first, owner != f.folder,
                    local[f.folder]?.contains(word) != true
                else { continue }
                edges[f.folder, default: [:]][owner, default: []].insert(word)
            }
        }
        return edges
    }

    struct Function {
        var file: String
        var line: Int
        var name: String
        var lines: Int
        var hasReason: Bool
    }

    /// Every func, init, deinit and subscript with a body: its length in
    /// lines, from its declaration to its closing brace.
    func functions() -> [Function] {
        var out: [Function] = []
        for f in files {
            let lines = f.code.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let raw = f.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (i, l) in lines.enumerated() {
                guard let name = Self.functionName(l), let end = Self.bodyEnd(lines, from: i) else { continue }
                // The comments and attributes right above it.
                var k = i - 1, reason = false
                while k >= 0, let first = raw[k].trimmingCharacters(in: .whitespaces).first, first == "/" || first == "@" {
                    if raw[k].contains("Long:") { reason = true }
                    k -= 1
                }
                out.append(Function(file: f.path, line: i + 1, name: name, lines: end - i + 1, hasReason: reason))
            }
        }
        return out
    }

    static let functionStart = try! NSRegularExpression(
        pattern:
            #"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|static|final|override|mutating|nonmutating|class|open|convenience|required)\s+)*(func\s+[^\s(<]+|init\??(?=\s*[(<])|deinit\b|subscript(?=\s*[(<]))"#
    )

    static func functionName(_ line: String) -> String? {
        guard let m = functionStart.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
            let r = Range(m.range(at: 1), in: line)
        else { return nil }
        return String(line[r])
    }

    /// The line where the body that opens at or after line `i` closes; nil
    /// for a declaration without a body (a protocol requirement).
    static func bodyEnd(_ lines: [String], from i: Int) -> Int? {
        var depth = 0, opened = false
        for j in i..<lines.count {
            if j > i && !opened && (j > i + 8 || functionName(lines[j]) != nil) { return nil }
            for ch in lines[j] {
                if ch == "{" { depth += 1; opened = true } else if ch == "}" { depth -= 1 }
                if opened && depth == 0 { return j }
                if depth < 0 { return nil }
            }
        }
        return nil
    }

    static func declaration(indented: Bool) -> NSRegularExpression {
        let indent = indented ? #"\s*"# : ""
        return try! NSRegularExpression(
            pattern: #"^"# + indent
                + #"(?:@\w+\s+)*(?:(?:public|private|fileprivate|internal|final|open|indirect|static)\s+)*(?:struct|enum|class|protocol|typealias|actor|func|let|var)\s+([A-Za-z_]\w*)"#,
            options: [.anchorsMatchLines])
    }

    static func names(_ re: NSRegularExpression, in code: String) -> [String] {
        re.matches(in: code, range: NSRange(code.startIndex..., in: code)).compactMap { m in
            Range(m.range(at: 1), in: code).map { String(code[$0]) }
        }
    }

    static func words(_ code: String) -> [String] {
        var out: [String] = [], word = ""
        for ch in code {
            if ch.isLetter || ch.isNumber || ch == "_" { word.append(ch) } else if !word.isEmpty { out.append(word); word = "" }
        }
        if !word.isEmpty { out.append(word) }
        return out
    }

    /// The code of a Swift file without comments and string literals
    /// (interpolated expressions kept), newlines where they were.
    static func code(_ text: String) -> String {
        let s = Array(text)
        var out = "", i = 0
        func at(_ k: Int, _ lit: String) -> Bool { k + lit.count <= s.count && String(s[k..<k + lit.count]) == lit }
        while i < s.count {
            if at(i, "//") {
                while i < s.count && s[i] != "\n" { i += 1 }
            } else if at(i, "/*") {
                i += 2
                while i < s.count && !at(i, "*/") { if s[i] == "\n" { out.append("\n") }; i += 1 }
                i += 2
            } else if s[i] == "\"" || at(i, "#\"") {
                let raw = s[i] == "#"
                if raw { i += 1 }
                let quote = at(i, "\"\"\"") ? "\"\"\"" : "\""
                let close = quote + (raw ? "#" : "")
                i += quote.count
                while i < s.count && !at(i, close) {
                    if !raw && s[i] == "\\" && i + 1 < s.count && s[i + 1] == "(" {
                        var depth = 1, j = i + 2
                        while j < s.count && depth > 0 { if s[j] == "(" { depth += 1 } else if s[j] == ")" { depth -= 1 }; j += 1 }
                        out += " " + String(s[(i + 2)..<(j - 1)]) + " "
                        i = j
                        continue
                    }
                    if !raw && s[i] == "\\" { i += 2; continue }
                    if s[i] == "\n" { out.append("\n") }
                    i += 1
                }
                i += close.count
                out += "\"\""
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }
}

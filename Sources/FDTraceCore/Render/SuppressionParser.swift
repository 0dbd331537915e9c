import Foundation

/// Reads the text of a suppression file (the format is in the README):
/// entries of `field: value` lines separated by blank lines, `#` comments.
/// Every problem is one error naming the file and line
/// (`supp.txt:7: unknown field 'colour'`), a usage error: nothing is run.
public enum SuppressionParser {
    public static let fields = ["name", "call", "kind", "path", "frame"]

    /// Class names a group can have beyond the kinds of FDKind (sockets by
    /// family, a bundle of several kinds).
    static let classes = ["tcp", "udp", "unix", "netlink", "packet", "ip", "mixed"]

    /// A kind as the report names it, or a class of descriptor (as SARIF
    /// rule ids and `--diff` name them: `io-uring` for `io_uring`).
    static func isKnownKind(_ s: String) -> Bool {
        classes.contains(s) || FDKind.named.keys.contains { $0 == s || ReportFields.slug($0) == s }
    }

    public static func parse(_ text: String, file: String) throws -> [SuppressionEntry] {
        var entries: [SuppressionEntry] = []
        var current: SuppressionEntry?
        var seen: Set<String> = []
        func fail(_ line: Int, _ problem: String) -> FDTraceError {
            FDTraceError("\(file):\(line): \(problem)", status: ExitStatus.usage)
        }
        func finish() throws {
            guard let e = current else { return }
            if e.name.isEmpty { throw fail(e.line, "entry has no name (add 'name: …' to it)") }
            if !e.hasMatcher { throw fail(e.line, "entry '\(e.name)' has no matcher (call, kind, path or frame)") }
            entries.append(e)
            current = nil
            seen = []
        }
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let n = i + 1
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty {
                try finish()
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else { throw fail(n, "expected 'field: value', not '\(line)'") }
            let field = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard fields.contains(field) else { throw fail(n, "unknown field '\(field)' (\(fields.joined(separator: ", ")))") }
            guard !value.isEmpty else { throw fail(n, "'\(field)' has no value") }
            if field != "frame" && seen.contains(field) {
                throw fail(n, "'\(field)' given twice in one entry (entries are separated by a blank line)")
            }
            seen.insert(field)
            var e = current ?? SuppressionEntry(name: "", file: file, line: n)
            do {
                try set(field, value, in: &e)
            } catch let bad {
                throw fail(n, bad.reason)
            }
            current = e
        }
        try finish()
        return entries
    }

    private static func set(_ field: String, _ value: String, in e: inout SuppressionEntry) throws(Glob.Invalid) {
        switch field {
        case "name": e.name = value
        case "call": e.call = try Glob(value)
        case "kind":
            let kind = try Glob(value)
            if kind.isLiteral, !isKnownKind(value) {
                throw Glob.Invalid(reason: "unknown kind '\(value)' (file, pipe, tcp, udp, unix, socket, eventpoll, …, mixed, or a glob)")
            }
            e.kind = kind
        case "path": e.path = try Glob(value)
        default: e.frames.append(try frame(value))
        }
    }

    /// `...`, `FUNCTION`, `FUNCTION @ PLACE` or `@ PLACE`.
    static func frame(_ value: String) throws(Glob.Invalid) -> SuppressionEntry.FramePattern {
        if value == "..." { return .anyFrames }
        var function = value, location: String?
        if value.hasPrefix("@") {
            function = ""
            location = String(value.dropFirst())
        } else if value.hasSuffix(" @") {
            function = String(value.dropLast(2))
            location = ""
        } else if let at = value.range(of: " @ ", options: .backwards) {
            function = String(value[..<at.lowerBound])
            location = String(value[at.upperBound...])
        }
        function = function.trimmingCharacters(in: .whitespaces)
        let place = location?.trimmingCharacters(in: .whitespaces)
        if location != nil && place?.isEmpty != false {
            throw Glob.Invalid(reason: "frame '\(value)' has no place after '@' (a file, file:line or module)")
        }
        return .frame(function: function.isEmpty ? nil : try Glob(function), location: try place.map { p throws(Glob.Invalid) in try Glob(p) })
    }
}

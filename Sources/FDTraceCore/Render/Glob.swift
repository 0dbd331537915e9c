/// A shell-style pattern, as suppression files write them: `*` any run of
/// characters (`/` too), `?` one character, `[abc]`, `[a-z]`, `[!abc]` one
/// character of a class, `\c` the character c itself. A pattern matches a
/// whole string. Compiled once when the file is read, so that a bad pattern
/// is an error at its line and never a surprise during matching.
public struct Glob: Sendable, Equatable, CustomStringConvertible {
    enum Token: Sendable, Equatable {
        case literal(Character)
        case one
        case any
        case set(ranges: [ClosedRange<Character>], negated: Bool)
    }

    /// The pattern as written.
    public let text: String
    let tokens: [Token]

    /// Why a pattern is not one (the parser puts it after file:line).
    public struct Invalid: Error, Equatable {
        public var reason: String
    }

    public init(_ text: String) throws(Invalid) {
        self.text = text
        var out: [Token] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            i = text.index(after: i)
            switch c {
            case "*": if out.last != .any { out.append(.any) }
            case "?": out.append(.one)
            case "\\":
                guard i < text.endIndex else { throw Invalid(reason: "bad glob '\(text)': '\\' at the end escapes nothing") }
                out.append(.literal(text[i]))
                i = text.index(after: i)
            case "[":
                let (token, next) = try Self.characterClass(text, from: i)
                out.append(token)
                i = next
            default: out.append(.literal(c))
            }
        }
        tokens = out
    }

    /// `[...]` after its opening bracket: the class and where it ends.
    private static func characterClass(_ text: String, from start: String.Index) throws(Invalid) -> (Token, String.Index) {
        var i = start
        var negated = false
        if i < text.endIndex, text[i] == "!" || text[i] == "^" {
            negated = true
            i = text.index(after: i)
        }
        var ranges: [ClosedRange<Character>] = []
        var first = true
        while i < text.endIndex {
            var c = text[i]
            // "]" first in the class is a member, as in the shell.
            if c == "]" && !first { return (.set(ranges: ranges, negated: negated), text.index(after: i)) }
            first = false
            if c == "\\" {
                i = text.index(after: i)
                guard i < text.endIndex else { break }
                c = text[i]
            }
            i = text.index(after: i)
            let dash = i < text.endIndex && text[i] == "-"
            if dash, text.index(after: i) < text.endIndex, text[text.index(after: i)] != "]" {
                let upper = text[text.index(after: i)]
                guard c <= upper else { throw Invalid(reason: "bad glob '\(text)': range '\(c)-\(upper)' is reversed") }
                ranges.append(c...upper)
                i = text.index(i, offsetBy: 2)
            } else {
                ranges.append(c...c)
            }
        }
        throw Invalid(reason: "bad glob '\(text)': '[' is not closed")
    }

    public var description: String { text }

    /// Whether no character is special: the pattern is one exact string.
    public var isLiteral: Bool { tokens.allSatisfy { if case .literal = $0 { true } else { false } } }

    public func matches(_ s: String) -> Bool {
        let chars = Array(s)
        // Iterative matching with one backtrack point per star (linear in
        // practice, never exponential).
        var t = 0, c = 0
        var star: (token: Int, char: Int)? = nil
        while c < chars.count {
            if t < tokens.count {
                switch tokens[t] {
                case .any:
                    star = (t, c)
                    t += 1
                    continue
                case .one:
                    t += 1; c += 1
                    continue
                case .literal(let l) where l == chars[c]:
                    t += 1; c += 1
                    continue
                case .set(let ranges, let negated) where ranges.contains(where: { $0.contains(chars[c]) }) != negated:
                    t += 1; c += 1
                    continue
                default: break
                }
            }
            guard let s = star else { return false }
            star = (s.token, s.char + 1)
            t = s.token + 1
            c = s.char + 1
        }
        while t < tokens.count, tokens[t] == .any { t += 1 }
        return t == tokens.count
    }

    /// `s` as a pattern that matches exactly `s` (a Go method's `(*T)`, a
    /// C++ `operator*`, a generic's `[...]`).
    public static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            if "*?[]\\".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }
}

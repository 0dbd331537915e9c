/// One entry of a suppression file: a name, where it is written, and what
/// it matches. A leak group is suppressed by an entry when every matcher
/// the entry has matches it (the README describes the format).
public struct SuppressionEntry: Sendable, Equatable {
    /// One line of an entry's stack pattern.
    public enum FramePattern: Sendable, Equatable {
        /// `...`: any number of frames, none too.
        case anyFrames
        /// One frame: its function and/or its place (file, file:line, or
        /// the module of a frame without source).
        case frame(function: Glob?, location: Glob?)
    }

    public var name: String
    /// The file and line the entry starts at ("supp.txt:7" in the report).
    public var file: String
    public var line: Int
    /// The opening call as the report names it (`fopen`, `epoll_create1+socketpair`).
    public var call: Glob?
    /// The class of descriptor (`file`, `pipe`, `tcp`, `unix`, …, `mixed`),
    /// or the kind every descriptor of the group has (`socket`).
    public var kind: Glob?
    /// Every descriptor's path.
    public var path: Glob?
    /// From the frame nearest the opening call outwards; empty: no stack matcher.
    public var frames: [FramePattern] = []

    public init(
        name: String, file: String, line: Int, call: Glob? = nil, kind: Glob? = nil, path: Glob? = nil,
        frames: [FramePattern] = []
    ) {
        self.name = name
        self.file = file
        self.line = line
        self.call = call
        self.kind = kind
        self.path = path
        self.frames = frames
    }

    /// "supp.txt:7".
    public var place: String { "\(file):\(line)" }

    public var hasMatcher: Bool { call != nil || kind != nil || path != nil || !frames.isEmpty }

    public func matches(_ g: LeakGroup) -> Bool {
        guard hasMatcher else { return false }
        if let call, !call.matches(g.call) { return false }
        if let kind, !Self.kindMatches(kind, g) { return false }
        if let path, g.fds.isEmpty || !g.fds.allSatisfy({ $0.path.map(path.matches) ?? false }) { return false }
        // The stack as the report shows it without --native, so that one
        // entry serves runs with and without the interpreter's frames.
        if !frames.isEmpty, !Self.stackMatches(frames, ReportView.strip(g).frames) { return false }
        return true
    }

    /// The group's class (`tcp`, `file`, `mixed`…), or the kind all its
    /// descriptors share (`socket` for TCP and unix sockets alike).
    static func kindMatches(_ kind: Glob, _ g: LeakGroup) -> Bool {
        if kind.matches(ReportFields.kindClass(g)) { return true }
        let kinds = Set(g.fds.map { $0.kind.name })
        return kinds.count == 1 && kind.matches(kinds.first!)
    }

    /// Whether the patterns match the stack from its first frame (the one
    /// nearest the call) on; frames past the last pattern do not matter.
    /// The set of frame positions the patterns so far can reach, kept
    /// pattern by pattern: linear, whatever the number of `...`.
    static func stackMatches(_ patterns: [FramePattern], _ frames: [FrameReport]) -> Bool {
        var reachable: Set<Int> = [0]
        for p in patterns {
            switch p {
            case .anyFrames:
                guard let low = reachable.min() else { return false }
                reachable = Set(low...frames.count)
            case .frame(let function, let location):
                reachable = Set(
                    reachable.filter { $0 < frames.count && frameMatches(frames[$0], function: function, location: location) }
                        .map { $0 + 1 })
            }
            if reachable.isEmpty { return false }
        }
        return true
    }

    static func frameMatches(_ f: FrameReport, function: Glob?, location: Glob?) -> Bool {
        if let function, !function.matches(f.function ?? "??") { return false }
        if let location, !places(f).contains(where: location.matches) { return false }
        return true
    }

    /// The names a frame's place goes by: its file by base name and full
    /// path, each with and without ":line"; a frame without source, its
    /// module by base name and full path.
    static func places(_ f: FrameReport) -> [String] {
        guard let file = f.file else { return f.module.map { [SiteLabel.baseName($0), $0] } ?? [] }
        let names = [SiteLabel.baseName(file), file]
        return names + (f.line.map { line in names.map { "\($0):\(line)" } } ?? [])
    }
}

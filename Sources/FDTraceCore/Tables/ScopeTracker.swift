import CFDTraceWire

/// A question a scope's owner asked (FDT_SCOPE_REPORT), with what the table
/// held at that point of the image's stream: the descriptors opened since
/// the scope began that were still open. The collector answers it.
public struct ScopeQuestion: Sendable {
    public var scope: UInt32
    public var request: UInt32
    /// Where the answer goes (absolute; the program named it).
    public var path: String
    /// The thread that asked, and when.
    public var tid: Int32
    public var time: UInt64
    /// Still open, by number; nil when the scope is not known (never begun,
    /// ended, or beyond the limit of scopes open at once).
    public var open: [TrackedFD]?
}

/// The scopes an image's program holds open (fdtrace_api.h): for each, the
/// descriptors opened since it began, by number, with their opening time
/// (which tells a later descriptor of the same number apart). In stream
/// order: every record before a question is applied before it is asked.
public struct ScopeTracker: Sendable {
    private var active: [UInt32: [Int32: UInt64]] = [:]
    /// Questions asked and not yet answered, in order.
    public internal(set) var questions: [ScopeQuestion] = []
    /// Whether any scope is open (checked on every open).
    public private(set) var isActive = false

    public init() {}

    /// A descriptor opened: every open scope holds it.
    mutating func opened(_ fd: Int32, at time: UInt64) {
        for id in active.keys { active[id]![fd] = time }
    }

    /// Applies a scope record; a question takes what `table` holds now.
    mutating func apply(_ e: ScopeEvent, table: ProcessTable) {
        switch e.op {
        case .begin:
            if active.count < Int(FDT_SCOPE_MAX_ACTIVE) { active[e.scope] = [:] }
        case .end:
            active.removeValue(forKey: e.scope)
        case .report(let request, let path):
            let open = active[e.scope].map { opened in
                opened.compactMap { fd, time -> TrackedFD? in
                    guard let t = table[fd], t.origin == .traced, t.openedAt == time else { return nil }
                    return t
                }.sorted { $0.fd < $1.fd }
            }
            if questions.count < 1024 {
                questions.append(ScopeQuestion(scope: e.scope, request: request, path: path, tid: e.tid, time: e.time, open: open))
            }
        }
        isActive = !active.isEmpty
    }

    /// Hands the questions over (the collector answers them).
    mutating func takeQuestions() -> [ScopeQuestion] {
        defer { questions = [] }
        return questions
    }
}

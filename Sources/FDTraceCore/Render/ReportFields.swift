import Foundation

/// What the renderers of saved reports (HTML, SARIF, diff) read from the
/// report model, in one place: fields as their JSON strings whatever their
/// Swift type (a String today, perhaps a Codable enum tomorrow), the class
/// of descriptor a group holds, and a site's identity across runs.
public enum ReportFields {
    /// A field as JSON writes it: a String, a String-backed enum, or any
    /// Encodable that encodes as one string.
    public static func text<T>(_ value: T) -> String {
        if let s = value as? String { return s }
        if let r = value as? any RawRepresentable, let s = r.rawValue as? String { return s }
        if let e = value as? any Encodable, let data = try? JSONEncoder().encode(e),
            let s = try? JSONDecoder().decode(String.self, from: data)
        {
            return s
        }
        return "\(value)"
    }

    /// The class of a descriptor, for rule ids and site identity: its kind
    /// ("file", "pipe", "eventpoll", …), sockets by protocol family ("tcp",
    /// "udp", "unix", "netlink", "packet", "ip"; "socket" when unknown).
    public static func kindClass(_ f: FDReport) -> String {
        let kind = text(f.kind)
        guard kind == "socket" else { return slug(kind) }
        guard let proto = f.protocol?.lowercased() else { return "socket" }
        for family in ["tcp", "udp", "unix", "netlink", "packet"] where proto.hasPrefix(family) { return family }
        if proto.hasPrefix("raw") || proto.hasPrefix("ip") { return "ip" }
        return "socket"
    }

    /// A group's class: its descriptors' one class, or "mixed".
    public static func kindClass(_ g: LeakGroup) -> String {
        let classes = Set(g.fds.map(kindClass))
        if classes.count == 1, let only = classes.first { return only }
        return classes.isEmpty ? "unknown" : "mixed"
    }

    static func slug(_ s: String) -> String {
        let out = String(s.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
        return out.isEmpty ? "unknown" : out
    }

    /// The frame a group is named by (the user's line), if any.
    public static func highlighted(_ g: LeakGroup) -> FrameReport? {
        g.highlightedFrame
    }

    /// Whether a process ended by exec (its section only counts what it
    /// passed on).
    static func ended(_ p: ProcessReport) -> String { text(p.ended) }
}

/// A leak site as it is recognized from one run to the next: the opening
/// call, the user's frame (file name, line, function) and the class of what
/// it opened — not the pid, the descriptor numbers or the addresses.
public struct SiteIdentity: Hashable, Comparable, Sendable {
    public var call: String
    public var file: String?
    public var line: Int?
    public var function: String?
    public var kind: String

    public init(_ g: LeakGroup) {
        call = g.call
        let f = ReportFields.highlighted(g)
        file = f?.file.map(SiteLabel.baseName) ?? f?.module.map(SiteLabel.baseName)
        line = f?.line
        function = f?.function
        kind = ReportFields.kindClass(g)
    }

    /// "leak_sites.c:12" (or the call when the stack has no source line).
    public var place: String {
        guard let file else { return function ?? "(no stack)" }
        return file + (line.map { ":\($0)" } ?? "")
    }

    /// One line, e.g. "leak_sites.c:12 in main, open (file)".
    public var label: String {
        var s = place
        if file != nil, let function { s += " in \(function)" }
        return s + ", \(call) (\(kind))"
    }

    /// Stable text of the identity (fingerprints hash it).
    public var key: String {
        [call, kind, file ?? "", line.map(String.init) ?? "", function ?? ""].joined(separator: "\u{1f}")
    }

    public static func < (a: SiteIdentity, b: SiteIdentity) -> Bool { a.key < b.key }
}

/// A report as the renderers show it.
public enum ReportView {
    /// Whether any Python stack in the report keeps the interpreter's own
    /// native frames (the report was made with --native).
    public static func hasInterpreterFrames(_ report: Report) -> Bool {
        report.processes.contains { p in
            (p.leaks + p.inheritedLeaks).contains { g in
                ([g.frames] + (g.parts ?? []).map(\.frames)).contains(where: interpreterFrames)
            }
        }
    }

    static func isHidden(_ f: FrameReport) -> Bool {
        guard f.python != true, let m = f.module else { return false }
        return ReportBuilder.isInterpreterModule(m) || RuntimeModule.contains(m)
    }

    static func interpreterFrames(_ frames: [FrameReport]) -> Bool {
        frames.contains { $0.python == true } && frames.contains(where: isHidden)
    }

    /// The report without the interpreter's native frames in Python stacks
    /// (as `fdtrace run` shows them without --native); unchanged when it has
    /// none.
    public static func withoutInterpreterFrames(_ report: Report) -> Report {
        guard hasInterpreterFrames(report) else { return report }
        var r = report
        for i in r.processes.indices {
            r.processes[i].leaks = r.processes[i].leaks.map(strip)
            r.processes[i].inheritedLeaks = r.processes[i].inheritedLeaks.map(strip)
        }
        return r
    }

    static func strip(_ g: LeakGroup) -> LeakGroup {
        var g = g
        if interpreterFrames(g.frames) {
            let kept = g.frames.indices.filter { !isHidden(g.frames[$0]) }
            let old = g.highlight
            g.frames = kept.map { g.frames[$0] }
            g.highlight = old.flatMap { kept.firstIndex(of: $0) } ?? ReportBuilder.headline(g.frames)
        }
        if let parts = g.parts {
            g.parts = parts.map { p in
                var p = p
                if interpreterFrames(p.frames) { p.frames = p.frames.filter { !isHidden($0) } }
                return p
            }
        }
        return g
    }
}

import Foundation

/// The report as SARIF 2.1.0 (`--sarif FILE`), for code-scanning tools: one
/// result per leak group, at the user's line (the frame the text report
/// marks with its arrow), with the opening stack. Rule ids name the class of
/// descriptor (`fd-leak/file`, `fd-leak/tcp`, …); `partialFingerprints`
/// hash the site's identity (call, user's file name, line, function, class),
/// so the same leak has the same fingerprint in every run.
public struct SARIFRenderer {
    /// Source paths under this directory are written relative to it
    /// (`uriBaseId` SRCROOT), as code-scanning services expect.
    public var sourceRoot: String?

    public init(sourceRoot: String? = FileManager.default.currentDirectoryPath) {
        self.sourceRoot = sourceRoot.map { $0.hasSuffix("/") && $0.count > 1 ? String($0.dropLast()) : $0 }
    }

    public static let fingerprintName = "fdtraceSite/v1"

    public func render(_ report: Report) throws -> Data {
        var rules: [Rule] = []
        var ruleIndex: [String: Int] = [:]
        var results: [Result] = []
        for p in report.processes {
            for (g, inherited) in p.leaks.map({ ($0, false) }) + p.inheritedLeaks.map({ ($0, true) }) {
                let id = SiteIdentity(g)
                let ruleId = "fd-leak/\(id.kind)"
                if ruleIndex[ruleId] == nil {
                    ruleIndex[ruleId] = rules.count
                    rules.append(Self.rule(id.kind))
                }
                results.append(result(g, identity: id, inherited: inherited, process: p, ruleId: ruleId, ruleIndex: ruleIndex[ruleId]!))
            }
            for g in p.badCloses ?? [] {
                let ruleId = Self.badCloseRuleId(g.kind)
                if ruleIndex[ruleId] == nil {
                    ruleIndex[ruleId] = rules.count
                    rules.append(Self.badCloseRule(g.kind))
                }
                results.append(badCloseResult(g, process: p, ruleId: ruleId, ruleIndex: ruleIndex[ruleId]!))
            }
        }
        var bases: [String: ArtifactLocation]?
        if let root = sourceRoot, root.hasPrefix("/") {
            bases = ["SRCROOT": ArtifactLocation(uri: "file://" + Self.encode(root == "/" ? "/" : root + "/"), uriBaseId: nil)]
        }
        let invocation = Invocation(
            executionSuccessful: true,
            commandLine: report.command.isEmpty ? nil : report.command.joined(separator: " "),
            exitCode: report.exitStatus.map(Int.init),
            toolExecutionNotifications: report.suppressions.map { $0.entries.map(notification) })
        let log = Log(
            schema: "https://json.schemastore.org/sarif-2.1.0.json", version: "2.1.0",
            runs: [
                Run(
                    tool: Tool(driver: Driver(name: "fdtrace", rules: rules)), invocations: [invocation],
                    originalUriBaseIds: bases, results: results,
                    properties: report.suppressions.map { s in
                        ["suppressedGroups": .int(s.groups), "suppressedDescriptors": .int(s.descriptors), "staleSuppressions": .int(s.stale.count)]
                    })
            ])
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(log)
    }

    private func result(
        _ g: LeakGroup, identity: SiteIdentity, inherited: Bool, process p: ProcessReport,
        ruleId: String, ruleIndex: Int
    ) -> Result {
        let noun = Self.noun(identity.kind)
        var text = "\(g.count) \(noun) descriptor\(g.count == 1 ? "" : "s") opened here \(g.count == 1 ? "was" : "were") never closed"
        var closed: [String] = []
        if let n = g.closedByGc { closed.append("\(n) closed by GC") }
        if let n = g.closedByFinalizer { closed.append("\(n) closed by a finalizer") }
        if let n = g.closedAtShutdown { closed.append("\(n) closed at shutdown") }
        if !closed.isEmpty { text += " by the program (the runtime closed them: \(closed.joined(separator: ", ")))" }
        text += ": \(g.bundle.map { "\(g.calls ?? g.count) × (\($0))" } ?? g.summary), opened by \(g.call)"
        text += inherited ? ", inherited without close-on-exec by" : " in"
        text += " pid \(p.pid) (\(TextRenderer.commandLine(p.command, fallback: p.executable)))."
        if g.growing == true, let rate = g.growthPerSecond {
            text += String(format: " It grew %+.1f/s.", rate)
        }
        let frame = ReportFields.highlighted(g)
        var locations: [Location]?
        if let frame, let loc = location(frame, message: nil) { locations = [loc] }
        let frames = stackFrames(g.frames)
        var props: [String: PropertyValue] = [
            "count": .int(g.count), "pid": .int(Int(p.pid)), "call": .string(g.call),
            "summary": .string(g.summary), "kind": .string(identity.kind),
        ]
        if let rate = g.growthPerSecond { props["growthPerSecond"] = .double(rate) }
        if inherited, let by = g.openedBy { props["openedByPid"] = .int(Int(by.pid)) }
        return Result(
            ruleId: ruleId, ruleIndex: ruleIndex, level: "warning", message: Message(text: text),
            locations: locations,
            partialFingerprints: [Self.fingerprintName: SHA256.hex(identity.key)],
            stacks: frames.isEmpty ? nil : [Stack(message: Message(text: "where the descriptors were opened"), frames: frames)],
            properties: props)
    }

    /// What one suppression entry matched (suppressed groups are not
    /// results): a note, or a warning when it matched nothing, at the
    /// entry's line in its file.
    private func notification(_ e: SuppressionUse) -> Notification {
        let what =
            e.stale
            ? "matched nothing (stale)"
            : "suppressed \(e.groups) leak group\(e.groups == 1 ? "" : "s") (\(e.descriptors) descriptor\(e.descriptors == 1 ? "" : "s"))"
        let file = e.file.hasPrefix("/") ? e.file : (sourceRoot.map { $0 + "/" } ?? "") + e.file
        let location = Location(
            physicalLocation: PhysicalLocation(artifactLocation: artifact(file, python: true), region: Region(startLine: max(1, e.line))),
            logicalLocations: nil, message: nil)
        return Notification(
            level: e.stale ? "warning" : "note", message: Message(text: "suppression '\(e.name)' \(what)"), locations: [location])
    }

    /// A stack's frames (the C runtime's entry frames dropped).
    func stackFrames(_ frames: [FrameReport]) -> [StackFrame] {
        TextRenderer.trimmed(frames).map { f in
            StackFrame(
                location: location(f, message: f.file == nil ? "\(f.function ?? "??") \(SiteLabel.baseName(f.module ?? "?"))+\(f.address)" : nil)
                    ?? Location(physicalLocation: nil, logicalLocations: nil, message: Message(text: f.address)),
                module: f.module.map(SiteLabel.baseName))
        }
    }

    /// A frame's place: its source file and line, and its function.
    func location(_ f: FrameReport, message: String?) -> Location? {
        var physical: PhysicalLocation?
        if let file = f.file, !file.isEmpty, !file.hasPrefix("<") {
            physical = PhysicalLocation(
                artifactLocation: artifact(file, python: f.python == true), region: f.line.flatMap { $0 >= 1 ? Region(startLine: $0) : nil })
        }
        let logical = f.function.map { [LogicalLocation(name: $0, kind: "function")] }
        if physical == nil && logical == nil && message == nil { return nil }
        return Location(physicalLocation: physical, logicalLocations: logical, message: message.map(Message.init))
    }

    /// A source file: under the source root, relative to SRCROOT; elsewhere
    /// a file: URI. A relative path is a Python script's as the program
    /// named it (relative to where it ran: SRCROOT) or a native frame's
    /// from the build (relative to nothing known here).
    private func artifact(_ path: String, python: Bool) -> ArtifactLocation {
        let root = sourceRoot.flatMap { $0.hasPrefix("/") ? $0 : nil }
        if path.hasPrefix("/") {
            if let root {
                let prefix = root == "/" ? "/" : root + "/"
                if path.hasPrefix(prefix) { return ArtifactLocation(uri: Self.encode(String(path.dropFirst(prefix.count))), uriBaseId: "SRCROOT") }
            }
            return ArtifactLocation(uri: "file://" + Self.encode(path), uriBaseId: nil)
        }
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        return ArtifactLocation(uri: Self.encode(String(relative)), uriBaseId: python && root != nil ? "SRCROOT" : nil)
    }

    /// Percent-encodes a path for a URI (RFC 3986: unreserved characters and
    /// "/" stay as they are).
    static func encode(_ path: String) -> String {
        var out = ""
        for b in path.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.append(Character(UnicodeScalar(b)))
            default:
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    static func noun(_ kind: String) -> String {
        switch kind {
        case "tcp": return "TCP socket"
        case "udp": return "UDP socket"
        case "unix": return "unix socket"
        case "ip": return "IP socket"
        case "netlink": return "netlink socket"
        case "packet": return "packet socket"
        case "eventpoll": return "epoll"
        case "mixed": return "(mixed)"
        default: return kind
        }
    }

    static func rule(_ kind: String) -> Rule {
        let noun = noun(kind)
        let name = "Leaked" + kind.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() + "Descriptor"
        let short =
            kind == "mixed"
            ? "Descriptors of several kinds opened by one line were never closed"
            : "A \(noun) descriptor was opened and never closed"
        let full =
            short
            + " by the program: it stayed open until the process ended (or the runtime closed it, by garbage collection, a finalizer or at shutdown). Each leaked descriptor counts against the process's RLIMIT_NOFILE; a line that leaks repeatedly ends in EMFILE (Too many open files)."
        return Rule(
            id: "fd-leak/\(kind)", name: name, shortDescription: Message(text: short), fullDescription: Message(text: full),
            help: Message(
                text:
                    "Close the descriptor on every path once it is no longer needed (close, fclose, closedir, or a context manager / with statement in Python); open it with close-on-exec if it must not reach programs this one starts."
            ),
            defaultConfiguration: Configuration(level: "warning"))
    }

    // MARK: - SARIF 2.1.0 objects (the subset written)

    struct Log: Encodable {
        var schema: String
        var version: String
        var runs: [Run]
        enum CodingKeys: String, CodingKey { case schema = "$schema", version, runs }
    }
    struct Run: Encodable {
        var tool: Tool
        var invocations: [Invocation]
        var originalUriBaseIds: [String: ArtifactLocation]?
        var results: [Result]
        var properties: [String: PropertyValue]?
    }
    struct Tool: Encodable { var driver: Driver }
    struct Driver: Encodable { var name: String; var rules: [Rule] }
    struct Rule: Encodable {
        var id: String
        var name: String
        var shortDescription: Message
        var fullDescription: Message
        var help: Message
        var defaultConfiguration: Configuration
    }
    struct Configuration: Encodable { var level: String }
    struct Invocation: Encodable {
        var executionSuccessful: Bool
        var commandLine: String?
        var exitCode: Int?
        var toolExecutionNotifications: [Notification]?
    }
    struct Notification: Encodable { var level: String; var message: Message; var locations: [Location]? }
    struct Message: Encodable { var text: String }
    struct Result: Encodable {
        var ruleId: String
        var ruleIndex: Int
        var level: String
        var message: Message
        var locations: [Location]?
        var partialFingerprints: [String: String]
        var stacks: [Stack]?
        var properties: [String: PropertyValue]
    }
    struct Location: Encodable {
        var physicalLocation: PhysicalLocation?
        var logicalLocations: [LogicalLocation]?
        var message: Message?
    }
    struct PhysicalLocation: Encodable { var artifactLocation: ArtifactLocation; var region: Region? }
    struct ArtifactLocation: Encodable { var uri: String; var uriBaseId: String? }
    struct Region: Encodable { var startLine: Int }
    struct LogicalLocation: Encodable { var name: String; var kind: String }
    struct Stack: Encodable { var message: Message; var frames: [StackFrame] }
    struct StackFrame: Encodable { var location: Location; var module: String? }
    enum PropertyValue: Encodable {
        case int(Int), double(Double), string(String)
        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .int(let v): try c.encode(v)
            case .double(let v): try c.encode(v)
            case .string(let v): try c.encode(v)
            }
        }
    }
}

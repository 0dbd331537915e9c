/// Bad closes in SARIF: one result per bad-close group at the user's line
/// of the close, its stacks (this close, the close before, the opening and,
/// for a stale stream, the descriptor it closed instead), rule ids
/// `fd-bad-close/not-open` and `fd-bad-close/stale-owner`, and a
/// fingerprint of the sites (call, file name, line, function of each), the
/// same in every run.
extension SARIFRenderer {
    static func badCloseRuleId(_ kind: BadClose.Kind) -> String {
        kind == .notOpen ? "fd-bad-close/not-open" : "fd-bad-close/stale-owner"
    }

    /// Stable text of a group's sites (fingerprints hash it).
    static func badCloseKey(_ g: BadCloseGroup) -> String {
        func place(_ call: String, _ f: FrameReport?) -> String {
            let file = f?.file.map(SiteLabel.baseName) ?? f?.module.map(SiteLabel.baseName) ?? ""
            return "\(call)@\(file):\(f?.line.map(String.init) ?? ""):\(f?.function ?? "")"
        }
        var parts = ["bad-close", g.kind.rawValue, place(g.call, g.highlightedFrame)]
        for s in [g.closedBefore, g.opened, g.reusedBy] { parts.append(s.map { place($0.call, $0.highlightedFrame) } ?? "-") }
        return parts.joined(separator: "|")
    }

    func badCloseResult(_ g: BadCloseGroup, process p: ProcessReport, ruleId: String, ruleIndex: Int) -> Result {
        let fds = g.fds.map(String.init).joined(separator: ", ")
        var text: String
        switch g.kind {
        case .notOpen:
            text = "\(g.count) \(g.call) call\(g.count == 1 ? "" : "s") here closed fd \(fds), which was not open (EBADF)"
            if let before = g.closedBefore { text += "; it was closed before by \(before.call)" }
            if let opened = g.opened { text += "; opened by \(opened.call)" }
        case .staleOwner:
            text = "\(g.count) \(g.call) call\(g.count == 1 ? "" : "s") here closed fd \(fds) for a stream whose own descriptor had been closed"
            if let before = g.closedBefore { text += " by \(before.call)" }
            if let reused = g.reusedBy { text += ": it closed the descriptor \(reused.call) had opened since (\(reused.summary ?? "?")) instead" }
        }
        text += ", in pid \(p.pid) (\(TextRenderer.commandLine(p.command, fallback: p.executable)))."
        var locations: [Location]?
        if let frame = g.highlightedFrame, let loc = location(frame, message: nil) { locations = [loc] }
        let labelled: [(String, [FrameReport]?)] = [
            ("this close", g.frames),
            (g.kind == .notOpen ? "the close before" : "the close under the stream", g.closedBefore?.frames),
            (g.kind == .notOpen ? "where the descriptor was opened" : "where the stream was opened", g.opened?.frames),
            ("where the descriptor this close hit was opened", g.reusedBy?.frames),
        ]
        let stacks = labelled.compactMap { label, frames -> Stack? in
            guard let frames, !frames.isEmpty else { return nil }
            return Stack(message: Message(text: label), frames: stackFrames(frames))
        }
        return Result(
            ruleId: ruleId, ruleIndex: ruleIndex, level: "warning", message: Message(text: text), locations: locations,
            partialFingerprints: [Self.fingerprintName: SHA256.hex(Self.badCloseKey(g))],
            stacks: stacks.isEmpty ? nil : stacks,
            properties: [
                "count": .int(g.count), "pid": .int(Int(p.pid)), "call": .string(g.call), "kind": .string(g.kind.rawValue),
            ])
    }

    static func badCloseRule(_ kind: BadClose.Kind) -> Rule {
        let short: String
        let full: String
        let name: String
        switch kind {
        case .notOpen:
            name = "CloseOfDescriptorNotOpen"
            short = "A descriptor that was not open was closed"
            full =
                short
                + " (close, fclose, closedir or pclose failed with EBADF): a double close, or a close of a number never opened. In a program with threads the number may be open again by then, and the close would close somebody else's descriptor."
        case .staleOwner:
            name = "StaleStreamClosedReusedDescriptor"
            short = "A stream closed a descriptor that another part of the program had opened"
            full =
                "A FILE* or DIR* whose descriptor had been closed underneath it (close(fileno(f))) was closed after the number had been opened again elsewhere: fclose or closedir closed that other descriptor, which its owner still uses."
        }
        return Rule(
            id: badCloseRuleId(kind), name: name, shortDescription: Message(text: short), fullDescription: Message(text: full),
            help: Message(
                text:
                    "Close each descriptor exactly once, by its owner: a stream's descriptor only with fclose/closedir (never close(fileno(f))), and forget a number once it is closed (set it to -1)."
            ),
            defaultConfiguration: Configuration(level: "warning"))
    }
}

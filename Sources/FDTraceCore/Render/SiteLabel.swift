/// How a one-line view names a leak site (`fdtrace top`, the exit report's
/// "grew during the run" and "peak" lines): by the file and line of the frame
/// the text report marks with its arrow (`LeakGroup.highlight`: the user's
/// line, e.g. "slowleak.py:4"), or by the opening call when there is no
/// symbolized stack.
public enum SiteLabel {
    public static func of(_ g: LeakGroup) -> String {
        let frame = g.highlight.flatMap { g.frames.indices.contains($0) ? g.frames[$0] : nil }
        return at(frame) ?? g.call
    }

    /// "file:line" of a frame; its module's name when it has no source file.
    public static func at(_ frame: FrameReport?) -> String? {
        guard let frame else { return nil }
        let place = (frame.file ?? frame.module ?? "?").split(separator: "/").last.map(String.init) ?? "?"
        return place + (frame.line.map { ":\($0)" } ?? "")
    }
}

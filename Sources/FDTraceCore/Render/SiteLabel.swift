/// How a one-line view names a leak site (`fdtrace top`, the exit report's
/// "grew during the run" and "peak" lines): by the file and line of the frame
/// the text report marks with its arrow (`LeakGroup.highlight`: the user's
/// line, e.g. "slowleak.py:4"), or by the opening call when there is no
/// symbolized stack.
public enum SiteLabel {
    /// `module` names a module by its path (the text report names the
    /// program's own executable by the name it was started as).
    public static func of(_ g: LeakGroup, module: (String) -> String = baseName) -> String {
        let frame = g.highlight.flatMap { g.frames.indices.contains($0) ? g.frames[$0] : nil }
        return at(frame, module: module) ?? g.call
    }

    /// "file:line" of a frame; its module's name when it has no source file.
    public static func at(_ frame: FrameReport?, module: (String) -> String = baseName) -> String? {
        guard let frame else { return nil }
        let place = frame.file.map(baseName) ?? frame.module.map(module) ?? "?"
        return place + (frame.line.map { ":\($0)" } ?? "")
    }

    public static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}

import Foundation

/// Where one finished report goes: the text (a file or stderr) and every
/// other renderer asked for. The destinations are opened when this is made,
/// before the program runs, so a bad path fails at once. `run`, `attach`,
/// the bare-mode collector and `report` all hand their report here: a new
/// renderer is added once, in this file.
public struct ReportOutputs {
    public var text: ReportFile?
    public var json: ReportFile?
    public var html: ReportFile?
    public var sarif: ReportFile?
    /// `--gen-suppressions`: an entry for each leak group left.
    public var generatedSuppressions: ReportFile?
    /// Applied before anything is written (and before the exit status is
    /// decided: see `write`).
    public var suppressions: Suppressions
    /// Frames shown per site in the text and HTML reports.
    public var frames: Int
    /// Write the text report even when a file renderer was asked for
    /// (`report` prints text only when nothing else was asked).
    public var textAlways: Bool

    public init(
        text: String?, json: String?, html: String?, sarif: String?, frames: Int = 12, textAlways: Bool = true,
        suppressions: Suppressions = Suppressions(), generatedSuppressions: String? = nil
    ) throws {
        self.text = try text.map { try ReportFile(path: $0) }
        self.json = try json.map { try ReportFile(path: $0) }
        self.html = try html.map { try ReportFile(path: $0) }
        self.sarif = try sarif.map { try ReportFile(path: $0) }
        self.generatedSuppressions = try generatedSuppressions.map { try ReportFile(path: $0) }
        self.suppressions = suppressions
        self.frames = frames
        self.textAlways = textAlways
    }

    /// Writes the report; text without a file goes to `stream` (stderr for a
    /// traced run, stdout for `fdtrace report`), coloured on a terminal.
    /// Returns the report as written, suppressions applied: the one to
    /// decide the exit status by.
    @discardableResult
    public func write(_ report: Report, stream: FileHandle = .standardError) throws -> Report {
        let report = suppressions.apply(to: report)
        if textAlways || (json == nil && html == nil && sarif == nil) {
            let color = text == nil && isatty(stream.fileDescriptor) != 0
            let rendered = Data(TextRenderer(maxFrames: frames, color: color).render(report).utf8)
            if let text { try text.write(rendered) } else { stream.write(rendered) }
        }
        if let json { try json.write(try JSONRenderer.render(report)) }
        if let html { try html.write(Data(HTMLRenderer(maxFrames: frames).render(report).utf8)) }
        if let sarif { try sarif.write(try SARIFRenderer().render(report)) }
        if let generatedSuppressions { try generatedSuppressions.write(Data(SuppressionWriter.render(report).utf8)) }
        return report
    }
}

import Foundation

/// A command-line parser's error message as fdtrace prints it: one line,
/// worded like fdtrace's own messages ("unknown option '--x'").
public enum UsageMessage {
    public static func oneLine(_ message: String) -> String {
        let line =
            message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty } ?? "invalid command line"
        // Lower-case a capitalised first word ("Unknown"), never an acronym ("EMFILE").
        let letters = Array(line)
        guard letters.count > 1, letters[0].isUppercase, letters[1].isLowercase else { return line }
        return letters[0].lowercased() + String(letters.dropFirst())
    }
}

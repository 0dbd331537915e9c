import ArgumentParser
import FDTraceCore
import Foundation

/// Where the program starts: parses the command line, runs the command, and
/// turns whatever it throws into an exit. Help goes to stdout with status 0;
/// every failure is one line "fdtrace: <message>" on stderr (the parser's
/// own Error/Usage/See-help block would bury the message under two more).
@main
enum Entry {
    static func main() {
        do {
            var command = try parse(Array(CommandLine.arguments.dropFirst()))
            try command.run()
        } catch {
            finish(with: error)
        }
    }

    /// `run` and `collect` (the shim's) are parsed with their own command as
    /// the root: the parser then builds one command's arguments, not the
    /// whole tree's (each option type costs the Swift runtime a scan of
    /// every protocol conformance in the binary: ~2 ms of a `fdtrace run`).
    /// Help (before a `--`) and anything else go through the whole tree.
    static func parse(_ arguments: [String]) throws -> ParsableCommand {
        let options = arguments.prefix { $0 != "--" }
        if let first = arguments.first, !options.contains(where: { helpWords.contains($0) }) {
            let rest = Array(arguments.dropFirst())
            if first == Run.configuration.commandName { return try Run.parseAsRoot(rest) }
            if first == Collect.configuration.commandName { return try Collect.parseAsRoot(rest) }
        }
        return try FDTrace.parseAsRoot(arguments)
    }

    static let helpWords: Set<String> = ["-h", "--help", "-help", "help", "--version", "--generate-completion-script", "--experimental-dump-help"]

    static func finish(with error: Error) -> Never {
        switch error {
        case let code as ExitCode:
            // A command's own status (`run` passes on the program's): nothing to say.
            exit(code.rawValue)
        case let e as FDTraceError:
            fail(e.message, status: e.status)
        default:
            let code = FDTrace.exitCode(for: error)
            if code.isSuccess {
                // --help, `help SUB`: the parser renders it.
                let text = FDTrace.fullMessage(for: error)
                if !text.isEmpty { print(text) }
                exit(0)
            }
            // Usage errors keep the parser's status (64, EX_USAGE).
            fail(UsageMessage.oneLine(FDTrace.message(for: error)), status: code.rawValue)
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data("fdtrace: \(message)\n".utf8))
        exit(status == 0 ? ExitStatus.failure : status)
    }
}

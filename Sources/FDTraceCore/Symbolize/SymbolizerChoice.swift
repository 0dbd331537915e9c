import CFDTraceWire
import Foundation

/// Which symbolizer a session uses. By default libdwfl inside the collector
/// (DwflSymbolizer): no process to start, nothing of a toolchain needed on
/// the host. FDTRACE_SYMBOLIZER=PATH (or a name on PATH) chooses an
/// llvm-symbolizer instead (LLVMSymbolizer, started per report); one that
/// cannot be run leaves libdwfl in charge, with a note in every report.
public enum SymbolizerChoice {
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Symbolizing {
        guard let wanted = env[FDT_ENV_SYMBOLIZER], !wanted.isEmpty, wanted != "libdw" else { return DwflSymbolizer() }
        let candidates =
            wanted.contains("/") ? [wanted] : (env["PATH"] ?? "").split(separator: ":").map { "\($0)/\(wanted)" }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return LLVMSymbolizer(executable: found)
        }
        return DwflSymbolizer(note: "\(FDT_ENV_SYMBOLIZER)=\(wanted) cannot be run: symbolized with libdw")
    }
}

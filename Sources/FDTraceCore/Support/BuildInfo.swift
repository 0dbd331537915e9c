import CFDTraceSys

/// What `fdtrace --version` says. The version is defined here, once: the
/// package (scripts/dist.sh) takes it from the built binary.
public enum BuildInfo {
    public static let version = "0.1.0"
    /// The commit the binary was built from, as `make` wrote it into
    /// .build-version/fdtrace_build.h ("-dirty" when tracked files had
    /// changes), or "unknown" for a plain `swift build` that never saw it.
    public static var commit: String { String(cString: fdtc_build_commit()) }
    /// "fdtrace 0.1.0 (commit 24d8a60b1c2d)".
    public static var versionLine: String { "fdtrace \(version) (commit \(commit))" }
}

// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "fdtrace",
    products: [
        .executable(name: "fdtrace", targets: ["fdtrace"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The wire format: headers only. The shim's sources (CShim/src) are
        // built into libfdtrace.so by the C compiler (see Makefile), never
        // into a Swift product.
        .systemLibrary(name: "CFDTraceWire", path: "CShim/include"),
        // The collector's own system helpers (spawn, SCM_RIGHTS, signalfd), and
        // the commit `fdtrace --version` names: .build-version/fdtrace_build.h,
        // which `make` writes (build_info.c falls back to "unknown").
        .target(
            name: "CFDTraceSys", path: "Sources/CFDTraceSys",
            cSettings: [.headerSearchPath("../../CShim/include"), .headerSearchPath("../../.build-version")]),
        // The collector applies millions of records a second to value types
        // held by a class; dynamic exclusivity checks cost a third of that
        // (measured with perf). Static checks stay on.
        // The kernel event source's loader (libbpf). Its BPF object is
        // embedded from .build-bpf/fdtrace.skel.h, which `make bpf`
        // generates (clang -target bpf, bpftool gen skeleton): SwiftPM
        // cannot run those steps. Without that header the target still
        // builds, and opening the source says what is missing.
        .target(
            name: "CFDTraceKernel", path: "Sources/CFDTraceKernel",
            cSettings: [
                .headerSearchPath("../../CShim/include"), .headerSearchPath("../../.build-bpf"),
                .unsafeFlags(["-Wall", "-Wextra", "-Werror"]),
            ],
            linkerSettings: [.linkedLibrary("bpf")]),
        // In-process symbolization (elfutils' libdwfl; Debian libdw-dev to
        // build, libdw1 at run time), demangled by the system libstdc++.
        .target(
            name: "CFDTraceDwarf", path: "Sources/CFDTraceDwarf",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])],
            linkerSettings: [.linkedLibrary("dw"), .linkedLibrary("elf"), .linkedLibrary("stdc++")]),
        .target(
            name: "FDTraceCore",
            dependencies: [
                "CFDTraceWire", "CFDTraceSys", "CFDTraceKernel", "CFDTraceDwarf",
                // The Prometheus text format (--metrics): swift-prometheus, which brings
                // swift-metrics' CoreMetrics and swift-atomics; no NIO.
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        .executableTarget(
            name: "fdtrace",
            dependencies: [
                "FDTraceCore",
                "CFDTraceWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "FDTraceCoreTests", dependencies: ["FDTraceCore", "CFDTraceWire", "CFDTraceSys"]),
        .testTarget(name: "IntegrationTests", dependencies: ["FDTraceCore", "CFDTraceWire"]),
    ],
    swiftLanguageModes: [.v6]
)

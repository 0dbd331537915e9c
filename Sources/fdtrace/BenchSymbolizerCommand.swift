import ArgumentParser
import FDTraceCore

/// `fdtrace bench-symbolizer REPORT.json`: the symbolizer workload of
/// `make bench` (SymbolizerBenchmark).
struct BenchSymbolizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-symbolizer",
        abstract: "Name a saved report's frames with libdw and llvm-symbolizer, timed (benchmark).",
        shouldDisplay: false
    )
    @Argument(help: "A report saved with --json.") var report: String
    @Option(help: "The llvm-symbolizer to compare with.") var llvm: String?

    func run() throws {
        let r = SymbolizerBenchmark.run(report: try ReportInput.load(report), llvm: llvm ?? LLVMSymbolizer.locate())
        for x in r.results {
            print(
                "name=\(x.name.replacingOccurrences(of: " ", with: "_")) addresses=\(r.addresses) first_ms=\(x.firstMs) report_ms=\(x.reportMs) per_address_us=\(x.perAddressUs)"
            )
        }
    }
}

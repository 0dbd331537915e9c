import CFDTraceWire
import Testing

@testable import FDTraceCore

/// How processes are labelled: the command line as the process shows it
/// (its title, without padding), and its executable by the name it was
/// started as.
@Suite struct CommandLineTests {
    @Test func titlePaddingIsDropped() {
        #expect(ProcFiles.parseCommandLine(Array("nginx: worker process".utf8) + Array(repeating: 0, count: 40)) == ["nginx: worker process"])
        #expect(ProcFiles.parseCommandLine(Array("redis-server *:6379\0\0\0\0".utf8)) == ["redis-server *:6379"])
        #expect(ProcFiles.parseCommandLine(Array("ls\0-l\0".utf8)) == ["ls", "-l"])
        #expect(ProcFiles.parseCommandLine(Array("prog\0\0x\0".utf8)) == ["prog", "", "x"])  // an empty argument inside stays
        #expect(ProcFiles.parseCommandLine([UInt8]()) == [])
    }

    @Test func oneStringIsShownAsPsShowsIt() {
        #expect(TextRenderer.commandLine(["nginx: worker process"], fallback: "?") == "nginx: worker process")
        #expect(TextRenderer.commandLine(["sh", "-c", "echo a b", ""], fallback: "?") == "sh -c 'echo a b' ''")
        #expect(TextRenderer.commandLine([], fallback: "/bin/x") == "/bin/x")
    }

    @Test func theRecordSentAtExitRetitles() throws {
        var r = fdt_rec_cmdline()
        r.len = 24
        let bytes = Array("nginx: worker process\0\0\0".utf8)
        let rec = try decode(encode(r, type: FDT_REC_CMDLINE, tail: bytes))
        #expect(rec == .commandLine(time: 7, bytes: bytes, truncated: false))
        var p = TracedProcess(
            key: 1, pid: 10, ppid: 9, forkParent: 9, command: ["nginx: master process /usr/sbin/nginx"],
            executable: "/usr/sbin/nginx", startTime: 0, rlimitSoft: 1024, rlimitHard: 1024)
        var reg = ModuleRegistry()
        p.apply(rec, registry: &reg)
        #expect(p.command == ["nginx: worker process"])
        // Cut short at the limit: a prefix of what is known keeps it whole.
        p.command = ["prog", "--long", "argument"]
        p.retitle(Array("prog\0--lo".utf8), truncated: true)
        #expect(p.command == ["prog", "--long", "argument"])
        p.retitle(Array("other\0--lo".utf8), truncated: true)
        #expect(p.command == ["other", "--lo"])
        r.len = FDT_MAX_CMDLINE + 1
        #expect(throws: DecodeError.self) { try decode(encode(r, type: FDT_REC_CMDLINE, tail: Array(repeating: 65, count: Int(FDT_MAX_CMDLINE) + 1))) }
    }

    @Test func theExecutableIsNamedAsItWasStarted() {
        let p = TracedProcess(
            key: 0, pid: 10, ppid: 1, forkParent: 0, command: ["redis-server", "--port", "0"],
            executable: "/usr/bin/redis-check-rdb", startTime: 0, rlimitSoft: 1024, rlimitHard: 1024)
        #expect(p.startedAs == "redis-server")
        let r = ReportBuilder(processes: [p], registry: ModuleRegistry(), symbolizer: TableSymbolizer(names: [:]))
            .build(command: p.command, exitStatus: nil)
        let report = r.processes[0]
        #expect(report.startedAs == "redis-server")
        #expect(TextRenderer.moduleName("/usr/bin/redis-check-rdb", in: report) == "redis-server")
        #expect(TextRenderer.moduleName("/lib/x86_64-linux-gnu/libc.so.6", in: report) == "libc.so.6")
        #expect(TextRenderer.moduleName(nil, in: report) == "?")
    }
}

import FDTraceCore
import Testing

@Suite struct UsageMessageTests {
    @Test(arguments: [
        ("Unknown option '--bogus'", "unknown option '--bogus'"),
        ("The value 'abc' is invalid for '--wait <SECONDS>'", "the value 'abc' is invalid for '--wait <SECONDS>'"),
        ("--depth must be from 1 to 256", "--depth must be from 1 to 256"),
        ("EMFILE burst", "EMFILE burst"),
        ("\n  Missing value for '--json <FILE>'\nHelp: more\n", "missing value for '--json <FILE>'"),
        ("", "invalid command line"),
    ])
    func oneLine(message: String, expected: String) {
        #expect(UsageMessage.oneLine(message) == expected)
    }
}

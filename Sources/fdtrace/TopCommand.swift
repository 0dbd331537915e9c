import ArgumentParser
import CFDTraceSys
import FDTraceCore
import Foundation

/// `fdtrace top`: a live view of a running session, refreshed every second.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Watch a running fdtrace session: open descriptors against the limit, top sites, growth, age.",
        discussion: "Quit with q or Ctrl-C. Without a terminal, prints one screen and exits.")

    @OptionGroup var target: SessionTarget
    @Option(help: "Seconds between refreshes.") var interval: Double = 1

    mutating func validate() throws {
        guard interval >= 0.2, interval <= 3600 else { throw ValidationError("--interval must be from 0.2 to 3600 seconds") }
    }

    func run() throws {
        guard let session = try LiveSession.find(target) else {
            throw FDTraceError(
                target.pid.map { "process \($0) is not traced by a running session" } ?? "no traced session is running", status: ExitStatus.failure)
        }
        let title = (session.1.name.map { "\($0): " } ?? "") + TextRenderer.commandLine(session.1.command, fallback: "?")
        let tty = isatty(1) != 0 && isatty(0) != 0
        var terminal = tty ? Terminal() : nil
        defer { terminal?.restore() }
        let sfd = fdtc_signalfd()
        defer { if sfd >= 0 { close(sfd) } }
        while true {
            let report: Report
            do { report = try SessionQuery.snapshot(session.0, pid: target.pid) } catch {
                terminal?.restore()
                terminal = nil
                print("fdtrace: the session ended")
                return
            }
            let (w, h) = Terminal.size()
            let clock = DateFormatter.localizedString(from: Date(), dateStyle: .none, timeStyle: .medium)
            let lines = TopRenderer(width: w, height: h).render(report, title: title, clock: clock)
            if terminal == nil {
                print(lines.joined(separator: "\n"))
                return
            }
            var screen = "\u{1b}[H\u{1b}[2J" + lines.joined(separator: "\r\n")
            screen += "\r\n"
            FileHandle.standardOutput.write(Data(screen.utf8))
            // Wait for the next refresh, a key or a signal.
            var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: sfd, events: Int16(POLLIN), revents: 0)]
            let deadline = Date().addingTimeInterval(interval)
            while Date() < deadline {
                let ms = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
                guard poll(&fds, nfds_t(fds.count), ms) > 0 else { continue }
                if fds[1].revents != 0 { return }
                if fds[0].revents != 0 {
                    var c: UInt8 = 0
                    if read(0, &c, 1) <= 0 || c == UInt8(ascii: "q") || c == UInt8(ascii: "Q") || c == 3 { return }
                }
            }
        }
    }
}

/// The terminal in the state `top` needs (alternate screen, no echo, keys
/// one at a time, no cursor) and back as it was.
struct Terminal {
    private var saved = termios()
    private var active = false

    init() {
        guard tcgetattr(0, &saved) == 0 else { return }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(0, TCSANOW, &raw)
        FileHandle.standardOutput.write(Data("\u{1b}[?1049h\u{1b}[?25l".utf8))
        active = true
    }

    mutating func restore() {
        guard active else { return }
        active = false
        FileHandle.standardOutput.write(Data("\u{1b}[?25h\u{1b}[?1049l".utf8))
        tcsetattr(0, TCSANOW, &saved)
    }

    static func size() -> (Int, Int) {
        var ws = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 { return (Int(ws.ws_col), Int(ws.ws_row)) }
        return (80, 24)
    }
}

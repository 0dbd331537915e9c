import Glibc

/// Where `--metrics ADDR` listens: `PORT`, `:PORT`, `HOST:PORT` or
/// `[IPv6]:PORT`. The host is a numeric address (or `localhost`) and
/// defaults to 127.0.0.1, loopback only: exposing the metrics further is a
/// choice to spell out. A port (1–65535) is required.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses ADDR; the error says what is wrong in words for one line.
    public static func parse(_ text: String) -> Result<MetricsAddress, FDTraceError> {
        func bad(_ why: String) -> Result<MetricsAddress, FDTraceError> {
            .failure(FDTraceError("--metrics '\(text)': \(why)", status: ExitStatus.usage))
        }
        var host = "127.0.0.1"
        var portText = Substring(text)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return bad("an IPv6 address needs its closing ']'") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return bad("a port is required ([::1]:9464)") }
            portText = rest.dropFirst()
            guard isIPv6(host) else { return bad("'\(host)' is not an IPv6 address") }
        } else if let colon = text.lastIndex(of: ":") {
            let h = String(text[..<colon])
            portText = text[text.index(after: colon)...]
            if h.contains(":") { return bad("put an IPv6 address in brackets ([::1]:9464)") }
            if !h.isEmpty { host = h == "localhost" ? "127.0.0.1" : h }
            guard isIPv4(host) else { return bad("'\(h)' is not a numeric IPv4 address (use [ADDR] for IPv6)") }
        }
        guard !portText.isEmpty else { return bad("a port is required (e.g. 9464 or 127.0.0.1:9464)") }
        guard portText.allSatisfy(\.isASCIIDigit), let port = Int(portText), (1...65535).contains(port) else {
            return bad("the port must be a number from 1 to 65535")
        }
        return .success(MetricsAddress(host: host, port: port))
    }

    static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCIIDigit) && Int(p)! <= 255 }
    }

    static func isIPv6(_ s: String) -> Bool {
        var a = in6_addr()
        return inet_pton(AF_INET6, s, &a) == 1
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

import Foundation

/// One answer written whole on an accepted connection (the query socket's,
/// the metrics endpoint's): blocking, so a slow reader is waited for, but
/// bounded by a send timeout, so a reader that stops reading never holds
/// the caller for more than a few seconds.
enum BlockingSend {
    static let timeoutSeconds = 5

    static func all(_ conn: Int32, _ raw: UnsafeRawBufferPointer) {
        guard let base = raw.baseAddress else { return }
        _ = fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) & ~O_NONBLOCK)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var off = 0
        while off < raw.count {
            let n = write(conn, base + off, raw.count - off)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            off += n
        }
    }
}

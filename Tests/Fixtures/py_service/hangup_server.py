# The upstream of the py_service fixture: an HTTP server that answers every
# request with a truncated body and then hangs up.
# Usage: python3 hangup_server.py [PORT]   (stdlib only; CPython 3.8+)
#
# Listens on 127.0.0.1:PORT (PORT 0 or absent: the kernel picks a free port).
# The first line on stdout, flushed, is the port. For each connection (one
# thread each) it reads the request headers (up to the blank line), sends
# "HTTP/1.1 200 OK" with "Content-Length: 100000" but only the first 1000
# bytes of the body, waits 0.2 s and closes its end. A client that read the
# headers and stopped reading (an aiohttp response whose body is never read,
# on an event loop that no longer runs) never sees the FIN, so its socket
# stays in CLOSE_WAIT for as long as it keeps the descriptor.
#
# The request is read completely before the close, so the close sends a FIN
# rather than a RST (closing with unread data would reset the connection and
# the client's socket would go to CLOSED, not CLOSE_WAIT).
#
# It runs until killed: SIGTERM or SIGINT end it with status 0.
import signal
import socket
import sys
import threading
import time

HEAD = (b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Length: 100000\r\n"
        b"\r\n")
PARTIAL_BODY = b"x" * 1000
HANG_UP_AFTER = 0.2


def handle(conn):
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        conn.sendall(HEAD + PARTIAL_BODY)
        time.sleep(HANG_UP_AFTER)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    try:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    finally:
        listener.close()


if __name__ == "__main__":
    main()

# Drives the py_service fixture: N sequential GET /process requests to the
# app, each of which must answer 200, then GET /shutdown.
# Usage: python3 drive.py APP_PORT N   (stdlib only; exit 0 on success)
# Proxies from the environment are ignored (the app is on 127.0.0.1).
import sys
import urllib.error
import urllib.request


def get(opener, port, path):
    try:
        with opener.open("http://127.0.0.1:%d%s" % (port, path), timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except (urllib.error.URLError, OSError) as e:
        sys.stderr.write("drive: GET %s: %s\n" % (path, e))
        return 0, b""


def main():
    port = int(sys.argv[1])
    n = int(sys.argv[2])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for i in range(n):
        status, body = get(opener, port, "/process")
        if status != 200:
            sys.stderr.write("drive: request %d: status %d\n" % (i + 1, status))
            return 1
    status, _ = get(opener, port, "/shutdown")
    if status != 200:
        sys.stderr.write("drive: /shutdown: status %d\n" % status)
        return 1
    print("drive: %d requests answered 200, shutdown sent" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())

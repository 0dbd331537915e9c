# The py_service fixture: a Flask app on Werkzeug's threaded server, modelled
# on a real incident. Every GET /process leaks, and nothing is closed by the
# app itself:
#   - an image opened with Pillow and kept in a module-level list
#     (Image.open opens the file with builtins.open, i.e. open64, and keeps it
#     open until the image is loaded or closed; it is never loaded);
#   - an asyncio event loop that is never closed (epoll_create1 for the
#     selector, and on the same line socketpair for the loop's self-pipe);
#   - inside that loop, an aiohttp.ClientSession that is never closed, whose
#     GET to the hangup server is never read: the response is kept, the
#     connection is never released, the loop stops running, and the socket
#     (created by the libc call socket, from aiohappyeyeballs, in the same
#     task) goes to CLOSE_WAIT when the hangup server closes its end.
# Expected after N requests, per marked line, by marker name:
#   open64-image         N   open64 (file, the PNG)
#   epoll_create1-loop   N   epoll_create1 (eventpoll), plus 2N socketpair (unix stream)
#   socket-aiohttp       N   socket (TCP to 127.0.0.1:HANGUP_PORT, CLOSE_WAIT)
#
# Usage: python3 app.py HANGUP_PORT [PORT]
#   Listens on 127.0.0.1:PORT (0 or absent: a free port) and prints the port
#   as the first line on stdout, flushed. GET /shutdown stops the server: the
#   main thread returns from serve_forever, removes the temporary image and
#   returns normally, so CPython's ordinary shutdown runs (exit status 0).
#   /shutdown answers at once; the server stops 0.5 s later, when every
#   upstream socket has reached CLOSE_WAIT. PY_SERVICE_PAUSE=SECONDS: then
#   print "app: pid PID pausing" to stderr and wait that long more before
#   stopping (to inspect /proc/PID/fd).
# Needs flask, pillow and aiohttp (scripts/setup.sh installs them).
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import threading
import time

import aiohttp
from flask import Flask
from PIL import Image
from werkzeug.serving import make_server

HANGUP_PORT = int(sys.argv[1])
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
URL = "http://127.0.0.1:%d/data" % HANGUP_PORT

IMAGES = []
LOOPS = []
SESSIONS = []
RESPONSES = []

TMPDIR = tempfile.mkdtemp(prefix="fdtrace-py-service-")
IMAGE_PATH = os.path.join(TMPDIR, "thumb.png")
Image.new("RGB", (16, 16), (200, 40, 40)).save(IMAGE_PATH)

app = Flask(__name__)
server = None


async def fetch():
    session = aiohttp.ClientSession()
    SESSIONS.append(session)
    resp = await session.get(URL)  # LEAK(socket-aiohttp)
    RESPONSES.append(resp)
    return resp.status


@app.route("/process")
def process():
    IMAGES.append(Image.open(IMAGE_PATH))  # LEAK(open64-image)
    loop = asyncio.new_event_loop()  # LEAK(epoll_create1-loop)
    LOOPS.append(loop)
    status = loop.run_until_complete(fetch())
    return "processed %dx%d image, upstream said %d\n" % (IMAGES[-1].size + (status,))


def stop():
    # Lets the /shutdown response go out, and the hangup server's FIN for the
    # last /process arrive (it hangs up 0.2 s after answering): from here on
    # every upstream socket is in CLOSE_WAIT.
    time.sleep(0.5)
    pause = float(os.environ.get("PY_SERVICE_PAUSE", "0") or 0)
    if pause > 0:
        sys.stderr.write("app: pid %d pausing\n" % os.getpid())
        sys.stderr.flush()
        time.sleep(pause)
    server.shutdown()


@app.route("/shutdown")
def shutdown():
    threading.Thread(target=stop).start()
    return "shutting down\n"


def main():
    global server
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", PORT, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
    shutil.rmtree(TMPDIR, ignore_errors=True)


if __name__ == "__main__":
    main()

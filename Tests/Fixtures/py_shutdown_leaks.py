# Fixture: descriptors the program never closes but CPython's shutdown does.
# Usage: python3 py_shutdown_leaks.py [exit|raise]   (runs on CPython 3.8-3.13)
#   exits 0; with "exit" it ends with sys.exit(3) from a function, with
#   "raise" with an unhandled exception (status 1): the same descriptors
#   are left to the runtime either way.
#
# Expected per marked line, by marker name (libc call, [kernel call]):
#
#   open64-logging      logging.FileHandler(path)  1  open64 [openat O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC]
#                       closed by logging.shutdown(), logging's atexit hook.
#   open64              open(__file__) kept in a module global
#                       1  open64 [openat O_RDONLY|O_CLOEXEC]
#                       closed when the interpreter tears the modules down.
#   epoll_create1-loop  asyncio.new_event_loop() kept in a module global
#                       3 descriptors from two calls on the same line:
#                       epoll_create1 (1 eventpoll fd, [epoll_create1 EPOLL_CLOEXEC],
#                       the selector) and socketpair (2 unix stream sockets,
#                       [socketpair AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC], the
#                       loop's self-pipe). Closed at module teardown, when the
#                       unclosed loop is freed: BaseEventLoop.__del__ calls
#                       close() (the ResourceWarning it emits is ignored by
#                       default).
#
# All five descriptors are still open when the main script finishes and all
# are closed after it, by the runtime; none is open at process exit. Verified
# on CPython 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1 and 3.13.0 with an
# LD_PRELOAD logger of libc calls (logging's handler is closed first, during
# atexit; the file and the loop during module teardown). The log file is
# unlinked (and its directory removed) before the script ends; the handler
# keeps writing to its open descriptor.
import asyncio
import logging
import os
import sys
import tempfile

TMPDIR = tempfile.mkdtemp(prefix="fdtrace-py-shutdown-")
LOG_PATH = os.path.join(TMPDIR, "fixture.log")

LOG = logging.getLogger("fdtrace.fixture")
LOG.propagate = False
HANDLER = logging.FileHandler(LOG_PATH)  # LEAK(open64-logging)
LOG.addHandler(HANDLER)

KEPT_FILE = open(os.path.abspath(__file__))  # LEAK(open64)

LOOP = asyncio.new_event_loop()  # LEAK(epoll_create1-loop)


async def answer():
    return len(KEPT_FILE.readline())


n = LOOP.run_until_complete(answer())
LOG.warning("first line of the fixture has %d characters", n)
os.unlink(LOG_PATH)
os.rmdir(TMPDIR)
print("py_shutdown_leaks: log handler, file and event loop left to the runtime")


def finish(how):
    if how == "exit":
        sys.exit(3)
    if how == "raise":
        raise RuntimeError("the fixture ends with an unhandled exception")


finish(sys.argv[1] if len(sys.argv) > 1 else "")

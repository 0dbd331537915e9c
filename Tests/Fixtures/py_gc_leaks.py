# Fixture: descriptors held by unreachable reference cycles, closed by the
# cycle collector, not by the program.
# Usage: python3 py_gc_leaks.py [K]   (K defaults to 4; runs on CPython 3.8-3.13)
#
# gc.disable() runs first, so nothing is collected automatically. The program
# builds K cycles (a Holder that refers to itself) each holding a file opened
# with open(), and one cycle holding a socket, and drops every reference to
# them: the descriptors stay open (nothing refers to them, nothing closes
# them) until the explicit gc.collect() in main(), during which CPython's
# finalizers close them (io's __del__/dealloc, socket's dealloc). Expected per
# marked line, by marker name:
#
#   open64   open(path) in a cycle        K  open64  [openat O_RDONLY|O_CLOEXEC]
#   socket   socket.socket() in a cycle   1  socket  [socket AF_INET, SOCK_STREAM|SOCK_CLOEXEC]
#
# All K+1 descriptors are closed inside gc.collect() (on the gc.collect() line)
# and none before it; after it the program opens and closes one more file
# (the with-statement, not a leak) and exits 0 with nothing left open.
# Verified on CPython 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1 and 3.13.0
# (LD_PRELOAD logger of libc calls, and /proc/self/fd listed just before and
# just after the gc.collect() call). Output: one line, e.g.
# "py_gc_leaks: K=4, gc.collect() freed 5 holders".
import gc
import os
import socket
import sys
import weakref


class Holder(object):
    pass


def file_cycle(path, refs):
    h = Holder()
    h.me = h
    h.f = open(path)  # LEAK(open64)
    refs.append(weakref.ref(h))


def socket_cycle(refs):
    h = Holder()
    h.me = h
    h.s = socket.socket()  # LEAK(socket)
    refs.append(weakref.ref(h))


def main():
    gc.disable()
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    path = os.path.abspath(__file__)
    refs = []
    for _ in range(k):
        file_cycle(path, refs)
    socket_cycle(refs)
    alive = sum(1 for r in refs if r() is not None)
    gc.collect()
    freed = alive - sum(1 for r in refs if r() is not None)
    print("py_gc_leaks: K=%d, gc.collect() freed %d holders" % (k, freed))
    with open(path, "rb") as f:
        f.read(16)
    return 0 if freed == k + 1 else 1


sys.exit(main())

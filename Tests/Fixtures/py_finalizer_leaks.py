# Fixture: descriptors closed by finalizers when the last reference goes
# (CPython's "unclosed file" ResourceWarning cases), between explicit
# closes that must not be reported. Each marked line leaks K (argv, 3).
import os
import socket
import sys


def explicit(path):
    for _ in range(5):
        f = open(path)
        f.close()
    with open(path) as f:
        f.read()


def dropped(path):
    open(path).read()  # LEAK(open64-dropped)
    s = socket.socket()  # LEAK(socket-dropped)
    s = None
    return s


class Owner(object):
    def __init__(self, path):
        self.f = open(path)  # LEAK(open64-del)

    def __del__(self):
        self.f.close()


def main():
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    path = os.path.abspath(__file__)
    for _ in range(k):
        explicit(path)
        dropped(path)
        Owner(path)
        explicit(path)
    print("py_finalizer_leaks: K=%d" % k)


main()

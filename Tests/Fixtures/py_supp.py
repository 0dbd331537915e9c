# Fixture for suppressions of Python frames: two leak sites in two
# functions, argv[1] rounds (default 2). The files are closed at shutdown
# (still leaks); the pipes stay open.
import os
import sys

KEPT = []


def config():
    KEPT.append(open("/etc/hostname"))  # LEAK(open)


def channel():
    KEPT.append(os.pipe())  # LEAK(pipe2)


for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2):
    config()
    channel()

# Fixture: CPython leaks through the stdlib's descriptor-opening calls.
# Usage: python3 py_leaks.py [K]   (K defaults to 3; runs on CPython 3.8-3.13)
#
# leak() runs K times and keeps every object it opens in the module-level list
# KEPT, so all of them are still open when the main script finishes. Expected
# descriptors per marked line, by marker name (the libc call is the symbol
# libpython or its extension modules call; the kernel call, seen with strace,
# in brackets; the harness reads markers only from the marked lines below):
#
#   open64          open(path)          K   open64  [openat O_RDONLY|O_CLOEXEC]
#   socket          socket.socket()     K   socket  [socket AF_INET, SOCK_STREAM|SOCK_CLOEXEC]
#   pipe2           os.pipe()           2K  pipe2   [pipe2 O_CLOEXEC]
#   open64-mkstemp  tempfile.mkstemp()  K   open64 via os.open
#                                           [openat O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC]
#   pipe2-popen     subprocess.Popen()  K   pipe2 via os.pipe: the stdout pipe; the parent
#                                           closes its write end and keeps the read end
#
# Total 6K descriptors. Verified identical on CPython 3.8.18, 3.9.18, 3.10.13,
# 3.11.7, 3.12.1 and 3.13.0 (Debian 12, glibc 2.36) with an LD_PRELOAD logger
# of libc calls, and with `strace -f -e trace=%desc,%network` on 3.8, 3.11 and
# 3.13. libpython imports no plain open/openat: it calls open64, or openat64
# when a dir_fd is given. Other descriptors Popen opens and closes itself: a
# second pipe2 (the exec-error pipe, both ends closed before Popen returns) and
# the stdout pipe's write end. The child is started with fork() (clone) on 3.8
# and 3.9 and with vfork() on 3.10 and later; before exec the child closes
# descriptors by listing /proc/self/fd (3.8-3.10) or with close_range()
# (3.11+). Popen never uses posix_spawn here ("sleep" is not given as a path).
# tempfile's first use probes the temp directory (an open64 of a random name,
# closed at once), so main() calls tempfile.gettempdir() before leak().
#
# What happens to the leaks at exit (all versions): interpreter shutdown
# frees KEPT, which closes the open() files, the sockets and the Popen stdout
# pipes (close() calls made by CPython after the main script has finished).
# os.pipe() and mkstemp() return bare integers, so those 3K descriptors are
# still open when the process exits. The temporary files are unlinked before
# exit; their descriptors stay open.
#
# closed_properly() opens and closes a file (with), two sockets (close() and
# with), a pipe and a mkstemp file: none of those may be reported.
import os
import socket
import subprocess
import sys
import tempfile

# Everything leak() opens is kept here, referenced from module level.
KEPT = []


def closed_properly(path):
    with open(path, "rb") as f:
        f.read(16)
    s = socket.socket()
    s.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.fileno()
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    fd, name = tempfile.mkstemp(prefix="fdtrace-py-closed-")
    os.close(fd)
    os.unlink(name)


def leak(k, path):
    temp_paths = []
    for _ in range(k):
        KEPT.append(open(path))  # LEAK(open64)
        KEPT.append(socket.socket())  # LEAK(socket)
        KEPT.append(os.pipe())  # LEAK(pipe2)
        KEPT.append(tempfile.mkstemp(prefix="fdtrace-py-leak-"))  # LEAK(open64-mkstemp)
        KEPT.append(subprocess.Popen(["sleep", "0"], stdout=subprocess.PIPE))  # LEAK(pipe2-popen)
        temp_paths.append(KEPT[-2][1])
    closed_properly(path)
    # The temporary files' names go; their descriptors stay open.
    for name in temp_paths:
        os.unlink(name)
    return 6 * k


def main():
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    tempfile.gettempdir()
    n = leak(k, os.path.abspath(__file__))
    print("py_leaks: K=%d, %d descriptors left open" % (k, n))


main()

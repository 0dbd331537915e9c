# Fixture for /proc mode: a socketpair, and a unix stream connection to a
# forked child that accepted it. Writes "pair_a pair_b client child_pid" to
# argv[2] when ready, then sleeps (the test kills both processes).
import os
import socket
import sys
import time

path, ready = sys.argv[1], sys.argv[2]
a, b = socket.socketpair()
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(1)
child = os.fork()
if child == 0:
    conn, _ = srv.accept()
    time.sleep(30)
    os._exit(0)
c = socket.socket(socket.AF_UNIX)
c.connect(path)
srv.close()
with open(ready + ".tmp", "w") as f:
    f.write("%d %d %d %d\n" % (a.fileno(), b.fileno(), c.fileno(), child))
os.rename(ready + ".tmp", ready)
time.sleep(30)

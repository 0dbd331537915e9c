# Fixture for live queries of a Python program: opens /etc/hostname 5 times
# at the marked line, says "ready PID" on stdout, then runs until argv[1]
# exists (at most 20 s) and exits 0 (the files leak).
import os
import sys
import time

kept = []
for _ in range(5):
    kept.append(open("/etc/hostname"))  # LEAK(open)
print("ready", os.getpid(), flush=True)
for _ in range(2000):
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.01)

# Workload (5): COUNT os.open/os.close pairs. Prints the loop's elapsed time.
import os
import sys
import time

count = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
t0 = time.perf_counter()
for _ in range(count):
    os.close(os.open("/dev/null", os.O_RDONLY))
print(f"elapsed={time.perf_counter() - t0:.6f}")

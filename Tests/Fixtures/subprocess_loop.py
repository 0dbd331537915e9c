# Fixture: keeps 10 files open (raw descriptors, never closed) and runs
# `true` 30 times through subprocess with close_fds=True (vfork + close_range).
import os
import subprocess

kept = [os.open("/etc/hostname", os.O_RDONLY) for _ in range(10)]
for _ in range(30):
    subprocess.run(["true"], close_fds=True, check=True)
print("ran 30 children, keeping", len(kept), "files")

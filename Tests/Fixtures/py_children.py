# Fixture: one leak per process, in processes started every way a Python
# program starts others: os.fork(), multiprocessing (fork), subprocess
# running the same interpreter, and the parent itself. The worker line is
# reported once in each of the three children; the parent's own line once.
import multiprocessing
import os
import subprocess
import sys

KEPT = []


def work():
    KEPT.append(open(os.path.abspath(__file__)))  # LEAK(open64-worker)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        work()
        return
    pid = os.fork()
    if pid == 0:
        work()
        os._exit(0)
    os.waitpid(pid, 0)
    proc = multiprocessing.get_context("fork").Process(target=work)
    proc.start()
    proc.join()
    subprocess.run([sys.executable, os.path.abspath(__file__), "child"], check=True)
    KEPT.append(open(os.path.abspath(__file__)))  # LEAK(open64-parent)
    print("py_children: parent and 3 children each kept one file")


main()

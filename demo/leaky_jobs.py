# Demo: a job runner that leaks, per job, an asyncio event loop (never
# closed) and a report file (opened, never closed), like the services this
# tool was built for. CPython closes them when the program ends, which hides
# the leak from tools that look only at exit; fdtrace reports them at these
# lines.
import asyncio
import os
import tempfile

REPORTS = []


def run_job(n, out_dir):
    loop = asyncio.new_event_loop()
    result = loop.run_until_complete(asyncio.sleep(0, result=n * n))
    report = open(os.path.join(out_dir, "job-%d.txt" % n), "w")
    report.write("%d\n" % result)
    REPORTS.append(report)
    return result


def main():
    with tempfile.TemporaryDirectory() as out_dir:
        total = sum(run_job(n, out_dir) for n in range(20))
        print("ran 20 jobs, total", total)


main()

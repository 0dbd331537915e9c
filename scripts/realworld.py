#!/usr/bin/env python3
"""make realworld: CPython's own regression tests for descriptors, processes
and sockets, run untraced, under bare LD_PRELOAD and under `fdtrace run`.
Every test must have the same result in all three (passed, failed, error,
skipped): a tracer that changes what a program sees shows up here.

  scripts/realworld.py [--bin DIR] [--python EXE] [--tests "a b c"] [--jobs N]

Exits 0 when the results are identical, 1 when they differ (the differing
tests are listed), 2 when it cannot run.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
import xml.etree.ElementTree as ET

TESTS = ("test_subprocess test_os test_pty test_selectors test_epoll test_fcntl "
         "test_socket test_asyncio.test_subprocess")
# AF_VSOCK tests hang on these VMs even untraced.
IGNORE = "*VSOCK*"


def results(junit):
    """test id -> passed/failed/error/skipped, from a --junit-xml file."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}.{case.get('name', '')}"
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed"}.get(child.tag, child.tag)
        out[name] = status
    return out


def run(label, argv, env, workdir):
    log = os.path.join(workdir, f"{label}.log")
    start = time.monotonic()
    with open(log, "wb") as f:
        rc = subprocess.run(argv, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=workdir).returncode
    return rc, time.monotonic() - start, log


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", help="directory with fdtrace and libfdtrace.so (default: the debug build)")
    ap.add_argument("--python", default=os.environ.get("FDTRACE_PYTHON", "python3"))
    ap.add_argument("--tests", default=TESTS)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bindir = a.bin or subprocess.run(["swift", "build", "--show-bin-path"], cwd=root, capture_output=True,
                                     text=True).stdout.strip()
    fdtrace, lib = os.path.join(bindir, "fdtrace"), os.path.join(bindir, "libfdtrace.so")
    if not (os.access(fdtrace, os.X_OK) and os.path.isfile(lib)):
        print(f"realworld: no fdtrace build in {bindir} (make first)", file=sys.stderr)
        return 2
    # The first interpreter that has its regression tests (pyenv's do;
    # Debian's need libpython3.11-testsuite, which make setup installs).
    candidates = [shutil.which(a.python) or a.python, "/usr/bin/python3"]
    python = next((p for p in candidates if os.access(p, os.X_OK) and subprocess.run(
        [p, "-c", "import test.libregrtest"], capture_output=True).returncode == 0), None)
    if not python:
        print(f"realworld: no interpreter with CPython's regression tests ({', '.join(candidates)})", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="fdtrace-realworld.")
    tests = a.tests.split()

    def regrtest(xml):
        return [python, "-m", "test", "-j", str(a.jobs), "--junit-xml", os.path.join(work, xml), "-i", IGNORE] + tests

    base = {k: v for k, v in os.environ.items() if not k.startswith("FDTRACE_") and k != "LD_PRELOAD"}
    base["FDTRACE_SESSION_DIR"] = work
    runs = [
        ("untraced", regrtest("untraced.xml"), base),
        ("bare", regrtest("bare.xml"), dict(base, LD_PRELOAD=lib, FDTRACE_OUTPUT=os.path.join(work, "bare-report.txt"))),
        ("run", [fdtrace, "run", "--output", os.path.join(work, "run-report.txt"), "--"] + regrtest("run.xml"), base),
    ]
    outcome = {}
    for label, argv, env in runs:
        rc, secs, log = run(label, argv, env, work)
        xml = os.path.join(work, f"{label}.xml")
        got = results(xml) if os.path.exists(xml) else {}
        counts = {s: sum(1 for v in got.values() if v == s) for s in ("passed", "failed", "error", "skipped")}
        print(f"{label:9} exit {rc}  {secs:6.1f} s  " + "  ".join(f"{k} {v}" for k, v in counts.items()))
        outcome[label] = (rc, got, log)

    same = True
    ref_rc, ref, _ = outcome["untraced"]
    if not ref:
        print(f"realworld: the untraced run produced no results (log: {outcome['untraced'][2]})", file=sys.stderr)
        return 2
    for label in ("bare", "run"):
        rc, got, log = outcome[label]
        diff = sorted(t for t in set(ref) | set(got) if ref.get(t) != got.get(t))
        if rc != ref_rc or diff:
            same = False
            print(f"{label}: exit {rc} (untraced {ref_rc}); {len(diff)} tests differ (log: {log})")
            for t in diff[:40]:
                print(f"  {t}: untraced {ref.get(t, 'absent')}, {label} {got.get(t, 'absent')}")
    # What the tracer wrote about itself: refusals would mean processes it missed.
    for report in ("bare-report.txt", "run-report.txt"):
        path = os.path.join(work, report)
        text = open(path, errors="replace").read() if os.path.exists(path) else ""
        refusals = [l for l in text.splitlines() if "refused" in l]
        print(f"{report}: {len(text.splitlines())} lines, {len(refusals)} refusals")
        for l in refusals[:10]:
            print("  " + l)
        same = same and not refusals
    print(f"realworld: {'identical results' if same else 'DIFFERENT results'} for {len(ref)} tests"
          + ("" if same else f" (logs and reports: {work})"))
    if same:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

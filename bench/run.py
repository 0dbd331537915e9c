#!/usr/bin/env python3
"""fdtrace overhead benchmark (make bench).

Runs each workload untraced, under fdtrace, under valgrind --track-fds=yes and
under strace -f, in paired rounds (every mode once per round), and prints
medians and ratios to the untraced run of the same invocation.

    bench/run.py [--size full|tiny] [--runs N] [--only NAMES] [--fdtrace PATH]

As root, the kernel event source too: (1) under `fdtrace run --source kernel`
("kernel"), the same loop untraced while a kernel session traces another
process ("elsewhere": what every other process pays), and (11) a Go HTTP
server under a Go load generator, untraced, kernel and strace -f.

The process-heavy workloads, (12) a bash loop starting /bin/true and (13) a
clean `make -j2` of a generated C project, run untraced, under fdtrace, bare
(LD_PRELOAD=libfdtrace.so, the collector started by the shim) and under
strace -f (every call), every mode in every round.
"""
import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import http.client
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SIZES = {
    "full": {"open": 1_000_000, "socketpair": 500_000, "accept": 100_000, "threads": 1_000_000,
             "python": 200_000, "flask": 2000, "collector": 10_000_000, "sites": 5_000_000, "go_http": 20_000,
             "processes": 200, "make_files": 24},
    "tiny": {"open": 10_000, "socketpair": 5_000, "accept": 1_000, "threads": 10_000,
             "python": 2_000, "flask": 100, "collector": 100_000, "sites": 50_000, "go_http": 500,
             "processes": 20, "make_files": 6},
}

# The workloads, by the names --only takes.
WORKLOADS = {
    "1": "open+close /dev/null", "2": "socketpair+close", "3": "accept4 server", "4": "8 threads open+close",
    "5": "Python os.open/os.close", "6": "Flask app (requests/s)", "7": "the collector alone, a synthetic stream",
    "8": "the collector's memory, events from 1000 sites", "9": "fixed cost: a one-leak program",
    "10": "symbolizer", "1k": "open+close /dev/null, kernel source",
    "1e": "open+close /dev/null, another process traced", "11": "Go HTTP server (requests/s)",
    "12": "bash loop of /bin/true", "13": "make -j2 of a small C project",
}
ROOT_ONLY = ("1k", "1e", "11")
# The process-heavy workloads: their targets (issue 14) as a ratio to untraced
# and in ms added a process (None: no target).
PROCESS_TARGETS = {"12": (1.5, 0.4), "13": (1.3, None)}
STRACE_FDS = ["-e", "trace=%desc,%network"]  # strace on the other workloads: descriptor calls


def libfdtrace(fdtrace):
    return os.path.join(os.path.dirname(fdtrace), "libfdtrace.so")


def rotated(names, r):
    """The order of round r: each name first in turn."""
    return names[r % len(names):] + names[:r % len(names)]


def write_project(path, files):
    """A small C project: FILES .c files, each including a few system headers and
    the project's own, and main.c, linked into one program that prints a hash."""
    os.makedirs(path)
    with open(os.path.join(path, "common.h"), "w") as f:
        f.write("#include <stddef.h>\nunsigned long mix(unsigned long h, const char *s);\n")
        f.writelines(f"unsigned long part{i}(unsigned long h);\n" for i in range(files))
    for i in range(files):
        with open(os.path.join(path, f"f{i:02}.c"), "w") as f:
            f.write(f'#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include "common.h"\n\n'
                    f'unsigned long part{i}(unsigned long h) {{\n    char buf[32];\n'
                    f'    snprintf(buf, sizeof buf, "part{i}:%lu", h % 1000);\n    return mix(h, buf);\n}}\n')
    with open(os.path.join(path, "main.c"), "w") as f:
        f.write('#include <stdio.h>\n#include "common.h"\n\nunsigned long mix(unsigned long h, const char *s) {\n'
                '    while (*s)\n        h = h * 31 + (unsigned char)*s++;\n    return h;\n}\n\n'
                'int main(void) {\n    unsigned long h = 5381;\n')
        f.writelines(f"    h = part{i}(h);\n" for i in range(files))
        f.write('    printf("%lx\\n", h);\n    return 0;\n}\n')
    objs = " ".join([f"f{i:02}.o" for i in range(files)] + ["main.o"])
    with open(os.path.join(path, "Makefile"), "w") as f:
        f.write(f"CFLAGS = -O2\nOBJS = {objs}\n\nprog: $(OBJS)\n\t$(CC) $(CFLAGS) -o $@ $(OBJS)\n\n$(OBJS): common.h\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Runner:
    def __init__(self, fdtrace, workdir, measure):
        self.fdtrace = fdtrace
        self.measure = measure
        self.workdir = workdir
        self.json = os.path.join(workdir, "report.json")
        self.lib = libfdtrace(fdtrace)
        self.programs = {}  # (13): the program an untraced build links, by project size

    def wrap(self, mode, argv, strace=STRACE_FDS):
        if mode == "untraced":
            return argv
        if mode == "fdtrace":
            return [self.fdtrace, "run", "--output", "/dev/null", "--json", self.json, "--"] + argv
        if mode == "kernel":
            return [self.fdtrace, "run", "--source", "kernel", "--output", "/dev/null", "--json", self.json, "--"] + argv
        if mode == "bare":  # through env: measure itself stays untraced
            return ["env", f"LD_PRELOAD={self.lib}", "FDTRACE_OUTPUT=/dev/null", f"FDTRACE_JSON={self.json}"] + argv
        if mode == "elsewhere":
            return argv  # untraced, while a kernel session traces another process (see run_elsewhere)
        if mode == "valgrind":
            return ["valgrind", "--track-fds=yes", "-q", "--log-file=/dev/null"] + argv
        if mode == "strace":
            return ["strace", "-f", "-o", "/dev/null"] + strace + argv
        raise ValueError(mode)

    def spawn(self, mode, argv, strace=STRACE_FDS, cwd=None):
        if os.path.exists(self.json):
            os.unlink(self.json)
        self.rss_file = os.path.join(self.workdir, "rss")
        return subprocess.Popen([self.measure] + self.wrap(mode, argv, strace), stdout=subprocess.PIPE,
                                stderr=open(self.rss_file, "w"), text=True, cwd=cwd)

    def reap(self, proc):
        """Waits for proc; returns (status, peak RSS KiB of the measured command tree)."""
        proc.wait()
        rss = None
        with open(self.rss_file) as f:
            for line in f:
                if line.startswith("maxrss_kb="):
                    rss = int(line.split("=")[1])
        return proc.returncode, rss

    def run_loop(self, mode, argv, strace=STRACE_FDS):
        """A workload that prints elapsed=SECONDS for its own loop."""
        return self.run_command(mode, argv, strace, loop=True)

    def run_command(self, mode, argv, strace=STRACE_FDS, cwd=None, loop=False):
        """argv under mode, to its end (status 0 required): wall seconds, peak RSS, the collector's figures."""
        t0 = time.perf_counter()
        proc = self.spawn(mode, argv, strace, cwd)
        out = proc.stdout.read()
        status, rss = self.reap(proc)
        result = {"wall": time.perf_counter() - t0, "status": status, "rss_kb": rss}
        for line in out.splitlines():
            if line.startswith("elapsed="):
                result["loop"] = float(line.split("=", 1)[1])
        if status != 0 or loop and "loop" not in result:
            raise RuntimeError(f"{mode} {argv[0]} failed: status {status}, output {out!r}")
        self.collect_fdtrace(mode, result)
        return result

    def run_make(self, mode, files):
        """Workload (13): a clean `make -j2 -s` of a project written anew in a
        new directory; the program it links must be the one an untraced build
        links (the first call builds that one, untraced, unmeasured: it also
        warms the page cache)."""
        if files not in self.programs:
            project = self.project(files)
            subprocess.run(["make", "-j2", "-s"], cwd=project, check=True)
            self.programs[files] = self.program(project)
        project = self.project(files)
        result = self.run_command(mode, ["make", "-j2", "-s"], strace=[], cwd=project)
        if self.program(project) != self.programs[files]:
            raise RuntimeError(f"make -j2 under {mode} linked another program than the untraced build")
        return result

    def project(self, files):
        path = os.path.join(self.workdir, "project")
        shutil.rmtree(path, ignore_errors=True)
        write_project(path, files)
        return path

    def program(self, project):
        """The program a build of project linked (its bytes); the project removed."""
        with open(os.path.join(project, "prog"), "rb") as f:
            program = f.read()
        shutil.rmtree(project)
        return program

    def run_elsewhere(self, mode, argv):
        """The loop untraced; in mode "elsewhere" while a kernel session
        traces a sleeping process (its BPF programs loaded and attached)."""
        if mode != "elsewhere":
            return self.run_loop(mode, argv)
        session = subprocess.Popen([self.fdtrace, "run", "--source", "kernel", "--output", "/dev/null", "--",
                                    "sleep", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.5)  # loaded and attached (it takes ~0.4 s)
            return self.run_loop(mode, argv)
        finally:
            # The session ends with its program: the sleep, fdtrace's child.
            for task in os.listdir(f"/proc/{session.pid}/task"):
                with open(f"/proc/{session.pid}/task/{task}/children") as f:
                    for child in f.read().split():
                        os.kill(int(child), 15)
            session.wait()

    def run_go_http(self, mode, server, load, requests):
        """Workload (11): requests/s of a Go HTTP server, a new connection per request."""
        port = free_port()
        t0 = time.perf_counter()
        proc = self.spawn(mode, [server, str(port)])
        line = proc.stdout.readline()
        if "listening" not in line:
            proc.kill()
            raise RuntimeError(f"go server under {mode} did not start: {line!r}")
        out = subprocess.run([load, str(port), str(requests), "4"], capture_output=True, text=True, timeout=900)
        return self.finish_server(mode, "go server", proc, port, t0, out)

    def collect_fdtrace(self, mode, result):
        if mode not in ("fdtrace", "kernel", "bare") or not os.path.exists(self.json):
            return
        with open(self.json) as f:
            report = json.load(f)
        result["tree_rss_kb"] = result.get("rss_kb")
        # The program's own peak (its largest process's), as it reported at exit.
        result["rss_kb"] = max((p.get("max_rss_kb") or 0 for p in report["processes"]), default=0) or result.get("rss_kb")
        c = report.get("collector") or {}
        result["collector_cpu"] = c.get("cpu_seconds")
        result["collector_rss_kb"] = c.get("max_rss_kb")
        result["ring_waits"] = sum(p["events"]["ring_full_waits"] for p in report["processes"])
        result["ring_wait_ms"] = sum(p["events"]["ring_wait_milliseconds"] for p in report["processes"])
        result["processes"] = len({p["pid"] for p in report["processes"]})
        # Each leak group as "program: call in function" (its first named frame).
        result["leak_groups"] = [
            f"{os.path.basename(p['command'][0])}: {g['call']}"
            + next((f" in {f['function']}" for f in g["frames"] if f.get("function")), "")
            for p in report["processes"] for g in p.get("leaks", []) + p.get("inherited_leaks", [])]

    def run_flask(self, mode, python, requests):
        port = free_port()
        t0 = time.perf_counter()
        proc = self.spawn(mode, [python, os.path.join(HERE, "flask_app.py"), str(port)])
        deadline = time.time() + 300
        line = proc.stdout.readline()
        if "listening" not in line:
            proc.kill()
            raise RuntimeError(f"flask under {mode} did not start: {line!r}")
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        load = subprocess.run([python, os.path.join(HERE, "load.py"), str(port), str(requests), "4"],
                              capture_output=True, text=True, timeout=600)
        return self.finish_server(mode, "flask", proc, port, t0, load)

    def finish_server(self, mode, name, proc, port, t0, load):
        """After a load run (`load`: the load generator's completed process):
        the server asked to shut down and reaped, requests/s from the load
        generator's `key=value` output, the collector's figures."""
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/shutdown", timeout=30).read()
        except (OSError, http.client.HTTPException):
            pass  # the server may go before the answer is complete
        proc.stdout.read()
        status, rss = self.reap(proc)
        result = {"wall": time.perf_counter() - t0, "status": status, "rss_kb": rss}
        fields = dict(kv.split("=") for kv in load.stdout.split())
        if int(fields.get("errors", 1)) != 0:
            raise RuntimeError(f"{name} under {mode}: load errors: {load.stdout} {load.stderr}")
        result["rps"] = float(fields["requests_per_second"])
        self.collect_fdtrace(mode, result)
        return result


def fixed_cost(fdtrace, binary, runs):
    """Workload (9): the trivial one-leak program untraced, bare (LD_PRELOAD,
    the collector started by the shim) and under `fdtrace run`, traced and
    reported; paired rounds, the order rotating each round. Wall ms."""
    lib = libfdtrace(fdtrace)
    env = dict(os.environ, FDTRACE_OUTPUT="/dev/null")
    env.pop("LD_PRELOAD", None)
    modes = {
        "untraced": ([binary], env),
        "bare": ([binary], dict(env, LD_PRELOAD=lib)),
        "run": ([fdtrace, "run", "--output", "/dev/null", "--", binary], env),
    }
    times = {m: [] for m in modes}
    names = list(modes)
    for r in range(runs + 1):
        for m in rotated(names, r):
            argv, e = modes[m]
            t0 = time.perf_counter()
            subprocess.run(argv, env=e, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r > 0:  # round 0 warms the page cache
                times[m].append((time.perf_counter() - t0) * 1000)
    return times


def symbolizer_cost(fdtrace, work, sources):
    """Workload (10): the frames of reports of existing fixtures named by
    libdw in process, by llvm-symbolizer once per report (the old driver)
    and by one llvm-symbolizer kept warm (fdtrace bench-symbolizer)."""
    rows = []
    for name, src, flags in sources:
        exe = os.path.join(work, name)
        cc = "c++" if src.endswith(".cpp") else "cc"
        subprocess.run([cc, "-g", *flags, src, "-o", exe], check=True)
        report = os.path.join(work, name + ".json")
        subprocess.run([fdtrace, "run", "--output", "/dev/null", "--json", report, "--", exe, "5"],
                       check=True, stdout=subprocess.DEVNULL)
        out = subprocess.run([fdtrace, "bench-symbolizer", report], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            f = dict(kv.split("=", 1) for kv in line.split())
            rows.append((name, f["name"].replace("_", " "), int(f["addresses"]), float(f["first_ms"]),
                         float(f["report_ms"]), float(f["per_address_us"])))
    return rows


def process_summary(key, rs, processes):
    """Below the table, for a process-heavy workload: the ms each mode adds a
    process (PROCESSES, or as many as fdtrace's report counts), the target, and
    the leak groups the traced runs reported."""
    ratio_target, ms_target = PROCESS_TARGETS[key]
    base = median([x["wall"] for x in rs["untraced"]])
    processes = processes or median([x.get("processes") for m in rs for x in rs[m]])
    traced = [m for m in rs if m in ("fdtrace", "bare")]
    if not processes or not traced:
        return []
    added = {m: (median([x["wall"] for x in rs[m]]) - base) * 1000 / processes for m in rs if m != "untraced"}
    ratios = {m: median([x["wall"] for x in rs[m]]) / base for m in traced}
    met = all(ratios[m] <= ratio_target and (ms_target is None or added[m] <= ms_target) for m in traced)
    target = f"≤ {ratio_target}×" + (f" (≤ {ms_target} ms a process)" if ms_target else "")
    groups = {}
    for m in traced:
        for x in rs[m]:
            for g in x.get("leak_groups", []):
                groups.setdefault(g, set()).add(m)
    leaks = "; ".join(f"{g} ({', '.join(sorted(ms))})" for g, ms in groups.items()) or "none"
    return [f"({key}) {WORKLOADS[key]}, {processes:.0f} processes: added a process "
            + ", ".join(f"{m} {v:+.2f} ms" for m, v in added.items())
            + f"; target {target}: {'met' if met else 'not met'}; leak groups reported: {leaks}"]


def spread(values):
    return f"{statistics.median(values):.1f} [{min(values):.1f}–{max(values):.1f}]"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return f"{v}{unit}"


def main():
    ap = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads (--only):\n" + "\n".join(
            f"  {key:>3}  {title}" + ("  (as root)" if key in ROOT_ONLY else "") for key, title in WORKLOADS.items()))
    ap.add_argument("--size", choices=SIZES, default=os.environ.get("BENCH_SIZE", "full"))
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--tool-runs", type=int, default=None,
                    help="runs of valgrind and strace (slow; default 1 for full sizes)")
    ap.add_argument("--only", default="", help="comma-separated workloads (below); default all")
    ap.add_argument("--modes", default="untraced,fdtrace,valgrind,strace",
                    help="modes of (1)-(6); (12) and (13) run untraced, fdtrace, bare (with fdtrace) and strace of these")
    ap.add_argument("--fdtrace", default=None)
    args = ap.parse_args()
    size = SIZES[args.size]
    runs = args.runs or (5 if args.size == "full" else 1)
    tool_runs = args.tool_runs or 1
    only = set(filter(None, args.only.split(",")))
    fdtrace = args.fdtrace or os.path.join(ROOT, ".build/release/fdtrace")
    modes = [m for m in args.modes.split(",") if m == "untraced" or m == "fdtrace" or shutil.which(m)]
    python = sys.executable
    work = tempfile.mkdtemp(prefix="fdtrace-bench-")
    bins = {}
    for name, src in [("open_close", "open_close.c"), ("socketpair_close", "socketpair_close.c"),
                      ("accept_server", "accept_server.c"), ("sites", "sites.c")]:
        bins[name] = os.path.join(work, name)
        subprocess.run(["cc", "-O2", "-g", "-pthread", os.path.join(HERE, src), "-o", bins[name]], check=True)

    # The Go workload, built with the system's Go (Debian's golang-go).
    go = shutil.which("go")
    kernel = os.geteuid() == 0
    if go:
        env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOCACHE=os.path.join(work, "gocache"))
        for name in ("go_http", "go_load"):
            bins[name] = os.path.join(work, name)
            subprocess.run([go, "build", "-o", bins[name], "."], cwd=os.path.join(HERE, name), env=env, check=True)

    measure = os.path.join(work, "measure")
    subprocess.run(["cc", "-O2", os.path.join(HERE, "measure.c"), "-o", measure], check=True)
    runner = Runner(fdtrace, work, measure)
    # strace -k (stacks) only where the workload is small enough to finish.
    k = size["accept"] <= 5000
    workloads = [
        ("1", lambda m: runner.run_loop(m, [bins["open_close"], str(size["open"])])),
        ("2", lambda m: runner.run_loop(m, [bins["socketpair_close"], str(size["socketpair"])])),
        ("3", lambda m: runner.run_loop(m, [bins["accept_server"], str(size["accept"])], strace=STRACE_FDS + ["-k"] * k)),
        ("4", lambda m: runner.run_loop(m, [bins["open_close"], str(size["threads"]), "8"])),
        ("5", lambda m: runner.run_loop(m, [python, os.path.join(HERE, "py_open_close.py"), str(size["python"])])),
        ("6", lambda m: runner.run_flask(m, python, size["flask"])),
    ]
    # Workloads with modes of their own: the kernel event source (root only), the process-heavy ones.
    own_modes = {}
    if kernel:
        workloads += [
            ("1k", lambda m: runner.run_loop(m, [bins["open_close"], str(size["open"])])),
            ("1e", lambda m: runner.run_elsewhere(m, [bins["open_close"], str(size["open"])])),
        ]
        own_modes = {"1k": ["untraced", "kernel"], "1e": ["untraced", "elsewhere"]}
        if go:
            workloads.append(("11", lambda m: runner.run_go_http(m, bins["go_http"], bins["go_load"], size["go_http"])))
            own_modes["11"] = ["untraced", "kernel"] + (["strace"] if "strace" in modes else [])
    workloads += [
        ("12", lambda m: runner.run_command(m, ["bash", "-c", f"for i in $(seq {size['processes']}); do /bin/true; done"], strace=[])),
        ("13", lambda m: runner.run_make(m, size["make_files"])),
    ]
    pmodes = [m for m in ("untraced", "fdtrace", "bare", "strace") if m in modes or m == "bare" and "fdtrace" in modes]
    own_modes.update({"12": pmodes, "13": pmodes})
    results = {}
    for key, fn in workloads:
        if only and key not in only:
            continue
        wmodes = own_modes.get(key, modes)
        results[key] = {m: [] for m in wmodes}
        for r in range(runs):
            for m in rotated(wmodes, r):
                if m in ("valgrind", "strace") and r >= tool_runs and key not in PROCESS_TARGETS:
                    continue
                results[key][m].append(fn(m))
        print(f"workload {key} done", file=sys.stderr)

    every_round = [f"({key})" for key in PROCESS_TARGETS if key in results]
    lines = []
    lines.append(f"fdtrace benchmark — {args.size} sizes, {runs} paired run(s) in rotating order "
                 f"({min(runs, tool_runs)} under valgrind and strace{'; every round on ' + ', '.join(every_round) if every_round else ''}), "
                 f"medians; {platform.node()}, {os.cpu_count()} cores, {platform.release()}")
    lines.append("")
    if results or not only or only & {"7", "8"}:
        lines.append("| workload | mode | loop s (or req/s) | ratio | wall s | peak RSS KiB | collector CPU s | collector RSS KiB | ring waits |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
    for key, _ in workloads:
        if key not in results:
            continue
        metric = "rps" if key in ("6", "11") else "wall" if key in PROCESS_TARGETS else "loop"
        base = median([x[metric] for x in results[key]["untraced"]])
        for m in results[key]:
            rs = results[key][m]
            v = median([x.get(metric) for x in rs])
            ratio = (base / v if metric == "rps" else v / base) if v and base else None
            span = f" ({fmt(min(x.get(metric) for x in rs))}–{fmt(max(x.get(metric) for x in rs))})" if len(rs) > 1 else ""
            lines.append(f"| ({key}) {WORKLOADS[key]} | {m} | {fmt(v)}{span} | {fmt(ratio, '×')} | {fmt(median([x['wall'] for x in rs]))} | "
                         f"{fmt(median([x.get('rss_kb') for x in rs]))} | {fmt(median([x.get('collector_cpu') for x in rs]))} | "
                         f"{fmt(median([x.get('collector_rss_kb') for x in rs]))} | {fmt(median([x.get('ring_waits') for x in rs]))} |")
    if not only or "7" in only:
        out = subprocess.run([fdtrace, "bench-collector", "--events", str(size["collector"]), "--sites", "1000"],
                             capture_output=True, text=True, check=True).stdout
        f = dict(kv.split("=") for kv in out.split())
        lines.append(f"| (7) collector alone, 1000 sites | fdtrace | {int(f['events_per_second']):,} events/s | – | "
                     f"{float(f['seconds']):.3f} | – | {float(f['seconds']):.3f} | {f['max_rss_kb']} | – |")
    if not only or "8" in only:
        # The collector's memory with 2 × PAIRS events from 1000 distinct stacks, end to end.
        r = runner.run_loop("fdtrace", [bins["sites"], str(size["sites"])])
        lines.append(f"| (8) {2 * size['sites']:,} events from 1000 sites | fdtrace | {fmt(r['loop'])} | – | {fmt(r['wall'])} | "
                     f"{fmt(r.get('rss_kb'))} | {fmt(r.get('collector_cpu'))} | {fmt(r.get('collector_rss_kb'))} | {fmt(r.get('ring_waits'))} |")
    summaries = [line for key in PROCESS_TARGETS if key in results
                 for line in process_summary(key, results[key], size["processes"] if key == "12" else None)]
    if summaries:
        lines += [""] + summaries
    if not only or "9" in only:
        one = os.path.join(work, "one_leak")
        subprocess.run(["cc", "-O2", "-g", os.path.join(HERE, "one_leak.c"), "-o", one], check=True)
        t = fixed_cost(fdtrace, one, 21 if args.size == "full" else 3)
        base = statistics.median(t["untraced"])
        lines.append("")
        lines.append(f"(9) fixed cost: a one-leak program, traced and reported, {len(t['untraced'])} paired runs, wall ms: median [min–max]")
        lines.append("")
        lines.append("| mode | wall ms | added ms (medians) |")
        lines.append("|---|---|---|")
        for m, v in t.items():
            lines.append(f"| {m} | {spread(v)} | {statistics.median(v) - base:+.1f} |")
    if not only or "10" in only:
        rows = symbolizer_cost(fdtrace, work, [
            ("leaky_server", os.path.join(ROOT, "demo", "leaky_server.c"), ["-O2"]),
            ("exceptions", os.path.join(ROOT, "Tests", "Fixtures", "exceptions.cpp"), ["-O0"]),
        ])
        lines.append("")
        lines.append("(10) symbolizer: a report's native frames named again (first answer from nothing; the whole report; per address once warm)")
        lines.append("")
        lines.append("| fixture | symbolizer | addresses | first answer ms | report ms | per address µs |")
        lines.append("|---|---|---|---|---|---|")
        for r in rows:
            lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} |")
    lines.append("")
    lines.append("ratio: traced loop time / untraced loop time, medians; for (6) and (11) untraced req/s / traced req/s; "
                 "for (12) and (13) wall times (the whole command, to the report written). "
                 "(min–max) after a median: its spread over the runs.")
    if every_round:
        lines.append("bare: LD_PRELOAD=libfdtrace.so FDTRACE_OUTPUT=/dev/null, the collector started by the shim; "
                     "strace on (12) and (13): strace -f, every call (elsewhere descriptor and network calls).")
    if kernel:
        lines.append("kernel: fdtrace run --source kernel; elsewhere: untraced while a kernel session traces another process.")
    lines.append("peak RSS: the program's own, its largest process's (under fdtrace, as it reported at exit); "
                 "under strace and valgrind, the larger of tool and program.")
    if k:
        lines.append("strace ran with -k (stack per call) on workload (3).")
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench-results", f"bench-{args.size}-{time.strftime('%Y%m%d-%H%M%S')}.md"), "w") as f:
        f.write(text + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

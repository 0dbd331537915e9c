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
             "python": 200_000, "flask": 2000, "collector": 10_000_000, "sites": 5_000_000, "go_http": 20_000},
    "tiny": {"open": 10_000, "socketpair": 5_000, "accept": 1_000, "threads": 10_000,
             "python": 2_000, "flask": 100, "collector": 100_000, "sites": 50_000, "go_http": 500},
}


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

    def wrap(self, mode, argv, stack_strace=False):
        if mode == "untraced":
            return argv
        if mode == "fdtrace":
            return [self.fdtrace, "run", "--output", "/dev/null", "--json", self.json, "--"] + argv
        if mode == "kernel":
            return [self.fdtrace, "run", "--source", "kernel", "--output", "/dev/null", "--json", self.json, "--"] + argv
        if mode == "elsewhere":
            return argv  # untraced, while a kernel session traces another process (see run_elsewhere)
        if mode == "valgrind":
            return ["valgrind", "--track-fds=yes", "-q", "--log-file=/dev/null"] + argv
        if mode == "strace":
            k = ["-k"] if stack_strace else []
            return ["strace", "-f", "-e", "trace=%desc,%network", "-o", "/dev/null"] + k + argv
        raise ValueError(mode)

    def spawn(self, mode, argv, stack_strace=False):
        if os.path.exists(self.json):
            os.unlink(self.json)
        self.rss_file = os.path.join(self.workdir, "rss")
        return subprocess.Popen([self.measure] + self.wrap(mode, argv, stack_strace), stdout=subprocess.PIPE,
                                stderr=open(self.rss_file, "w"), text=True)

    def reap(self, proc):
        """Waits for proc; returns (status, peak RSS KiB of the measured command tree)."""
        proc.wait()
        rss = None
        with open(self.rss_file) as f:
            for line in f:
                if line.startswith("maxrss_kb="):
                    rss = int(line.split("=")[1])
        return proc.returncode, rss

    def run_loop(self, mode, argv, stack_strace=False):
        """A workload that prints elapsed=SECONDS for its own loop."""
        t0 = time.perf_counter()
        proc = self.spawn(mode, argv, stack_strace)
        out = proc.stdout.read()
        status, rss = self.reap(proc)
        result = {"wall": time.perf_counter() - t0, "status": status, "rss_kb": rss}
        for line in out.splitlines():
            if line.startswith("elapsed="):
                result["loop"] = float(line.split("=", 1)[1])
        if status != 0 or "loop" not in result:
            raise RuntimeError(f"{mode} {argv[0]} failed: status {status}, output {out!r}")
        self.collect_fdtrace(mode, result)
        return result

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
        if mode not in ("fdtrace", "kernel") or not os.path.exists(self.json):
            return
        with open(self.json) as f:
            report = json.load(f)
        root = report["processes"][0] if report["processes"] else {}
        result["tree_rss_kb"] = result.get("rss_kb")
        # The program's own peak, as it reported at exit.
        result["rss_kb"] = root.get("max_rss_kb") or result.get("rss_kb")
        c = report.get("collector") or {}
        result["collector_cpu"] = c.get("cpu_seconds")
        result["collector_rss_kb"] = c.get("max_rss_kb")
        result["ring_waits"] = sum(p["events"]["ring_full_waits"] for p in report["processes"])
        result["ring_wait_ms"] = sum(p["events"]["ring_wait_milliseconds"] for p in report["processes"])

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
    lib = os.path.join(os.path.dirname(fdtrace), "libfdtrace.so")
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
        for m in names[r % 3:] + names[:r % 3]:
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
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=SIZES, default=os.environ.get("BENCH_SIZE", "full"))
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--tool-runs", type=int, default=None,
                    help="runs of valgrind and strace (slow; default 1 for full sizes)")
    ap.add_argument("--only", default="")
    ap.add_argument("--modes", default="untraced,fdtrace,valgrind,strace")
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
        ("1", "open+close /dev/null", lambda m: runner.run_loop(m, [bins["open_close"], str(size["open"])])),
        ("2", "socketpair+close", lambda m: runner.run_loop(m, [bins["socketpair_close"], str(size["socketpair"])])),
        ("3", "accept4 server", lambda m: runner.run_loop(m, [bins["accept_server"], str(size["accept"])], stack_strace=k)),
        ("4", "8 threads open+close", lambda m: runner.run_loop(m, [bins["open_close"], str(size["threads"]), "8"])),
        ("5", "Python os.open/os.close", lambda m: runner.run_loop(m, [python, os.path.join(HERE, "py_open_close.py"), str(size["python"])])),
        ("6", "Flask app (requests/s)", lambda m: runner.run_flask(m, python, size["flask"])),
    ]
    # The kernel event source (root only), each with its own modes.
    kmodes = {}
    if kernel:
        workloads += [
            ("1k", "open+close /dev/null, kernel source", lambda m: runner.run_loop(m, [bins["open_close"], str(size["open"])])),
            ("1e", "open+close /dev/null, another process traced", lambda m: runner.run_elsewhere(m, [bins["open_close"], str(size["open"])])),
        ]
        kmodes = {"1k": ["untraced", "kernel"], "1e": ["untraced", "elsewhere"]}
        if go:
            workloads.append(("11", "Go HTTP server (requests/s)",
                              lambda m: runner.run_go_http(m, bins["go_http"], bins["go_load"], size["go_http"])))
            kmodes["11"] = ["untraced", "kernel"] + (["strace"] if "strace" in modes else [])
    results = {}
    for key, title, fn in workloads:
        if only and key not in only:
            continue
        wmodes = kmodes.get(key, modes)
        results[key] = {m: [] for m in wmodes}
        for r in range(runs):
            for m in wmodes:
                if m in ("valgrind", "strace") and r >= tool_runs:
                    continue
                results[key][m].append(fn(m))
        print(f"workload {key} done", file=sys.stderr)

    lines = []
    lines.append(f"fdtrace benchmark — {args.size} sizes, {runs} paired run(s) ({min(runs, tool_runs)} under valgrind and strace), medians; "
                 f"{platform.node()}, {os.cpu_count()} cores, {platform.release()}")
    lines.append("")
    if results or not only or only & {"7", "8"}:
        lines.append("| workload | mode | loop s (or req/s) | ratio | wall s | peak RSS KiB | collector CPU s | collector RSS KiB | ring waits |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
    for key, title, _ in workloads:
        if key not in results:
            continue
        metric = "rps" if key in ("6", "11") else "loop"
        base = median([x[metric] for x in results[key]["untraced"]])
        for m in results[key]:
            rs = results[key][m]
            v = median([x.get(metric) for x in rs])
            ratio = (v / base if metric == "loop" else base / v) if v and base else None
            span = f" ({fmt(min(x.get(metric) for x in rs))}–{fmt(max(x.get(metric) for x in rs))})" if len(rs) > 1 else ""
            lines.append(f"| ({key}) {title} | {m} | {fmt(v)}{span} | {fmt(ratio, '×')} | {fmt(median([x['wall'] for x in rs]))} | "
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
    lines.append("ratio: traced loop time / untraced loop time, medians; for (6) and (11) untraced req/s / traced req/s. "
                 "(min–max) after a median: its spread over the runs.")
    if kernel:
        lines.append("kernel: fdtrace run --source kernel; elsewhere: untraced while a kernel session traces another process.")
    lines.append("peak RSS: the program's own (under fdtrace, as it reported at exit); under strace and valgrind, the larger of tool and program.")
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

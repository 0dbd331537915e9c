"""pytest-fdtrace: fails the tests that leave file descriptors open.

The answer comes from fdtrace's shim in this process (libfdtrace.so, loaded by
`fdtrace run` or LD_PRELOAD), not from diffing /proc: around each test the
plugin begins a scope (fdtrace_scope_begin), and when the test's teardown has
ended asks the collector which descriptors opened since then are still open
(fdtrace_scope_report). The collector reads every event the process's threads
made before the question and writes the answer as JSON: the descriptors,
grouped as fdtrace's report groups leaks, each with the user's line and, for
sockets, the TCP state. The C API is CShim/include/fdtrace_api.h; nothing of
it is mirrored here but the names (errors are errno values).

Descriptors a fixture of a wider scope (class, module, package, session)
opened while it was set up belong to that fixture, not to the test that
happened to set it up first.
"""

import ctypes
import fnmatch
import json
import os
import shutil
import sys
import tempfile
import threading

import pytest

# How long a test waits for the collector's answer.
ANSWER_TIMEOUT_MS = 120000
WIDER_SCOPES = ("class", "module", "package", "session")


class Tracer:
    """fdtrace_api.h through ctypes: the shim, found among the process's
    loaded objects (CDLL(None) is dlopen(NULL))."""

    def __init__(self):
        lib = ctypes.CDLL(None, use_errno=True)
        self._begin = lib.fdtrace_scope_begin  # AttributeError: not loaded
        self._begin.restype = ctypes.c_uint
        self._begin.argtypes = []
        self._report = lib.fdtrace_scope_report
        self._report.restype = ctypes.c_int
        self._report.argtypes = [ctypes.c_uint, ctypes.c_char_p, ctypes.c_uint]
        self._end = lib.fdtrace_scope_end
        self._end.restype = ctypes.c_int
        self._end.argtypes = [ctypes.c_uint]

    @staticmethod
    def _error(what):
        e = ctypes.get_errno()
        return OSError(e, "%s: %s" % (what, os.strerror(e)))

    def begin(self):
        scope = self._begin()
        if not scope:
            raise self._error("fdtrace_scope_begin")
        return scope

    def report(self, scope, path):
        """The collector's answer for `scope`, written at `path` (read, then
        removed)."""
        if self._report(scope, os.fsencode(path), ANSWER_TIMEOUT_MS) != 0:
            raise self._error("fdtrace_scope_report")
        try:
            with open(path, "rb") as f:
                return json.load(f)
        finally:
            os.unlink(path)

    def end(self, scope):
        self._end(scope)


def pytest_addoption(parser):
    parser.addini(
        "fdtrace_max_leaks",
        "leaks a test may leave open before fdtrace fails it (default 0)",
        default="0",
    )
    parser.addini(
        "fdtrace_ignore_kinds",
        "kinds of descriptor fdtrace never counts (file, socket, tcp, udp, unix, pipe, eventpoll, ...)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "fdtrace_ignore",
        "globs: a leak whose path, description or line (file:line) matches one is not counted",
        type="linelist",
        default=[],
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "fdtrace(max_leaks=0, kinds=None, ignore=(), enabled=True): tune fdtrace's descriptor leak check for this test",
    )
    try:
        tracer = Tracer()
    except (AttributeError, OSError):
        tracer = None
    checker = Checker(config, tracer)
    config.pluginmanager.register(checker, "fdtrace-checker")


class Leak:
    """One group of the collector's answer, as the test's verdict sees it."""

    def __init__(self, group, rootdir):
        self.group = group
        self.fds = group.get("fds", [])
        frames = group.get("frames", [])
        h = group.get("highlight")
        self.site = frames[h] if h is not None and h < len(frames) else None
        self.where = None
        if self.site and self.site.get("file"):
            path = self.site["file"]
            try:
                rel = os.path.relpath(path, rootdir)
                if not rel.startswith(".."):
                    path = rel
            except ValueError:
                pass
            self.where = "%s:%s" % (path, self.site.get("line") or "?")

    @property
    def units(self):
        """Leaks it counts as: a bundle (an event loop's eventpoll and
        socketpair, a pipe's two ends) is one per call that made it."""
        if self.group.get("bundle"):
            count = self.group.get("count") or 1
            calls = self.group.get("calls") or 1
            per = max(1, count // calls)
            return max(1, (len(self.fds) + per - 1) // per)
        return len(self.fds)

    @staticmethod
    def fd_kinds(fd):
        """A descriptor's kind ("socket", "file", ...) and, for a socket,
        its family of protocol ("tcp", "udp", "unix")."""
        out = {fd.get("kind", "unknown")}
        proto = (fd.get("protocol") or "").lower()
        out |= {p for p in ("tcp", "udp", "unix") if proto.startswith(p)}
        return out

    def kinds(self):
        return set().union(*(self.fd_kinds(fd) for fd in self.fds))

    def only_of(self, kinds):
        """Every descriptor is of one of `kinds`."""
        return all(self.fd_kinds(fd) & kinds for fd in self.fds)

    def matches(self, globs):
        names = [self.group.get("summary", "")]
        if self.where:
            names.append(self.where)
        if self.site and self.site.get("file"):
            names.append("%s:%s" % (self.site["file"], self.site.get("line")))
        names += [fd["path"] for fd in self.fds if fd.get("path")]
        return any(fnmatch.fnmatchcase(n, g) for g in globs for n in names)

    def noun(self, n):
        if self.group.get("bundle"):
            return "%s of %s" % ("bundle" if n == 1 else "bundles", self.group["bundle"])
        kinds = {fd.get("kind", "descriptor") for fd in self.fds}
        kind = kinds.pop() if len(kinds) == 1 else "descriptor"
        return kind if n == 1 else kind + "s"


class Checker:
    """The per-test check, registered when the plugin is configured."""

    def __init__(self, config, tracer):
        self.config = config
        self.tracer = tracer
        self.off_reason = None if tracer else "libfdtrace.so is not loaded"
        self.dir = None
        self.serial = 0
        self.scope = None
        self.claimed = set()
        self.call_failed = False
        self.started = []
        self.main_tid = threading.main_thread().native_id
        self.patched = []
        if tracer:
            self.dir = tempfile.mkdtemp(prefix="fdtrace-pytest-")
            self._watch_thread_starts()

    # -- the one line when nothing is checked

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session):
        if self.tracer and self.off_reason is None:
            try:
                self.tracer.end(self.tracer.begin())
            except OSError as e:
                self.off_reason = "the tracer does not record in this process (%s)" % e.strerror
        if self.off_reason and not hasattr(self.config, "workerinput"):
            tr = self.config.pluginmanager.get_plugin("terminalreporter")
            line = "fdtrace: %s: descriptor leaks are not checked (run pytest under `fdtrace run` or with LD_PRELOAD=libfdtrace.so)" % self.off_reason
            if tr:
                tr.write_line(line, yellow=True)
            else:
                sys.stderr.write(line + "\n")

    def pytest_unconfigure(self, config):
        for name, original in self.patched:
            setattr(threading, name, original)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- threads, named as Python names them

    def _watch_thread_starts(self):
        # Thread.start calls threading's alias of the C function that
        # starts a thread (3.8-3.12: _start_new_thread; 3.13:
        # _start_joinable_thread) with the thread's bound _bootstrap: the
        # thread objects started during a test are kept until it is judged
        # (then their native ids name the descriptors their threads opened,
        # though the threads have ended). Nothing else changes.
        for name in ("_start_new_thread", "_start_joinable_thread"):
            original = getattr(threading, name, None)
            if original is None:
                continue

            def start(function, *args, _original=original, **kwargs):
                owner = getattr(function, "__self__", None)
                if self.scope is not None and isinstance(owner, threading.Thread):
                    self.started.append(owner)
                return _original(function, *args, **kwargs)

            setattr(threading, name, start)
            self.patched.append((name, original))

    def _thread_name(self, tid, answer):
        if tid is None or tid == self.main_tid:
            return None
        for t in self.started + threading.enumerate():
            if getattr(t, "native_id", None) == tid:
                return t.name
        return answer.get("threads", {}).get(str(tid)) or "thread %d" % tid

    # -- scopes

    def _active(self):
        return self.tracer is not None and self.off_reason is None

    def _ask(self, scope):
        self.serial += 1
        path = os.path.join(self.dir, "answer-%d-%d.json" % (os.getpid(), self.serial))
        return self.tracer.report(scope, path)

    def _stop(self, err):
        self.off_reason = "the tracer stopped answering (%s)" % err.strerror
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr:
            tr.write_line("fdtrace: %s: descriptor leaks are no longer checked" % self.off_reason, yellow=True)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self._active():
            try:
                self.scope = self.tracer.begin()
            except OSError as e:
                self._stop(e)
        self.claimed = set()
        self.call_failed = False
        try:
            yield
        finally:
            if self.scope is not None and self._active():
                self.tracer.end(self.scope)
            self.scope = None
            self.started = []
            self.claimed = set()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        if self.scope is None or fixturedef.scope not in WIDER_SCOPES:
            yield
            return
        try:
            scope = self.tracer.begin()
        except OSError as e:
            self._stop(e)
            yield
            return
        owned = set()
        # Registered before the fixture's own teardown: runs after it.
        fixturedef.addfinalizer(lambda: self._fixture_finished(fixturedef, scope, owned))
        try:
            yield
        finally:
            # What the fixture opened and keeps is the fixture's.
            try:
                for g in self._ask(scope).get("leaks", []):
                    for fd in g.get("fds", []):
                        owned.add((fd.get("fd"), fd.get("opened_at")))
                self.claimed |= owned
            except OSError as e:
                self._stop(e)

    def _fixture_finished(self, fixturedef, scope, owned):
        """After a wider fixture's teardown: what it opened at its setup must
        be closed (else the test being torn down then gets the error)."""
        if not self._active():
            return
        try:
            answer = self._ask(scope)
        except OSError as e:
            self._stop(e)
            return
        finally:
            self.tracer.end(scope)
        leaks = []
        for g in answer.get("leaks", []):
            g = dict(g)
            g["fds"] = [fd for fd in g.get("fds", []) if (fd.get("fd"), fd.get("opened_at")) in owned]
            if g["fds"]:
                leaks.append(Leak(g, str(self.config.rootpath)))
        if leaks:
            what = "; ".join(self._line(l, answer) for l in leaks)
            pytest.fail("fdtrace: fixture %s (%s scope) left %s" % (fixturedef.argname, fixturedef.scope, what), pytrace=False)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        if call.when == "call":
            self.call_failed = rep.failed
        if call.when != "teardown" or self.scope is None or not self._active():
            return
        try:
            answer = self._ask(self.scope)
        except OSError as e:
            self._stop(e)
            return
        self._judge(item, rep, answer)

    # -- the verdict

    def _limit(self):
        value = self.config.getini("fdtrace_max_leaks")
        try:
            limit = int(value)
        except ValueError:
            limit = -1
        if limit < 0:
            raise pytest.UsageError("fdtrace_max_leaks: %r is not a number of leaks (0 or more)" % value)
        return limit

    @staticmethod
    def _marker(item):
        """The fdtrace marker's arguments, checked (a bad one is a usage error)."""
        marker = item.get_closest_marker("fdtrace")
        if marker is None:
            return {}
        kwargs = dict(marker.kwargs)
        unknown = set(kwargs) - {"max_leaks", "kinds", "ignore", "enabled"}
        if unknown or len(marker.args) > 1:
            raise pytest.UsageError(
                "%s: @pytest.mark.fdtrace takes max_leaks=, kinds=, ignore=, enabled= (got %s)"
                % (item.nodeid, ", ".join(sorted(unknown)) or repr(marker.args))
            )
        if marker.args:
            kwargs.setdefault("enabled", bool(marker.args[0]))
        limit = kwargs.get("max_leaks", 0)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise pytest.UsageError("%s: @pytest.mark.fdtrace: max_leaks=%r is not a number of leaks" % (item.nodeid, limit))
        for key in ("kinds", "ignore"):
            value = kwargs.get(key)
            if isinstance(value, str):
                kwargs[key] = [value]
            elif value is not None and not all(isinstance(v, str) for v in value):
                raise pytest.UsageError("%s: @pytest.mark.fdtrace: %s=%r is not a list of names" % (item.nodeid, key, value))
        return kwargs

    def pytest_collection_modifyitems(self, session, config, items):
        self._limit()
        for item in items:
            self._marker(item)

    def _settings(self, item):
        ini = self.config.getini
        m = self._marker(item)
        return {
            "enabled": bool(m.get("enabled", True)),
            "max_leaks": m.get("max_leaks", self._limit()),
            "kinds": set(m["kinds"]) if m.get("kinds") is not None else None,
            "ignore_kinds": set(ini("fdtrace_ignore_kinds")),
            "ignore": list(ini("fdtrace_ignore")) + list(m.get("ignore") or ()),
        }

    def _leaks(self, answer, s):
        leaks = []
        for g in answer.get("leaks", []):
            g = dict(g)
            g["fds"] = [fd for fd in g.get("fds", []) if (fd.get("fd"), fd.get("opened_at")) not in self.claimed]
            leak = Leak(g, str(self.config.rootpath))
            if not leak.fds:
                continue
            if s["kinds"] is not None and not leak.kinds() & s["kinds"]:
                continue
            if s["ignore_kinds"] and leak.only_of(s["ignore_kinds"]):
                continue
            if s["ignore"] and leak.matches(s["ignore"]):
                continue
            leaks.append(leak)
        return leaks

    def _line(self, leak, answer, with_count=True):
        n = leak.units
        text = leak.noun(n)
        if not leak.group.get("bundle"):
            summary = leak.group.get("summary", "?")
            kind = leak.noun(1)
            if summary.startswith(kind + " "):  # "file /dev/null": the noun says it
                summary = summary[len(kind) + 1 :]
            text += ": " + summary
        if with_count:
            text = "%d %s" % (n, text)
        text += ", opened at %s" % (leak.where or "an unknown line")
        names = []
        for fd in leak.fds:
            name = self._thread_name(fd.get("thread"), answer)
            if name and name not in names:
                names.append(name)
        if names:
            text += " in thread %s" % ", ".join("'%s'" % n for n in names)
        return text

    def _judge(self, item, rep, answer):
        s = self._settings(item)
        if not s["enabled"]:
            return
        leaks = self._leaks(answer, s)
        total = sum(l.units for l in leaks)
        if total == 0:
            return
        name = item.name
        if len(leaks) == 1:
            headline = "%s leaked %s" % (name, self._line(leaks[0], answer))
        else:
            headline = "%s leaked %d descriptors from %d lines:\n" % (name, total, len(leaks)) + "\n".join(
                "  " + self._line(l, answer) for l in leaks
            )
        details = [headline, ""]
        for l in leaks:
            details.append(self._line(l, answer))
            frames = l.group.get("frames", [])
            h = l.group.get("highlight")
            # Down to the user's line and the one that called it.
            for i, f in enumerate(frames[: (h + 2) if h is not None else None]):
                if not f.get("python"):
                    continue
                mark = "→" if i == l.group.get("highlight") else " "
                details.append("  %s %s  %s:%s" % (mark, f.get("function") or "?", f.get("file") or "?", f.get("line") or "?"))
        rep.sections.append(("fdtrace: descriptors left open", "\n".join(details)))
        if total <= s["max_leaks"] or self.call_failed or not rep.passed:
            return
        rep.outcome = "failed"
        rep.longrepr = "fdtrace: " + headline

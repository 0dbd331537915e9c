#!/usr/bin/env bash
# Installs what building and testing fdtrace needs and is missing on a fresh
# Debian 12 machine with Swift: a C/C++ compiler, binutils (readelf, nm),
# make, libbpf and bpftool (the kernel event source), and libdw-dev
# (elfutils' libdwfl: in-process symbolization).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v clang-format >/dev/null 2>&1 || missing+=(clang-format)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# For the benchmark's comparisons.
command -v strace >/dev/null 2>&1 || missing+=(strace)
# ss: the pushgateway test's independent view of a process's connections.
command -v ss >/dev/null 2>&1 || [ -x /usr/sbin/ss ] || [ -x /usr/bin/ss ] || missing+=(iproute2)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
# For the test of `fdtrace top` in a terminal.
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# Real software the tests run under the tracer.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
# A stripped Go program from Debian (Go 1.19, cgo) for the Go line table tests.
[ -x /usr/bin/prometheus-pushgateway ] || missing+=(prometheus-pushgateway)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# A real Prometheus server scrapes `fdtrace run --metrics` in the metrics test.
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# Headless Chromium: the HTML report's test loads the page without network.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# CPython's regression tests (make realworld), when python3 has none.
python3 -c 'import test.libregrtest' >/dev/null 2>&1 || /usr/bin/python3 -c 'import test.libregrtest' >/dev/null 2>&1 \
  || missing+=(libpython3.11-testsuite)
# The kernel event source: libbpf (the loader links it) and bpftool (dumps
# the kernel's BTF as vmlinux.h, embeds the BPF object as a skeleton); the
# BPF object is compiled by a clang with the BPF target (the Swift
# toolchain's has one; Debian's clang otherwise).
[ -f /usr/include/bpf/libbpf.h ] || missing+=(libbpf-dev)
command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || missing+=(bpftool)
bpf_clang=""
for c in "$(dirname "$(readlink -f "$(command -v swift)")")/clang" /opt/swift/usr/bin/clang "$(command -v clang || true)"; do
  if [ -n "$c" ] && [ -x "$c" ] && "$c" -print-targets 2>/dev/null | grep -qw bpf; then bpf_clang="$c"; break; fi
done
[ -n "$bpf_clang" ] || missing+=(clang)
# libunwind's runtime library (the shim loads it with dlopen; no -dev needed).
ldconfig -p 2>/dev/null | grep -q 'libunwind.so.8 ' || missing+=(libunwind8)
# elfutils' libdwfl: the collector symbolizes in process with it (libdw-dev to
# build; the run-time package is libdw1). llvm-symbolizer is optional (the
# FDTRACE_SYMBOLIZER fallback; the benchmark compares with the toolchain's).
[ -f /usr/include/elfutils/libdwfl.h ] || missing+=(libdw-dev)
# make dist and make check-dist: dpkg-shlibdeps (Depends), lintian, man.
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing+=(dpkg-dev)
command -v lintian >/dev/null 2>&1 || missing+=(lintian)
command -v man >/dev/null 2>&1 || missing+=(man-db)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python packages the Python fixtures (Tests/Fixtures/py_service) import, for
# the default python3.
if ! python3 -c 'import flask, PIL, aiohttp' >/dev/null 2>&1; then
  echo "setup: installing flask pillow aiohttp for $(command -v python3)"
  piplog="$(mktemp "${TMPDIR:-/tmp}/fdtrace-setup-pip.XXXXXX")"
  if PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check \
       flask pillow aiohttp >"$piplog" 2>&1 \
     && python3 -c 'import flask, PIL, aiohttp' >/dev/null 2>&1; then
    rm -f "$piplog"
  else
    echo "setup: 'python3 -m pip install flask pillow aiohttp' failed (pip output: $piplog)" >&2
    exit 1
  fi
fi

# jsonschema: the SARIF test validates --sarif output against the official schema.
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
  echo "setup: installing jsonschema for $(command -v python3)"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check jsonschema \
    || { echo "setup: 'python3 -m pip install jsonschema' failed" >&2; exit 1; }
fi

# prometheus_client: the metrics test parses the exposition with its parser.
if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
  echo "setup: installing prometheus-client for $(command -v python3)"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check prometheus-client \
    || { echo "setup: 'python3 -m pip install prometheus-client' failed" >&2; exit 1; }
fi
# pytest, pytest-xdist and this checkout's pytest plugin (pytest-fdtrace/),
# for the default python3: the plugin's tests run real pytest under the tracer.
if ! python3 -c 'import pytest, xdist' >/dev/null 2>&1; then
  echo "setup: installing pytest pytest-xdist for $(command -v python3)"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check pytest pytest-xdist \
    || { echo "setup: 'python3 -m pip install pytest pytest-xdist' failed" >&2; exit 1; }
fi
plugin_dir="$(cd "$(dirname "$0")/.." && pwd)/pytest-fdtrace"
# Installed, and the same as this checkout's (else installed again).
if ! (cd / && python3 -c 'import sys, pytest_fdtrace.plugin as p; sys.exit(open(p.__file__).read() != open(sys.argv[1]).read())' \
        "$plugin_dir/pytest_fdtrace/plugin.py") >/dev/null 2>&1; then
  echo "setup: installing pytest-fdtrace (pip install $plugin_dir) for $(command -v python3)"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check "$plugin_dir" \
    || { echo "setup: 'python3 -m pip install $plugin_dir' failed" >&2; exit 1; }
  rm -rf "$plugin_dir/build" "$plugin_dir"/*.egg-info
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: swift is not on PATH (Swift 6 is required)" >&2
  exit 1
fi

#!/usr/bin/env bash
# Runs the whole test suite against the debug build (make test builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build --show-bin-path)"
test -x "$bin/fdtrace" && test -f "$bin/libfdtrace.so" || { echo "test: build first (make test)" >&2; exit 1; }
export FDTRACE_BIN="$bin/fdtrace"
swift build --build-tests
swift test --skip-build 2>&1

#!/usr/bin/env bash
# The overhead benchmark (make bench). BENCH_SIZE=tiny for a quick run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import flask' 2>/dev/null || python3 -m pip install -q flask
exec python3 bench/run.py "$@"

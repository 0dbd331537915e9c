#!/usr/bin/env bash
# Builds the bundled leaky server and runs it under the installed fdtrace.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cc -g -O1 -pthread demo/leaky_server.c -o "$dir/leaky_server"
echo "\$ fdtrace run -- ./leaky_server 100"
(cd "$dir" && fdtrace run -- ./leaky_server 100)
echo
echo "\$ LD_PRELOAD=libfdtrace.so ./leaky_server 10"
(cd "$dir" && LD_PRELOAD=libfdtrace.so ./leaky_server 10)
echo
echo "\$ fdtrace run -- python3 demo/leaky_jobs.py"
fdtrace run -- python3 demo/leaky_jobs.py

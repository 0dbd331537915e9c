#!/usr/bin/env bash
# make lint: the tree as the formatters write it (.clang-format for C,
# .swift-format for Swift; swift-format ships with the toolchain). Exits 1
# and lists what differs. `scripts/lint.sh --fix` formats in place.
set -euo pipefail
cd "$(dirname "$0")/.."
c_files=$(git ls-files 'CShim/*.c' 'CShim/*.h' 'Sources/*.c' 'Sources/*.h')
swift_files=$(git ls-files 'Sources/*.swift' 'Tests/*.swift' 'Package.swift')
command -v clang-format >/dev/null || { echo "lint: clang-format is missing (make setup installs it)" >&2; exit 2; }
if [ "${1:-}" = "--fix" ]; then
  clang-format -i $c_files
  swift format format -i $swift_files
  exit 0
fi
status=0
clang-format --dry-run -Werror $c_files || status=1
out=$(swift format lint $swift_files 2>&1) || true
if [ -n "$out" ]; then echo "$out"; status=1; fi
[ $status -eq 0 ] && echo "lint: clean ($(echo $c_files | wc -w) C files, $(echo $swift_files | wc -w) Swift files)"
exit $status

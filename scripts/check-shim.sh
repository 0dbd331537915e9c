#!/usr/bin/env bash
# make check-shim: the shim built with AddressSanitizer + UndefinedBehavior-
# Sanitizer, and with ThreadSanitizer, runs the hook-family and torture
# fixtures under `fdtrace run` (the debug build's collector). Every run must
# exit 0 with no sanitizer report, no internal error and no lost record.
#
#   scripts/check-shim.sh ASAN_SHIM TSAN_SHIM     (make check-shim builds both)
#
# How each runs, and why:
# - The collector is never instrumented, and `fdtrace run` puts its own
#   (ordinary) shim first in LD_PRELOAD. So the traced command is `env
#   LD_PRELOAD=... FIXTURE`: env runs under the ordinary shim, then execs the
#   fixture with the sanitized shim, which reconnects as the same process.
# - The fixtures are ordinary programs, as traced programs are; the
#   sanitizer's runtime is preloaded ahead of the shim: LD_PRELOAD is
#   "libasan.so SHIM" or "libtsan.so SHIM" (the runtime must precede libc, and
#   ASan insists on coming first). UBSan errors are fatal
#   (-fno-sanitize-recover=all).
# - Under TSan, libunwind is hidden (a stub libunwind.so.8 without
#   unw_backtrace on LD_LIBRARY_PATH) and the shim unwinds with its cold
#   unwinder (libgcc's, linked in): GCC 12's TSan tears a thread's state down in the last round
#   of thread-specific destructors, before libunwind's trace-cache destructor
#   of the same round takes its mempool mutex, and TSan then crashes inside
#   its pthread_mutex_lock interceptor. (Its pipe2 interceptor would also see
#   the two numbers the shim hands libunwind for its private pipe, and abort
#   on them.) The ring does not depend on the unwinder; ASan runs with it.
set -euo pipefail
cd "$(dirname "$0")/.."

asan_shim="$(readlink -f "${1:?usage: check-shim.sh ASAN_SHIM TSAN_SHIM}")"
tsan_shim="$(readlink -f "${2:?usage: check-shim.sh ASAN_SHIM TSAN_SHIM}")"
fdtrace="$(swift build --show-bin-path)/fdtrace"
test -x "$fdtrace" || { echo "check-shim: build the debug fdtrace first (make CONFIG=debug all)" >&2; exit 1; }
libasan="$(cc -print-file-name=libasan.so)"
libtsan="$(cc -print-file-name=libtsan.so)"
for rt in "$libasan" "$libtsan"; do
  test -f "$rt" || { echo "check-shim: no sanitizer runtime $rt for cc" >&2; exit 1; }
done

fixtures=(open_family socket_family close_family misc_family stdio_family syscall_family
          pipe_dup threads torture_threads torture_signals signal_hooks fork_threads bad_close scope_api)

work="$(mktemp -d "${TMPDIR:-/tmp}/fdtrace-check-shim.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/nounwind"
cc -shared -fPIC -x c /dev/null -o "$work/nounwind/libunwind.so.8"
# LeakSanitizer: stdio_family leaks two DIRs on purpose (their descriptors
# are what it tests); any other leak is reported.
printf 'leak:__alloc_dir\n' >"$work/lsan.supp"

# One run: SANITIZER FIXTURE. Prints one line; returns non-zero on a finding.
check_one() {
  local san="$1" name="$2" dir="$work/$1-$2"
  mkdir -p "$dir/logs"
  local exe="$dir/$name" env_args
  cc -g -O1 -w -pthread "Tests/Fixtures/$name.c" -o "$exe"
  if [ "$san" = asan ]; then
    env_args=(LD_PRELOAD="$libasan $asan_shim"
              ASAN_OPTIONS="log_path=$dir/logs/asan:detect_leaks=1"
              LSAN_OPTIONS="suppressions=$work/lsan.supp:print_suppressions=0"
              UBSAN_OPTIONS="log_path=$dir/logs/ubsan:print_stacktrace=1")
  else
    env_args=(LD_PRELOAD="$libtsan $tsan_shim" LD_LIBRARY_PATH="$work/nounwind"
              TSAN_OPTIONS="log_path=$dir/logs/tsan:halt_on_error=0")
  fi
  local status=0
  (cd "$dir" && timeout 600 "$fdtrace" run --output /dev/null --json "$dir/report.json" -- \
      env "${env_args[@]}" "$exe" >"$dir/stdout" 2>"$dir/stderr") || status=$?
  local problems=()
  [ "$status" -eq 0 ] || problems+=("exit status $status")
  local logs
  logs="$(find "$dir/logs" -type f -size +0 | sort)"
  [ -z "$logs" ] || problems+=("sanitizer reports: $(grep -h 'SUMMARY:\|runtime error' $logs | sort | uniq -c | head -5 | tr -s ' ' | tr '\n' ';')")
  if [ -f "$dir/report.json" ]; then
    local verdict
    verdict="$(python3 - "$dir/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
for p in r["processes"]:
    who = f'{p["command"][-1] if p["command"] else "?"} ({p["pid"]})'
    if p["internal_errors"]:
        bad.append(f'{who}: internal errors {p["internal_errors"]}')
    if p["events"]["records_lost"]:
        bad.append(f'{who}: {p["events"]["records_lost"]} records lost')
    if p["ended"] not in ("exited", "exec"):
        bad.append(f'{who}: ended {p["ended"]}')
print("; ".join(bad))
EOF
)"
    [ -z "$verdict" ] || problems+=("$verdict")
  else
    problems+=("no report")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "  ok    $san $name"
    return 0
  fi
  echo "  FAIL  $san $name: ${problems[*]}"
  for f in $logs; do sed -n '1,60p' "$f" | sed 's/^/        /'; done
  [ -n "$logs" ] || tail -n 20 "$dir/stderr" | sed 's/^/        /'
  return 1
}

passed=0 failed=0
for san in asan tsan; do
  for name in "${fixtures[@]}"; do
    if check_one "$san" "$name"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
done
echo "check-shim: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

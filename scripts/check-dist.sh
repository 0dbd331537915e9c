#!/usr/bin/env bash
# make check-dist: the package in dist/ on a host without the toolchain.
#   1. The package: its files, Depends, a binary whose only dynamic
#      dependencies are the system's libraries, the tarball's files.
#   2. Extracted into a scratch root, in a mount namespace where the Swift
#      toolchain and every llvm-symbolizer are hidden under tmpfs mounts, with
#      PATH = the scratch root's bin and the system's directories:
#      `fdtrace run` and bare LD_PRELOAD on a C and a Python fixture give the
#      reports the development build gives (counts, and file:line);
#      snapshot, top (tmux) and attach (when this build has it) work.
#   3. Installed with dpkg -i: LD_PRELOAD=libfdtrace.so by name, man fdtrace,
#      the completions; apt-get remove and purge leave nothing behind.
#   4. lintian: no errors.
# One PASS/FAIL line per check, a count at the end; exits 1 when one failed.
# Needs root (mount namespace, dpkg) and the development build (make CONFIG=debug all).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ $# -gt 0 ] && [ "$1" != --in-namespace ]; then
  echo "check-dist: takes no arguments (make check-dist)" >&2
  exit 2
fi
[ "$(id -u)" -eq 0 ] || {
  echo "check-dist: needs root (unshare -m, dpkg -i)" >&2
  exit 1
}
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
SYSTEM_PATH=/usr/sbin:/usr/bin:/sbin:/bin
SESSION=fdtrace-check-dist-$$

# ---------------------------------------------------------------- inside
# The namespace half: hides the toolchain, then runs the package's fdtrace.
# Results go to files in $work; PASS/FAIL lines to stdout.
if [ "${1:-}" = "--in-namespace" ]; then
  work=$2
  root=$work/root
  source "$work/env.sh"
  pass() { echo "PASS  $*"; }
  fail() { echo "FAIL  $*"; }
  empty=$work/hidden
  : >"$empty"
  for d in $HIDE_DIRS; do mount -t tmpfs -o size=1m,mode=0755 fdtrace-check-dist "$d" || fail "cannot hide $d"; done
  for f in $HIDE_FILES; do mount --bind "$empty" "$f" || fail "cannot hide $f"; done
  export PATH="$root/usr/bin:$SYSTEM_PATH"
  hash -r
  left=""
  for f in $SYMBOLIZERS; do [ -x "$f" ] && left="$left $f"; done
  command -v llvm-symbolizer >/dev/null 2>&1 && left="$left $(command -v llvm-symbolizer)"
  if [ -z "$left" ] && ! command -v swift >/dev/null 2>&1 && [ -z "$(ls -A "$TOOLCHAIN")" ]; then
    pass "namespace: $TOOLCHAIN empty, no swift, no llvm-symbolizer (hidden: $(echo $SYMBOLIZERS | wc -w) found on the system)"
  else
    fail "namespace: still visible:$left $(command -v swift)"
  fi
  [ "$(command -v fdtrace)" = "$root/usr/bin/fdtrace" ] && pass "namespace: fdtrace is the package's ($root/usr/bin/fdtrace)" \
    || fail "namespace: fdtrace is $(command -v fdtrace)"

  # The fixtures, by `fdtrace run` and bare (the library by name).
  for fx in c py; do
    cmd=$(cat "$work/cmd-$fx")
    # shellcheck disable=SC2086
    fdtrace run --json "$work/pkg-$fx-run.json" --output "$work/pkg-$fx-run.txt" -- $cmd >/dev/null 2>"$work/pkg-$fx-run.err"
    echo $? >"$work/pkg-$fx-run.status"
    # shellcheck disable=SC2086
    env LD_LIBRARY_PATH="$root/usr/lib/$MULTIARCH" LD_PRELOAD=libfdtrace.so \
      FDTRACE_JSON="$work/pkg-$fx-bare.json" FDTRACE_OUTPUT="$work/pkg-$fx-bare.txt" $cmd >/dev/null 2>"$work/pkg-$fx-bare.err"
    echo $? >"$work/pkg-$fx-bare.status"
  done

  # A live session: snapshot, top, attach.
  done_marker=$work/hold-done
  fdtrace run --name "$SESSION" --output "$work/hold-report.txt" -- "$work/hold_files" "$done_marker" >"$work/hold.out" 2>&1 &
  run_pid=$!
  for _ in $(seq 100); do grep -q ready "$work/hold.out" 2>/dev/null && break; sleep 0.2; done
  if fdtrace snapshot --name "$SESSION" >"$work/snapshot.txt" 2>&1 && grep -q '7 × file /etc/hostname' "$work/snapshot.txt"; then
    pass "snapshot --name: the session's 7 files at one site, a pipe and a socket"
  else
    fail "snapshot --name: $(head -c 600 "$work/snapshot.txt")"
  fi
  if grep -q 'hold_files.c:11' "$work/snapshot.txt"; then
    pass "snapshot: the site's line (hold_files.c:11)"
  else
    fail "snapshot: no hold_files.c:11 in the snapshot (file:line: the in-process symbolizer)"
  fi
  tmx=(tmux -L "$SESSION" -f /dev/null)
  "${tmx[@]}" new-session -d -s top -x 100 -y 30 "env PATH=$PATH fdtrace top --name $SESSION; sleep 30"
  screen=""
  for _ in $(seq 25); do
    sleep 0.4
    screen=$("${tmx[@]}" capture-pane -p -t top 2>/dev/null)
    grep -q '/etc/hostname' <<<"$screen" && break
  done
  "${tmx[@]}" send-keys -t top q
  quit=no
  for _ in $(seq 25); do
    sleep 0.2
    # The pane runs `fdtrace top; sleep 30`: sleep in front once top quit.
    [ "$("${tmx[@]}" display-message -p -t top '#{pane_current_command}' 2>/dev/null)" = sleep ] && {
      quit=yes
      break
    }
  done
  after=$("${tmx[@]}" capture-pane -p -t top 2>/dev/null)
  "${tmx[@]}" kill-server 2>/dev/null
  if grep -q '/etc/hostname' <<<"$screen" && [ $quit = yes ]; then
    pass "top (tmux): shows the session's sites, q quits"
  else
    fail "top (tmux): screen was: $(head -c 600 <<<"$screen") / after q: $(head -c 300 <<<"$after")"
  fi
  # (`fdtrace NOSUCH --help` is the root's help: look for attach's own usage.)
  if fdtrace attach --help 2>/dev/null | grep -q 'USAGE: fdtrace attach'; then
    attach_marker=$work/attach-done
    "$work/hold_files" "$attach_marker" >"$work/attach-target.out" 2>&1 &
    target=$!
    for _ in $(seq 100); do grep -q ready "$work/attach-target.out" 2>/dev/null && break; sleep 0.2; done
    (sleep 3 && touch "$attach_marker") &
    timeout 60 fdtrace attach --pid "$target" >"$work/attach.txt" 2>&1
    status=$?
    wait "$target" 2>/dev/null
    if [ $status -eq 0 ] && grep -q '/etc/hostname' "$work/attach.txt"; then
      pass "attach --pid: a report of the running process"
    else
      fail "attach --pid: status $status: $(head -c 600 "$work/attach.txt")"
    fi
  else
    echo "SKIP  attach: this build has no attach command (fdtrace attach --help fails)"
  fi
  touch "$done_marker"
  wait "$run_pid"
  status=$?
  if [ $status -eq 0 ] && grep -q '7 × file /etc/hostname' "$work/hold-report.txt"; then
    pass "run --name: the session's report at exit"
  else
    fail "run --name: status $status: $(head -c 600 "$work/hold-report.txt")"
  fi
  exit 0
fi

# ---------------------------------------------------------------- outside
passed=0
failed=0
pass() {
  echo "PASS  $*"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL  $*"
  failed=$((failed + 1))
}

shopt -s nullglob
debs=(dist/fdtrace_*.deb)
tars=(dist/fdtrace-*-linux-*.tar.gz)
shopt -u nullglob
[ ${#debs[@]} -eq 1 ] && [ ${#tars[@]} -eq 1 ] || {
  echo "check-dist: expected one dist/fdtrace_*.deb and one dist/fdtrace-*.tar.gz (make dist)" >&2
  exit 1
}
deb=${debs[0]}
tarball=${tars[0]}
dev_bin=$(swift build -c debug --show-bin-path 2>/dev/null)
[ -x "$dev_bin/fdtrace" ] && [ -f "$dev_bin/libfdtrace.so" ] || {
  echo "check-dist: no development build in $dev_bin (make CONFIG=debug all)" >&2
  exit 1
}
if dpkg-query -W -f='${Status}' fdtrace 2>/dev/null | grep -q 'ok installed'; then
  echo "check-dist: fdtrace is installed on this machine already; remove it first (apt-get purge fdtrace)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/fdtrace-check-dist.XXXXXX)
chmod 0755 "$work"
installed_by_us=0
cleanup() {
  if [ $installed_by_us -eq 1 ]; then dpkg --purge fdtrace >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT
root=$work/root

# 1. The package.
dpkg-deb -x "$deb" "$root" || {
  echo "check-dist: cannot extract $deb" >&2
  exit 1
}
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
expected_files="usr/bin/fdtrace usr/lib/$MULTIARCH/libfdtrace.so usr/share/man/man1/fdtrace.1.gz
  usr/share/bash-completion/completions/fdtrace usr/share/zsh/vendor-completions/_fdtrace
  usr/share/fish/vendor_completions.d/fdtrace.fish usr/share/doc/fdtrace/README.md.gz
  usr/share/doc/fdtrace/copyright usr/share/doc/fdtrace/changelog.gz"
missing=""
for f in $expected_files; do [ -s "$root/$f" ] || missing="$missing $f"; done
[ -z "$missing" ] && pass "package $deb: fdtrace, libfdtrace.so, man page, bash/zsh/fish completions, README, copyright, changelog" \
  || fail "package: missing$missing"
extra=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./||' | grep -v -x -F -f <(tr -s ' \n' '\n' <<<"$expected_files" | sed '/^$/d') \
  | grep -v '^usr/share/lintian/overrides/fdtrace$')
[ -z "$extra" ] && pass "package: no other files (the BPF object is embedded in fdtrace)" || fail "package: unexpected files: $extra"
[ "$("$root/usr/bin/fdtrace" --version | awk '{print $2}')" = "$version" ] && pass "package version $version is the binary's ($("$root/usr/bin/fdtrace" --version))" \
  || fail "package version $version, binary: $("$root/usr/bin/fdtrace" --version)"
if grep -q -i -E 'swift|llvm|clang|gcc[^-]|gcc$|cpp|binutils' <<<"$depends"; then
  fail "Depends names a toolchain or compiler: $depends"
else
  pass "Depends: $depends"
fi
needed=$(readelf -d "$root/usr/bin/fdtrace" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
foreign=$(tr ' ' '\n' <<<"$needed" | grep -v -E '^$|^(libc|libm|libstdc\+\+|libgcc_s|libbpf|libelf|libz|libdw|ld-linux-x86-64)\.so\.[0-9]+$')
rpath=$(readelf -d "$root/usr/bin/fdtrace" | grep -E 'RPATH|RUNPATH')
[ -z "$foreign" ] && [ -z "$rpath" ] && pass "fdtrace's dynamic dependencies: $needed(no Swift runtime, no rpath)" \
  || fail "fdtrace needs $foreign $rpath"
tar_list=$(tar -tzf "$tarball" | sed 's|^[^/]*/||' | grep -v -e '/$' -e '^$' | sort | tr '\n' ' ')
tar_expected="INSTALL bin/fdtrace lib/libfdtrace.so share/bash-completion/completions/fdtrace share/doc/fdtrace/README.md share/doc/fdtrace/copyright share/fish/vendor_completions.d/fdtrace.fish share/man/man1/fdtrace.1.gz share/zsh/site-functions/_fdtrace "
[ "$tar_list" = "$tar_expected" ] && pass "tarball $tarball: the same files under bin, lib, share, with INSTALL" \
  || fail "tarball lists: $tar_list"
tmp_tar=$work/tar
mkdir -p "$tmp_tar" && tar -xzf "$tarball" -C "$tmp_tar" --strip-components=1
cmp -s "$tmp_tar/bin/fdtrace" "$root/usr/bin/fdtrace" && cmp -s "$tmp_tar/lib/libfdtrace.so" "$root/usr/lib/$MULTIARCH/libfdtrace.so" \
  && pass "tarball: fdtrace and libfdtrace.so are the package's" || fail "tarball: its binaries differ from the package's"

# 2. Reference reports from the development build, then the package's in
#    the namespace.
cc -g -O1 -o "$work/leak_sites" Tests/Fixtures/leak_sites.c && cc -g -O1 -o "$work/hold_files" Tests/Fixtures/hold_files.c \
  || {
    echo "check-dist: cannot build the fixtures" >&2
    exit 1
  }
echo "$work/leak_sites 10" >"$work/cmd-c"
echo "/usr/bin/python3 $repo/Tests/Fixtures/py_leaks.py 3" >"$work/cmd-py"
for fx in c py; do
  cmd=$(cat "$work/cmd-$fx")
  # shellcheck disable=SC2086
  env PATH="$SYSTEM_PATH" "$dev_bin/fdtrace" run --json "$work/ref-$fx-run.json" --output /dev/null -- $cmd >/dev/null 2>&1
  # shellcheck disable=SC2086
  env PATH="$SYSTEM_PATH" LD_PRELOAD="$dev_bin/libfdtrace.so" FDTRACE_JSON="$work/ref-$fx-bare.json" FDTRACE_OUTPUT=/dev/null \
    $cmd >/dev/null 2>&1
done

toolchain=$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")")
symbolizers=$(find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /work \) -prune \
  -o -name 'llvm-symbolizer*' \( -type f -perm /111 -o -type l \) -print 2>/dev/null)
hide_dirs="$toolchain"
hide_files=""
for s in $symbolizers; do
  real=$(readlink -f "$s") || continue
  [ -e "$real" ] || continue
  case "$real" in "$toolchain"/*) continue ;; esac
  dir=$(dirname "$real")
  case ":$SYSTEM_PATH:/usr/local/bin:/usr/local/sbin:" in
    *":$dir:"*) hide_files="$hide_files $real" ;; # a shared bin directory: the file alone
    *) grep -q -x -F "$dir" <<<"$(tr ' ' '\n' <<<"$hide_dirs")" || hide_dirs="$hide_dirs $dir" ;;
  esac
done
cat >"$work/env.sh" <<EOF
TOOLCHAIN='$toolchain'
HIDE_DIRS='$hide_dirs'
HIDE_FILES='$(echo $hide_files | tr ' ' '\n' | sort -u | tr '\n' ' ')'
SYMBOLIZERS='$(echo $symbolizers)'
MULTIARCH='$MULTIARCH'
SYSTEM_PATH='$SYSTEM_PATH'
SESSION='$SESSION'
EOF
unshare -m --propagation private "$0" --in-namespace "$work" >"$work/namespace.log" 2>&1
while IFS= read -r line; do
  echo "$line"
  case "$line" in PASS*) passed=$((passed + 1)) ;; FAIL*) failed=$((failed + 1)) ;; esac
done <"$work/namespace.log"

declare -A names=([c]="C fixture (leak_sites.c)" [py]="Python fixture (py_leaks.py, /usr/bin/python3)")
for fx in c py; do
  for mode in run bare; do
    what="${names[$fx]}, $([ $mode = run ] && echo "fdtrace run" || echo "bare LD_PRELOAD=libfdtrace.so")"
    st=$(cat "$work/pkg-$fx-$mode.status" 2>/dev/null)
    [ "$st" = 0 ] || fail "$what: status ${st:-none}: $(head -c 400 "$work/pkg-$fx-$mode.err" 2>/dev/null)"
    if out=$(scripts/report_projection.py counts "$work/ref-$fx-$mode.json" "$work/pkg-$fx-$mode.json"); then
      pass "$what: counts as the development build's: $out"
    else
      fail "$what: counts: $out"
    fi
    if out=$(scripts/report_projection.py lines "$work/ref-$fx-$mode.json" "$work/pkg-$fx-$mode.json"); then
      pass "$what: file:line as the development build's"
    else
      fail "$what: file:line: $out (frames without file:line: this build has no in-process symbolizer)"
    fi
  done
done

# 3. Installed on this machine, then removed.
pkg_paths=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^/$' | sort)
existing_before=$(for p in $pkg_paths; do [ -e "$p" ] && echo "$p"; done)
if dpkg -i "$deb" >"$work/dpkg.log" 2>&1; then
  installed_by_us=1
  pass "dpkg -i $deb"
else
  fail "dpkg -i: $(tail -3 "$work/dpkg.log")"
fi
if [ $installed_by_us -eq 1 ]; then
  cmd=$(cat "$work/cmd-c")
  # shellcheck disable=SC2086
  # No PATH at all: the library finds /usr/bin/fdtrace by where it lies itself.
  (cd "$work" && env -i LD_PRELOAD=libfdtrace.so FDTRACE_JSON="$work/inst-c-bare.json" FDTRACE_OUTPUT=/dev/null $cmd >/dev/null 2>&1)
  if out=$(scripts/report_projection.py counts "$work/ref-c-bare.json" "$work/inst-c-bare.json"); then
    pass "installed: LD_PRELOAD=libfdtrace.so by name, no PATH (the collector found at ../../bin): $out"
  else
    fail "installed: LD_PRELOAD=libfdtrace.so by name: $out"
  fi
  env PATH="$SYSTEM_PATH" fdtrace run --json "$work/inst-c-run.json" --output /dev/null -- $cmd >/dev/null 2>&1
  if out=$(scripts/report_projection.py counts "$work/ref-c-run.json" "$work/inst-c-run.json"); then
    pass "installed: /usr/bin/fdtrace run finds /usr/lib/$MULTIARCH/libfdtrace.so"
  else
    fail "installed: fdtrace run: $out"
  fi
  page=$(MANWIDTH=80 man -P cat fdtrace 2>&1)
  grep -q 'FDTRACE(1)' <<<"$page" && grep -q 'LD_PRELOAD=libfdtrace.so' <<<"$page" && grep -q -- '--fail-on-leak' <<<"$page" \
    && pass "man fdtrace: the page ($(wc -l <<<"$page") lines)" || fail "man fdtrace: $(head -c 300 <<<"$page")"
  if bash -c 'source /usr/share/bash-completion/completions/fdtrace && complete -p fdtrace' >/dev/null 2>&1; then
    pass "bash completion: complete -p fdtrace"
  else
    fail "bash completion: sourcing it defines no completion for fdtrace"
  fi
  if apt-get remove -y -qq fdtrace >"$work/remove.log" 2>&1; then
    left=$(for p in $pkg_paths; do [ -e "$p" ] && echo "$p"; done)
    [ "$left" = "$existing_before" ] && pass "apt-get remove: none of the package's files or directories left behind" \
      || fail "apt-get remove left: $(comm -13 <(echo "$existing_before") <(echo "$left") | tr '\n' ' ')"
  else
    fail "apt-get remove: $(tail -3 "$work/remove.log")"
  fi
  apt-get purge -y -qq fdtrace >"$work/purge.log" 2>&1
  installed_by_us=0
  status=$(dpkg-query -W -f='${Status}' fdtrace 2>/dev/null)
  info=$(ls /var/lib/dpkg/info/fdtrace.* 2>/dev/null)
  [ -z "$info" ] && ! grep -q installed <<<"${status/not-installed/}" && pass "apt-get purge: dpkg knows nothing of fdtrace" \
    || fail "apt-get purge: status '$status', $info"
fi

# 4. lintian.
lintian --fail-on error "$deb" >"$work/lintian.log" 2>&1
lintian_status=$?
grep -v 'running with root privileges' "$work/lintian.log" | sed 's/^/      lintian: /'
[ $lintian_status -eq 0 ] && pass "lintian: no errors" || fail "lintian: errors (above)"

echo "check-dist: $passed passed, $failed failed"
[ $failed -eq 0 ]

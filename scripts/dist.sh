#!/usr/bin/env bash
# make dist: the Debian package and a tarball of the same files, in dist/:
#   dist/fdtrace_<version>_<arch>.deb
#   dist/fdtrace-<version>-linux-<cpu>.tar.gz
# fdtrace is built in release mode with the Swift runtime and Foundation
# linked in (--static-swift-stdlib), in its own scratch folder (.build-dist:
# the development builds in .build stay as they are). The version is the
# one the built binary reports (BuildInfo.version); the man page comes from
# swift-argument-parser's generate-manual plugin, the completions from the
# binary itself. The packaging files are in packaging/.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "dist: $*" >&2
  exit 1
}
[ $# -eq 0 ] || die "takes no arguments (make dist)"
for tool in dpkg-deb dpkg-shlibdeps dpkg-architecture strip gzip tar git swift; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (make setup installs it)"
done

SCRATCH=.build-dist
OUT=dist
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)           # amd64
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH) # x86_64-linux-gnu
CPU=$(dpkg-architecture -qDEB_HOST_GNU_CPU)         # x86_64
# Dates in the package (man page, changelog, archive members): the commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

# 1. The shim, the BPF skeleton, the commit header; fdtrace, static.
make --no-print-directory shim bpf build-info
echo "dist: swift build -c release --static-swift-stdlib (in $SCRATCH)"
swift build -c release --static-swift-stdlib --disable-local-rpath --scratch-path "$SCRATCH"
bin="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/fdtrace"

# 2. What the binary says it is.
line=$("$bin" --version) || die "$bin --version failed"
version=$(awk '{print $2}' <<<"$line")
commit=$(sed -n 's/.*(commit \(.*\))$/\1/p' <<<"$line")
built_from=$(sed -n 's/^#define FDT_BUILD_COMMIT "\(.*\)"$/\1/p' .build-version/fdtrace_build.h)
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "'$version' (from '$line') is not a package version"
[ "$commit" = "$built_from" ] || die "the binary says commit '$commit', the tree is at '$built_from'"
case "$commit" in *-dirty) echo "dist: warning: built from a tree with uncommitted changes ($commit)" >&2 ;; esac

# 3. The man page: swift-argument-parser's plugin builds the package (debug:
#    the development build, usually up to date) and renders its help.
manual=.build/plugins/GenerateManual/outputs/fdtrace/fdtrace.1
rm -f "$manual"
swift package plugin generate-manual --configuration debug \
  --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" >/dev/null \
  || die "swift package plugin generate-manual failed"
[ -s "$manual" ] || die "the generate-manual plugin wrote no $manual"

# 4. The package tree.
work=$(mktemp -d "${TMPDIR:-/tmp}/fdtrace-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
doc=$root/usr/share/doc/fdtrace
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/$MULTIARCH" "$root/usr/share/man/man1" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$doc" "$root/usr/share/lintian/overrides"
# Stripped as dh_strip strips (the build id stays).
install -m 0755 "$bin" "$root/usr/bin/fdtrace"
install -m 0644 .build-shim/libfdtrace.so "$root/usr/lib/$MULTIARCH/libfdtrace.so"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
  "$root/usr/bin/fdtrace" "$root/usr/lib/$MULTIARCH/libfdtrace.so"
# (bash's is sourced, never run: no #! line.)
"$root/usr/bin/fdtrace" --generate-completion-script bash | sed '1{/^#!/d}' >"$root/usr/share/bash-completion/completions/fdtrace"
"$root/usr/bin/fdtrace" --generate-completion-script zsh >"$root/usr/share/zsh/vendor-completions/_fdtrace"
"$root/usr/bin/fdtrace" --generate-completion-script fish >"$root/usr/share/fish/vendor_completions.d/fdtrace.fish"
gzip -9n <"$manual" >"$root/usr/share/man/man1/fdtrace.1.gz"
gzip -9n <README.md >"$doc/README.md.gz"
install -m 0644 packaging/copyright "$doc/copyright"
install -m 0644 packaging/lintian-overrides "$root/usr/share/lintian/overrides/fdtrace"
maintainer=$(sed -n 's/^Maintainer: //p' packaging/control)
sed -e "s/@VERSION@/$version/" -e "s/@COMMIT@/$commit/" -e "s/@MAINTAINER@/$maintainer/" \
  -e "s/@DATE@/$(date -u -R -d "@$SOURCE_DATE_EPOCH")/" packaging/changelog.in | gzip -9n >"$doc/changelog.gz"

# 5. Depends: what dpkg-shlibdeps finds in the ELF files, and libunwind8,
#    which the shim loads with dlopen (CShim/src/stack.c), where it cannot look.
mkdir -p "$work/src/debian"
printf 'Source: fdtrace\n\nPackage: fdtrace\nArchitecture: %s\n' "$ARCH" >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "-e$root/usr/bin/fdtrace" "-e$root/usr/lib/$MULTIARCH/libfdtrace.so" 2>/dev/null) \
  || die "dpkg-shlibdeps failed"
depends="${shlibs#shlibs:Depends=}, libunwind8"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$depends/" \
  -e "s/@INSTALLED_SIZE@/$installed_size/" packaging/control >"$root/DEBIAN/control"
install -m 0644 packaging/triggers "$root/DEBIAN/triggers"
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
find "$root" -type d -exec chmod 0755 {} +

mkdir -p "$OUT"
deb="$OUT/fdtrace_${version}_${ARCH}.deb"
tarball="$OUT/fdtrace-${version}-linux-${CPU}.tar.gz"
rm -f "$OUT"/fdtrace_*.deb "$OUT"/fdtrace-*.tar.gz
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null

# 6. The tarball: the same files under a prefix (bin, lib, share).
name="fdtrace-${version}-linux-${CPU}"
t=$work/$name
install -d "$t/bin" "$t/lib" "$t/share/man/man1" "$t/share/bash-completion/completions" \
  "$t/share/zsh/site-functions" "$t/share/fish/vendor_completions.d" "$t/share/doc/fdtrace"
cp -p "$root/usr/bin/fdtrace" "$t/bin/"
cp -p "$root/usr/lib/$MULTIARCH/libfdtrace.so" "$t/lib/"
cp -p "$root/usr/share/man/man1/fdtrace.1.gz" "$t/share/man/man1/"
cp -p "$root/usr/share/bash-completion/completions/fdtrace" "$t/share/bash-completion/completions/"
cp -p "$root/usr/share/zsh/vendor-completions/_fdtrace" "$t/share/zsh/site-functions/"
cp -p "$root/usr/share/fish/vendor_completions.d/fdtrace.fish" "$t/share/fish/vendor_completions.d/"
cp -p README.md packaging/copyright "$t/share/doc/fdtrace/"
sed -e "s/@VERSION@/$version/g" -e "s/@COMMIT@/$commit/" -e "s/@CPU@/$CPU/g" -e "s/@DEPENDS@/$depends/" \
  packaging/INSTALL >"$t/INSTALL"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -C "$work" -cf - "$name" | gzip -9n >"$tarball"

echo "dist: $deb ($(du -h "$deb" | cut -f1); fdtrace $(du -h "$root/usr/bin/fdtrace" | cut -f1) installed)"
echo "dist: $tarball ($(du -h "$tarball" | cut -f1))"
echo "dist: $line; Depends: $depends"

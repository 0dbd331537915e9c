# fdtrace: build, install, demo and tests.
#   make setup   install missing system packages (apt) and Python test deps
#   make         build libfdtrace.so (C compiler), the kernel event source's BPF
#                object (clang -target bpf, bpftool) and the fdtrace command (SwiftPM)
#   make demo    set up, build, install, and run the bundled leaky program
#   make test    set up, build and run the whole test suite
#   make bench   overhead benchmark (see README); BENCH_SIZE=tiny for a quick run
#   make fuzz    the decoder fuzzer, one million inputs
#   make realworld  CPython's regression tests untraced, bare and under fdtrace run: same results
#   make lint    the tree as clang-format and swift-format write it (scripts/lint.sh --fix formats)
#   make check-shim  the shim under ASan+UBSan and under TSan, running the hook-family and
#                    torture fixtures with a collector: no sanitizer report (scripts/check-shim.sh)
#   make dist    the Debian package and a tarball of the same files, in dist/ (scripts/dist.sh)
#   make check-dist  the package without the toolchain: reports as the development build's,
#                    installed, removed, lintian (scripts/check-dist.sh; root)

CC ?= cc
PREFIX ?= /usr/local
CONFIG ?= debug
BENCH_SIZE ?= full
SHIM_BUILD := .build-shim
SHIM := $(SHIM_BUILD)/libfdtrace.so
SHIM_SRCS := $(wildcard CShim/src/*.c) $(wildcard CShim/src/*.S)
SHIM_HDRS := $(wildcard CShim/src/*.h) $(wildcard CShim/include/*.h)
CFLAGS_SHIM := -std=c11 -D_GNU_SOURCE -O2 -g -fPIC -fvisibility=hidden -fno-omit-frame-pointer \
	-Wall -Wextra -Werror -ICShim/include -ICShim/src
# The SONAME: the package installs it in the loader's directory (/usr/lib/<multiarch>).
# -static-libgcc: libgcc's unwinder (libgcc_eh.a) inside the shim, for the
# first stacks of a thread without loading libgcc_s (CShim/src/stack.c).
LDFLAGS_SHIM := -shared -static-libgcc -Wl,-soname,libfdtrace.so -Wl,--no-undefined -Wl,-z,now -Wl,--version-script=CShim/exports.map

# The kernel event source (CShim/bpf): compiled for the BPF target against a
# vmlinux.h dumped from this kernel's BTF, then embedded into the loader
# (Sources/CFDTraceKernel) as a skeleton header. Nothing of it is committed.
BPF_BUILD := .build-bpf
BPF_SKEL := $(BPF_BUILD)/fdtrace.skel.h
BPF_OBJ := $(BPF_BUILD)/fdtrace.bpf.o
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
# A clang with the BPF target: the Swift toolchain's, else Debian's.
BPF_CLANG ?= $(shell for c in "$$(dirname "$$(readlink -f "$$(command -v swift)")")/clang" /opt/swift/usr/bin/clang clang; do \
	if command -v "$$c" >/dev/null 2>&1 && "$$c" -print-targets 2>/dev/null | grep -qw bpf; then echo "$$c"; break; fi; done)
# Strips the DWARF (the BTF stays): 110 KB embedded instead of 750 KB.
BPF_OBJCOPY ?= $(shell c="$(dir $(BPF_CLANG))llvm-objcopy"; test -x "$$c" && echo "$$c" || command -v llvm-objcopy 2>/dev/null)
CFLAGS_BPF := -target bpf -O2 -g -D__TARGET_ARCH_x86 -Wall -Wextra -Werror -I$(BPF_BUILD) -ICShim/include

# The same sources with sanitizers (make check-shim), built in a temporary
# directory removed after the check: a libfdtrace.so that NEEDs libasan or
# libtsan must never lie in the tree, where a preloaded library is looked for.
SANITIZE_ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all
SANITIZE_TSAN := -fsanitize=thread

# The commit `fdtrace --version` names (Sources/CFDTraceSys/build_info.c
# includes this header when it exists; nothing of it is committed).
BUILD_INFO := .build-version/fdtrace_build.h

SWIFT_BIN = $(shell swift build -c $(CONFIG) --show-bin-path 2>/dev/null)
# A release build carries the Swift runtime inside (as the package does):
# loading Foundation's shared libraries cost 5 ms of the ~10 ms every
# `fdtrace` start takes, and bare LD_PRELOAD waits for `fdtrace collect`.
SWIFT_LINK_release := --static-swift-stdlib

.PHONY: all shim bpf build-info swift setup demo test install bench fuzz realworld check-shim dist check-dist lint clean

all: shim swift

shim: $(SHIM)

# The linked-in unwinder must find unwind tables with _dl_find_object (GCC 12
# and later, on glibc 2.35 and later): older libgcc_eh.a walks dl_iterate_phdr
# under the loader's lock, which a hook inside a signal handler must not take.
LIBGCC_EH = $(shell $(CC) -print-file-name=libgcc_eh.a)

$(SHIM): $(SHIM_SRCS) $(SHIM_HDRS) CShim/exports.map Makefile
	@mkdir -p $(SHIM_BUILD)
	@nm "$(LIBGCC_EH)" 2>/dev/null | grep -q ' U _dl_find_object' || { echo "make: $(LIBGCC_EH) does not use _dl_find_object (GCC 12 and glibc 2.35 or later are needed for the shim's unwinder)" >&2; exit 1; }
	$(CC) $(CFLAGS_SHIM) $(SHIM_SRCS) $(LDFLAGS_SHIM) -o $@

bpf: $(BPF_SKEL)

$(BPF_BUILD)/vmlinux.h: $(wildcard $(VMLINUX_BTF))
	@test -r "$(VMLINUX_BTF)" || { echo "make: no kernel BTF at $(VMLINUX_BTF) (a kernel built with CONFIG_DEBUG_INFO_BTF; or set VMLINUX_BTF)" >&2; exit 1; }
	@mkdir -p $(BPF_BUILD)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	@mv $@.tmp $@

$(BPF_OBJ): CShim/bpf/fdtrace.bpf.c CShim/include/fdtrace_kernel.h CShim/include/fdtrace_wire.h \
		CShim/include/fdtrace_env.h $(BPF_BUILD)/vmlinux.h
	@test -n "$(BPF_CLANG)" || { echo "make: no clang with the BPF target (the Swift toolchain's has it; or apt-get install clang)" >&2; exit 1; }
	$(BPF_CLANG) $(CFLAGS_BPF) -c $< -o $@
	@if [ -n "$(BPF_OBJCOPY)" ]; then $(BPF_OBJCOPY) --strip-debug $@; fi

$(BPF_SKEL): $(BPF_OBJ)
	$(BPFTOOL) gen skeleton $< name fdtrace_bpf > $@.tmp
	@mv $@.tmp $@

# Rewritten only when the commit changes ("-dirty": tracked files differ from
# it), so that only build_info.c is compiled again. Its object is removed
# then too: one compiled before the header existed lists no dependency on it.
build-info:
	@mkdir -p $(dir $(BUILD_INFO))
	@c="$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"; \
	if [ "$$c" != unknown ] && [ -n "$$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then c="$$c-dirty"; fi; \
	line="#define FDT_BUILD_COMMIT \"$$c\""; \
	if [ "$$(cat $(BUILD_INFO) 2>/dev/null)" != "$$line" ]; then \
		echo "$$line" > $(BUILD_INFO); rm -f .build/*/*/CFDTraceSys.build/build_info.c.o; fi

swift: shim bpf build-info
	swift build -c $(CONFIG) $(SWIFT_LINK_$(CONFIG))
	cp $(SHIM) "$$(swift build -c $(CONFIG) --show-bin-path)/libfdtrace.so"

setup:
	@scripts/setup.sh

install: setup
	$(MAKE) CONFIG=release all
	install -d $(PREFIX)/bin $(PREFIX)/lib
	install -m 755 "$$(swift build -c release --show-bin-path)/fdtrace" $(PREFIX)/bin/fdtrace
	install -m 755 $(SHIM) $(PREFIX)/lib/libfdtrace.so
	ldconfig

demo: install
	@scripts/demo.sh

test: setup
	$(MAKE) CONFIG=debug all
	scripts/test.sh

bench: setup
	$(MAKE) CONFIG=release all
	BENCH_SIZE=$(BENCH_SIZE) scripts/bench.sh

# The decoder fuzzer with a million inputs (FDTRACE_FUZZ_SEED to reproduce).
fuzz: setup
	$(MAKE) CONFIG=debug all
	swift build --build-tests
	FDTRACE_FUZZ_ITERATIONS=$${FDTRACE_FUZZ_ITERATIONS:-1000000} swift test --skip-build --filter FuzzTests

# CPython's own regression tests for descriptors, processes and sockets, three
# ways; every test must have the same result (a few minutes; CI runs it).
realworld: setup
	$(MAKE) CONFIG=debug all
	scripts/realworld.py

# The shim with sanitizers, under a collector (a few minutes).
check-shim: setup
	$(MAKE) CONFIG=debug all
	@dir=$$(mktemp -d "$${TMPDIR:-/tmp}/fdtrace-check-shim.XXXXXX") && trap 'rm -rf "$$dir"' EXIT && \
	mkdir "$$dir/asan" "$$dir/tsan" && \
	echo "building the shim with ASan+UBSan and with TSan in $$dir" && \
	$(CC) $(CFLAGS_SHIM) $(SANITIZE_ASAN) $(SHIM_SRCS) $(LDFLAGS_SHIM) -o "$$dir/asan/libfdtrace.so" && \
	$(CC) $(CFLAGS_SHIM) $(SANITIZE_TSAN) $(SHIM_SRCS) $(LDFLAGS_SHIM) -o "$$dir/tsan/libfdtrace.so" && \
	scripts/check-shim.sh "$$dir/asan/libfdtrace.so" "$$dir/tsan/libfdtrace.so"

# fdtrace with the Swift runtime linked in, in .build-dist (a release build:
# minutes), packaged with packaging/.
dist: setup
	scripts/dist.sh

# The package against the development build (debug), in a mount namespace
# without the toolchain, then installed and removed on this machine.
check-dist: dist
	$(MAKE) CONFIG=debug all
	scripts/check-dist.sh

lint: setup
	scripts/lint.sh

clean:
	rm -rf $(SHIM_BUILD) $(BPF_BUILD) $(dir $(BUILD_INFO)) .build .build-dist dist

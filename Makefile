# fdtrace: build, install, demo and tests.
#   make setup   install missing system packages (apt) and Python test deps
#   make         build libfdtrace.so (C compiler) and the fdtrace command (SwiftPM)
#   make demo    set up, build, install, and run the bundled leaky program
#   make test    set up, build and run the whole test suite
#   make bench   overhead benchmark (see README); BENCH_SIZE=tiny for a quick run
#   make fuzz    the decoder fuzzer, one million inputs
#   make realworld  CPython's regression tests untraced, bare and under fdtrace run: same results
#   make check-shim  the shim under ASan+UBSan and under TSan, running the hook-family and
#                    torture fixtures with a collector: no sanitizer report (scripts/check-shim.sh)

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
LDFLAGS_SHIM := -shared -Wl,--no-undefined -Wl,-z,now -Wl,--version-script=CShim/exports.map

# The same sources with sanitizers (make check-shim).
SHIM_ASAN := $(SHIM_BUILD)/asan/libfdtrace.so
SHIM_TSAN := $(SHIM_BUILD)/tsan/libfdtrace.so
SANITIZE_ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all
SANITIZE_TSAN := -fsanitize=thread

SWIFT_BIN = $(shell swift build -c $(CONFIG) --show-bin-path 2>/dev/null)

.PHONY: all shim swift setup demo test install bench fuzz realworld check-shim clean

all: shim swift

shim: $(SHIM)

$(SHIM): $(SHIM_SRCS) $(SHIM_HDRS) CShim/exports.map
	@mkdir -p $(SHIM_BUILD)
	$(CC) $(CFLAGS_SHIM) $(SHIM_SRCS) $(LDFLAGS_SHIM) -o $@

$(SHIM_ASAN): $(SHIM_SRCS) $(SHIM_HDRS) CShim/exports.map
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) $(SANITIZE_ASAN) $(SHIM_SRCS) $(LDFLAGS_SHIM) -o $@

$(SHIM_TSAN): $(SHIM_SRCS) $(SHIM_HDRS) CShim/exports.map
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SHIM) $(SANITIZE_TSAN) $(SHIM_SRCS) $(LDFLAGS_SHIM) -o $@

swift: shim
	swift build -c $(CONFIG)
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
	$(MAKE) $(SHIM_ASAN) $(SHIM_TSAN)
	scripts/check-shim.sh $(SHIM_ASAN) $(SHIM_TSAN)

clean:
	rm -rf $(SHIM_BUILD) .build

/* The commit `fdtrace --version` names. `make` writes it into
 * .build-version/fdtrace_build.h (see the Makefile's build-info); a plain
 * `swift build` that never saw that header says "unknown". */
#include "fdtrace_sys.h"

#if __has_include("fdtrace_build.h")
#include "fdtrace_build.h"
#endif
#ifndef FDT_BUILD_COMMIT
#define FDT_BUILD_COMMIT "unknown"
#endif

const char *fdtc_build_commit(void) { return FDT_BUILD_COMMIT; }

/*
 * Every environment variable fdtrace reads, in one table (the shim, the
 * bare-mode collector it starts, and the fdtrace command). Swift imports
 * these names through the CFDTraceWire module; the README's table of
 * options describes them for users.
 */
#ifndef FDTRACE_ENV_H
#define FDTRACE_ENV_H

/* Set by fdtrace for the traced tree (and read by the shim). */
#define FDT_ENV_SOCKET "FDTRACE_SOCKET" /* the collector's socket ("@name": abstract) */
#define FDT_ENV_DEPTH  "FDTRACE_DEPTH"  /* native frames kept per stack, 1..FDT_MAX_DEPTH */
#define FDT_ENV_FOLLOW "FDTRACE_FOLLOW" /* "0": trace only the program, not its children */
#define FDT_ENV_OWNER  "FDTRACE_OWNER"  /* bare mode: the pid that started the collector */

/* Set by users. */
#define FDT_ENV_SESSION_DIR "FDTRACE_SESSION_DIR" /* where session sockets and markers live (default /tmp) */
#define FDT_ENV_RING_KB     "FDTRACE_RING_KB"     /* per-process ring size in KiB (power of two) */
#define FDT_ENV_COLLECTOR   "FDTRACE_COLLECTOR"   /* bare mode: the fdtrace binary to start */
#define FDT_ENV_OUTPUT      "FDTRACE_OUTPUT"      /* bare mode: the text report to this file */
#define FDT_ENV_JSON        "FDTRACE_JSON"        /* bare mode: the JSON report to this file */
#define FDT_ENV_HTML        "FDTRACE_HTML"        /* bare mode: the HTML report to this file */
#define FDT_ENV_SARIF       "FDTRACE_SARIF"       /* bare mode: the SARIF report to this file */
#define FDT_ENV_WAIT        "FDTRACE_WAIT"        /* bare mode: seconds to wait for the rest of the tree */
#define FDT_ENV_NATIVE      "FDTRACE_NATIVE"      /* bare mode: "1" keeps the interpreter's frames */
#define FDT_ENV_NAME        "FDTRACE_NAME"        /* bare mode: the session's name for queries */
#define FDT_ENV_LIB         "FDTRACE_LIB"         /* fdtrace run: the libfdtrace.so to preload */
#define FDT_ENV_SYMBOLIZER  "FDTRACE_SYMBOLIZER"  /* "libdw" (default), or an llvm-symbolizer to use */

/* Set by users: the kernel event source's ring buffer in KiB (a power of two, at least 4). */
#define FDT_ENV_KERNEL_RING_KB "FDTRACE_KERNEL_RING_KB"

/* Set by users, bare mode: suppressions (fdtrace run: --suppressions, --gen-suppressions). */
#define FDT_ENV_SUPPRESSIONS     "FDTRACE_SUPPRESSIONS"     /* suppression files, separated by ':' */
#define FDT_ENV_GEN_SUPPRESSIONS "FDTRACE_GEN_SUPPRESSIONS" /* write an entry per leak group to this file */

/* Bare mode: the status of `fdtrace collect` when a setting is wrong (a
 * malformed suppression file). It has said why in one line on stderr; the
 * shim adds nothing, and the program runs on untraced. */
#define FDT_COLLECT_REFUSED 64

#endif

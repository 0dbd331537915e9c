/* The native stack of the calling hook: libunwind's cached trace, inlined
 * where the stack is taken (report.c) — each frame between the hook and
 * the unwinder is one more frame libunwind walks (~100 instructions) for
 * the shim to cut. Cold unwinds, loading libunwind and the fork gate's
 * other side are in stack.c. */
#ifndef FDTRACE_NATIVE_STACK_H
#define FDTRACE_NATIVE_STACK_H

#include "shim.h"
#include "python.h"
#include <sched.h>

typedef int (*fdt_unw_backtrace_fn)(void **, int);
extern fdt_unw_backtrace_fn fdt_unw_bt; /* atomic: set once loaded */

/* A thread's first stacks come from the cold unwinder (stack.c). */
#define FDT_COLD_UNWINDS 32u
extern FDT_TLS unsigned fdt_unwinds_here;

/* The fork gate: a fork waits until no other thread is inside libunwind
 * (whose global cache lock the child would inherit held), and threads do
 * not enter it while a fork is under way. Threads inside libunwind are
 * counted in 64 slots on cache lines of their own (a thread's slot by its
 * tid): one shared counter put every unwind of every thread on the same
 * line, bounced between CPUs twice a stack. */
#define FDT_UNWINDING_SLOTS 64u
extern struct fdt_unwinding_slot { int n; } __attribute__((aligned(64))) fdt_unwinding[FDT_UNWINDING_SLOTS];
extern int fdt_forks_pending;        /* forks between begin and end */
extern FDT_TLS int fdt_forking_here; /* the forking thread may unwind (its atfork handlers) */

int fdt_unwind_slow(void **out, int max);

static inline __attribute__((always_inline)) int fdt_gated_unwind(fdt_unw_backtrace_fn unw, void **out, int max) {
    int *slot = &fdt_unwinding[(unsigned)fdt_gettid() & (FDT_UNWINDING_SLOTS - 1)].n;
    for (;;) {
        if (!fdt_forking_here)
            while (__atomic_load_n(&fdt_forks_pending, __ATOMIC_ACQUIRE)) sched_yield();
        __atomic_add_fetch(slot, 1, __ATOMIC_SEQ_CST);
        if (fdt_forking_here || !__atomic_load_n(&fdt_forks_pending, __ATOMIC_SEQ_CST)) break;
        __atomic_sub_fetch(slot, 1, __ATOMIC_ACQ_REL);
    }
    int n = unw(out, max);
    __atomic_sub_fetch(slot, 1, __ATOMIC_RELEASE);
    return n;
}

/* Return addresses into out, innermost first (this caller's frame among
 * them). */
static inline __attribute__((always_inline)) int fdt_unwind_here(void **out, int max) {
    fdt_unw_backtrace_fn unw = __atomic_load_n(&fdt_unw_bt, __ATOMIC_ACQUIRE);
    if (FDT_UNLIKELY(fdt_unwinds_here < FDT_COLD_UNWINDS || !unw)) return fdt_unwind_slow(out, max);
    return fdt_gated_unwind(unw, out, max);
}

/* Native frames kept for a stack: more where Python frames are merged in. */
static inline unsigned fdt_stack_depth(const struct fdt_py_stack *py) { return py->ts ? fdt_g.py_depth : fdt_g.depth; }

/* The id of the stack in raw (n frames from fdt_unwind_here: the shim's cut,
 * Python frames merged in), sent first if new. */
uint32_t fdt_intern_stack(const struct fdt_py_stack *py, void **raw, int n);

/* Frames unwound beyond those kept: the shim's own, cut afterwards (two
 * above a hook's caller, four in a Python thread's first stacks: the most
 * seen). Each frame walked costs ~100 instructions, so no more than that:
 * with 16, an open+close pair 100 calls deep cost 17 000 instructions; with
 * 6, 15 400. */
#define FDT_SHIM_FRAMES 6
/* Room for a stack's raw frames: the deepest kept, and the shim's own. */
#define FDT_RAW_FRAMES (FDT_MAX_DEPTH + FDT_SHIM_FRAMES)

/* The calling hook's stack, its Python frames (py) merged in, as an id.
 * Inlined too: a function of its own would be one more frame to walk. */
static inline __attribute__((always_inline)) uint32_t fdt_capture_stack(
    const struct fdt_py_stack *py, void *raw[FDT_RAW_FRAMES]) {
    return fdt_intern_stack(py, raw, fdt_unwind_here(raw, (int)fdt_stack_depth(py) + FDT_SHIM_FRAMES));
}

#endif /* FDTRACE_NATIVE_STACK_H */

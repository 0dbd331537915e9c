/* Internal interface of libfdtrace.so. Everything here is hidden; only the
 * interposed functions (marked FDT_EXPORT) leave the library. */
#ifndef FDTRACE_SHIM_H
#define FDTRACE_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "fdtrace_wire.h"

/* The shim's own system calls go straight to the kernel. Not through
 * syscall(): the shim exports a syscall() that records descriptor calls
 * (libuv closes with syscall(SYS_close, fd)), and its own traffic must
 * never be recorded or re-enter a hook. <unistd.h> is included first so
 * that its prototype is not rewritten. x86-64 only, like the trampolines. */
static inline long fdt_sys6(long n, long a, long b, long c, long d, long e, long f) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    if (ret < 0 && ret > -4096) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}
#define FDT_SYS_PICK(n, a, b, c, d, e, f, ...)                                                                         \
    fdt_sys6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define syscall(...) FDT_SYS_PICK(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)

/* The ring's layout and creation, whose system calls must be these. */
#include "fdtrace_ring.h"

#define FDT_EXPORT __attribute__((visibility("default")))
#define FDT_TLS    __thread __attribute__((tls_model("initial-exec")))
/* Code that may run before a sanitizer's runtime is initialised (its own
 * start installs signal handlers through our hooks): not instrumented. */
#define FDT_NO_TSAN     __attribute__((no_sanitize("thread")))
#define FDT_LIKELY(x)   __builtin_expect(!!(x), 1)
#define FDT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- process-wide state (state.c) ---- */
struct fdt_state {
    int active;        /* atomic: events are being recorded */
    int init_phase;    /* atomic: 0 not started, 1 running, 2 done */
    pid_t pid;         /* pid that owns the current connection */
    unsigned depth;    /* native frames kept per stack */
    unsigned py_depth; /* ... in threads running Python (FDTRACE_DEPTH sets both) */
    struct fdt_ring_header *ring;
    char *ring_data;
    uint64_t ring_capacity;
    uintptr_t self_start, self_end; /* text of libfdtrace.so itself */
    int warned;                     /* atomic: the one warning line was printed */
    int exit_sent;                  /* atomic: the kernel view at exit was sent */
    int exit_status;                /* from exit() or main's return, -1 if unknown */
    int owner;                      /* this image started the collector (bare mode) */
    int follow;                     /* trace fork children and exec'd programs */
    uint64_t fork_seq;              /* atomic: ids of FDT_REC_FORK records */
    uint64_t hello_ns;              /* when this image's hello was sent */
    /* A fork child connects at its first record, not at the fork (most
     * children of a shell exec at once and record nothing): the parent it
     * names and the fork it came from, until then. */
    pid_t connect_parent;
    uint64_t connect_fork_id;
    int connect_state; /* atomic: 0 connected or nothing deferred, 1 deferred, 2 connecting */
};
/* A collector that has not claimed the ring this long after the hello
 * (set collector_pid) will not: the process goes on untraced. */
#define FDT_CLAIM_TIMEOUT_NS 10000000000ull
extern struct fdt_state fdt_g;

/* Set while the shim runs its own code on this thread (no recursion), and
 * by the vfork trampoline so that a vfork child records nothing. */
extern FDT_TLS int fdt_tls_busy;
extern FDT_TLS int fdt_tls_vfork;
/* The id of the fork this thread is making (read by the fork child). */
extern FDT_TLS uint64_t fdt_tls_fork_id;

void fdt_ensure_init(void);
void fdt_after_fork_child(void);
/* A fork child's deferred connection, made now (by the first record): the
 * ring, or NULL if it could not be made. */
struct fdt_ring_header *fdt_connect_deferred(void);
/* Before the process leaves its namespaces: a deferred connection, made. */
void fdt_connect_before_leaving(void);
void *fdt_vfork_prepare(void);
int fdt_vfork_child_check(void);
void fdt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fdt_disable(const char *why);
uint64_t fdt_now_ns(void);
int fdt_gettid(void);

/* True in a vfork child (it shares our memory: it records nothing). */
static inline int fdt_in_vfork_child(void) { return FDT_UNLIKELY(fdt_tls_vfork) && fdt_vfork_child_check(); }

/* True when this thread may record an event now. Cheap on the hot path. */
static inline int fdt_should_record(void) {
    if (FDT_UNLIKELY(__atomic_load_n(&fdt_g.init_phase, __ATOMIC_ACQUIRE) != 2)) fdt_ensure_init();
    if (fdt_in_vfork_child()) return 0;
    return __atomic_load_n(&fdt_g.active, __ATOMIC_RELAXED) && !fdt_tls_busy;
}

/* ---- real functions (real.c) ---- */
#include "real.h"

/* ---- the event ring (ring_writer.c) ---- */
void *fdt_ring_reserve(uint32_t size);
void fdt_ring_commit(void *rec, uint16_t type, uint16_t flags, uint32_t size);
/* One record built beforehand: rec (len bytes, starting with its header;
 * the header's size is ignored) then tail (tail_len bytes). 0, or -1 when
 * it could not be written (fdt_ring_reserve). Inline: the sizes are
 * constants at most call sites, and the copies become a few moves. */
static inline int fdt_ring_put(
    const void *rec, uint32_t len, const void *tail, uint32_t tail_len, uint16_t type, uint16_t flags) {
    uint32_t size = fdt_align8(len + tail_len);
    char *r = (char *)fdt_ring_reserve(size);
    if (!r) return -1;
    /* All but the size, which publishes the record (fdt_ring_commit). */
    _Static_assert(offsetof(struct fdt_rec_header, size) == 0, "the size comes first");
    memcpy(r + sizeof(uint32_t), (const char *)rec + sizeof(uint32_t), len - sizeof(uint32_t));
    if (tail_len) memcpy(r + len, tail, tail_len);
    fdt_ring_commit(r, type, flags, size);
    return 0;
}

/* ---- the control connection (connection.c) ---- */
int fdt_connect(int fork_parent, uint64_t fork_id);
void fdt_on_exhausted(int err);
void fdt_rearm_exhausted(void);
int fdt_collector_gone(void);
/* Bare mode's owner at exit: the report, written before it returns. */
void fdt_wait_for_report(void);
/* A scope question is in the ring (scope.c): wait for its answer. */
int fdt_wait_scope_answer(uint32_t request, uint64_t timeout_ns, int *status);

/* ---- stacks and modules (stack.c, modules.c) ---- */
/* libunwind's private pipe, emulated without descriptors (stack.c). */
#define FDT_UNWINDER_PIPE_READ  2147483646 /* above any possible descriptor */
#define FDT_UNWINDER_PIPE_WRITE 2147483647
static inline int fdt_is_unwinder_pipe(long fd) {
    return fd == FDT_UNWINDER_PIPE_READ || fd == FDT_UNWINDER_PIPE_WRITE;
}
int fdt_unwinder_pipe(int fds[2]);
long fdt_unwinder_validate(const void *addr);
/* Stacks are taken with native_stack.h, inlined in the record functions;
 * this is the same unwind as a call, for stacks taken elsewhere. */
int fdt_native_backtrace(void **out, int max);
void fdt_unwinders_before_handlers(void);
void fdt_unwinders_after_init(void);
extern int fdt_handlers_before_init;
void fdt_unwind_fork_begin(void);
void fdt_unwind_fork_end(void);
void fdt_unwind_after_fork_child(void);
void fdt_stack_table_reset(void);
void fdt_modules_init(void);
const char *fdt_modules_exe_path(size_t *len);
void fdt_modules_ensure_known(const uintptr_t *pcs, unsigned n);
void fdt_modules_reset_sent(void);

/* What the hooks report, and the records they make: report.h, report.c. */

/* ---- bare mode: a collector started by the shim (bare_collector.c) ---- */
int fdt_start_collector(void);

/* ---- the kernel's view of the fd table (kernel_view.c) ---- */
void fdt_send_inherited(void);
void fdt_note_arg_area(const char *argv0);
void fdt_cmdline_at_hello(const char *bytes, size_t n, int complete);
void fdt_send_exit_view(enum fdt_exit_how how, int status);
void fdt_send_view_at_py_exit(void);

#endif /* FDTRACE_SHIM_H */

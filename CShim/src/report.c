/* The records behind report.h: what the hooks report, as the collector
 * reads it (fdtrace_wire.h). Every function keeps errno as the real call
 * left it. */
#include "report.h"
#include "python.h"
#include "native_stack.h"
#include <string.h>
#include <sys/socket.h>

/* Groups number the calls of one thread: (tid, group) is unique per process
 * without a shared counter (a process-wide atomic here would bounce one
 * cache line between every opening thread). */
static FDT_TLS uint32_t group_seq;

/* Descriptors made by one call share one stack and one group. */
void fdt_record_opens(const int *fds, int n, const struct fdt_open_info *info, int pair) {
    int saved = errno;
    fdt_tls_busy++;
    fdt_rearm_exhausted();
    struct fdt_py_stack py;
    fdt_py_read_stack(&py);
    if (py.ts && fdt_py_exit_pending()) fdt_py_check_exit(py.outermost);
    void *raw[FDT_RAW_FRAMES];
    uint32_t stack = fdt_capture_stack(&py, raw);
    const struct fdt_socket_args *sock = info->socket;
    struct fdt_rec_open rec = {
        .h.time_ns = fdt_now_ns(),
        .call = (uint16_t)info->call,
        .fd_flags = info->cloexec ? FDT_FD_CLOEXEC : 0,
        .stack_id = stack,
        .tid = fdt_gettid(),
        .source_fd = info->source ? *info->source : -1,
        .domain = sock ? sock->domain : -1,
        .sock_type = sock ? sock->type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK) : -1,
        .protocol = sock ? sock->protocol : -1,
        .group = ++group_seq,
        .path_len = info->path ? (uint16_t)strnlen(info->path, FDT_MAX_PATH) : 0,
    };
    for (int i = 0; i < n; i++) {
        rec.fd = fds[i];
        if (pair) rec.source_fd = fds[1 - i];
        if (fdt_ring_put(&rec, sizeof rec, info->path, rec.path_len, FDT_REC_OPEN, 0) < 0) break;
    }
    fdt_tls_busy--;
    errno = saved;
}

/* caller: for a Python program, why it closes (python_close_cause.c). The
 * close's own stack goes with it: a later close of the same number that
 * fails is reported with this one, as the close before. */
struct fdt_close_token fdt_record_close(int fd, enum fdt_call call, uintptr_t caller) {
    int saved = errno;
    fdt_tls_busy++;
    struct fdt_py_stack py;
    fdt_py_read_stack(&py);
    if (py.ts && fdt_py_exit_pending()) fdt_py_check_exit(py.outermost);
    uint16_t cause = py.ts ? fdt_py_close_cause(py.ts, caller) : 0;
    void *raw[FDT_RAW_FRAMES];
    uint32_t stack = fdt_capture_stack(&py, raw);
    fdt_tls_busy--;
    struct fdt_rec_close rec = {
        .h.time_ns = fdt_now_ns(),
        .fd = fd,
        .call = (uint16_t)call,
        .cause = cause,
        .tid = fdt_gettid(),
        .stack_id = stack,
    };
    fdt_ring_put(&rec, sizeof rec, NULL, 0, FDT_REC_CLOSE, 0);
    errno = saved;
    return (struct fdt_close_token){ .time_ns = rec.h.time_ns, .stack = stack, .call = (uint32_t)call };
}

/* The close announced by t failed with EBADF. Its record keeps t's time:
 * the collector tells this close from the one before by it. */
void fdt_record_bad_close(int fd, struct fdt_close_token t) {
    int saved = errno;
    struct fdt_rec_close rec = {
        .h.time_ns = t.time_ns,
        .fd = fd,
        .call = (uint16_t)t.call,
        .tid = fdt_gettid(),
        .stack_id = t.stack,
    };
    fdt_ring_put(&rec, sizeof rec, NULL, 0, FDT_REC_BAD_CLOSE, 0);
    errno = saved;
}

void fdt_record_close_range(unsigned first, unsigned last, enum fdt_call call, int cloexec_only) {
    int saved = errno;
    struct fdt_rec_close_range rec = {
        .h.time_ns = fdt_now_ns(),
        .first = first,
        .last = last,
        .call = (uint16_t)call,
        .tid = fdt_gettid(),
    };
    fdt_ring_put(&rec, sizeof rec, NULL, 0, FDT_REC_CLOSE_RANGE, cloexec_only ? FDT_RANGE_CLOEXEC_ONLY : 0);
    errno = saved;
}

void fdt_record_setfd(int fd, int cloexec, enum fdt_call call) {
    int saved = errno;
    struct fdt_rec_setfd rec = {
        .h.time_ns = fdt_now_ns(),
        .fd = fd,
        .call = (uint16_t)call,
        .fd_flags = cloexec ? FDT_FD_CLOEXEC : 0,
    };
    fdt_ring_put(&rec, sizeof rec, NULL, 0, FDT_REC_SETFD, 0);
    errno = saved;
}

/* Before the real fork: the child's hello names this id, and the collector
 * copies the parent's table as of this record. Also closes the unwinder's
 * fork gate (stack.c) until fdt_forked. */
uint64_t fdt_forking(void) {
    if (!fdt_should_record()) return 0;
    int saved = errno;
    uint64_t id = ((uint64_t)(uint32_t)fdt_g.pid << 32) |
                  (__atomic_add_fetch(&fdt_g.fork_seq, 1, __ATOMIC_RELAXED) & 0xffffffffu);
    fdt_unwind_fork_begin();
    if (!fdt_g.follow) { /* the child is not traced: nothing to expect */
        errno = saved;
        return 0;
    }
    fdt_tls_fork_id = id;
    struct fdt_rec_fork rec = { .h.time_ns = fdt_now_ns(), .fork_id = id, .child_pid = 0, .tid = fdt_gettid() };
    fdt_ring_put(&rec, sizeof rec, NULL, 0, FDT_REC_FORK, 0);
    errno = saved;
    return id;
}

/* In the parent once the fork returned (child: the pid, or -1 if it
 * failed: said too, so that the collector stops expecting a child). */
void fdt_forked(uint64_t fork_id, pid_t child) {
    fdt_unwind_fork_end();
    if (!fork_id || child == 0 || !fdt_should_record()) return;
    if (child < 0) child = -1;
    int saved = errno;
    struct fdt_rec_fork rec = {
        .h.time_ns = fdt_now_ns(), .fork_id = fork_id, .child_pid = child, .tid = fdt_gettid()
    };
    fdt_ring_put(&rec, sizeof rec, NULL, 0, FDT_REC_CHILD, 0);
    errno = saved;
}

void fdt_record_note(const char *text) {
    int saved = errno;
    struct fdt_rec_note rec = { .text_len = (uint16_t)strnlen(text, 512) };
    fdt_ring_put(&rec, sizeof rec, text, rec.text_len, FDT_REC_NOTE, 0);
    errno = saved;
}

_Static_assert(sizeof((const char *[]){ FDT_CALL_NAMES }) / sizeof(const char *) == FDT_CALL_COUNT,
    "FDT_CALL_NAMES must name every enum fdt_call value");

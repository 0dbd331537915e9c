/* Building the event records that hooks emit. Every function keeps errno
 * as the real call left it. */
#include "shim.h"
#include "python.h"
#include <errno.h>
#include <string.h>

static void fill_open(struct fdt_rec_open *r, int fd, const struct fdt_open_info *info,
                      uint32_t stack, uint32_t group, int tid, uint16_t plen) {
    r->fd = fd;
    r->call = (uint16_t)info->call;
    r->fd_flags = info->cloexec ? FDT_FD_CLOEXEC : 0;
    r->stack_id = stack;
    r->tid = tid;
    r->source_fd = info->source_fd;
    r->domain = info->domain;
    r->sock_type = info->sock_type;
    r->protocol = info->protocol;
    r->group = group;
    r->path_len = plen;
    if (plen) memcpy(r + 1, info->path, plen);
}

/* Groups number the calls of one thread: (tid, group) is unique per process
 * without a shared counter (a process-wide atomic here would bounce one
 * cache line between every opening thread). */
static FDT_TLS uint32_t group_seq;
static inline uint32_t next_group(void) { return ++group_seq; }

/* Descriptors made by one call share one stack and one group; the two ends
 * of a pair name each other in source_fd. */
static void record_opens(const int *fds, int n, const struct fdt_open_info *info, int pair) {
    int saved = errno;
    fdt_tls_busy++;
    fdt_rearm_exhausted();
    struct fdt_py_stack py;
    fdt_py_read_stack(&py);
    if (py.ts && fdt_py_exit_pending()) fdt_py_check_exit(py.outermost);
    uint32_t stack = fdt_capture_stack(&py);
    int tid = fdt_gettid();
    uint32_t group = next_group();
    uint16_t plen = info->path ? (uint16_t)strnlen(info->path, FDT_MAX_PATH) : 0;
    uint32_t size = fdt_align8((uint32_t)sizeof(struct fdt_rec_open) + plen);
    uint64_t now = fdt_now_ns();
    for (int i = 0; i < n; i++) {
        struct fdt_rec_open *r = fdt_ring_reserve(size);
        if (!r) break;
        r->h.time_ns = now;
        fill_open(r, fds[i], info, stack, group, tid, plen);
        if (pair) r->source_fd = fds[1 - i];
        fdt_ring_commit(r, FDT_REC_OPEN, 0, size);
    }
    fdt_tls_busy--;
    errno = saved;
}

void fdt_record_open_many(const int *fds, int n, const struct fdt_open_info *info) {
    record_opens(fds, n, info, 0);
}

void fdt_record_open(int fd, const struct fdt_open_info *info) {
    record_opens(&fd, 1, info, 0);
}

void fdt_record_open_pair(const int fds[2], const struct fdt_open_info *info) {
    record_opens(fds, 2, info, 1);
}

void fdt_record_close(int fd, enum fdt_call call, uintptr_t caller) {
    int saved = errno;
    fdt_tls_busy++;
    uintptr_t ts = fdt_py_thread_state();
    if (ts && fdt_py_exit_pending()) fdt_py_check_exit(fdt_py_outermost(ts));
    uint16_t cause = ts ? fdt_py_close_cause(ts, caller) : 0;
    fdt_tls_busy--;
    struct fdt_rec_close *r = fdt_ring_reserve(sizeof *r);
    if (r) {
        r->h.time_ns = fdt_now_ns();
        r->fd = fd;
        r->call = (uint16_t)call;
        r->cause = cause;
        r->tid = fdt_gettid();
        fdt_ring_commit(r, FDT_REC_CLOSE, 0, sizeof *r);
    }
    errno = saved;
}

void fdt_record_close_range(unsigned first, unsigned last, enum fdt_call call, int cloexec_only) {
    int saved = errno;
    struct fdt_rec_close_range *r = fdt_ring_reserve(sizeof *r);
    if (r) {
        r->h.time_ns = fdt_now_ns();
        r->first = first;
        r->last = last;
        r->call = (uint16_t)call;
        r->tid = fdt_gettid();
        fdt_ring_commit(r, FDT_REC_CLOSE_RANGE, cloexec_only ? FDT_RANGE_CLOEXEC_ONLY : 0, sizeof *r);
    }
    errno = saved;
}

void fdt_record_setfd(int fd, int cloexec, enum fdt_call call) {
    int saved = errno;
    struct fdt_rec_setfd *r = fdt_ring_reserve(sizeof *r);
    if (r) {
        r->h.time_ns = fdt_now_ns();
        r->fd = fd;
        r->call = (uint16_t)call;
        r->fd_flags = cloexec ? FDT_FD_CLOEXEC : 0;
        fdt_ring_commit(r, FDT_REC_SETFD, 0, sizeof *r);
    }
    errno = saved;
}

/* Called by fork/_Fork before the real call: the child's hello names this
 * id, and the collector copies the parent's table as of this record. */
uint64_t fdt_record_fork(void) {
    if (!fdt_should_record()) return 0;
    int saved = errno;
    uint64_t id = ((uint64_t)(uint32_t)fdt_g.pid << 32) | (__atomic_add_fetch(&fdt_g.fork_seq, 1, __ATOMIC_RELAXED) & 0xffffffffu);
    fdt_tls_fork_id = id;
    fdt_unwind_fork_begin();
    struct fdt_rec_fork *r = fdt_ring_reserve(sizeof *r);
    if (r) {
        r->h.time_ns = fdt_now_ns();
        r->fork_id = id;
        r->child_pid = 0;
        r->tid = fdt_gettid();
        fdt_ring_commit(r, FDT_REC_FORK, 0, sizeof *r);
    }
    errno = saved;
    return id;
}

/* In the parent once the fork returned (child: the pid, or -1 if it failed). */
void fdt_record_child(uint64_t fork_id, pid_t child) {
    fdt_unwind_fork_end();
    if (!fork_id || child <= 0 || !fdt_should_record()) return;
    int saved = errno;
    struct fdt_rec_fork *r = fdt_ring_reserve(sizeof *r);
    if (r) {
        r->h.time_ns = fdt_now_ns();
        r->fork_id = fork_id;
        r->child_pid = child;
        r->tid = fdt_gettid();
        fdt_ring_commit(r, FDT_REC_CHILD, 0, sizeof *r);
    }
    errno = saved;
}

void fdt_record_note(const char *text) {
    int saved = errno;
    uint16_t len = (uint16_t)strnlen(text, 512);
    uint32_t size = fdt_align8((uint32_t)sizeof(struct fdt_rec_note) + len);
    struct fdt_rec_note *r = fdt_ring_reserve(size);
    if (r) {
        r->h.time_ns = fdt_now_ns();
        r->text_len = len;
        memcpy(r + 1, text, len);
        fdt_ring_commit(r, FDT_REC_NOTE, 0, size);
    }
    errno = saved;
}

_Static_assert(sizeof((const char *[]){ FDT_CALL_NAMES }) / sizeof(const char *) == FDT_CALL_COUNT,
               "FDT_CALL_NAMES must name every enum fdt_call value");

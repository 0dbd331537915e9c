/* What the hooks tell the shim. A hook calls the real function, then
 * reports what it did through one of these (a close: before the real call).
 * They own the policy: whether this thread records now, the snapshot a
 * failure for lack of descriptors asks for, errno as the real call left it,
 * and the records' layout (report.c). The fast paths are inline; recording
 * is out of line. Nothing here allocates or locks: hooks run in signal
 * handlers too. */
#ifndef FDTRACE_REPORT_H
#define FDTRACE_REPORT_H

#include "shim.h"

/* What one call made. Written with designated initialisers; a field left
 * out is absent. */
struct fdt_socket_args {
    int domain, type, protocol; /* as passed to socket() (type with its flags) */
};
struct fdt_open_info {
    enum fdt_call call;
    const char *path;                     /* the path, name or command, or NULL */
    int cloexec;                          /* made close-on-exec */
    const int *source;                    /* the descriptor it came from (dup's source, the
                                             listening socket, the socket that carried it,
                                             the pidfd), or NULL */
    const struct fdt_socket_args *socket; /* a socket's arguments, or NULL */
};

/* Out of line (report.c). `pair`: fds[0] and fds[1] name each other. */
void fdt_record_opens(const int *fds, int n, const struct fdt_open_info *info, int pair);
/* Returns what fdt_closed needs to name this close if it fails. */
struct fdt_close_token {
    uint64_t time_ns; /* the FDT_REC_CLOSE's time; 0: not recorded */
    uint32_t stack;
    uint32_t call;
};
struct fdt_close_token fdt_record_close(int fd, enum fdt_call call, uintptr_t caller);
void fdt_record_bad_close(int fd, struct fdt_close_token t);
void fdt_record_close_range(unsigned first, unsigned last, enum fdt_call call, int cloexec_only);
void fdt_record_setfd(int fd, int cloexec, enum fdt_call call);

/* A creating call failed: for lack of descriptors, the collector takes a
 * snapshot now, before the program reacts (it may close everything next). */
static inline void fdt_open_failed(void) {
    int e = errno;
    if (e == EMFILE || e == ENFILE) fdt_on_exhausted(e);
}

/* After a call that returns a new descriptor, or -1 with errno set. */
static inline void fdt_opened(int fd, const struct fdt_open_info *info) {
    if (FDT_UNLIKELY(fd < 0)) fdt_open_failed();
    else if (fdt_should_record()) fdt_record_opens(&fd, 1, info, 0);
}

/* After a call that fills two descriptors (pipe, socketpair, openpty) and
 * returns 0, or fails. Read only on success. */
static inline void fdt_opened_pair(int rc, const int *first, const int *second, const struct fdt_open_info *info) {
    if (FDT_UNLIKELY(rc != 0)) {
        fdt_open_failed();
    } else if (fdt_should_record()) {
        int fds[2] = { *first, *second };
        fdt_record_opens(fds, 2, info, 1);
    }
}

/* Descriptors that arrived in a message (SCM_RIGHTS). */
static inline void fdt_received(const int *fds, int n, const struct fdt_open_info *info) {
    if (n > 0 && fdt_should_record()) fdt_record_opens(fds, n, info, 0);
}

/* Before a call closes fd: recorded first, so that when another thread's
 * open reuses the number, the collector sees the close before it. caller:
 * who called the hook (FDT_CALLER, taken in the hook itself). */
#define FDT_CALLER ((uintptr_t)__builtin_return_address(0))
static inline struct fdt_close_token fdt_closing(int fd, enum fdt_call call, uintptr_t caller) {
    if (fdt_should_record()) return fdt_record_close(fd, call, caller);
    return (struct fdt_close_token){ 0 };
}

/* After the real close that fdt_closing announced, with its result (0, or
 * -1 / EOF and errno): EBADF says the number was not open — a bad close,
 * recorded (negative numbers, the "no descriptor" idiom, are not). The
 * success path pays one comparison. Returns rc, errno untouched. */
static inline int fdt_closed(int rc, int fd, struct fdt_close_token t) {
    if (FDT_UNLIKELY(rc != 0) && errno == EBADF && fd >= 0 && t.time_ns) fdt_record_bad_close(fd, t);
    return rc;
}

/* Before close_range/closefrom; cloexec_only: the range is only marked
 * close-on-exec (CLOSE_RANGE_CLOEXEC). */
static inline void fdt_closing_range(unsigned first, unsigned last, enum fdt_call call, int cloexec_only) {
    if (first <= last && fdt_should_record()) fdt_record_close_range(first, last, call, cloexec_only);
}

/* After a call that set (cloexec) or cleared fd's close-on-exec flag. */
static inline void fdt_cloexec_set(int fd, int cloexec, enum fdt_call call) {
    if (fdt_should_record()) fdt_record_setfd(fd, cloexec, call);
}

/* Forks the shim records around the real call (_Fork, clone, syscall):
 * fdt_forking before it (the FORK record the child's table is copied from;
 * its id, 0 when not recording), fdt_forked in the parent after it (the
 * child, or -1). */
uint64_t fdt_forking(void);
void fdt_forked(uint64_t fork_id, pid_t child);
/* Forks through libc's fork (fork, forkpty) are recorded by the atfork
 * prepare handler (state.c): the hook only names the child. */
static inline void fdt_libc_forking(void) { fdt_tls_fork_id = 0; }
static inline void fdt_libc_forked(pid_t child) { fdt_forked(fdt_tls_fork_id, child); }

/* The process ends without libc's exit (_exit, _Exit, exit_group): the
 * kernel's view now. */
static inline void fdt_exiting_now(int status) {
    if (!fdt_in_vfork_child()) fdt_send_exit_view(FDT_EXIT_UNDERSCORE, status);
}
/* exit() or main's return: the status the exit view (at the destructor)
 * reports. */
static inline void fdt_exit_status(int status) {
    if (!fdt_in_vfork_child()) __atomic_store_n(&fdt_g.exit_status, status & 0xff, __ATOMIC_RELEASE);
}

/* One line for the report (a note), from the shim itself. */
void fdt_record_note(const char *text);

#endif /* FDTRACE_REPORT_H */

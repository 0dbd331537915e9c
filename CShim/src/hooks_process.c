/* Hooks: process ends and fork variants that skip pthread_atfork. */
#include "report.h"
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

/* _exit skips destructors: send the kernel's view here. */
FDT_EXPORT void _exit(int status) {
    fdt_exiting_now(status);
    FDT_REAL(_exit)(status);
    __builtin_unreachable();
}

FDT_EXPORT void _Exit(int status) {
    fdt_exiting_now(status);
    FDT_REAL(_Exit)(status);
    __builtin_unreachable();
}

/* The fork is recorded and the child reconnects in our atfork handlers
 * (state.c); the parent tells the collector which child to expect. */
FDT_EXPORT pid_t fork(void) {
    fdt_libc_forking();
    pid_t pid = FDT_REAL(fork)();
    if (pid != 0) fdt_libc_forked(pid);
    return pid;
}

/* glibc's _Fork runs no atfork handlers: reconnect the child here. */
FDT_EXPORT pid_t _Fork(void) {
    uint64_t id = fdt_forking();
    pid_t pid = FDT_REAL(_Fork)();
    if (pid == 0) fdt_after_fork_child();
    else fdt_forked(id, pid);
    return pid;
}

/* A fork child connects at its first record: one that has not yet does so
 * before it leaves its namespaces (the collector's socket is abstract,
 * reachable only from the network namespace it listens in). */
FDT_EXPORT int unshare(int flags) {
    fdt_connect_before_leaving();
    return FDT_REAL(unshare)(flags);
}

FDT_EXPORT int setns(int fd, int nstype) {
    fdt_connect_before_leaving();
    return FDT_REAL(setns)(fd, nstype);
}

/* exit() runs atexit handlers, then our destructor: keep the status for it. */
FDT_EXPORT void exit(int status) {
    fdt_exit_status(status);
    FDT_REAL(exit)(status);
    __builtin_unreachable();
}

/* Returning from main calls exit inside libc, past any hook: wrap main to
 * learn its status. */
typedef int (*fdt_main_fn)(int, char **, char **);
static fdt_main_fn program_main;

static int wrapped_main(int argc, char **argv, char **envp) {
    int status = program_main(argc, argv, envp);
    fdt_exit_status(status);
    return status;
}

typedef int (*fdt_start_main_fn)(fdt_main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

FDT_EXPORT int __libc_start_main(fdt_main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
    void (*rtld_fini)(void), void *stack_end) {
    fdt_start_main_fn real = (fdt_start_main_fn)fdt_lookup_next("__libc_start_main");
    program_main = main;
    return real(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* glibc's clone(): a child without CLONE_VM is a new process that skips the
 * atfork handlers, so it starts through a thunk that reconnects it first.
 * A CLONE_VM|CLONE_VFORK child shares our memory and TLS: it is marked like
 * a vfork child. The child never returns through this frame (glibc's clone
 * makes it call fn and exit), so wrapping it in C is safe. */
struct clone_thunk {
    int (*fn)(void *);
    void *arg;
};

static int clone_child_start(void *p) {
    struct clone_thunk t = *(struct clone_thunk *)p;
    fdt_after_fork_child();
    return t.fn(t.arg);
}

typedef int (*fdt_clone_fn)(int (*)(void *), void *, int, void *, ...);

FDT_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    pid_t *ptid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *ctid = va_arg(ap, pid_t *);
    va_end(ap);
    fdt_clone_fn real = (fdt_clone_fn)fdt_lookup_next("clone");
    if (!(flags & CLONE_VM)) {
        struct clone_thunk t = { fn, arg };
        uint64_t id = fdt_forking();
        int pid = real(clone_child_start, stack, flags, &t, ptid, tls, ctid);
        if (pid != 0) fdt_forked(id, pid);
        return pid;
    }
    if (flags & CLONE_VFORK) {
        fdt_tls_vfork = 1;
        int pid = real(fn, stack, flags, arg, ptid, tls, ctid);
        fdt_tls_vfork = 0;
        return pid;
    }
    return real(fn, stack, flags, arg, ptid, tls, ctid);
}

/* syscall(SYS_fork) and syscall(SYS_clone) without CLONE_VM return in the
 * child like fork(); the assembly trampoline (syscall_x86_64.S) sends only
 * those here, and everything else straight to libc's syscall(). */
long fdt_syscall_forklike(long number, long a1, long a2, long a3, long a4, long a5) {
    long (*real)(long, ...) = (long (*)(long, ...))fdt_real_syscall();
    uint64_t id = fdt_forking();
    long r = real(number, a1, a2, a3, a4, a5);
    if (r == 0) fdt_after_fork_child();
    else fdt_forked(id, (pid_t)r);
    return r;
}

/* Hooks: process ends and fork variants that skip pthread_atfork. */
#include "shim.h"
#include <unistd.h>
#include <stdlib.h>

/* _exit skips destructors: send the kernel's view here. */
FDT_EXPORT void _exit(int status) {
    if (!(fdt_tls_vfork && fdt_vfork_child_check())) fdt_send_exit_view(FDT_EXIT_UNDERSCORE, status);
    FDT_REAL(_exit)(status);
    __builtin_unreachable();
}

FDT_EXPORT void _Exit(int status) {
    if (!(fdt_tls_vfork && fdt_vfork_child_check())) fdt_send_exit_view(FDT_EXIT_UNDERSCORE, status);
    FDT_REAL(_Exit)(status);
    __builtin_unreachable();
}

/* The child reconnects in our atfork handler (state.c); the parent tells
 * the collector which child to expect. */
FDT_EXPORT pid_t fork(void) {
    uint64_t id = fdt_record_fork();
    pid_t pid = FDT_REAL(fork)();
    if (pid > 0) fdt_record_child(id, pid);
    return pid;
}

/* glibc's _Fork runs no atfork handlers: reconnect the child here. */
FDT_EXPORT pid_t _Fork(void) {
    uint64_t id = fdt_record_fork();
    pid_t pid = FDT_REAL(_Fork)();
    if (pid == 0) fdt_after_fork_child();
    else if (pid > 0) fdt_record_child(id, pid);
    return pid;
}

/* exit() runs atexit handlers, then our destructor: keep the status for it. */
FDT_EXPORT void exit(int status) {
    if (!(fdt_tls_vfork && fdt_vfork_child_check())) __atomic_store_n(&fdt_g.exit_status, status & 0xff, __ATOMIC_RELEASE);
    FDT_REAL(exit)(status);
    __builtin_unreachable();
}

/* Returning from main calls exit inside libc, past any hook: wrap main to
 * learn its status. */
typedef int (*fdt_main_fn)(int, char **, char **);
static fdt_main_fn program_main;

static int wrapped_main(int argc, char **argv, char **envp) {
    int status = program_main(argc, argv, envp);
    __atomic_store_n(&fdt_g.exit_status, status & 0xff, __ATOMIC_RELEASE);
    return status;
}

typedef int (*fdt_start_main_fn)(fdt_main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

FDT_EXPORT int __libc_start_main(fdt_main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                                 void (*rtld_fini)(void), void *stack_end) {
    fdt_start_main_fn real = (fdt_start_main_fn)fdt_lookup_next("__libc_start_main");
    program_main = main;
    return real(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* Hooks: process ends and fork variants that skip pthread_atfork. */
#include "shim.h"
#include <unistd.h>

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

/* glibc's _Fork runs no atfork handlers: reconnect the child here. */
FDT_EXPORT pid_t _Fork(void) {
    pid_t pid = FDT_REAL(_Fork)();
    if (pid == 0) fdt_after_fork_child();
    return pid;
}

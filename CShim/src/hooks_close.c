/* Hooks: close, close_range, closefrom. A close is recorded *before* the
 * real call so that, when another thread's open reuses the number, the
 * collector sees the close first. The shim holds no descriptor of its own
 * between calls, so these calls pass through unchanged. */

#include "shim.h"
#include <errno.h>
#include <limits.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

FDT_EXPORT int close(int fd) {
    /* libunwind closing its (emulated) pipe, from inside the shim. */
    if (FDT_UNLIKELY(fdt_is_unwinder_pipe(fd)) && fdt_tls_busy) return 0;
    if (fdt_should_record()) fdt_record_close(fd, FDT_CALL_CLOSE, (uintptr_t)__builtin_return_address(0));
    int (*fn)(int) = FDT_REAL(close);
    return fn ? fn(fd) : (int)syscall(SYS_close, fd);
}

FDT_EXPORT int close_range(unsigned int first, unsigned int last, int flags) {
    if (fdt_tls_vfork && fdt_vfork_child_check()) return FDT_REAL(close_range)(first, last, flags);
    if (first <= last && fdt_should_record()) {
        /* With CLOSE_RANGE_CLOEXEC nothing is closed: only the flag is set. */
        int saved = errno;
        fdt_record_close_range(first, last, FDT_CALL_CLOSE_RANGE, (flags & CLOSE_RANGE_CLOEXEC) != 0);
        errno = saved;
    }
    return FDT_REAL(close_range)(first, last, flags);
}

FDT_EXPORT void closefrom(int lowfd) {
    if (fdt_tls_vfork && fdt_vfork_child_check()) {
        FDT_REAL(closefrom)(lowfd);
        return;
    }
    unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;
    if (fdt_should_record()) fdt_record_close_range(first, UINT_MAX, FDT_CALL_CLOSEFROM, 0);
    FDT_REAL(closefrom)(lowfd);
}

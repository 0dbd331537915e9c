/* Hooks: close, close_range, closefrom. A close is reported *before* the
 * real call (report.h). The shim holds no descriptor of its own between
 * calls, so these calls pass through unchanged. */

#include "report.h"
#include <limits.h>
#include <linux/close_range.h>

FDT_EXPORT int close(int fd) {
    /* libunwind closing its (emulated) pipe, from inside the shim. */
    if (FDT_UNLIKELY(fdt_is_unwinder_pipe(fd)) && fdt_tls_busy) return 0;
    struct fdt_close_token t = fdt_closing(fd, FDT_CALL_CLOSE, FDT_CALLER);
    int (*fn)(int) = FDT_REAL(close);
    return fdt_closed(fn ? fn(fd) : (int)syscall(SYS_close, fd), fd, t);
}

/* With CLOSE_RANGE_CLOEXEC nothing is closed: only the flag is set. A
 * range's members that were not open are never bad closes (ranges are how
 * programs close "whatever is open"). */
FDT_EXPORT int close_range(unsigned int first, unsigned int last, int flags) {
    fdt_closing_range(first, last, FDT_CALL_CLOSE_RANGE, (flags & CLOSE_RANGE_CLOEXEC) != 0);
    return FDT_REAL(close_range)(first, last, flags);
}

FDT_EXPORT void closefrom(int lowfd) {
    fdt_closing_range(lowfd < 0 ? 0 : (unsigned)lowfd, UINT_MAX, FDT_CALL_CLOSEFROM, 0);
    FDT_REAL(closefrom)(lowfd);
}

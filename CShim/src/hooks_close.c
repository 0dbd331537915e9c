/* Hooks: close, close_range, closefrom. A close is recorded *before* the
 * real call so that, when another thread's open reuses the number, the
 * collector sees the close first. The shim's own descriptors are never
 * closed: for the program they do not exist (EBADF), as untraced. */

#include "shim.h"
#include <errno.h>
#include <limits.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

FDT_EXPORT int close(int fd) {
    if (FDT_UNLIKELY(fdt_is_own_fd(fd)) && !(fdt_tls_vfork && fdt_vfork_child_check())) {
        if (fdt_tls_busy) {
            /* libunwind replacing its own pipe, from inside the shim. */
            fdt_forget_own_fd(fd);
            return FDT_REAL(close)(fd);
        }
        errno = EBADF;
        return -1;
    }
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
    return fdt_close_range_except_own(first, last, flags, FDT_REAL(close_range));
}

FDT_EXPORT void closefrom(int lowfd) {
    if (fdt_tls_vfork && fdt_vfork_child_check()) {
        FDT_REAL(closefrom)(lowfd);
        return;
    }
    unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;
    if (fdt_should_record()) fdt_record_close_range(first, UINT_MAX, FDT_CALL_CLOSEFROM, 0);
    int own = fdt_lowest_own_at_or_above((int)first);
    if (own < 0) {
        FDT_REAL(closefrom)(lowfd);
        return;
    }
    /* glibc's closefrom would take ours too: close around them (one by
     * one only on kernels without close_range). */
    int saved = errno;
    if (fdt_close_range_except_own(first, UINT_MAX, 0, FDT_REAL(close_range)) != 0) {
        for (int fd = (int)first; fd < 65536; fd++)
            if (!fdt_is_own_fd(fd)) syscall(SYS_close, fd);
    }
    errno = saved;
}

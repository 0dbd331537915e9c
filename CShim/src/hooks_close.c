/* Hooks: close, close_range, closefrom. A close is recorded *before* the
 * real call so that, when another thread's open reuses the number, the
 * collector sees the close first. The shim's own descriptor is never
 * closed: for the program it does not exist (EBADF), as untraced. */

#include "shim.h"
#include <errno.h>
#include <limits.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

FDT_EXPORT int close(int fd) {
    if (FDT_UNLIKELY(fdt_is_own_fd(fd)) && !(fdt_tls_vfork && fdt_vfork_child_check())) {
        errno = EBADF;
        return -1;
    }
    if (fdt_should_record()) fdt_record_close(fd, FDT_CALL_CLOSE);
    int (*fn)(int) = FDT_REAL(close);
    return fn ? fn(fd) : (int)syscall(SYS_close, fd);
}

/* Runs close_range over [first, last] minus the shim's own descriptor. */
static int close_range_around_own(unsigned first, unsigned last, int flags) {
    int own = __atomic_load_n(&fdt_g.sock_fd, __ATOMIC_RELAXED);
    int (*fn)(unsigned, unsigned, int) = FDT_REAL(close_range);
    if (own < 0 || (unsigned)own < first || (unsigned)own > last) return fn(first, last, flags);
    int r = 0;
    if ((unsigned)own > first) r = fn(first, (unsigned)own - 1, flags);
    if (r == 0 && (unsigned)own < last) r = fn((unsigned)own + 1, last, flags);
    return r;
}

FDT_EXPORT int close_range(unsigned int first, unsigned int last, int flags) {
    if (fdt_tls_vfork && fdt_vfork_child_check()) return FDT_REAL(close_range)(first, last, flags);
    if (first <= last && fdt_should_record()) {
        /* With CLOSE_RANGE_CLOEXEC nothing is closed: only the flag is set. */
        int saved = errno;
        fdt_record_close_range(first, last, FDT_CALL_CLOSE_RANGE, (flags & CLOSE_RANGE_CLOEXEC) != 0);
        errno = saved;
    }
    return close_range_around_own(first, last, flags);
}

FDT_EXPORT void closefrom(int lowfd) {
    if (fdt_tls_vfork && fdt_vfork_child_check()) {
        FDT_REAL(closefrom)(lowfd);
        return;
    }
    unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;
    if (fdt_should_record()) fdt_record_close_range(first, UINT_MAX, FDT_CALL_CLOSEFROM, 0);
    int own = __atomic_load_n(&fdt_g.sock_fd, __ATOMIC_RELAXED);
    if (own < 0 || (unsigned)own < first) {
        FDT_REAL(closefrom)(lowfd);
        return;
    }
    int saved = errno;
    if ((unsigned)own > first && close_range_around_own(first, (unsigned)own - 1, 0) != 0) {
        /* No close_range (old kernel): close one by one, as glibc would. */
        for (int fd = (int)first; fd < own; fd++) syscall(SYS_close, fd);
    }
    errno = saved;
    FDT_REAL(closefrom)(own + 1);
}

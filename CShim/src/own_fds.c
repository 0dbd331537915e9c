/* The shim's own descriptors: the control socket and libunwind's private
 * pipe. They sit at the highest free numbers below min(soft limit, 1024);
 * for the program they do not exist: close() on them fails with EBADF (as it
 * would untraced), close_range/closefrom pass over them, and dup2/dup3 onto
 * the socket move it out of the way first. */
#include "shim.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_OWN 4
static int own[MAX_OWN] = { -1, -1, -1, -1 };

static long raw_fcntl(int fd, int cmd, long arg) { return syscall(SYS_fcntl, fd, cmd, arg); }

int fdt_is_own_fd(int fd) {
    if (fd < 0) return 0;
    for (int i = 0; i < MAX_OWN; i++)
        if (__atomic_load_n(&own[i], __ATOMIC_RELAXED) == fd) return 1;
    return 0;
}

static void set_own(int old, int fd) {
    for (int i = 0; i < MAX_OWN; i++) {
        int expected = old;
        if (__atomic_compare_exchange_n(&own[i], &expected, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return;
    }
}

void fdt_forget_own_fd(int fd) { set_own(fd, -1); }

/* Moves `fd` to a free number just below min(soft limit, 1024), far from the
 * numbers programs use, without growing the kernel's fd table much, and
 * registers it as the shim's. Returns the new number (or fd if no room). */
int fdt_adopt_own_fd(int fd) {
    struct rlimit rl;
    long top = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)top) top = (long)rl.rlim_cur;
    int result = fd;
    for (long n = top - 1; n > fd && n >= top - 64; n--) {
        if (fdt_is_own_fd((int)n)) continue;
        if (raw_fcntl((int)n, F_GETFD, 0) < 0 && errno == EBADF &&
            syscall(SYS_dup3, fd, (int)n, O_CLOEXEC) == n) {
            syscall(SYS_close, fd);
            result = (int)n;
            break;
        }
    }
    set_own(-1, result);
    return result;
}

/* dup2/dup3 onto one of our numbers: the program gets exactly the number it
 * asked for. The socket moves away first; libunwind's pipe (which it never
 * uses again after start-up: local unwinding does not validate memory)
 * simply stops being ours. */
void fdt_protect_own_fd_before_dup2(int newfd) {
    if (!fdt_is_own_fd(newfd)) return;
    int saved = errno;
    if (newfd == fdt_g.sock_fd) {
        int moved = (int)raw_fcntl(newfd, F_DUPFD_CLOEXEC, 3);
        if (moved >= 0) {
            fdt_forget_own_fd(newfd);
            int high = fdt_adopt_own_fd(moved);
            __atomic_store_n(&fdt_g.sock_fd, high, __ATOMIC_RELEASE);
        }
    } else {
        fdt_forget_own_fd(newfd);
    }
    errno = saved;
}

/* close_range over [first, last] minus our descriptors. */
int fdt_close_range_except_own(unsigned first, unsigned last, int flags,
                               int (*fn)(unsigned, unsigned, int)) {
    int sorted[MAX_OWN], n = 0;
    for (int i = 0; i < MAX_OWN; i++) {
        int fd = __atomic_load_n(&own[i], __ATOMIC_RELAXED);
        if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last) sorted[n++] = fd;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t;
        }
    unsigned from = first;
    int r = 0;
    for (int i = 0; i < n && r == 0; i++) {
        if ((unsigned)sorted[i] > from) r = fn(from, (unsigned)sorted[i] - 1, flags);
        from = (unsigned)sorted[i] + 1;
    }
    if (r == 0 && from <= last) r = fn(from, last, flags);
    return r;
}

/* The lowest own descriptor at or above `low`, or -1 (for closefrom). */
int fdt_lowest_own_at_or_above(int low) {
    int best = -1;
    for (int i = 0; i < MAX_OWN; i++) {
        int fd = __atomic_load_n(&own[i], __ATOMIC_RELAXED);
        if (fd >= low && (best < 0 || fd < best)) best = fd;
    }
    return best;
}

/* At exit, with every descriptor in use, the kernel view needs one to read
 * /proc/self/fd: libunwind's pipe is no longer needed then. */
int fdt_release_spare_own_fd(void) {
    for (int i = 0; i < MAX_OWN; i++) {
        int fd = __atomic_load_n(&own[i], __ATOMIC_RELAXED);
        if (fd >= 0 && fd != fdt_g.sock_fd) {
            fdt_forget_own_fd(fd);
            syscall(SYS_close, fd);
            return 0;
        }
    }
    return -1;
}

int fdt_own_fd_count(void) {
    int n = 0;
    for (int i = 0; i < MAX_OWN; i++)
        if (__atomic_load_n(&own[i], __ATOMIC_RELAXED) >= 0) n++;
    return n;
}

/* Hooks: pipes, duplication, and the close-on-exec flag (fcntl, ioctl). */
#include "report.h"
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>

/* A pipe asked for from inside the shim is libunwind's private one: it gets
 * no descriptors at all (see fdt_unwinder_pipe). */
FDT_EXPORT int pipe(int fds[2]) {
    if (FDT_UNLIKELY(fdt_tls_busy)) return fdt_unwinder_pipe(fds);
    int r = FDT_REAL(pipe)(fds);
    fdt_opened_pair(r, &fds[0], &fds[1], &(struct fdt_open_info){ .call = FDT_CALL_PIPE });
    return r;
}

FDT_EXPORT int pipe2(int fds[2], int flags) {
    if (FDT_UNLIKELY(fdt_tls_busy)) return fdt_unwinder_pipe(fds);
    int r = FDT_REAL(pipe2)(fds, flags);
    fdt_opened_pair(
        r, &fds[0], &fds[1], &(struct fdt_open_info){ .call = FDT_CALL_PIPE2, .cloexec = (flags & O_CLOEXEC) != 0 });
    return r;
}

FDT_EXPORT int dup(int oldfd) {
    int fd = FDT_REAL(dup)(oldfd);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_DUP, .source = &oldfd });
    return fd;
}

/* dup2/dup3 replace their target atomically: no other thread can get that
 * number in between, so one record after the call (an open that replaces
 * whatever the collector had at that number) keeps the order exact. */
FDT_EXPORT int dup2(int oldfd, int newfd) {
    int fd = FDT_REAL(dup2)(oldfd, newfd);
    if (oldfd != newfd) fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_DUP2, .source = &oldfd });
    return fd;
}

FDT_EXPORT int dup3(int oldfd, int newfd, int flags) {
    int fd = FDT_REAL(dup3)(oldfd, newfd, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_DUP3, .cloexec = (flags & O_CLOEXEC) != 0, .source = &oldfd });
    return fd;
}

/* F_DUPFD* make a descriptor, F_SETFD sets or clears close-on-exec. */
static int fcntl_common(int (*fn)(int, int, ...), enum fdt_call call, int fd, int cmd, void *arg) {
    int r = fn(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        fdt_opened(r, &(struct fdt_open_info){ .call = call, .cloexec = cmd == F_DUPFD_CLOEXEC, .source = &fd });
    else if (cmd == F_SETFD && r >= 0) fdt_cloexec_set(fd, ((long)arg & FD_CLOEXEC) != 0, call);
    return r;
}

/* The third argument is an int or a pointer; both travel in a register. */
FDT_EXPORT int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(FDT_REAL(fcntl), FDT_CALL_FCNTL, fd, cmd, arg);
}

FDT_EXPORT int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(FDT_REAL(fcntl64), FDT_CALL_FCNTL64, fd, cmd, arg);
}

FDT_EXPORT int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int r = FDT_REAL(ioctl)(fd, request, arg);
    if (r == 0 && (request == FIOCLEX || request == FIONCLEX)) fdt_cloexec_set(fd, request == FIOCLEX, FDT_CALL_IOCTL);
    return r;
}

/* Hooks: the other descriptor factories (event, timer, signal, notify,
 * memory, process, shared memory, message queue and pseudo-terminal fds). */
#include "shim.h"
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pty.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

static inline void record(int fd, enum fdt_call call, const char *path, int cloexec, int source) {
    fdt_check_exhausted(fd < 0);
    if (fd >= 0 && fdt_should_record()) {
        struct fdt_open_info i = { call, path, cloexec, source, -1, -1, -1 };
        fdt_record_open(fd, &i);
    }
}

FDT_EXPORT int epoll_create(int size) {
    int fd = FDT_REAL(epoll_create)(size);
    record(fd, FDT_CALL_EPOLL_CREATE, NULL, 0, -1);
    return fd;
}

FDT_EXPORT int epoll_create1(int flags) {
    int fd = FDT_REAL(epoll_create1)(flags);
    record(fd, FDT_CALL_EPOLL_CREATE1, NULL, (flags & EPOLL_CLOEXEC) != 0, -1);
    return fd;
}

FDT_EXPORT int eventfd(unsigned int initval, int flags) {
    int fd = FDT_REAL(eventfd)(initval, flags);
    record(fd, FDT_CALL_EVENTFD, NULL, (flags & EFD_CLOEXEC) != 0, -1);
    return fd;
}

FDT_EXPORT int signalfd(int fd, const sigset_t *mask, int flags) {
    int r = FDT_REAL(signalfd)(fd, mask, flags);
    if (fd == -1) record(r, FDT_CALL_SIGNALFD, NULL, (flags & SFD_CLOEXEC) != 0, -1);
    return r; /* with fd != -1 it only changes the mask of an existing fd */
}

FDT_EXPORT int timerfd_create(int clockid, int flags) {
    int fd = FDT_REAL(timerfd_create)(clockid, flags);
    record(fd, FDT_CALL_TIMERFD_CREATE, NULL, (flags & TFD_CLOEXEC) != 0, -1);
    return fd;
}

FDT_EXPORT int inotify_init(void) {
    int fd = FDT_REAL(inotify_init)();
    record(fd, FDT_CALL_INOTIFY_INIT, NULL, 0, -1);
    return fd;
}

FDT_EXPORT int inotify_init1(int flags) {
    int fd = FDT_REAL(inotify_init1)(flags);
    record(fd, FDT_CALL_INOTIFY_INIT1, NULL, (flags & IN_CLOEXEC) != 0, -1);
    return fd;
}

FDT_EXPORT int fanotify_init(unsigned int flags, unsigned int event_f_flags) {
    int fd = FDT_REAL(fanotify_init)(flags, event_f_flags);
    record(fd, FDT_CALL_FANOTIFY_INIT, NULL, (flags & FAN_CLOEXEC) != 0, -1);
    return fd;
}

FDT_EXPORT int memfd_create(const char *name, unsigned int flags) {
    int fd = FDT_REAL(memfd_create)(name, flags);
    record(fd, FDT_CALL_MEMFD_CREATE, name, (flags & MFD_CLOEXEC) != 0, -1);
    return fd;
}

FDT_EXPORT int pidfd_open(pid_t pid, unsigned int flags) {
    int fd = FDT_REAL(pidfd_open)(pid, flags);
    record(fd, FDT_CALL_PIDFD_OPEN, NULL, 1, -1); /* pidfds are always close-on-exec */
    return fd;
}

FDT_EXPORT int pidfd_getfd(int pidfd, int targetfd, unsigned int flags) {
    int fd = FDT_REAL(pidfd_getfd)(pidfd, targetfd, flags);
    record(fd, FDT_CALL_PIDFD_GETFD, NULL, 1, pidfd);
    return fd;
}

FDT_EXPORT int shm_open(const char *name, int oflag, mode_t mode) {
    int fd = FDT_REAL(shm_open)(name, oflag, mode);
    record(fd, FDT_CALL_SHM_OPEN, name, 1, -1); /* shm_open sets FD_CLOEXEC */
    return fd;
}

FDT_EXPORT mqd_t mq_open(const char *name, int oflag, ...) {
    mode_t mode = 0;
    struct mq_attr *attr = NULL;
    if (oflag & O_CREAT) {
        va_list ap;
        va_start(ap, oflag);
        mode = va_arg(ap, mode_t);
        attr = va_arg(ap, struct mq_attr *);
        va_end(ap);
    }
    mqd_t q = FDT_REAL(mq_open)(name, oflag, mode, attr);
    record((int)q, FDT_CALL_MQ_OPEN, name, (oflag & O_CLOEXEC) != 0, -1);
    return q;
}

FDT_EXPORT int posix_openpt(int flags) {
    int fd = FDT_REAL(posix_openpt)(flags);
    record(fd, FDT_CALL_POSIX_OPENPT, "/dev/ptmx", (flags & O_CLOEXEC) != 0, -1);
    return fd;
}

FDT_EXPORT int getpt(void) {
    int fd = FDT_REAL(getpt)();
    record(fd, FDT_CALL_GETPT, "/dev/ptmx", 0, -1);
    return fd;
}

FDT_EXPORT int openpty(int *amaster, int *aslave, char *name, const struct termios *termp,
                       const struct winsize *winp) {
    int r = FDT_REAL(openpty)(amaster, aslave, name, termp, winp);
    fdt_check_exhausted(r != 0);
    if (r == 0 && fdt_should_record()) {
        int fds[2] = { *amaster, *aslave };
        struct fdt_open_info i = { FDT_CALL_OPENPTY, NULL, 0, -1, -1, -1, -1 };
        fdt_record_open_pair(fds, &i);
    }
    return r;
}

FDT_EXPORT pid_t forkpty(int *amaster, char *name, const struct termios *termp,
                         const struct winsize *winp) {
    fdt_tls_fork_id = 0;
    pid_t pid = FDT_REAL(forkpty)(amaster, name, termp, winp);
    if (pid > 0) {
        /* glibc's own fork inside was recorded by our atfork handler. */
        fdt_record_child(fdt_tls_fork_id, pid);
        record(*amaster, FDT_CALL_FORKPTY, "/dev/ptmx", 0, -1);
    }
    return pid;
}

/* Hooks: the other descriptor factories (event, timer, signal, notify,
 * memory, process, shared memory, message queue and pseudo-terminal fds). */
#include "report.h"
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

FDT_EXPORT int epoll_create(int size) {
    int fd = FDT_REAL(epoll_create)(size);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_EPOLL_CREATE });
    return fd;
}

FDT_EXPORT int epoll_create1(int flags) {
    int fd = FDT_REAL(epoll_create1)(flags);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_EPOLL_CREATE1, .cloexec = (flags & EPOLL_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int eventfd(unsigned int initval, int flags) {
    int fd = FDT_REAL(eventfd)(initval, flags);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_EVENTFD, .cloexec = (flags & EFD_CLOEXEC) != 0 });
    return fd;
}

/* With fd != -1 it only changes the mask of an existing descriptor. */
FDT_EXPORT int signalfd(int fd, const sigset_t *mask, int flags) {
    int r = FDT_REAL(signalfd)(fd, mask, flags);
    if (fd == -1)
        fdt_opened(r, &(struct fdt_open_info){ .call = FDT_CALL_SIGNALFD, .cloexec = (flags & SFD_CLOEXEC) != 0 });
    return r;
}

FDT_EXPORT int timerfd_create(int clockid, int flags) {
    int fd = FDT_REAL(timerfd_create)(clockid, flags);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_TIMERFD_CREATE, .cloexec = (flags & TFD_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int inotify_init(void) {
    int fd = FDT_REAL(inotify_init)();
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_INOTIFY_INIT });
    return fd;
}

FDT_EXPORT int inotify_init1(int flags) {
    int fd = FDT_REAL(inotify_init1)(flags);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_INOTIFY_INIT1, .cloexec = (flags & IN_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int fanotify_init(unsigned int flags, unsigned int event_f_flags) {
    int fd = FDT_REAL(fanotify_init)(flags, event_f_flags);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_FANOTIFY_INIT, .cloexec = (flags & FAN_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int memfd_create(const char *name, unsigned int flags) {
    int fd = FDT_REAL(memfd_create)(name, flags);
    fdt_opened(fd,
        &(struct fdt_open_info){ .call = FDT_CALL_MEMFD_CREATE, .path = name, .cloexec = (flags & MFD_CLOEXEC) != 0 });
    return fd;
}

/* pidfds are always close-on-exec. */
FDT_EXPORT int pidfd_open(pid_t pid, unsigned int flags) {
    int fd = FDT_REAL(pidfd_open)(pid, flags);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_PIDFD_OPEN, .cloexec = 1 });
    return fd;
}

FDT_EXPORT int pidfd_getfd(int pidfd, int targetfd, unsigned int flags) {
    int fd = FDT_REAL(pidfd_getfd)(pidfd, targetfd, flags);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_PIDFD_GETFD, .cloexec = 1, .source = &pidfd });
    return fd;
}

/* shm_open sets FD_CLOEXEC. */
FDT_EXPORT int shm_open(const char *name, int oflag, mode_t mode) {
    int fd = FDT_REAL(shm_open)(name, oflag, mode);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_SHM_OPEN, .path = name, .cloexec = 1 });
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
    fdt_opened(
        (int)q, &(struct fdt_open_info){ .call = FDT_CALL_MQ_OPEN, .path = name, .cloexec = (oflag & O_CLOEXEC) != 0 });
    return q;
}

FDT_EXPORT int posix_openpt(int flags) {
    int fd = FDT_REAL(posix_openpt)(flags);
    fdt_opened(fd, &(struct fdt_open_info){
                       .call = FDT_CALL_POSIX_OPENPT, .path = "/dev/ptmx", .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int getpt(void) {
    int fd = FDT_REAL(getpt)();
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_GETPT, .path = "/dev/ptmx" });
    return fd;
}

FDT_EXPORT int openpty(int *amaster, int *aslave, char *name, const struct termios *termp, const struct winsize *winp) {
    int r = FDT_REAL(openpty)(amaster, aslave, name, termp, winp);
    fdt_opened_pair(r, amaster, aslave, &(struct fdt_open_info){ .call = FDT_CALL_OPENPTY });
    return r;
}

/* glibc's own fork inside is recorded by the atfork handler (report.h). */
FDT_EXPORT pid_t forkpty(int *amaster, char *name, const struct termios *termp, const struct winsize *winp) {
    fdt_libc_forking();
    pid_t pid = FDT_REAL(forkpty)(amaster, name, termp, winp);
    if (pid > 0) {
        fdt_libc_forked(pid);
        fdt_opened(*amaster, &(struct fdt_open_info){ .call = FDT_CALL_FORKPTY, .path = "/dev/ptmx" });
    }
    return pid;
}

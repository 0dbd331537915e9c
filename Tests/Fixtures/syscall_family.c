/* Fixture: descriptor calls made through syscall(), as libuv (node) and
 * other runtimes make them. Each LEAK line runs K times; everything else is
 * closed through syscall(SYS_close) or syscall(SYS_close_range). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define K 3

int main(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR2);
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC;
    for (int i = 0; i < K; i++) {
        syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY); /* LEAK(openat) */
        syscall(SYS_open, "/etc/passwd", O_RDONLY); /* LEAK(open) */
        syscall(SYS_openat2, AT_FDCWD, "/etc/hostname", &how, sizeof how); /* LEAK(openat2) */
        syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); /* LEAK(socket) */
        syscall(SYS_eventfd2, 0, 0); /* LEAK(eventfd) */
        syscall(SYS_epoll_create1, EPOLL_CLOEXEC); /* LEAK(epoll_create1) */
        syscall(SYS_memfd_create, "fx", 0); /* LEAK(memfd_create) */
        syscall(SYS_timerfd_create, CLOCK_MONOTONIC, 0); /* LEAK(timerfd_create) */
        syscall(SYS_inotify_init1, 0); /* LEAK(inotify_init1) */
        syscall(SYS_signalfd4, -1, &mask, 8, 0); /* LEAK(signalfd) */
        syscall(SYS_pidfd_open, getpid(), 0); /* LEAK(pidfd_open) */
        int f = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
        syscall(SYS_dup, f); /* LEAK(dup) */
        syscall(SYS_dup3, f, 300 + i, O_CLOEXEC); /* LEAK(dup3) */
        syscall(SYS_fcntl, f, F_DUPFD_CLOEXEC, 400); /* LEAK(fcntl) */
        syscall(SYS_close, f);
        /* Opened and closed again, all through syscall(). */
        int p[2], sv[2];
        syscall(SYS_pipe2, p, O_CLOEXEC);
        syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv);
        syscall(SYS_close, p[0]);
        syscall(SYS_close, p[1]);
        int lo = sv[0] < sv[1] ? sv[0] : sv[1], hi = sv[0] < sv[1] ? sv[1] : sv[0];
        if (hi == lo + 1) syscall(SYS_close_range, lo, hi, 0);
        else { syscall(SYS_close, lo); syscall(SYS_close, hi); }
        /* Reuse: the number just closed comes back from a libc open. */
        int again = open("/dev/null", O_RDONLY);
        syscall(SYS_close, again);
    }
    return 0;
}

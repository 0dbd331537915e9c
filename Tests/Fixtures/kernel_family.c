/* Fixture for the kernel event source: every call that makes or releases
 * descriptors, most of them through libc, some as raw system calls (no
 * libc wrapper, or the older call libc no longer makes); children by fork,
 * vfork and posix_spawn (clone3, then exec). Waits for a line on stdin
 * first, and prints the calls that succeeded (fdtrace's names for them)
 * on stdout; some need a kernel that allows them (userfaultfd, io_uring). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static char done[4096];

static long ok(const char *name, long r) {
    if (r >= 0) {
        strcat(done, name);
        strcat(done, " ");
    }
    return r;
}

static int connected(const struct sockaddr_un *a, socklen_t len) {
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    connect(c, (const struct sockaddr *)a, len);
    return c;
}

int main(void) {
    char line[8];
    if (read(0, line, sizeof line) <= 0) return 1;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR2);
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC;

    ok("open", syscall(SYS_open, "/etc/hostname", O_RDONLY));
    ok("openat", openat(AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC));
    ok("openat2", syscall(SYS_openat2, AT_FDCWD, "/etc/passwd", &how, sizeof how));
    ok("creat", syscall(SYS_creat, "/dev/null", 0600));

    int ls = (int)ok("socket", socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "fdtrace-kernel-family-%d", (int)getpid());
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    bind(ls, (struct sockaddr *)&a, alen);
    listen(ls, 4);
    int c1 = connected(&a, alen);
    ok("accept", syscall(SYS_accept, ls, NULL, NULL));
    int c2 = connected(&a, alen);
    ok("accept4", accept4(ls, NULL, NULL, SOCK_CLOEXEC));
    int sv[2];
    ok("socketpair", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int p[2], q[2];
    ok("pipe", syscall(SYS_pipe, p));
    ok("pipe2", pipe2(q, O_CLOEXEC));

    int f = open("/dev/null", O_RDONLY);
    ok("dup", dup(f));
    ok("dup2", dup2(f, 100));
    ok("dup3", dup3(f, 101, O_CLOEXEC));
    ok("fcntl", fcntl(f, F_DUPFD, 110));
    ok("fcntl", fcntl(f, F_DUPFD_CLOEXEC, 120));
    fcntl(f, F_SETFD, FD_CLOEXEC);
    ioctl(110, FIOCLEX);
    ioctl(101, FIONCLEX);

    ok("epoll_create", syscall(SYS_epoll_create, 1));
    ok("epoll_create1", epoll_create1(EPOLL_CLOEXEC));
    ok("eventfd", syscall(SYS_eventfd, 0));
    ok("eventfd", eventfd(0, EFD_CLOEXEC));
    ok("signalfd", syscall(SYS_signalfd, -1, &mask, 8));
    int sfd = (int)ok("signalfd", signalfd(-1, &mask, SFD_CLOEXEC));
    signalfd(sfd, &mask, 0); /* a new mask for that one: no new descriptor */
    ok("timerfd_create", timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
    ok("inotify_init", syscall(SYS_inotify_init));
    ok("inotify_init1", inotify_init1(IN_CLOEXEC));
    ok("fanotify_init", fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC, O_RDONLY));
    ok("memfd_create", memfd_create("kernel-family", MFD_CLOEXEC));
    int pidfd = (int)ok("pidfd_open", syscall(SYS_pidfd_open, getpid(), 0));
    ok("pidfd_getfd", syscall(SYS_pidfd_getfd, pidfd, f, 0));
    ok("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    struct io_uring_params up;
    memset(&up, 0, sizeof up);
    ok("io_uring_setup", syscall(SYS_io_uring_setup, 4, &up));

    close(c1);
    close(c2);
    close(ls);
    close(-1);             /* EBADF: recorded all the same (at entry) */
    close_range(100, 101, CLOSE_RANGE_CLOEXEC);
    close_range(110, 120, 0);

    pid_t forked = fork();
    if (forked == 0) {
        close(open("/etc/group", O_RDONLY));
        open("/etc/hostname", O_RDONLY);
        _exit(0);
    }
    pid_t vforked = vfork();
    if (vforked == 0) _exit(0);
    pid_t spawned;
    char *argv[] = { "/bin/true", NULL };
    posix_spawn(&spawned, "/bin/true", NULL, NULL, argv, environ);
    waitpid(forked, NULL, 0);
    waitpid(vforked, NULL, 0);
    waitpid(spawned, NULL, 0);
    printf("%s\n", done);
    return 0;
}

/* Fixture: pipes, duplication and the close-on-exec flag. Each LEAK line
 * runs K times. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define K 4

int main(void) {
    for (int i = 0; i < K; i++) {
        int p[2];
        pipe(p); /* LEAK(pipe) */
        pipe2(p, O_CLOEXEC); /* LEAK(pipe2) */
        int a = open("/etc/hostname", O_RDONLY); /* LEAK(open) */
        dup(a); /* LEAK(dup) */
        int b = open("/etc/passwd", O_RDONLY); /* replaced by the dup2 below */
        dup2(a, b); /* LEAK(dup2) */
        dup3(a, 200 + i, O_CLOEXEC); /* LEAK(dup3) */
        fcntl(a, F_DUPFD, 100); /* LEAK(fcntl) */
        int c = fcntl(a, F_DUPFD_CLOEXEC, 0); /* LEAK(fcntl) */
        ioctl(c, FIONCLEX);
        int d = open("/etc/hostname", O_RDONLY); /* LEAK(open-cloexec) */
        ioctl(d, FIOCLEX);
        int e = open("/etc/hostname", O_RDONLY); /* LEAK(open-setfd) */
        fcntl(e, F_SETFD, FD_CLOEXEC);

        int q[2];
        pipe(q);
        close(q[0]);
        close(q[1]);
        close(dup(a));
        int x = open("/etc/hostname", O_RDONLY);
        dup2(x, x); /* no-op */
        close(dup2(x, 300));
        close(x);
    }
    return 0;
}

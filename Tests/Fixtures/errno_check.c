/* Fixture: every hook must leave errno as the real call did. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHOW(expr) do { errno = 0; long r = (long)(expr); printf("%-40s -> %ld errno=%d\n", #expr, r == 0 ? 0L : (r < 0 ? r : 1L), errno); } while (0)

int main(void) {
    SHOW(open("/nonexistent/x", O_RDONLY));
    SHOW(openat(AT_FDCWD, "/nonexistent/x", O_RDONLY));
    SHOW(close(-1));
    SHOW(close(9999));
    SHOW(dup(9999));
    SHOW(dup2(9999, 50));
    SHOW(dup3(1, 1, 0));
    SHOW(fcntl(9999, F_DUPFD, 0));
    SHOW(socket(-1, SOCK_STREAM, 0));
    SHOW(pipe2(NULL, 0) == 0 ? 0 : -1);
    SHOW(fopen("/nonexistent/x", "r"));
    SHOW(opendir("/nonexistent"));
    int fd = open("/etc/hostname", O_RDONLY);
    errno = 1234;
    close(fd);
    printf("errno after a successful close: %d\n", errno);
    errno = 4321;
    fd = open("/etc/hostname", O_RDONLY);
    printf("errno after a successful open: %d\n", errno);
    close(fd);
    return 0;
}

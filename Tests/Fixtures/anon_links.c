/* Fixture: descriptors whose /proc/self/fd links the exit view names
 * without reading them (a pipe, a socket pair) beside ones it must read: a
 * named FIFO (S_ISFIFO too, on a real filesystem) and an O_PATH descriptor
 * of a bound unix socket file (S_ISSOCK too). All left open. Prints each
 * one's link as readlink gives it. argv[1]: a directory to make them in. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void show(int fd) {
    char link[64], target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    printf("%d %s\n", fd, target);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int p[2], sv[2];
    if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
    char fifo[256], sock[256];
    snprintf(fifo, sizeof fifo, "%s/fifo", argv[1]);
    snprintf(sock, sizeof sock, "%s/sock", argv[1]);
    if (mkfifo(fifo, 0600)) return 1;
    int f = open(fifo, O_RDWR);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (f < 0 || l < 0 || bind(l, (void *)&a, sizeof a)) return 1;
    int o = open(sock, O_PATH);
    if (o < 0) return 1;
    for (int fd = 3; fd <= o; fd++) show(fd);
    return 0;
}

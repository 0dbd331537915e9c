/* Fixture for the kernel event source. With argv[1] == "wait" it first
 * waits for a line on stdin (the test puts it in the traced set first);
 * then it opens and closes at the lines marked KSITE(name), forks a child
 * that opens and closes /etc/group, waits for it and exits 3, leaving
 * descriptor 20 open. With argv[1] == "noise" it opens and closes
 * /etc/hostname N times (argv[2]) and exits: a process nobody traces. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int open_passwd(void) {
    return openat(AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC); /* KSITE(openat) */
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "noise") == 0) {
        for (int i = atoi(argv[2]); i > 0; i--) close(open("/etc/hostname", O_RDONLY));
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        char line[8];
        if (read(0, line, sizeof line) <= 0) return 1;
    }
    int a = open("/etc/hostname", O_RDONLY); /* KSITE(open) */
    int b = open_passwd();
    int p[2];
    pipe2(p, O_CLOEXEC); /* KSITE(pipe2) */
    int s = socket(AF_UNIX, SOCK_STREAM, 0); /* KSITE(socket) */
    int d = dup(a); /* KSITE(dup) */
    dup2(b, 20); /* KSITE(dup2) */
    fcntl(a, F_SETFD, FD_CLOEXEC);
    close(a);
    close(b);
    close_range(p[0], d > s ? d : s, 0);
    pid_t child = fork();
    if (child == 0) {
        close(open("/etc/group", O_RDONLY)); /* KSITE(child) */
        _exit(0);
    }
    waitpid(child, NULL, 0);
    return 3;
}

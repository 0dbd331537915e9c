/* Fixture: opens a file without O_CLOEXEC (it leaks into the exec'd
 * program) and one with it, then execs `sleep 0.1`. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    if (argc > 1) execlp(argv[1], argv[1], (char *)NULL); /* a failing exec: we go on */
    execlp("sleep", "sleep", "0.1", (char *)NULL);
    perror("exec");
    return 1;
}

/* Fixture: fork children that connect late, or never (the shim connects a
 * fork child at its first record, not at the fork):
 *   a  execs `true` at once, recording nothing before: it inherits a pipe
 *      the parent made without close-on-exec;
 *   b  clears its environment, then leaks a file;
 *   c  leaves its network namespace (the collector's socket is abstract),
 *      then leaks a file;
 *   d  records nothing and is killed.
 * The parent waits for each and prints how they ended. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_of(pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

int main(void) {
    int p[2];
    if (pipe(p) != 0) return 1; /* LEAK(pipe): into `true` */
    pid_t a = fork();
    if (a == 0) {
        execlp("true", "true", (char *)NULL);
        _exit(127);
    }
    pid_t b = fork();
    if (b == 0) {
        clearenv();
        open("/etc/hostname", O_RDONLY); /* LEAK(b) */
        _exit(0);
    }
    pid_t c = fork();
    if (c == 0) {
        if (unshare(CLONE_NEWNET) != 0) _exit(3);
        open("/etc/passwd", O_RDONLY); /* LEAK(c) */
        _exit(0);
    }
    pid_t d = fork();
    if (d == 0)
        for (;;) pause();
    kill(d, SIGKILL);
    int sa = status_of(a), sb = status_of(b), sc = status_of(c), sd = status_of(d);
    printf("a %d b %d c %d d %s\n", WEXITSTATUS(sa), WEXITSTATUS(sb), WEXITSTATUS(sc),
        WIFSIGNALED(sd) ? "killed" : "exited");
    close(p[0]);
    close(p[1]);
    return 0;
}

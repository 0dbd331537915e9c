/* Fixture: a server that forks a worker which drops root privileges
 * (to uid/gid 65534) and execs `true`: that program, of another uid but in
 * the traced tree, must be traced. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
        execlp("true", "true", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("worker exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}

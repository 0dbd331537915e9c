/* Fixture: forkpty (glibc forks inside, without the PLT). The child opens a
 * file and exits; the parent keeps the master side. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL); /* LEAK(forkpty) */
    if (pid == 0) {
        open("/etc/hostname", O_RDONLY); /* LEAK(open) */
        write(1, "child\n", 6);
        _exit(0);
    }
    char buf[64];
    ssize_t n = read(master, buf, sizeof buf);
    waitpid(pid, NULL, 0);
    printf("parent read %s\n", n > 0 ? "something" : "nothing");
    return 0;
}

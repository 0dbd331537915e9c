/* Fixture: reaps children with wait() until ECHILD; must never reap the
 * bare-mode collector. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    if (fork() == 0) {
        open("/etc/passwd", O_RDONLY); /* LEAK(child-open) */
        _exit(0);
    }
    int n = 0;
    while (wait(NULL) > 0) n++;
    printf("reaped %d child(ren), then errno %s\n", n, errno == ECHILD ? "ECHILD" : "other");
    return 0;
}

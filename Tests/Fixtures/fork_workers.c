/* Fixture: a server that forks 4 workers; worker i leaks i+1 files and two
 * sockets; the parent, after its workers are done, leaks 3 pipes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void worker(int i) {
    for (int k = 0; k <= i; k++) open("/etc/hostname", O_RDONLY); /* LEAK(worker-file) */
    for (int k = 0; k < 2; k++) socket(AF_INET, SOCK_STREAM, 0); /* LEAK(worker-socket) */
    int tmp = open("/etc/passwd", O_RDONLY);
    close(tmp);
    exit(0);
}

int main(void) {
    int scratch = open("/etc/hostname", O_RDONLY);
    for (int i = 0; i < 4; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(scratch);
            worker(i);
        }
    }
    close(scratch);
    while (wait(NULL) > 0) {}
    for (int k = 0; k < 3; k++) {
        int p[2];
        pipe(p); /* LEAK(parent-pipe) */
    }
    printf("parent done\n");
    return 0;
}

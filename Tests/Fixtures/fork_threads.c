/* Fixture: fork while 4 other threads are inside interposed calls. Each
 * child (alarm-guarded: a deadlock would end it with SIGALRM) opens one
 * file and exits, or execs `true`. The parent counts clean exits. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 40

static volatile int stop;

static void *churn(void *arg) {
    (void)arg;
    while (!stop) {
        int fd = open("/dev/null", O_RDONLY);
        int p[2];
        if (pipe(p) == 0) { close(p[0]); close(p[1]); }
        close(fd);
    }
    return NULL;
}

int main(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, churn, NULL);
    int clean = 0;
    for (int i = 0; i < CHILDREN; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            /* What the other threads held at the fork is not this child's. */
            closefrom(3);
            if (i % 2) {
                execlp("true", "true", (char *)NULL);
                _exit(3);
            }
            open("/etc/hostname", O_RDONLY); /* LEAK(child) */
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) clean++;
    }
    stop = 1;
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("children exited cleanly: %d of %d\n", clean, CHILDREN);
    return 0;
}

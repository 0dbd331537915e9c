/* Fixture: 8 threads open and close /dev/null 100 000 times in all, with
 * heavy reuse of descriptor numbers; each thread leaks LEAKS_PER_THREAD. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define THREADS 8
#define LEAKS_PER_THREAD 3

static int total = 100000;

static void *work(void *arg) {
    (void)arg;
    int n = total / THREADS;
    for (int i = 0; i < n; i++) {
        int fd = open("/dev/null", O_RDONLY);
        if (i % 7 == 0) {
            int p[2];
            if (pipe(p) == 0) { close(p[0]); close(p[1]); }
        }
        close(fd);
        if (i % (n / LEAKS_PER_THREAD) == 0 && i / (n / LEAKS_PER_THREAD) < LEAKS_PER_THREAD)
            open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) total = atoi(argv[1]);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, work, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    printf("done\n");
    return 0;
}

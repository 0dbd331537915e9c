/* Workloads (1) and (4): COUNT open+close pairs of /dev/null, split over
 * THREADS threads. Prints the loop's own elapsed time. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long per_thread;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((noinline)) static void open_close(long n) {
    for (long i = 0; i < n; i++) {
        int fd = open("/dev/null", O_RDONLY);
        close(fd);
    }
}

static void *work(void *arg) {
    (void)arg;
    open_close(per_thread);
    return NULL;
}

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    per_thread = count / threads;
    double t0 = now();
    if (threads == 1) {
        open_close(per_thread);
    } else {
        pthread_t t[64];
        for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, work, NULL);
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    }
    printf("elapsed=%.6f\n", now() - t0);
    return 0;
}

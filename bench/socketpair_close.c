/* Workload (2): COUNT socketpair+close. Prints the loop's elapsed time. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1000000;
    double t0 = now();
    for (long i = 0; i < count; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
        close(sv[0]);
        close(sv[1]);
    }
    printf("elapsed=%.6f\n", now() - t0);
    return 0;
}

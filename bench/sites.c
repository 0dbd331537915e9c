/* Workload (8): PAIRS open+close pairs of /dev/null from 1000 distinct
 * stacks (a0..a9 -> b0..b9 -> c0..c9), for the collector's memory bound. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef void (*fn)(int, long);

#define LEAF(i) __attribute__((noinline)) static void c##i(int s, long n) { \
    (void)s; for (long k = 0; k < n; k++) close(open("/dev/null", O_RDONLY)); __asm__ volatile(""); }
LEAF(0) LEAF(1) LEAF(2) LEAF(3) LEAF(4) LEAF(5) LEAF(6) LEAF(7) LEAF(8) LEAF(9)
static fn cs[10] = { c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 };

#define MID(i) __attribute__((noinline)) static void b##i(int s, long n) { cs[s % 10](s, n); __asm__ volatile(""); }
MID(0) MID(1) MID(2) MID(3) MID(4) MID(5) MID(6) MID(7) MID(8) MID(9)
static fn bs[10] = { b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 };

#define TOP(i) __attribute__((noinline)) static void a##i(int s, long n) { bs[(s / 10) % 10](s, n); __asm__ volatile(""); }
TOP(0) TOP(1) TOP(2) TOP(3) TOP(4) TOP(5) TOP(6) TOP(7) TOP(8) TOP(9)
static fn as[10] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 };

int main(int argc, char **argv) {
    long pairs = argc > 1 ? atol(argv[1]) : 5000000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long per = pairs / 1000;
    for (int round = 0; round < 10; round++)
        for (int s = 0; s < 1000; s++) as[s / 100](s, per / 10);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("elapsed=%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    return 0;
}

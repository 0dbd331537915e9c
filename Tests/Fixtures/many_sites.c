/* Fixture: PAIRS open+close pairs of /dev/null from 1000 distinct stacks
 * (a0..a9 -> b0..b9 -> c0..c9, as bench/sites.c), and each stack also leaks
 * LEAKS files (/etc/hostname), spread over the run: a big run for the size
 * of the HTML report. argv[1]: pairs (default 5 000 000, 10 M events);
 * argv[2]: leaks per stack (default 5). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

typedef void (*fn)(int, long, int);

#define LEAF(i) __attribute__((noinline)) static void c##i(int s, long n, int leak) { \
    (void)s; for (long k = 0; k < n; k++) close(open("/dev/null", O_RDONLY)); \
    if (leak) open("/etc/hostname", O_RDONLY); __asm__ volatile(""); }
LEAF(0) LEAF(1) LEAF(2) LEAF(3) LEAF(4) LEAF(5) LEAF(6) LEAF(7) LEAF(8) LEAF(9)
static fn cs[10] = { c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 };

#define MID(i) __attribute__((noinline)) static void b##i(int s, long n, int leak) { cs[s % 10](s, n, leak); __asm__ volatile(""); }
MID(0) MID(1) MID(2) MID(3) MID(4) MID(5) MID(6) MID(7) MID(8) MID(9)
static fn bs[10] = { b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 };

#define TOP(i) __attribute__((noinline)) static void a##i(int s, long n, int leak) { bs[(s / 10) % 10](s, n, leak); __asm__ volatile(""); }
TOP(0) TOP(1) TOP(2) TOP(3) TOP(4) TOP(5) TOP(6) TOP(7) TOP(8) TOP(9)
static fn as[10] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 };

int main(int argc, char **argv) {
    long pairs = argc > 1 ? atol(argv[1]) : 5000000;
    int leaks = argc > 2 ? atoi(argv[2]) : 5;
    long per = pairs / 1000;
    for (int round = 0; round < 10; round++)
        for (int s = 0; s < 1000; s++) as[s / 100](s, per / 10, round < leaks);
    return 0;
}

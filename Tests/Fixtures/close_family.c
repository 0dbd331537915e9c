/* Fixture: close_range and closefrom. The LEAK line opens K descriptors
 * that survive; the rest are closed in ranges. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <unistd.h>

#define K 5

int main(void) {
    int keep[K];
    for (int i = 0; i < K; i++) keep[i] = open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    /* Marked close-on-exec by close_range: still open. */
    close_range(keep[0], keep[K - 1], CLOSE_RANGE_CLOEXEC);
    for (int i = 0; i < 10; i++) dup2(keep[0], 50 + i);
    close_range(50, 54, 0);
    for (int i = 0; i < 10; i++) dup2(keep[0], 100 + i);
    closefrom(55);
    return 0;
}

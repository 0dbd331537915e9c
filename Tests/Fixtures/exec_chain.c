/* Fixture: a chain of execs. Each of the first N images (argv[1], default
 * 50) opens one file without O_CLOEXEC and execs itself with the same
 * argv; the image after them opens nothing, holds the N descriptors it
 * inherited and exits. The step travels in EXEC_CHAIN_STEP. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 50;
    const char *s = getenv("EXEC_CHAIN_STEP");
    int step = s ? atoi(s) : 1;
    if (step > n) {
        printf("%d images, %d descriptors inherited\n", step, n);
        return 0;
    }
    open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    char next[16];
    snprintf(next, sizeof next, "%d", step + 1);
    setenv("EXEC_CHAIN_STEP", next, 1);
    execv("/proc/self/exe", argv);
    perror("exec");
    return 1;
}

/* Fixture for the kernel event source: becomes uid/gid 65534 (nobody) and
 * tries to load the BPF program through the loader (compiled in with its
 * skeleton). Prints the loader's error line and exits 0 when it refused,
 * 1 if it loaded (it must not), 2 if it could not drop privileges. */
#define _GNU_SOURCE
#include "fdtrace_kernel_loader.h"
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
        perror("dropping privileges");
        return 2;
    }
    char err[512];
    struct fdtk *k = fdtk_open(NULL, err, sizeof err);
    if (k) {
        fdtk_close(k);
        printf("loaded\n");
        return 1;
    }
    printf("%s\n", err);
    return 0;
}

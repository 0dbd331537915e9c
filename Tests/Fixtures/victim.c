/* Fixture: a traced program that publishes its session's socket name in
 * argv[1] and waits (at most 20 s) until argv[2] exists. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    FILE *f = fopen(argv[1], "w");
    fprintf(f, "%s", getenv("FDTRACE_SOCKET"));
    fclose(f);
    for (int i = 0; i < 2000 && access(argv[2], F_OK) != 0; i++) usleep(10000);
    return 0;
}

/* Fixture: what the program sees of its descriptor table. Traced, it must
 * see exactly what it sees untraced below the tracer's protected numbers. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int a = open("/etc/hostname", O_RDONLY);
    int p[2];
    pipe(p);
    printf("first free numbers: %d %d %d\n", a, p[0], p[1]);
    char link[64], target[256];
    for (int fd = 0; fd < 1000; fd++) {
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0 && fd > 2) printf("fd %d open\n", fd);
    }
    close(a);
    close(p[0]);
    close(p[1]);
    return 0;
}

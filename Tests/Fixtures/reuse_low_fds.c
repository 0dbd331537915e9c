/* Fixture: the program closes and reuses low descriptor numbers (3, 4, ...)
 * while threads keep opening files: whatever the tracer's unwinder does, the
 * program's descriptors must stay its own. Prints what each number holds. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void *opener(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        int fd = open("/etc/hostname", O_RDONLY);
        close(fd);
    }
    return NULL;
}

static void show(int fd) {
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    printf("fd %d -> %s\n", fd, n > 0 ? target : "(closed)");
}

int main(void) {
    pthread_t t[2];
    for (int round = 0; round < 50; round++) {
        /* Concurrent part: threads unwind while main closes low numbers. */
        for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, opener, NULL);
        for (int fd = 3; fd < 8; fd++) close(fd);
        for (int i = 0; i < 200; i++) close(open("/etc/hostname", O_RDONLY));
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
        /* Deterministic part: reuse the low numbers, check what they hold. */
        for (int fd = 3; fd < 8; fd++) close(fd);
        int a = open("/etc/hostname", O_RDONLY);
        int b = open("/etc/passwd", O_RDONLY);
        int p[2];
        pipe(p);
        ssize_t w = write(p[1], "x", 1);
        char c = 0;
        ssize_t r = read(p[0], &c, 1);
        if (round == 49) {
            printf("a=%d b=%d pipe=%d,%d w=%zd r=%zd c=%c\n", a, b, p[0], p[1], w, r, c);
            show(a); show(b);
        }
        close(a); close(b); close(p[0]); close(p[1]);
    }
    for (int fd = 3; fd < 8; fd++) show(fd);
    return 0;
}

/* Bad closes (BadCloseTests): bad_close MODE [N] [STATUS] exits STATUS;
 * without a mode (check-shim), double 2, never, fclose and stale.
 *   double N  N descriptors, each closed twice
 *   never     a number never opened is closed (and -1, which is no descriptor)
 *   fclose    a FILE* whose descriptor was closed underneath it, fclosed
 *   stale     thread 1's FILE* loses its descriptor, thread 2 opens the
 *             number, thread 1 fcloses the stream (closing thread 2's file),
 *             then thread 2 closes its own (not open any more); the order is
 *             made by two pipes
 *   clean N   N open/close pairs, N fopen/fclose, closedir, ranges closed
 *             over numbers not open: no bad close
 * Lines marked AT(name) are where the report must point. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void double_close(int n) {
    for (int i = 0; i < n; i++) {
        int fd = open("/dev/null", O_RDONLY); /* AT(double-open) */
        close(fd);                            /* AT(double-first) */
        close(fd);                            /* AT(double-second) */
    }
}

static void never_opened(void) {
    close(1000); /* AT(never) */
    close(-1);
}

static void fclose_closed(void) {
    FILE *f = fopen("/etc/hostname", "r"); /* AT(fclose-open) */
    close(fileno(f));                      /* AT(fclose-under) */
    fclose(f);                             /* AT(fclose-bad) */
}

static int to_owner[2], to_other[2];

static void *other(void *arg) {
    (void)arg;
    char c;
    if (read(to_other[0], &c, 1) != 1) abort();
    int fd = open("/dev/null", O_RDONLY); /* AT(stale-reuse) */
    if (write(to_owner[1], &fd, sizeof fd) != sizeof fd) abort();
    if (read(to_other[0], &c, 1) != 1) abort();
    close(fd); /* AT(stale-victim) */
    return NULL;
}

static void stale(void) {
    if (pipe(to_owner) || pipe(to_other)) abort();
    pthread_t t;
    pthread_create(&t, NULL, other, NULL);
    FILE *f = fopen("/etc/hostname", "r"); /* AT(stale-open) */
    int mine = fileno(f);
    close(mine); /* AT(stale-under) */
    if (write(to_other[1], "x", 1) != 1) abort();
    int theirs;
    if (read(to_owner[0], &theirs, sizeof theirs) != sizeof theirs) abort();
    if (theirs != mine) {
        fprintf(stderr, "the number was not reused (%d, %d)\n", mine, theirs);
        exit(2);
    }
    fclose(f); /* AT(stale-fclose) */
    if (write(to_other[1], "x", 1) != 1) abort();
    pthread_join(t, NULL);
    close(to_owner[0]), close(to_owner[1]), close(to_other[0]), close(to_other[1]);
}

static void clean(int n) {
    for (int i = 0; i < n; i++) {
        int fd = open("/dev/null", O_RDONLY);
        close(fd);
        FILE *f = fopen("/dev/null", "r");
        fclose(f);
    }
    DIR *d = opendir("/");
    closedir(d);
    int p[2];
    if (pipe(p)) abort();
    close_range(3, 200, 0);
    int q = open("/dev/null", O_RDONLY);
    syscall(SYS_close_range, 3, ~0u, 0);
    (void)q;
    q = open("/dev/null", O_RDONLY);
    closefrom(3);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "all";
    int n = argc > 2 ? atoi(argv[2]) : 1;
    if (!strcmp(mode, "all")) double_close(2), never_opened(), fclose_closed(), stale();
    else if (!strcmp(mode, "double")) double_close(n);
    else if (!strcmp(mode, "never")) never_opened();
    else if (!strcmp(mode, "fclose")) fclose_closed();
    else if (!strcmp(mode, "stale")) stale();
    else if (!strcmp(mode, "clean")) clean(n);
    else return 64;
    return argc > 3 ? atoi(argv[3]) : 0;
}

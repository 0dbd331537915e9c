/* Fixture: the open family. Each LEAK line runs K times and is never closed;
 * every other descriptor is closed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

extern int __open_2(const char *, int);
extern int __open64_2(const char *, int);
extern int __openat_2(int, const char *, int);
extern int __openat64_2(int, const char *, int);

#define K 3
#define F "/etc/hostname"

int main(void) {
    unlink("/tmp/fdtrace-fixture-creat");
    for (int i = 0; i < K; i++) {
        open(F, O_RDONLY); /* LEAK(open) */
        open64(F, O_RDONLY); /* LEAK(open64) */
        openat(AT_FDCWD, F, O_RDONLY); /* LEAK(openat) */
        openat64(AT_FDCWD, F, O_RDONLY | O_CLOEXEC); /* LEAK(openat64) */
        creat("/tmp/fdtrace-fixture-creat", 0600); /* LEAK(creat) */
        creat64("/tmp/fdtrace-fixture-creat", 0600); /* LEAK(creat64) */
        __open_2(F, O_RDONLY); /* LEAK(__open_2) */
        __open64_2(F, O_RDONLY); /* LEAK(__open64_2) */
        __openat_2(AT_FDCWD, F, O_RDONLY); /* LEAK(__openat_2) */
        __openat64_2(AT_FDCWD, F, O_RDONLY); /* LEAK(__openat64_2) */
        close(open(F, O_RDONLY));
        close(open64(F, O_RDONLY));
        close(openat(AT_FDCWD, F, O_RDONLY));
        close(openat64(AT_FDCWD, F, O_RDONLY));
        close(creat("/tmp/fdtrace-fixture-creat", 0600));
        close(__open_2(F, O_RDONLY));
        close(__openat64_2(AT_FDCWD, F, O_RDONLY));
        close(open("/tmp", O_RDONLY | O_DIRECTORY));
    }
    unlink("/tmp/fdtrace-fixture-creat");
    return 0;
}

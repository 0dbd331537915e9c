/* Hooks: the open family, including the fortify (__open_2) variants. */
#include "shim.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline void record_path_open(int fd, enum fdt_call call, const char *path, int flags) {
    fdt_check_exhausted(fd < 0);
    if (fd >= 0 && fdt_should_record()) {
        struct fdt_open_info i = { call, path, (flags & O_CLOEXEC) != 0, -1, -1, -1, -1 };
        fdt_record_open(fd, &i);
    }
}

#define NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & __O_TMPFILE) == __O_TMPFILE)
#define READ_MODE(last, flags, mode) \
    do { \
        if (NEEDS_MODE(flags)) { \
            va_list ap; \
            va_start(ap, last); \
            mode = va_arg(ap, int); \
            va_end(ap); \
        } \
    } while (0)

/* Used only while dlsym is resolving on this thread and re-entered a hook. */
static int raw_openat(int dirfd, const char *path, int flags, int mode) {
    return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

FDT_EXPORT int open(const char *path, int flags, ...) {
    int mode = 0;
    READ_MODE(flags, flags, mode);
    int (*fn)(const char *, int, ...) = FDT_REAL(open);
    int fd = fn ? fn(path, flags, mode) : raw_openat(AT_FDCWD, path, flags, mode);
    record_path_open(fd, FDT_CALL_OPEN, path, flags);
    return fd;
}

FDT_EXPORT int open64(const char *path, int flags, ...) {
    int mode = 0;
    READ_MODE(flags, flags, mode);
    int (*fn)(const char *, int, ...) = FDT_REAL(open64);
    int fd = fn ? fn(path, flags, mode) : raw_openat(AT_FDCWD, path, flags | O_LARGEFILE, mode);
    record_path_open(fd, FDT_CALL_OPEN64, path, flags);
    return fd;
}

FDT_EXPORT int openat(int dirfd, const char *path, int flags, ...) {
    int mode = 0;
    READ_MODE(flags, flags, mode);
    int (*fn)(int, const char *, int, ...) = FDT_REAL(openat);
    int fd = fn ? fn(dirfd, path, flags, mode) : raw_openat(dirfd, path, flags, mode);
    record_path_open(fd, FDT_CALL_OPENAT, path, flags);
    return fd;
}

FDT_EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
    int mode = 0;
    READ_MODE(flags, flags, mode);
    int (*fn)(int, const char *, int, ...) = FDT_REAL(openat64);
    int fd = fn ? fn(dirfd, path, flags, mode) : raw_openat(dirfd, path, flags | O_LARGEFILE, mode);
    record_path_open(fd, FDT_CALL_OPENAT64, path, flags);
    return fd;
}

FDT_EXPORT int creat(const char *path, mode_t mode) {
    int fd = FDT_REAL(creat)(path, mode);
    record_path_open(fd, FDT_CALL_CREAT, path, 0);
    return fd;
}

FDT_EXPORT int creat64(const char *path, mode_t mode) {
    int fd = FDT_REAL(creat64)(path, mode);
    record_path_open(fd, FDT_CALL_CREAT64, path, 0);
    return fd;
}

FDT_EXPORT int __open_2(const char *path, int flags) {
    int fd = FDT_REAL(__open_2)(path, flags);
    record_path_open(fd, FDT_CALL_OPEN_2, path, flags);
    return fd;
}

FDT_EXPORT int __open64_2(const char *path, int flags) {
    int fd = FDT_REAL(__open64_2)(path, flags);
    record_path_open(fd, FDT_CALL_OPEN64_2, path, flags);
    return fd;
}

FDT_EXPORT int __openat_2(int dirfd, const char *path, int flags) {
    int fd = FDT_REAL(__openat_2)(dirfd, path, flags);
    record_path_open(fd, FDT_CALL_OPENAT_2, path, flags);
    return fd;
}

FDT_EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
    int fd = FDT_REAL(__openat64_2)(dirfd, path, flags);
    record_path_open(fd, FDT_CALL_OPENAT64_2, path, flags);
    return fd;
}

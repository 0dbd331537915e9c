/* Hooks: the open family, including the fortify (__open_2) variants. */
#include "report.h"
#include <fcntl.h>
#include <stdarg.h>

#define NEEDS_MODE(flags) (((flags)&O_CREAT) || ((flags)&__O_TMPFILE) == __O_TMPFILE)
#define READ_MODE(last, flags, mode)                                                                                   \
    do {                                                                                                               \
        if (NEEDS_MODE(flags)) {                                                                                       \
            va_list ap;                                                                                                \
            va_start(ap, last);                                                                                        \
            mode = va_arg(ap, int);                                                                                    \
            va_end(ap);                                                                                                \
        }                                                                                                              \
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
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_OPEN, .path = path, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int open64(const char *path, int flags, ...) {
    int mode = 0;
    READ_MODE(flags, flags, mode);
    int (*fn)(const char *, int, ...) = FDT_REAL(open64);
    int fd = fn ? fn(path, flags, mode) : raw_openat(AT_FDCWD, path, flags | O_LARGEFILE, mode);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_OPEN64, .path = path, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int openat(int dirfd, const char *path, int flags, ...) {
    int mode = 0;
    READ_MODE(flags, flags, mode);
    int (*fn)(int, const char *, int, ...) = FDT_REAL(openat);
    int fd = fn ? fn(dirfd, path, flags, mode) : raw_openat(dirfd, path, flags, mode);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_OPENAT, .path = path, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
    int mode = 0;
    READ_MODE(flags, flags, mode);
    int (*fn)(int, const char *, int, ...) = FDT_REAL(openat64);
    int fd = fn ? fn(dirfd, path, flags, mode) : raw_openat(dirfd, path, flags | O_LARGEFILE, mode);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_OPENAT64, .path = path, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int creat(const char *path, mode_t mode) {
    int fd = FDT_REAL(creat)(path, mode);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_CREAT, .path = path });
    return fd;
}

FDT_EXPORT int creat64(const char *path, mode_t mode) {
    int fd = FDT_REAL(creat64)(path, mode);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_CREAT64, .path = path });
    return fd;
}

FDT_EXPORT int __open_2(const char *path, int flags) {
    int fd = FDT_REAL(__open_2)(path, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_OPEN_2, .path = path, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int __open64_2(const char *path, int flags) {
    int fd = FDT_REAL(__open64_2)(path, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_OPEN64_2, .path = path, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int __openat_2(int dirfd, const char *path, int flags) {
    int fd = FDT_REAL(__openat_2)(dirfd, path, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_OPENAT_2, .path = path, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
    int fd = FDT_REAL(__openat64_2)(dirfd, path, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_OPENAT64_2, .path = path, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

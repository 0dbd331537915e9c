/* Hooks: stdio, temporary files, directories and popen. glibc opens and
 * closes inside these without going through the PLT, so the entry points
 * themselves are interposed. */
#include "report.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The 'e' mode flag: O_CLOEXEC. */
static inline int mode_cloexec(const char *mode) { return mode && strchr(mode, 'e') != NULL; }

/* The descriptor under a stream, or -1 when there is none (the call failed). */
static inline int stream_fd(FILE *f) { return f ? fileno(f) : -1; }

/* Likewise for a directory. closedir is declared nonnull, yet glibc answers
 * NULL with EINVAL: the test must survive the attribute. */
static inline int dir_fd(DIR *d) {
    __asm__("" : "+r"(d));
    return d ? dirfd(d) : -1;
}

FDT_EXPORT FILE *fopen(const char *path, const char *mode) {
    FILE *f = FDT_REAL(fopen)(path, mode);
    fdt_opened(
        stream_fd(f), &(struct fdt_open_info){ .call = FDT_CALL_FOPEN, .path = path, .cloexec = mode_cloexec(mode) });
    return f;
}

FDT_EXPORT FILE *fopen64(const char *path, const char *mode) {
    FILE *f = FDT_REAL(fopen64)(path, mode);
    fdt_opened(
        stream_fd(f), &(struct fdt_open_info){ .call = FDT_CALL_FOPEN64, .path = path, .cloexec = mode_cloexec(mode) });
    return f;
}

/* freopen closes the old descriptor first (reported before it happens),
 * then opens the new one, often at the same number. Without a path it only
 * changes the mode. */
static FILE *reopen(FILE *(*fn)(const char *, const char *, FILE *), enum fdt_call call, const char *path,
    const char *mode, FILE *stream, uintptr_t caller) {
    if (!path) return fn(path, mode, stream);
    int old = stream_fd(stream);
    if (old >= 0) fdt_closing(old, call, caller);
    FILE *f = fn(path, mode, stream);
    fdt_opened(stream_fd(f), &(struct fdt_open_info){ .call = call, .path = path, .cloexec = mode_cloexec(mode) });
    return f;
}

FDT_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream) {
    return reopen(FDT_REAL(freopen), FDT_CALL_FREOPEN, path, mode, stream, FDT_CALLER);
}

FDT_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream) {
    return reopen(FDT_REAL(freopen64), FDT_CALL_FREOPEN64, path, mode, stream, FDT_CALLER);
}

FDT_EXPORT int fclose(FILE *f) {
    int fd = stream_fd(f);
    struct fdt_close_token t = fd >= 0 ? fdt_closing(fd, FDT_CALL_FCLOSE, FDT_CALLER) : (struct fdt_close_token){ 0 };
    return fdt_closed(FDT_REAL(fclose)(f), fd, t);
}

FDT_EXPORT FILE *tmpfile(void) {
    FILE *f = FDT_REAL(tmpfile)();
    fdt_opened(stream_fd(f), &(struct fdt_open_info){ .call = FDT_CALL_TMPFILE });
    return f;
}

FDT_EXPORT FILE *tmpfile64(void) {
    FILE *f = FDT_REAL(tmpfile64)();
    fdt_opened(stream_fd(f), &(struct fdt_open_info){ .call = FDT_CALL_TMPFILE64 });
    return f;
}

FDT_EXPORT int mkstemp(char *tmpl) {
    int fd = FDT_REAL(mkstemp)(tmpl);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_MKSTEMP, .path = tmpl });
    return fd;
}

FDT_EXPORT int mkstemp64(char *tmpl) {
    int fd = FDT_REAL(mkstemp64)(tmpl);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_MKSTEMP64, .path = tmpl });
    return fd;
}

FDT_EXPORT int mkostemp(char *tmpl, int flags) {
    int fd = FDT_REAL(mkostemp)(tmpl, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_MKOSTEMP, .path = tmpl, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int mkostemp64(char *tmpl, int flags) {
    int fd = FDT_REAL(mkostemp64)(tmpl, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_MKOSTEMP64, .path = tmpl, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int mkstemps(char *tmpl, int suffixlen) {
    int fd = FDT_REAL(mkstemps)(tmpl, suffixlen);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_MKSTEMPS, .path = tmpl });
    return fd;
}

FDT_EXPORT int mkstemps64(char *tmpl, int suffixlen) {
    int fd = FDT_REAL(mkstemps64)(tmpl, suffixlen);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_MKSTEMPS64, .path = tmpl });
    return fd;
}

FDT_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags) {
    int fd = FDT_REAL(mkostemps)(tmpl, suffixlen, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_MKOSTEMPS, .path = tmpl, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

FDT_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags) {
    int fd = FDT_REAL(mkostemps64)(tmpl, suffixlen, flags);
    fdt_opened(
        fd, &(struct fdt_open_info){ .call = FDT_CALL_MKOSTEMPS64, .path = tmpl, .cloexec = (flags & O_CLOEXEC) != 0 });
    return fd;
}

/* A directory stream's descriptor is close-on-exec. */
FDT_EXPORT DIR *opendir(const char *path) {
    DIR *d = FDT_REAL(opendir)(path);
    fdt_opened(dir_fd(d), &(struct fdt_open_info){ .call = FDT_CALL_OPENDIR, .path = path, .cloexec = 1 });
    return d;
}

FDT_EXPORT int closedir(DIR *d) {
    int fd = dir_fd(d);
    struct fdt_close_token t = fd >= 0 ? fdt_closing(fd, FDT_CALL_CLOSEDIR, FDT_CALLER) : (struct fdt_close_token){ 0 };
    return fdt_closed(FDT_REAL(closedir)(d), fd, t);
}

FDT_EXPORT FILE *popen(const char *command, const char *mode) {
    FILE *f = FDT_REAL(popen)(command, mode);
    fdt_opened(stream_fd(f),
        &(struct fdt_open_info){ .call = FDT_CALL_POPEN, .path = command, .cloexec = mode_cloexec(mode) });
    return f;
}

FDT_EXPORT int pclose(FILE *f) {
    int fd = stream_fd(f);
    struct fdt_close_token t = fd >= 0 ? fdt_closing(fd, FDT_CALL_PCLOSE, FDT_CALLER) : (struct fdt_close_token){ 0 };
    return fdt_closed(FDT_REAL(pclose)(f), fd, t);
}

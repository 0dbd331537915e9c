/* Hooks: stdio, temporary files, directories and popen. glibc opens and
 * closes inside these without going through the PLT, so the entry points
 * themselves are interposed. */
#include "shim.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int mode_cloexec(const char *mode) { return mode && strchr(mode, 'e') != NULL; }

static inline void record_stream_open(FILE *f, enum fdt_call call, const char *path, int cloexec) {
    fdt_check_exhausted(!f);
    if (f && fdt_should_record()) {
        int fd = fileno(f);
        if (fd < 0) return;
        struct fdt_open_info i = { call, path, cloexec, -1, -1, -1, -1 };
        fdt_record_open(fd, &i);
    }
}

static inline void record_fd_open(int fd, enum fdt_call call, const char *path, int cloexec) {
    fdt_check_exhausted(fd < 0);
    if (fd >= 0 && fdt_should_record()) {
        struct fdt_open_info i = { call, path, cloexec, -1, -1, -1, -1 };
        fdt_record_open(fd, &i);
    }
}

static inline void record_stream_close(FILE *f, enum fdt_call call) {
    fdt_check_exhausted(!f);
    if (f && fdt_should_record()) {
        int fd = fileno(f);
        if (fd >= 0) fdt_record_close(fd, call, (uintptr_t)__builtin_return_address(0));
    }
}

FDT_EXPORT FILE *fopen(const char *path, const char *mode) {
    FILE *f = FDT_REAL(fopen)(path, mode);
    record_stream_open(f, FDT_CALL_FOPEN, path, mode_cloexec(mode));
    return f;
}

FDT_EXPORT FILE *fopen64(const char *path, const char *mode) {
    FILE *f = FDT_REAL(fopen64)(path, mode);
    record_stream_open(f, FDT_CALL_FOPEN64, path, mode_cloexec(mode));
    return f;
}

static FILE *reopen(FILE *(*fn)(const char *, const char *, FILE *), enum fdt_call call,
                    const char *path, const char *mode, FILE *stream) {
    /* freopen closes the old descriptor first (recorded before it happens),
     * then opens the new one, often at the same number. */
    record_stream_close(stream, call);
    FILE *f = fn(path, mode, stream);
    if (path) record_stream_open(f, call, path, mode_cloexec(mode));
    return f;
}

FDT_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream) {
    if (!path) return FDT_REAL(freopen)(path, mode, stream); /* mode change only */
    return reopen(FDT_REAL(freopen), FDT_CALL_FREOPEN, path, mode, stream);
}

FDT_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream) {
    if (!path) return FDT_REAL(freopen64)(path, mode, stream);
    return reopen(FDT_REAL(freopen64), FDT_CALL_FREOPEN64, path, mode, stream);
}

FDT_EXPORT int fclose(FILE *f) {
    record_stream_close(f, FDT_CALL_FCLOSE);
    return FDT_REAL(fclose)(f);
}

FDT_EXPORT FILE *tmpfile(void) {
    FILE *f = FDT_REAL(tmpfile)();
    record_stream_open(f, FDT_CALL_TMPFILE, NULL, 0);
    return f;
}

FDT_EXPORT FILE *tmpfile64(void) {
    FILE *f = FDT_REAL(tmpfile64)();
    record_stream_open(f, FDT_CALL_TMPFILE64, NULL, 0);
    return f;
}

FDT_EXPORT int mkstemp(char *tmpl) {
    int fd = FDT_REAL(mkstemp)(tmpl);
    record_fd_open(fd, FDT_CALL_MKSTEMP, tmpl, 0);
    return fd;
}

FDT_EXPORT int mkstemp64(char *tmpl) {
    int fd = FDT_REAL(mkstemp64)(tmpl);
    record_fd_open(fd, FDT_CALL_MKSTEMP64, tmpl, 0);
    return fd;
}

FDT_EXPORT int mkostemp(char *tmpl, int flags) {
    int fd = FDT_REAL(mkostemp)(tmpl, flags);
    record_fd_open(fd, FDT_CALL_MKOSTEMP, tmpl, (flags & O_CLOEXEC) != 0);
    return fd;
}

FDT_EXPORT int mkostemp64(char *tmpl, int flags) {
    int fd = FDT_REAL(mkostemp64)(tmpl, flags);
    record_fd_open(fd, FDT_CALL_MKOSTEMP64, tmpl, (flags & O_CLOEXEC) != 0);
    return fd;
}

FDT_EXPORT int mkstemps(char *tmpl, int suffixlen) {
    int fd = FDT_REAL(mkstemps)(tmpl, suffixlen);
    record_fd_open(fd, FDT_CALL_MKSTEMPS, tmpl, 0);
    return fd;
}

FDT_EXPORT int mkstemps64(char *tmpl, int suffixlen) {
    int fd = FDT_REAL(mkstemps64)(tmpl, suffixlen);
    record_fd_open(fd, FDT_CALL_MKSTEMPS64, tmpl, 0);
    return fd;
}

FDT_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags) {
    int fd = FDT_REAL(mkostemps)(tmpl, suffixlen, flags);
    record_fd_open(fd, FDT_CALL_MKOSTEMPS, tmpl, (flags & O_CLOEXEC) != 0);
    return fd;
}

FDT_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags) {
    int fd = FDT_REAL(mkostemps64)(tmpl, suffixlen, flags);
    record_fd_open(fd, FDT_CALL_MKOSTEMPS64, tmpl, (flags & O_CLOEXEC) != 0);
    return fd;
}

FDT_EXPORT DIR *opendir(const char *path) {
    DIR *d = FDT_REAL(opendir)(path);
    if (d) record_fd_open(dirfd(d), FDT_CALL_OPENDIR, path, 1);
    return d;
}

FDT_EXPORT int closedir(DIR *d) {
    if (fdt_should_record()) {
        int fd = dirfd(d);
        if (fd >= 0) fdt_record_close(fd, FDT_CALL_CLOSEDIR, (uintptr_t)__builtin_return_address(0));
    }
    return FDT_REAL(closedir)(d);
}

FDT_EXPORT FILE *popen(const char *command, const char *mode) {
    FILE *f = FDT_REAL(popen)(command, mode);
    record_stream_open(f, FDT_CALL_POPEN, command, mode_cloexec(mode));
    return f;
}

FDT_EXPORT int pclose(FILE *f) {
    record_stream_close(f, FDT_CALL_PCLOSE);
    return FDT_REAL(pclose)(f);
}

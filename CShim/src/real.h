/* Pointers to the real libc functions behind every hook, resolved once with
 * dlsym(RTLD_NEXT) (which may allocate: never from a signal handler). */
#ifndef FDTRACE_REAL_H
#define FDTRACE_REAL_H

#include <dirent.h>
#include <stdio.h>
#include <signal.h>
#include <sys/socket.h>
#include <mqueue.h>
#include <termios.h>
#include <sys/ioctl.h>

#define FDT_REAL_FUNCTIONS(X)                                                                                          \
    X(open, int, (const char *, int, ...))                                                                             \
    X(open64, int, (const char *, int, ...))                                                                           \
    X(openat, int, (int, const char *, int, ...))                                                                      \
    X(openat64, int, (int, const char *, int, ...))                                                                    \
    X(creat, int, (const char *, mode_t))                                                                              \
    X(creat64, int, (const char *, mode_t))                                                                            \
    X(__open_2, int, (const char *, int))                                                                              \
    X(__open64_2, int, (const char *, int))                                                                            \
    X(__openat_2, int, (int, const char *, int))                                                                       \
    X(__openat64_2, int, (int, const char *, int))                                                                     \
    X(socket, int, (int, int, int))                                                                                    \
    X(socketpair, int, (int, int, int, int[2]))                                                                        \
    X(accept, int, (int, struct sockaddr *, socklen_t *))                                                              \
    X(accept4, int, (int, struct sockaddr *, socklen_t *, int))                                                        \
    X(pipe, int, (int[2]))                                                                                             \
    X(pipe2, int, (int[2], int))                                                                                       \
    X(dup, int, (int))                                                                                                 \
    X(dup2, int, (int, int))                                                                                           \
    X(dup3, int, (int, int, int))                                                                                      \
    X(fcntl, int, (int, int, ...))                                                                                     \
    X(fcntl64, int, (int, int, ...))                                                                                   \
    X(ioctl, int, (int, unsigned long, ...))                                                                           \
    X(epoll_create, int, (int))                                                                                        \
    X(epoll_create1, int, (int))                                                                                       \
    X(eventfd, int, (unsigned int, int))                                                                               \
    X(signalfd, int, (int, const sigset_t *, int))                                                                     \
    X(timerfd_create, int, (int, int))                                                                                 \
    X(inotify_init, int, (void))                                                                                       \
    X(inotify_init1, int, (int))                                                                                       \
    X(fanotify_init, int, (unsigned int, unsigned int))                                                                \
    X(memfd_create, int, (const char *, unsigned int))                                                                 \
    X(pidfd_open, int, (pid_t, unsigned int))                                                                          \
    X(pidfd_getfd, int, (int, int, unsigned int))                                                                      \
    X(shm_open, int, (const char *, int, mode_t))                                                                      \
    X(mq_open, mqd_t, (const char *, int, ...))                                                                        \
    X(posix_openpt, int, (int))                                                                                        \
    X(getpt, int, (void))                                                                                              \
    X(openpty, int, (int *, int *, char *, const struct termios *, const struct winsize *))                            \
    X(forkpty, pid_t, (int *, char *, const struct termios *, const struct winsize *))                                 \
    X(recvmsg, ssize_t, (int, struct msghdr *, int))                                                                   \
    X(recvmmsg, int, (int, struct mmsghdr *, unsigned int, int, struct timespec *))                                    \
    X(close, int, (int))                                                                                               \
    X(close_range, int, (unsigned int, unsigned int, int))                                                             \
    X(closefrom, void, (int))                                                                                          \
    X(fopen, FILE *, (const char *, const char *))                                                                     \
    X(fopen64, FILE *, (const char *, const char *))                                                                   \
    X(freopen, FILE *, (const char *, const char *, FILE *))                                                           \
    X(freopen64, FILE *, (const char *, const char *, FILE *))                                                         \
    X(fclose, int, (FILE *))                                                                                           \
    X(tmpfile, FILE *, (void))                                                                                         \
    X(tmpfile64, FILE *, (void))                                                                                       \
    X(mkstemp, int, (char *))                                                                                          \
    X(mkstemp64, int, (char *))                                                                                        \
    X(mkostemp, int, (char *, int))                                                                                    \
    X(mkostemp64, int, (char *, int))                                                                                  \
    X(mkstemps, int, (char *, int))                                                                                    \
    X(mkstemps64, int, (char *, int))                                                                                  \
    X(mkostemps, int, (char *, int, int))                                                                              \
    X(mkostemps64, int, (char *, int, int))                                                                            \
    X(opendir, DIR *, (const char *))                                                                                  \
    X(closedir, int, (DIR *))                                                                                          \
    X(popen, FILE *, (const char *, const char *))                                                                     \
    X(pclose, int, (FILE *))                                                                                           \
    X(_exit, void, (int))                                                                                              \
    X(exit, void, (int))                                                                                               \
    X(_Exit, void, (int))                                                                                              \
    X(fork, pid_t, (void))                                                                                             \
    X(_Fork, pid_t, (void))                                                                                            \
    X(vfork, pid_t, (void))                                                                                            \
    X(unshare, int, (int))                                                                                             \
    X(setns, int, (int, int))

#define FDT_DECLARE_REAL(name, ret, args) ret(*name) args;
struct fdt_real_table {
    FDT_REAL_FUNCTIONS(FDT_DECLARE_REAL)
};
#undef FDT_DECLARE_REAL

extern struct fdt_real_table fdt_real;
void fdt_resolve_real(void);
void *fdt_lookup_next(const char *name);
void *fdt_real_syscall(void);

/* Resolves on first use: calls may arrive before the constructor ran. */
#define FDT_REAL(name)                                                                                                 \
    (__builtin_expect(fdt_real.name != NULL, 1) ? fdt_real.name : (fdt_resolve_real(), fdt_real.name))

#endif /* FDTRACE_REAL_H */

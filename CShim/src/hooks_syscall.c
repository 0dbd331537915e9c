/* Hook: syscall(). Programs and runtimes that bypass libc's wrappers still
 * call libc's syscall() (libuv closes with syscall(SYS_close, fd) to avoid
 * cancellation points): every descriptor call that arrives here goes
 * through the same hook as its libc wrapper, so it is recorded once, in
 * order, with the caller's stack. The assembly trampoline
 * (syscall_x86_64.S) sends fork-, vfork- and clone-like calls elsewhere;
 * everything else comes here with its six arguments. */
#include "report.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

/* Hooks of this library with the same meaning as the system call. */
int close_range(unsigned int, unsigned int, int);
int pidfd_open(pid_t, unsigned int);
int pidfd_getfd(int, int, unsigned int);

long fdt_syscall_dispatch(long n, long a1, long a2, long a3, long a4, long a5, long a6) {
    /* Before the shim began to initialise (another library's constructor
     * runs before ours), a raw syscall() passes through and does not start
     * it: allocators make them inside malloc with their lock held (jemalloc
     * reads /proc/sys/vm/overcommit_memory as it initialises, which
     * redis-server reaches from libgpg-error's constructor), and starting
     * the shim there (dlopen) would malloc and deadlock. What such a call
     * leaves open is listed as inherited when the shim starts. */
    if (FDT_UNLIKELY(__atomic_load_n(&fdt_g.init_phase, __ATOMIC_ACQUIRE) == 0))
        return syscall(n, a1, a2, a3, a4, a5, a6);
    switch (n) {
    case SYS_close: return close((int)a1);
    case SYS_close_range: return close_range((unsigned)a1, (unsigned)a2, (int)a3);
    case SYS_open: return open((const char *)a1, (int)a2, (int)a3);
    case SYS_openat: return openat((int)a1, (const char *)a2, (int)a3, (int)a4);
    case SYS_creat: return creat((const char *)a1, (mode_t)a2);
    case SYS_openat2: {
        long fd = syscall(SYS_openat2, a1, a2, a3, a4);
        const struct open_how *how = (const struct open_how *)a3;
        int cloexec = how && (size_t)a4 >= sizeof how->flags && (how->flags & O_CLOEXEC) != 0;
        fdt_opened(
            (int)fd, &(struct fdt_open_info){ .call = FDT_CALL_OPENAT2, .path = (const char *)a2, .cloexec = cloexec });
        return fd;
    }
    case SYS_dup: return dup((int)a1);
    case SYS_dup2: return dup2((int)a1, (int)a2);
    case SYS_dup3: return dup3((int)a1, (int)a2, (int)a3);
    case SYS_fcntl: return fcntl((int)a1, (int)a2, a3);
    case SYS_pipe: return pipe((int *)a1);
    case SYS_pipe2: return pipe2((int *)a1, (int)a2);
    case SYS_socket: return socket((int)a1, (int)a2, (int)a3);
    case SYS_socketpair: return socketpair((int)a1, (int)a2, (int)a3, (int *)a4);
    case SYS_accept: return accept((int)a1, (struct sockaddr *)a2, (socklen_t *)a3);
    case SYS_accept4: return accept4((int)a1, (struct sockaddr *)a2, (socklen_t *)a3, (int)a4);
    case SYS_recvmsg: return recvmsg((int)a1, (struct msghdr *)a2, (int)a3);
    case SYS_recvmmsg: return recvmmsg((int)a1, (struct mmsghdr *)a2, (unsigned)a3, (int)a4, (struct timespec *)a5);
    case SYS_eventfd: return eventfd((unsigned)a1, 0);
    case SYS_eventfd2: return eventfd((unsigned)a1, (int)a2);
    case SYS_epoll_create: return epoll_create((int)a1);
    case SYS_epoll_create1: return epoll_create1((int)a1);
    case SYS_signalfd: return signalfd((int)a1, (const sigset_t *)a2, 0);
    case SYS_signalfd4: return signalfd((int)a1, (const sigset_t *)a2, (int)a4);
    case SYS_timerfd_create: return timerfd_create((int)a1, (int)a2);
    case SYS_inotify_init: return inotify_init();
    case SYS_inotify_init1: return inotify_init1((int)a1);
    case SYS_fanotify_init: return fanotify_init((unsigned)a1, (unsigned)a2);
    case SYS_memfd_create: return memfd_create((const char *)a1, (unsigned)a2);
    case SYS_pidfd_open: return pidfd_open((pid_t)a1, (unsigned)a2);
    case SYS_pidfd_getfd: return pidfd_getfd((int)a1, (int)a2, (unsigned)a3);
    case SYS_userfaultfd: {
        long fd = syscall(SYS_userfaultfd, a1);
        fdt_opened((int)fd, &(struct fdt_open_info){ .call = FDT_CALL_USERFAULTFD, .cloexec = (a1 & O_CLOEXEC) != 0 });
        return fd;
    }
    case SYS_io_uring_setup: {
        /* io_uring always sets close-on-exec on its ring descriptor. */
        long fd = syscall(SYS_io_uring_setup, a1, a2);
        fdt_opened((int)fd, &(struct fdt_open_info){ .call = FDT_CALL_IO_URING_SETUP, .cloexec = 1 });
        return fd;
    }
    case SYS_perf_event_open: {
        long fd = syscall(SYS_perf_event_open, a1, a2, a3, a4, a5);
        fdt_opened((int)fd,
            &(struct fdt_open_info){ .call = FDT_CALL_PERF_EVENT_OPEN, .cloexec = (a5 & PERF_FLAG_FD_CLOEXEC) != 0 });
        return fd;
    }
    case SYS_write:
        /* libunwind checking an address through its (emulated) pipe. */
        if (FDT_UNLIKELY(fdt_is_unwinder_pipe(a1)) && fdt_tls_busy) return fdt_unwinder_validate((const void *)a2);
        break;
    case SYS_exit_group:
        /* The process ends without libc's exit: the kernel's view first. */
        fdt_exiting_now((int)a1 & 0xff);
        break;
    default: break;
    }
    return syscall(n, a1, a2, a3, a4, a5, a6);
}

/* The kernel's view of this process's descriptors, read from /proc/self/fd
 * inside the process: at start (what was inherited) and at exit (for
 * reconciliation: a zombie has no fd table left to read from outside). */
#include "shim.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* The link /proc/self/fd/N shows for a pipe or a socket, without reading
 * it: "pipe:[INODE]" and "socket:[INODE]" are what pipefs and sockfs name
 * them (a named FIFO or an O_PATH descriptor of a socket file lives on
 * another filesystem and is read). The readlink was most of the exit
 * view's cost per descriptor (a path walk under /proc). Returns the
 * length, or -1 to read the link. */
static ssize_t anonymous_target(int fd, const struct stat *st, char *out, size_t cap) {
    if (!S_ISFIFO(st->st_mode) && !S_ISSOCK(st->st_mode)) return -1;
    struct statfs fs;
    if (syscall(SYS_fstatfs, fd, &fs) != 0) return -1;
    const char *kind = fs.f_type == PIPEFS_MAGIC ? "pipe" : fs.f_type == SOCKFS_MAGIC ? "socket" : NULL;
    if (!kind || (S_ISFIFO(st->st_mode) != (fs.f_type == PIPEFS_MAGIC))) return -1;
    int n = snprintf(out, cap, "%s:[%lu]", kind, (unsigned long)st->st_ino);
    return n > 0 && (size_t)n < cap ? n : -1;
}

static void send_fd(int fd, uint16_t type) {
    char target[FDT_MAX_PATH];
    struct stat st;
    int have_stat = syscall(SYS_fstat, fd, &st) == 0;
    ssize_t tl = have_stat ? anonymous_target(fd, &st, target, sizeof target) : -1;
    if (tl < 0) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        tl = syscall(SYS_readlink, link, target, sizeof target);
    }
    if (tl < 0) return; /* closed meanwhile */
    long fdflags = syscall(SYS_fcntl, fd, F_GETFD, 0);
    struct sockaddr_storage local, peer;
    socklen_t local_len = 0, peer_len = 0;
    int domain = -1, stype = -1, proto = -1, tcp_state = -1;
    if (have_stat && S_ISSOCK(st.st_mode)) {
        socklen_t l = sizeof domain;
        if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0) domain = -1;
        l = sizeof stype;
        if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &stype, &l) < 0) stype = -1;
        l = sizeof proto;
        if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0) proto = -1;
        local_len = sizeof local;
        if (syscall(SYS_getsockname, fd, &local, &local_len) < 0) local_len = 0;
        peer_len = sizeof peer;
        if (syscall(SYS_getpeername, fd, &peer, &peer_len) < 0) peer_len = 0;
        if ((domain == AF_INET || domain == AF_INET6) && proto == IPPROTO_TCP) {
            struct tcp_info ti;
            l = sizeof ti;
            if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0) tcp_state = ti.tcpi_state;
        }
    }
    if (local_len > sizeof local) local_len = sizeof local;
    if (peer_len > sizeof peer) peer_len = sizeof peer;
    uint32_t size = fdt_align8((uint32_t)(sizeof(struct fdt_rec_kernel_fd) + (size_t)tl + local_len + peer_len));
    struct fdt_rec_kernel_fd *r = fdt_ring_reserve(size);
    if (!r) return;
    r->h.time_ns = fdt_now_ns();
    r->fd = fd;
    r->fd_flags = (fdflags >= 0 && (fdflags & FD_CLOEXEC)) ? FDT_FD_CLOEXEC : 0;
    r->st_mode = have_stat ? st.st_mode : 0;
    r->domain = domain;
    r->sock_type = stype;
    r->protocol = proto;
    r->tcp_state = tcp_state;
    r->inode = have_stat ? st.st_ino : 0;
    r->target_len = (uint16_t)tl;
    r->local_len = (uint16_t)local_len;
    r->peer_len = (uint16_t)peer_len;
    char *p = (char *)(r + 1);
    memcpy(p, target, (size_t)tl);
    memcpy(p + tl, &local, local_len);
    memcpy(p + tl + local_len, &peer, peer_len);
    fdt_ring_commit(r, type, 0, size);
}

/* Emits one record per descriptor the kernel lists. Returns -1 if the
 * table could not be read. */
static int walk_fds(uint16_t type) {
    int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 && errno == EMFILE) {
        /* A full table (the process holds no spare descriptor of ours): probe
         * every number below the limit; readlink needs no descriptor. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
        for (rlim_t fd = 0; fd < rl.rlim_cur && fd < (1u << 24); fd++) send_fd((int)fd, type);
        return 0;
    }
    if (dir < 0) return -1;
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
            int fd = 0;
            for (const char *c = d->d_name; *c; c++) fd = fd * 10 + (*c - '0');
            if (fd == dir) continue;
            send_fd(fd, type);
        }
    }
    syscall(SYS_close, dir);
    return 0;
}

/* The descriptors open when a Python program began to exit. */
void fdt_send_view_at_py_exit(void) { walk_fds(FDT_REC_PY_EXIT_FD); }

/* VmHWM, the peak RSS of this image's memory. (getrusage's ru_maxrss starts
 * from the parent's RSS at fork/spawn, so it overstates small programs.) */
static uint64_t peak_rss_kb(void) {
    char buf[4096];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *p = strstr(buf, "VmHWM:");
    if (!p) return 0;
    p += 6;
    while (*p == ' ' || *p == '\t') p++;
    uint64_t kb = 0;
    while (*p >= '0' && *p <= '9') kb = kb * 10 + (uint64_t)(*p++ - '0');
    return kb;
}

/* The command line the hello sent, and where the kernel keeps it (argv[0]
 * as the constructor was given it): at exit /proc/self/cmdline is read
 * again (four system calls) only when those bytes changed — the kernel
 * makes it from them, and from the environment's only when the last of
 * them is not a NUL (a title longer than the arguments). */
static const char *arg_area;
static char hello_cmdline[FDT_MAX_CMDLINE];
static size_t hello_cmdline_len; /* 0: not known to be the arguments' bytes */

static int arg_area_holds(const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) /* byte by byte: stops at the first difference */
        if (arg_area[i] != bytes[i]) return 0;
    return 1;
}

void fdt_note_arg_area(const char *argv0) { arg_area = argv0; }

void fdt_cmdline_at_hello(const char *bytes, size_t n, int complete) {
    hello_cmdline_len = 0;
    if (!complete || !arg_area || n == 0 || n > sizeof hello_cmdline || bytes[n - 1] != 0) return;
    if (!arg_area_holds(bytes, n)) return;
    memcpy(hello_cmdline, bytes, n);
    hello_cmdline_len = n;
}

/* The command line as the process shows it now (its title, if it renamed
 * itself). Skipped when no descriptor is left to read it, and when it is
 * the hello's (the collector keeps that). */
static void send_cmdline(void) {
    if (hello_cmdline_len && arg_area_holds(hello_cmdline, hello_cmdline_len)) return;
    char buf[FDT_MAX_CMDLINE + 1];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = syscall(SYS_read, fd, buf + n, sizeof buf - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    syscall(SYS_close, fd);
    uint16_t flags = 0;
    if (n > FDT_MAX_CMDLINE) {
        n = FDT_MAX_CMDLINE;
        flags = FDT_CMDLINE_TRUNCATED;
    }
    uint32_t size = fdt_align8((uint32_t)(sizeof(struct fdt_rec_cmdline) + n));
    struct fdt_rec_cmdline *r = fdt_ring_reserve(size);
    if (!r) return;
    r->h.time_ns = fdt_now_ns();
    r->len = (uint32_t)n;
    memcpy(r + 1, buf, n);
    fdt_ring_commit(r, FDT_REC_CMDLINE, flags, size);
}

void fdt_send_inherited(void) {
    fdt_tls_busy++;
    walk_fds(FDT_REC_INHERITED);
    fdt_tls_busy--;
}

void fdt_send_exit_view(enum fdt_exit_how how, int status) {
    if (!__atomic_load_n(&fdt_g.active, __ATOMIC_ACQUIRE)) return;
    if (__atomic_exchange_n(&fdt_g.exit_sent, 1, __ATOMIC_ACQ_REL)) return;
    if (!fdt_g.ring && __atomic_load_n(&fdt_g.connect_state, __ATOMIC_ACQUIRE)) fdt_connect_deferred();
    if (fdt_collector_gone()) {
        /* It died during the run: say so once; the program ends as it would. */
        fdt_disable("the collector went away during the run");
        return;
    }
    int saved = errno;
    fdt_tls_busy++;
    struct fdt_rec_exit *r = fdt_ring_reserve(sizeof *r);
    if (r) {
        struct rlimit rl = { 0, 0 };
        getrlimit(RLIMIT_NOFILE, &rl);
        r->h.time_ns = fdt_now_ns();
        r->status = how == FDT_EXIT_NORMAL ? __atomic_load_n(&fdt_g.exit_status, __ATOMIC_ACQUIRE) : status;
        r->how = how;
        r->rlimit_soft = rl.rlim_cur;
        r->rlimit_hard = rl.rlim_max;
        r->max_rss_kb = peak_rss_kb();
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
            r->cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                        (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
        }
        fdt_ring_commit(r, FDT_REC_EXIT_BEGIN, 0, sizeof *r);
    }
    send_cmdline();
    int failed = walk_fds(FDT_REC_KERNEL_FD) < 0;
    struct fdt_rec_header *end = fdt_ring_reserve(sizeof *end);
    if (end) {
        end->time_ns = fdt_now_ns();
        fdt_ring_commit(end, FDT_REC_EXIT_END, failed ? FDT_EXIT_VIEW_FAILED : 0, sizeof *end);
    }
    if (fdt_g.owner) {
        /* The report goes to the same terminal or pipe: let the program's
         * buffered output (flushed by libc right after us) come first. */
        if (how == FDT_EXIT_NORMAL) fflush(NULL);
        fdt_wait_for_report();
    }
    fdt_tls_busy--;
    errno = saved;
}

#define _GNU_SOURCE
#include "fdtrace_sys.h"
#include "fdtrace_address.h"
#include "fdtrace_ring.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <linux/inet_diag.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <linux/futex.h>
#include <limits.h>
#include <unistd.h>

/* What a shell gives a program it starts: every signal at its default
 * disposition (the Swift runtime ignores SIGPIPE, and ignored stays ignored
 * across exec) and an empty signal mask. */
static int shell_like_attr(posix_spawnattr_t *attr, short extra_flags) {
    int rc = posix_spawnattr_init(attr);
    if (rc) return rc;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(attr, &all);
    posix_spawnattr_setsigmask(attr, &none);
    return posix_spawnattr_setflags(attr, (short)(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | extra_flags));
}

int fdtc_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[]) {
    posix_spawnattr_t attr;
    int rc = shell_like_attr(&attr, 0);
    if (rc) return rc;
    rc = posix_spawn(pid, path, NULL, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    return rc;
}

/* The same start, held at the door: the child (a fork of this process: it
 * only calls async-signal-safe functions) resets its signal dispositions and
 * waits for a byte on a pipe before it execs, so the caller can put its pid
 * in the kernel source's traced set first. *gate: the pipe's write end
 * (close-on-exec); writing a byte lets the program start, closing it
 * without one makes the child exit 127 unstarted. Returns 0 or an errno. */
int fdtc_spawn_gated(pid_t *pid, const char *path, char *const argv[], char *const envp[], int *gate) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return errno;
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (child == 0) {
        close(p[1]);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
        char c;
        ssize_t n;
        do n = read(p[0], &c, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1) _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, envp);
        _exit(errno == ENOENT ? 127 : 126);
    }
    close(p[0]);
    *pid = child;
    *gate = p[1];
    return 0;
}

static int listen_unix(const char *path, int type);

int fdtc_listen_unix(const char *path) { return listen_unix(path, SOCK_SEQPACKET); }

/* A stream socket at a file path (queries of a running session). */
int fdtc_listen_stream(const char *path) { return listen_unix(path, SOCK_STREAM); }

int fdtc_connect_stream(const char *path) {
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path) return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static int listen_unix(const char *path, int type) {
    struct sockaddr_un addr;
    socklen_t alen;
    int err = fdt_collector_address(path, &addr, &alen);
    if (err) return -err;
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    mode_t old = umask(077);
    int r = bind(fd, (struct sockaddr *)&addr, alen);
    umask(old);
    if (r < 0 || listen(fd, 512) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int fdtc_listen_tcp(const char *host, int port) {
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0 || ai == NULL) return -EINVAL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return -e;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        freeaddrinfo(ai);
        return -e;
    }
    freeaddrinfo(ai);
    return fd;
}

int fdtc_accept(int listen_fd) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

ssize_t fdtc_recv_with_fd(int sock, void *buf, size_t cap, int *fd_out, int timeout_ms) {
    *fd_out = -1;
    struct pollfd p = { sock, POLLIN, 0 };
    int pr = poll(&p, 1, timeout_ms);
    if (pr == 0) return -ETIMEDOUT;
    if (pr < 0) return -errno;
    char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec iov = { buf, cap };
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[8];
        if (count > 8) count = 8;
        memcpy(fds, CMSG_DATA(c), count * sizeof(int));
        for (size_t i = 0; i < count; i++) {
            if (*fd_out < 0) *fd_out = fds[i];
            else close(fds[i]);
        }
    }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return -EMSGSIZE;
    return n;
}

int fdtc_peer_cred(int sock, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int fdtc_send(int sock, const void *buf, size_t len) {
    ssize_t n = send(sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    return n < 0 ? -errno : 0;
}

int fdtc_signalfd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -errno;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int fdtc_read_signal(int sfd, int *from_user) {
    struct signalfd_siginfo si;
    ssize_t n = read(sfd, &si, sizeof si);
    if (n != (ssize_t)sizeof si) return 0;
    *from_user = si.ssi_code == SI_USER || si.ssi_code == SI_QUEUE;
    return (int)si.ssi_signo;
}

int fdtc_pidfd_open(pid_t pid) {
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : fd;
}

int fdtc_reap(pid_t pid, int *status) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r < 0) return -errno;
    return r == pid ? 1 : 0;
}

/* Opens a report file without following a symlink, mode 0644. fd or -errno. */
int fdtc_open_report(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int fdtc_wifexited(int status) { return WIFEXITED(status); }
int fdtc_wexitstatus(int status) { return WEXITSTATUS(status); }
int fdtc_wifsignaled(int status) { return WIFSIGNALED(status); }
int fdtc_wtermsig(int status) { return WTERMSIG(status); }

/* Forked rather than exec'd again: a second start of fdtrace costs its whole
 * start-up (loading the Swift runtime and Foundation), on the traced
 * program's path. The child gets what a fresh start had: default signal
 * dispositions but SIGPIPE ignored (as the Swift runtime sets it), an empty
 * mask, no LD_PRELOAD. */
int fdtc_fork_daemon(void) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -errno;
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (child == 0) {
        setsid();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) dup2(null, 0), dup2(null, 1);
        if (p[1] == 3) fcntl(3, F_SETFD, 0);
        else dup2(p[1], 3);
        close_range(4, ~0U, 0);
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP) signal(s, s == SIGPIPE ? SIG_IGN : SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        unsetenv("LD_PRELOAD");
        return 0;
    }
    close(p[1]);
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    char byte;
    int ok = poll(&pf, 1, 10000) == 1 && read(p[0], &byte, 1) == 1;
    close(p[0]);
    return ok ? 1 : -ETIMEDOUT;
}

int fdtc_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0; }

int fdtc_ring_create(unsigned long long capacity) {
    struct fdt_ring_header *h;
    int fd = fdt_ring_create(capacity, &h);
    if (fd < 0) return -errno;
    fdt_ring_unmap(h, capacity);
    return fd;
}

/* A request in a ring header was handled: clear it and wake the waiter
 * (a futex in memory shared with another process: not FUTEX_PRIVATE). */
void fdtc_ring_complete(struct fdt_ring_header *h, int which) {
    __atomic_store_n(fdt_ring_request_word(h, (enum fdt_ring_request)which), 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&h->ctl_done, 1, __ATOMIC_ACQ_REL);
    syscall(SYS_futex, &h->ctl_done, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void fdtc_ring_answer_scope(struct fdt_ring_header *h, uint32_t request, int32_t status) {
    __atomic_store_n(&h->ctl_scope_status, status, __ATOMIC_RELEASE);
    __atomic_store_n(&h->ctl_scope_done, request, __ATOMIC_RELEASE);
    __atomic_add_fetch(&h->ctl_done, 1, __ATOMIC_ACQ_REL);
    syscall(SYS_futex, &h->ctl_done, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int fdtc_create_answer(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}

/* A pidfd for the peer of a unix socket (SO_PEERPIDFD, Linux 6.5), else
 * pidfd_open of its pid. fd or -errno. */
int fdtc_peer_pidfd(int sock, pid_t pid) {
    int fd = -1;
    socklen_t len = sizeof fd;
    if (getsockopt(sock, SOL_SOCKET, 77 /* SO_PEERPIDFD */, &fd, &len) == 0 && fd >= 0) return fd;
    fd = (int)syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : fd;
}

/* The soft descriptor limit raised to the hard one: the collector holds a
 * pidfd per traced process. */
void fdtc_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Unix sockets of this network namespace and their peers, from the
 * kernel's sock_diag netlink interface (/proc/net/unix has no peer
 * column). Fills up to cap (inode, peer inode) pairs; returns how many,
 * or -errno. */
int fdtc_unix_peers(unsigned long long *inodes, unsigned long long *peers, int cap) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -errno;
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg = {
        .nlh = { .nlmsg_len = sizeof msg,
            .nlmsg_type = SOCK_DIAG_BY_FAMILY,
            .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
        .req = { .sdiag_family = AF_UNIX, .udiag_states = 0xffffffffu, .udiag_show = UDIAG_SHOW_PEER },
    };
    if (send(fd, &msg, sizeof msg, 0) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    static char buf[65536];
    int count = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        int len = (int)n;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) goto done;
            struct unix_diag_msg *m = NLMSG_DATA(h);
            int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
            for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
                if (a->rta_type == UNIX_DIAG_PEER && count < cap) {
                    inodes[count] = m->udiag_ino;
                    peers[count] = *(uint32_t *)RTA_DATA(a);
                    count++;
                }
            }
        }
    }
done:
    close(fd);
    return count;
}

static int wanted(unsigned long long inode, const unsigned long long *want, int nwant) {
    if (!want) return 1;
    int lo = 0, hi = nwant;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (want[mid] < inode) lo = mid + 1;
        else hi = mid;
    }
    return lo < nwant && want[lo] == inode;
}

/* One dump reply's messages into out[]. 1 at its end, 0 for more, -errno. */
static int inet_reply(
    char *buf, int len, const unsigned long long *want, int nwant, struct fdtc_inet_socket *out, int cap, int *count) {
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type == NLMSG_DONE) return 1;
        if (h->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *e = NLMSG_DATA(h);
            return e->error ? e->error : -EPROTO;
        }
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
        struct inet_diag_msg *m = NLMSG_DATA(h);
        if (m->idiag_inode == 0 || !wanted(m->idiag_inode, want, nwant)) continue;
        if (*count < cap) {
            struct fdtc_inet_socket *s = &out[*count];
            s->inode = m->idiag_inode;
            memcpy(s->local, m->id.idiag_src, 16);
            memcpy(s->peer, m->id.idiag_dst, 16);
            memcpy(s->local_port, &m->id.idiag_sport, 2);
            memcpy(s->peer_port, &m->id.idiag_dport, 2);
            s->state = m->idiag_state;
        }
        (*count)++;
    }
    return 0;
}

/* The TCP/UDP counterpart of /proc/net/{tcp,udp}{,6}: the kernel filters
 * by state (TIME_WAIT's thousands never cross), no text to format or parse. */
int fdtc_inet_sockets(int family, int protocol, unsigned int states, const unsigned long long *want, int nwant,
    struct fdtc_inet_socket *out, int cap) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -errno;
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } msg = {
        .nlh = { .nlmsg_len = sizeof msg,
            .nlmsg_type = SOCK_DIAG_BY_FAMILY,
            .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
        .req = { .sdiag_family = (unsigned char)family,
            .sdiag_protocol = (unsigned char)protocol,
            .idiag_states = states },
    };
    /* Not static (unlike fdtc_unix_peers'): callers may run on several threads. */
    size_t size = 65536;
    char *buf = malloc(size);
    int rc = buf ? 0 : -ENOMEM, count = 0;
    if (!rc && send(fd, &msg, sizeof msg, 0) < 0) rc = -errno;
    while (!rc) {
        ssize_t n = recv(fd, buf, size, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EPROTO;
            break;
        }
        rc = inet_reply(buf, (int)n, want, nwant, out, cap, &count);
    }
    free(buf);
    close(fd);
    return rc < 0 ? rc : count;
}

const void *fdtc_memmem(const void *haystack, size_t len, const void *needle, size_t nlen) {
    return memmem(haystack, len, needle, nlen);
}

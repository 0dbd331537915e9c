/* The control connection to the collector: connect, hand over the event
 * ring, and keep the shim's own descriptor out of the program's way (it sits
 * at a high number; the program's close/dup2 never touch it). */
#include "shim.h"
#include "fdtrace_ring.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static char hello_buf[FDT_HELLO_MAX_BYTES];

static size_t read_small_file(const char *path, char *buf, size_t cap) {
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    size_t n = 0;
    while (n < cap) {
        ssize_t r = syscall(SYS_read, fd, buf + n, cap - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    syscall(SYS_close, fd);
    return n;
}

static uint64_t ring_capacity_from_env(void) {
    const char *s = getenv("FDTRACE_RING_KB");
    if (s && *s) {
        char *end;
        unsigned long kb = strtoul(s, &end, 10);
        uint64_t cap = (uint64_t)kb * 1024;
        if (!*end && fdt_ring_capacity_valid(cap)) return cap;
    }
    return FDT_RING_DEFAULT_CAPACITY;
}

static int send_hello(int sock, int memfd, int fork_parent) {
    struct fdt_msg_hello *h = (struct fdt_msg_hello *)hello_buf;
    memset(h, 0, sizeof *h);
    h->type = FDT_MSG_HELLO;
    h->version = FDT_WIRE_VERSION;
    h->pid = fdt_g.pid;
    h->ppid = (int32_t)syscall(SYS_getppid);
    h->ring_capacity = fdt_g.ring_capacity;
    h->start_time_ns = fdt_now_ns();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        h->rlimit_soft = rl.rlim_cur;
        h->rlimit_hard = rl.rlim_max;
    }
    h->depth = fdt_g.depth;
    h->fork_parent = fork_parent;
    h->fork_id = fork_parent ? fdt_tls_fork_id : 0;
    h->flags = fdt_g.owner ? FDT_HELLO_OWNER : 0;
    char *p = hello_buf + sizeof *h;
    size_t room = sizeof hello_buf - sizeof *h;
    ssize_t e = syscall(SYS_readlink, "/proc/self/exe", p, room > 4096 ? 4096 : room);
    h->exe_len = e > 0 ? (uint32_t)e : 0;
    p += h->exe_len;
    room -= h->exe_len;
    h->argv_len = (uint32_t)read_small_file("/proc/self/cmdline", p, room);

    struct iovec iov = { hello_buf, sizeof *h + h->exe_len + h->argv_len };
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &memfd, sizeof(int));
    return syscall(SYS_sendmsg, sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int wait_ack(int sock) {
    struct pollfd pfd = { sock, POLLIN, 0 };
    long r = syscall(SYS_poll, &pfd, 1, 10000);
    if (r <= 0) return -1;
    struct fdt_msg_ack ack;
    ssize_t n = syscall(SYS_recvfrom, sock, &ack, sizeof ack, 0, NULL, NULL);
    if (n != (ssize_t)sizeof ack || ack.type != FDT_MSG_ACK || ack.status != 0) return -1;
    return 0;
}

/* Connects to the collector named by FDTRACE_SOCKET and hands it a fresh
 * ring. Returns 0 when the collector accepted this process. */
int fdt_connect(int fork_parent) {
    const char *path = getenv(FDT_ENV_SOCKET);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (!path || strlen(path) >= sizeof addr.sun_path) {
        fdt_disable("FDTRACE_SOCKET is not a usable socket path");
        return -1;
    }
    socklen_t alen = sizeof addr;
    size_t plen = strlen(path);
    if (path[0] == '@') {
        /* Abstract namespace: "@name" -> "\0name", length exact. */
        memcpy(addr.sun_path + 1, path + 1, plen - 1);
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
    } else {
        strcpy(addr.sun_path, path);
    }
    int sock = (int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        fdt_disable("cannot create the collector socket");
        return -1;
    }
    if (syscall(SYS_connect, sock, &addr, alen) < 0) {
        char why[160 + sizeof addr.sun_path];
        snprintf(why, sizeof why, "cannot reach the collector at %s (%s)", path, strerror(errno));
        syscall(SYS_close, sock);
        fdt_disable(why);
        return -1;
    }
    uint64_t cap = ring_capacity_from_env();
    int memfd = (int)syscall(SYS_memfd_create, "fdtrace-ring", MFD_CLOEXEC);
    struct fdt_ring_header *ring = NULL;
    if (memfd >= 0 && syscall(SYS_ftruncate, memfd, (long)(FDT_RING_HEADER_SIZE + cap)) == 0)
        ring = fdt_ring_map(memfd, cap);
    if (!ring) {
        if (memfd >= 0) syscall(SYS_close, memfd);
        syscall(SYS_close, sock);
        fdt_disable("cannot create the shared event ring");
        return -1;
    }
    ring->magic = FDT_WIRE_MAGIC;
    ring->version = FDT_WIRE_VERSION;
    ring->header_size = FDT_RING_HEADER_SIZE;
    ring->capacity = cap;
    fdt_g.ring = ring;
    fdt_g.ring_data = fdt_ring_data(ring);
    fdt_g.ring_capacity = cap;

    int ok = send_hello(sock, memfd, fork_parent) == 0 && wait_ack(sock) == 0;
    syscall(SYS_close, memfd);
    if (!ok) {
        syscall(SYS_close, sock);
        fdt_ring_unmap(ring, cap);
        fdt_g.ring = NULL;
        fdt_g.ring_data = NULL;
        fdt_disable("the collector did not accept this process");
        return -1;
    }
    fdt_g.sock_fd = fdt_adopt_own_fd(sock);
    return 0;
}

/* The collector closed its end (it died, or gave up on us). */
int fdt_collector_gone(void) {
    int fd = fdt_g.sock_fd;
    if (fd < 0) return 1;
    char c;
    ssize_t n = syscall(SYS_recvfrom, fd, &c, 1, MSG_DONTWAIT | MSG_PEEK, NULL, NULL);
    if (n == 0) return 1;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 1;
    return 0;
}

/* The owner of a bare-mode collector, at exit: ask for the report and wait
 * until it is written, so that it appears before the shell's prompt. */
void fdt_wait_for_report(void) {
    int fd = fdt_g.sock_fd;
    if (fd < 0 || !fdt_g.owner) return;
    struct fdt_msg_ack req = { FDT_MSG_REPORT_REQUEST, 0 };
    if (syscall(SYS_sendto, fd, &req, sizeof req, MSG_NOSIGNAL, NULL, 0) != (long)sizeof req) return;
    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        long r = syscall(SYS_poll, &pfd, 1, 60000);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return;
        struct fdt_msg_ack done;
        ssize_t n = syscall(SYS_recvfrom, fd, &done, sizeof done, 0, NULL, NULL);
        if (n < 0 && errno == EINTR) continue;
        return; /* the report is written, or the collector is gone */
    }
}

/* A call failed with EMFILE/ENFILE: ask the collector for a snapshot and
 * wait (bounded) until it is taken, before the program can react to the
 * failure (it may close everything next). Once per burst: re-armed by the
 * next descriptor that opens. */
static int exhausted_latched;

void fdt_rearm_exhausted(void) {
    if (FDT_UNLIKELY(__atomic_load_n(&exhausted_latched, __ATOMIC_RELAXED)))
        __atomic_store_n(&exhausted_latched, 0, __ATOMIC_RELAXED);
}

void fdt_on_exhausted(int err) {
    int fd = fdt_g.sock_fd;
    if (fd < 0 || !fdt_should_record()) return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&exhausted_latched, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return;
    int saved = errno;
    fdt_tls_busy++;
    struct fdt_msg_ack req = { FDT_MSG_SNAPSHOT_REQUEST, (uint32_t)err };
    if (syscall(SYS_sendto, fd, &req, sizeof req, MSG_NOSIGNAL, NULL, 0) == (long)sizeof req) {
        uint64_t deadline = fdt_now_ns() + 10000000000ull;
        for (;;) {
            uint64_t now = fdt_now_ns();
            if (now >= deadline) break;
            struct pollfd pfd = { fd, POLLIN, 0 };
            long r = syscall(SYS_poll, &pfd, 1, (int)((deadline - now) / 1000000) + 1);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            struct fdt_msg_ack done;
            ssize_t n = syscall(SYS_recvfrom, fd, &done, sizeof done, 0, NULL, NULL);
            if (n < 0 && errno == EINTR) continue;
            break; /* taken, or the collector is gone */
        }
    }
    fdt_tls_busy--;
    errno = saved;
}

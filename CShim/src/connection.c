/* The handshake with the collector (connect, hand over the event ring,
 * close: the process keeps no descriptor of ours, and does not wait for an
 * answer), and requests to it
 * through the ring header (a futex in the shared mapping, and a doorbell
 * connection that lives for one call). */
#include "shim.h"
#include "fdtrace_address.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <linux/futex.h>
#include <unistd.h>

static char hello_buf[FDT_HELLO_MAX_BYTES];

/* FDTRACE_SOCKET as this image found it when it first connected: a fork
 * child connects later (at its first record), when the program may have
 * replaced its environment (nginx's workers do). */
static char collector_name[512];

static const char *collector_socket(void) {
    if (!collector_name[0]) {
        const char *name = getenv(FDT_ENV_SOCKET);
        if (!name || strlen(name) >= sizeof collector_name) return NULL;
        memcpy(collector_name, name, strlen(name) + 1);
    }
    return collector_name;
}

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

/* Read once per image, like the socket's name. */
static uint64_t ring_capacity_from_env(void) {
    static uint64_t capacity;
    if (capacity) return capacity;
    capacity = FDT_RING_DEFAULT_CAPACITY;
    const char *s = getenv(FDT_ENV_RING_KB);
    if (s && *s) {
        char *end;
        unsigned long kb = strtoul(s, &end, 10);
        uint64_t cap = (uint64_t)kb * 1024;
        if (!*end && fdt_ring_capacity_valid(cap)) capacity = cap;
    }
    return capacity;
}

static int send_hello(int sock, int memfd, int fork_parent, uint64_t fork_id) {
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
    h->fork_id = fork_parent ? fork_id : 0;
    h->flags = fdt_g.owner ? FDT_HELLO_OWNER : 0;
    char *p = hello_buf + sizeof *h;
    size_t room = sizeof hello_buf - sizeof *h;
    size_t known_len;
    const char *known = fdt_modules_exe_path(&known_len);
    ssize_t e;
    if (known) {
        memcpy(p, known, known_len);
        e = (ssize_t)known_len;
    } else {
        e = syscall(SYS_readlink, "/proc/self/exe", p, room > 4096 ? 4096 : room);
    }
    h->exe_len = e > 0 ? (uint32_t)e : 0;
    p += h->exe_len;
    room -= h->exe_len;
    h->argv_len = (uint32_t)read_small_file("/proc/self/cmdline", p, room);
    fdt_cmdline_at_hello(p, h->argv_len, h->argv_len < room);

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


/* A connected socket to the collector named by FDTRACE_SOCKET, or -1
 * (errno set). */
static int dial_collector(void) {
    const char *name = collector_socket();
    struct sockaddr_un addr;
    socklen_t alen;
    int err = name ? fdt_collector_address(name, &addr, &alen) : EINVAL;
    if (err) {
        errno = err;
        return -1;
    }
    int sock = (int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) return -1;
    if (syscall(SYS_connect, sock, &addr, alen) < 0) {
        int e = errno;
        syscall(SYS_close, sock);
        errno = e;
        return -1;
    }
    return sock;
}

/* Connects to the collector named by FDTRACE_SOCKET, hands it a fresh ring,
 * and closes the socket and the memfd again. Returns 0 when the hello is
 * sent: the process goes on at once and records into the ring, which the
 * collector reads from its start when it comes to the hello (in the order
 * of connection: an exec'd image after the fork child before it). Waiting
 * for an answer cost every process image a round trip through the
 * collector's loop, twice for a fork followed by an exec (a shell's
 * /bin/true: ~3 ms a process). A refusal is said in the ring's header
 * (detached); a collector that never claims the ring is given up on after
 * FDT_CLAIM_TIMEOUT_NS (fdt_collector_gone). */
int fdt_connect(int fork_parent, uint64_t fork_id) {
    const char *path = collector_socket();
    struct sockaddr_un addr;
    socklen_t alen;
    if (!path || fdt_collector_address(path, &addr, &alen) != 0) {
        fdt_disable(FDT_ENV_SOCKET " is not a usable socket path");
        return -1;
    }
    int sock = dial_collector();
    if (sock < 0) {
        char why[300];
        snprintf(why, sizeof why, "cannot reach the collector at %s (%s)", path, strerror(errno));
        fdt_disable(why);
        return -1;
    }
    uint64_t cap = ring_capacity_from_env();
    struct fdt_ring_header *ring;
    int memfd = fdt_ring_create(cap, &ring);
    if (memfd < 0) {
        syscall(SYS_close, sock);
        fdt_disable("cannot create the shared event ring");
        return -1;
    }
    fdt_g.ring = ring;
    fdt_g.ring_data = fdt_ring_data(ring);
    fdt_g.ring_capacity = cap;

    fdt_g.hello_ns = fdt_now_ns();
    int ok = send_hello(sock, memfd, fork_parent, fork_id) == 0;
    syscall(SYS_close, memfd);
    syscall(SYS_close, sock);
    if (!ok) {
        fdt_ring_unmap(ring, cap);
        fdt_g.ring = NULL;
        fdt_g.ring_data = NULL;
        char why[300];
        snprintf(why, sizeof why, "cannot reach the collector at %s (%s)", path, strerror(errno));
        fdt_disable(why);
        return -1;
    }
    return 0;
}

/* The collector died, refused this process (detached), or never claimed
 * its ring (a collector of another wire version does not). */
int fdt_collector_gone(void) {
    struct fdt_ring_header *ring = fdt_g.ring;
    if (!ring) return 1;
    if (__atomic_load_n(&ring->detached, __ATOMIC_ACQUIRE)) return 1;
    int pid = __atomic_load_n(&ring->collector_pid, __ATOMIC_ACQUIRE);
    if (pid == 0) return fdt_now_ns() - fdt_g.hello_ns > FDT_CLAIM_TIMEOUT_NS;
    int saved = errno;
    int gone = syscall(SYS_kill, pid, 0) < 0 && errno == ESRCH;
    errno = saved;
    return gone;
}

/* Rings the collector's doorbell: one short connection that says "look at
 * the ring headers now". Best effort (with no descriptor left, the
 * collector finds the request on its next round anyway). */
static void ring_doorbell(void) {
    int saved = errno;
    int sock = dial_collector();
    if (sock >= 0) {
        struct fdt_msg_wake w = { FDT_MSG_WAKE, FDT_WIRE_VERSION };
        syscall(SYS_sendto, sock, &w, sizeof w, MSG_NOSIGNAL | MSG_DONTWAIT, NULL, 0);
        syscall(SYS_close, sock);
    }
    errno = saved;
}

/* Posts a request (sets *word to value) and waits until the collector has
 * handled it (cleared the word), it is gone, or the deadline passed. */
static void request_and_wait(uint32_t *word, uint32_t value, uint64_t timeout_ns) {
    struct fdt_ring_header *ring = fdt_g.ring;
    if (!ring) return;
    __atomic_store_n(word, value, __ATOMIC_RELEASE);
    ring_doorbell();
    uint64_t deadline = fdt_now_ns() + timeout_ns;
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != 0) {
        uint32_t seen = __atomic_load_n(&ring->ctl_done, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) == 0 || fdt_collector_gone()) break;
        uint64_t now = fdt_now_ns();
        if (now >= deadline) break;
        /* Not FUTEX_PRIVATE: the word is shared with another process. */
        struct timespec ts = { 0, 50000000 }; /* re-check liveness every 50 ms */
        syscall(SYS_futex, &ring->ctl_done, FUTEX_WAIT, seen, &ts, NULL, 0);
    }
}

/* The owner of a bare-mode collector, at exit: ask for the report and wait
 * until it is written, so that it appears before the shell's prompt. */
void fdt_wait_for_report(void) {
    if (!fdt_g.owner || !fdt_g.ring) return;
    request_and_wait(fdt_ring_request_word(fdt_g.ring, FDT_RING_REQ_REPORT), 1, 60000000000ull);
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
    if (!fdt_g.ring || !fdt_should_record()) return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&exhausted_latched, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return;
    int saved = errno;
    fdt_tls_busy++;
    request_and_wait(fdt_ring_request_word(fdt_g.ring, FDT_RING_REQ_SNAPSHOT), (uint32_t)err, 10000000000ull);
    fdt_tls_busy--;
    errno = saved;
}

/* A scope question (scope.c) is in the ring: rings the doorbell and waits
 * until the collector answered `request`, it is gone, or the deadline
 * passed. 0 with the collector's status in *status, or -1 (errno
 * ENOTCONN: gone; ETIMEDOUT). */
int fdt_wait_scope_answer(uint32_t request, uint64_t timeout_ns, int *status) {
    struct fdt_ring_header *ring = fdt_g.ring;
    if (!ring) {
        errno = ENOTCONN;
        return -1;
    }
    ring_doorbell();
    uint64_t deadline = fdt_now_ns() + timeout_ns;
    for (;;) {
        uint32_t seen = __atomic_load_n(&ring->ctl_done, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&ring->ctl_scope_done, __ATOMIC_ACQUIRE) == request) {
            *status = __atomic_load_n(&ring->ctl_scope_status, __ATOMIC_ACQUIRE);
            return 0;
        }
        if (fdt_collector_gone()) {
            errno = ENOTCONN;
            return -1;
        }
        uint64_t now = fdt_now_ns();
        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        uint64_t left = deadline - now;
        struct timespec ts = { 0, left < 50000000ull ? (long)left : 50000000L };
        syscall(SYS_futex, &ring->ctl_done, FUTEX_WAIT, seen, &ts, NULL, 0);
    }
}

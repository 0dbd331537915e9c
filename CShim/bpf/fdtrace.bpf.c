/*
 * fdtrace's kernel event source: a BPF program that watches the descriptor
 * system calls of a set of processes and sends each as a wire record
 * (fdtrace_kernel.h) through a BPF ring buffer.
 *
 *   - Traced processes are the tgids in the hash map `traced`: user space
 *     adds the roots, sched_process_fork adds their children, the end of a
 *     process's last thread removes it.
 *   - A call that releases descriptors (close, close_range) is recorded at
 *     system call entry, before the kernel frees the numbers; one that
 *     creates them at exit, when the numbers are known, and only when it
 *     succeeded. Entry and exit are matched per thread through task-local
 *     storage, which also keeps the path argument read at entry.
 *   - Opens carry a user stack: an id in a BPF stack map (a frame-pointer
 *     walk), plus a few words at the user stack pointer from which user
 *     space recovers the libc wrapper's caller.
 *   - When the ring buffer is full the event is dropped and counted, in
 *     total and per process.
 *
 * Compiled at build time (make bpf): clang -target bpf -O2 -g against a
 * vmlinux.h dumped from the running kernel's BTF, then embedded in the
 * loader by `bpftool gen skeleton`. Attached to BTF tracepoints (tp_btf):
 * no tracefs needed.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "fdtrace_kernel.h"

/* bpf_probe_read_user and bpf_get_stackid are available to GPL programs only. */
char LICENSE[] SEC("license") = "GPL";

/* x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
enum {
    NR_open = 2,
    NR_close = 3,
    NR_mmap = 9,
    NR_ioctl = 16,
    NR_pipe = 22,
    NR_dup = 32,
    NR_dup2 = 33,
    NR_socket = 41,
    NR_accept = 43,
    NR_socketpair = 53,
    NR_fcntl = 72,
    NR_creat = 85,
    NR_epoll_create = 213,
    NR_inotify_init = 253,
    NR_openat = 257,
    NR_signalfd = 282,
    NR_timerfd_create = 283,
    NR_eventfd = 284,
    NR_accept4 = 288,
    NR_signalfd4 = 289,
    NR_eventfd2 = 290,
    NR_epoll_create1 = 291,
    NR_dup3 = 292,
    NR_pipe2 = 293,
    NR_inotify_init1 = 294,
    NR_recvmsg = 47,
    NR_perf_event_open = 298,
    NR_recvmmsg = 299,
    NR_fanotify_init = 300,
    NR_memfd_create = 319,
    NR_userfaultfd = 323,
    NR_io_uring_setup = 425,
    NR_pidfd_open = 434,
    NR_close_range = 436,
    NR_openat2 = 437,
    NR_pidfd_getfd = 438,
    NR_TABLE = 512,
};

/* Flag values of the uapi (the same number for every *_CLOEXEC that
 * aliases O_CLOEXEC). */
#define O_CLOEXEC_            02000000
#define SOCK_NONBLOCK_        04000
#define F_DUPFD_              0
#define F_SETFD_              2
#define F_DUPFD_CLOEXEC_      1030
#define FD_CLOEXEC_           1
#define FIONCLEX_             0x5450
#define FIOCLEX_              0x5451
#define MFD_CLOEXEC_          1
#define FAN_CLOEXEC_          1
#define MSG_CMSG_CLOEXEC_     0x40000000
#define PERF_FLAG_FD_CLOEXEC_ 8
#define CLOSE_RANGE_CLOEXEC_  4
#define PROT_EXEC_            4
#define MAP_ANONYMOUS_        0x20
#define AT_BASE_              7
#define RLIMIT_NOFILE_        7

/* What to do with a system call of a traced process. */
enum kind { K_NONE = 0, K_CLOSE, K_CLOSE_RANGE, K_EXIT_RECORD };

/* The calls recorded at exit (entry saves their arguments). */
static __always_inline int recorded_at_exit(long nr) {
    switch (nr) {
    case NR_open:
    case NR_openat:
    case NR_openat2:
    case NR_creat:
    case NR_memfd_create:
    case NR_socket:
    case NR_socketpair:
    case NR_accept:
    case NR_accept4:
    case NR_pipe:
    case NR_pipe2:
    case NR_dup:
    case NR_dup2:
    case NR_dup3:
    case NR_fcntl:
    case NR_ioctl:
    case NR_mmap:
    case NR_epoll_create:
    case NR_epoll_create1:
    case NR_eventfd:
    case NR_eventfd2:
    case NR_signalfd:
    case NR_signalfd4:
    case NR_timerfd_create:
    case NR_inotify_init:
    case NR_inotify_init1:
    case NR_fanotify_init:
    case NR_pidfd_open:
    case NR_pidfd_getfd:
    case NR_userfaultfd:
    case NR_io_uring_setup:
    case NR_perf_event_open:
    case NR_recvmsg:
    case NR_recvmmsg: return 1;
    default: return 0;
    }
}

/* ---- maps ---- */

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, u32);
    __type(value, struct fdt_ktraced);
} traced SEC(".maps");

/* The system call a thread is in, with its arguments (entry to exit). */
struct pending {
    u64 args[6];
    s64 nr;        /* -1: none */
    s32 path_read; /* bytes bpf_probe_read_user_str returned at entry */
    u32 group_seq; /* numbers the thread's recorded calls (fdt_rec_open.group) */
    char path[FDT_MAX_PATH];
};

struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct pending);
} pending SEC(".maps");

/* Size set by the loader before loading (a power of two, in bytes). */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Stacks already sent, per process image: (tgid, image, hash of the
 * frames) -> stack id. Evicted entries are simply sent again. */
struct stack_key {
    u32 tgid;
    u32 image;
    u64 hash;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct stack_key);
    __type(value, u32);
} stack_ids SEC(".maps");

/* Set by the loader: a quarter of the ring buffer; whether opens carry stacks. */
const volatile __u64 ring_wakeup_bytes = 4 << 20;
const volatile __u32 capture_stacks = 1;

/* The last stack id handed out (ids are unique in the session). */
__u32 last_stack_id = 0;

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct fdt_kcounts);
} counts SEC(".maps");

#define RECV_FDS 16 /* a power of two */

/* Where events are built before they are copied into the ring buffer, and
 * what the exit handler hands to the functions that build them. */
struct work {
    u64 ip, sp, bp; /* user registers at the call */
    u64 code_lo;    /* the executable's text start: no code below */
    u64 fp;         /* the stack walk: next frame, frames so far, hash */
    u32 depth;
    u32 image;
    u64 hash;
    u64 scan_end;           /* the scan stops at this window index */
    u64 start, len, offset; /* an executable mapping */
    s32 fds[RECV_FDS];      /* the descriptors made (n of them) */
    u32 pair;               /* fds[0] and fds[1] name each other (pipe, socketpair) */
    s32 source, domain, type, protocol;
    s32 map_fd;
    u32 path_pos; /* fdt_file_path's position */
    u64 path_arg; /* the user's path argument */
    u32 n;
    u32 tgid;
    u32 stack_id;
    u16 call, cloexec;
    u32 with_path;
};

/* Descriptors received by SCM_RIGHTS recorded per call: the messages and
 * control headers looked at, and the descriptors kept. Past these a call's
 * descriptors are counted lost (the process's report says incomplete). */
#define RECV_MSGS  4
#define RECV_CMSGS 4
#define EV_BYTES   (sizeof(struct fdt_kev) + sizeof(struct fdt_krec_fds) + 2 * 8 * FDT_KFDS_MAX_WORDS)
#define PATH_BUF   4096
#define PATH_END   1536 /* paths are built backwards, ending here */
struct scratch {
    struct work w;
    u64 pcs[FDT_KEV_STACK_DEPTH];
    u64 window[FDT_KEV_SCAN_WORDS]; /* the words at the stack pointer */
    u8 ev[EV_BYTES];
    char path[PATH_BUF];
};

/* One per program kind: if a program could be preempted (system call
 * tracepoints may run preemptibly), another on the same CPU never writes
 * into what it is building. The same program cannot run twice on one CPU
 * at once (the kernel skips and counts such a run: fdtk_missed). */
#define SCRATCH_MAP(name)                                                                                              \
    struct {                                                                                                           \
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                                                       \
        __uint(max_entries, 1);                                                                                        \
        __type(key, u32);                                                                                              \
        __type(value, struct scratch);                                                                                 \
    } name SEC(".maps")
SCRATCH_MAP(scratch_enter);
SCRATCH_MAP(scratch_exit);
SCRATCH_MAP(scratch_process);

/* Where the record starts in an event: after the envelope. */
#define REC sizeof(struct fdt_kev)

/* ---- helpers ---- */

static __always_inline struct fdt_kcounts *counters(void) {
    u32 zero = 0;
    return bpf_map_lookup_elem(&counts, &zero);
}

static __always_inline void count(u64 *field) { __sync_fetch_and_add(field, 1); }

static __always_inline struct scratch *get_scratch(void *map) {
    u32 zero = 0;
    return bpf_map_lookup_elem(map, &zero);
}

/* A 32-bit system call (int 0x80): other numbers, not traced. */
static __always_inline int compat_call(void) {
    return (bpf_get_current_task_btf()->thread_info.status & 0x0002 /* TS_COMPAT */) != 0;
}

static __always_inline u32 current_tgid(void) { return bpf_get_current_pid_tgid() >> 32; }
static __always_inline s32 current_tid(void) { return (s32)bpf_get_current_pid_tgid(); }

static __always_inline u32 align8(u32 n) { return (n + 7) & ~7u; }

/* Copies `size` bytes of the scratch event into the ring buffer: 0, or -1
 * when it was dropped (counted). */
static __always_inline int emit(struct scratch *s, u32 size, u32 tgid) {
    struct fdt_kcounts *c = counters();
    struct fdt_kev *ev = (struct fdt_kev *)s->ev;
    ev->size = size;
    ev->tgid = tgid;
    if (size > EV_BYTES) return -1;
    /* Waking the reader for every event costs the program more than the
     * event itself (an interrupt, a wake-up: ~1 us here). The reader looks
     * at least every FDTK_MAX_WAIT_MS; it is woken early only when the ring
     * is a quarter full. */
    u64 flags =
        bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > ring_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
    if (bpf_ringbuf_output(&events, s->ev, size, flags) == 0) {
        if (c) count(&c->events);
        return 0;
    }
    if (c) count(&c->ring_drops);
    struct fdt_ktraced *t = bpf_map_lookup_elem(&traced, &tgid);
    if (t) count(&t->records_lost);
    return -1;
}

static __always_inline void *record_at(struct scratch *s, u32 offset, u16 type, u32 rec_size) {
    struct fdt_rec_header *h = (struct fdt_rec_header *)(s->ev + offset);
    h->size = rec_size;
    h->type = type;
    h->flags = 0;
    h->time_ns = bpf_ktime_get_ns();
    return h;
}

/* The functions below are global (not inlined): the verifier checks each
 * once, instead of once per path of its callers. */

/* The path of the struct file at `file` from the global root, built
 * backwards in s->path and ending at PATH_END. Returns where it starts
 * (PATH_END - start bytes, at most FDT_MAX_PATH - 1: a longer path keeps
 * its tail). */
__noinline int fdt_file_path(struct scratch *s, u64 file) {
    if (!s) return PATH_END;
    struct file *f = (struct file *)file;
    struct path p = {};
    if (!f || bpf_core_read(&p, sizeof p, &f->f_path)) return PATH_END;
    struct dentry *d = p.dentry;
    struct vfsmount *vfs = p.mnt;
    struct mount *mnt = (struct mount *)((char *)vfs - bpf_core_field_offset(struct mount, mnt));
    /* The position lives in the map value, not in a register: the verifier
     * then checks one iteration of each kind instead of every sequence. */
    volatile u32 *pos = &s->w.path_pos;
    *pos = PATH_END;
    for (int i = 0; i < 40; i++) {
        struct dentry *parent = BPF_CORE_READ(d, d_parent);
        struct dentry *root = BPF_CORE_READ(vfs, mnt_root);
        if (d == root || d == parent) {
            struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
            if (up == mnt || !up) break; /* the global root */
            d = BPF_CORE_READ(mnt, mnt_mountpoint);
            mnt = up;
            vfs = (struct vfsmount *)((char *)up + bpf_core_field_offset(struct mount, mnt));
            continue;
        }
        struct qstr name = {};
        bpf_core_read(&name, sizeof name, &d->d_name);
        u32 len = name.len & 255;
        u32 at = *pos;
        if (at > PATH_END || PATH_END - at + len + 1 > FDT_MAX_PATH - 1) break; /* too long: the tail only */
        at -= len;
        bpf_probe_read_kernel(&s->path[at & 2047], len, name.name);
        at -= 1;
        s->path[at & 2047] = '/';
        *pos = at;
        d = parent;
    }
    u32 at = *pos;
    if (at >= PATH_END) { /* the root itself */
        at = PATH_END - 1;
        s->path[at] = '/';
    }
    return at;
}

/* Copies the path fdt_file_path built into the event at `offset` (a
 * constant); returns its length. */
static __always_inline u32 put_path(struct scratch *s, u32 offset, u32 pos) {
    u32 len = (PATH_END - pos) & (FDT_MAX_PATH - 1);
    if (offset > EV_BYTES - FDT_MAX_PATH) return 0;
    bpf_probe_read_kernel(s->ev + offset, len, &s->path[pos & 2047]);
    return len;
}

/* FDT_KREC_FDS: the current process's descriptor table as bitmaps. */
__noinline int fdt_emit_fds(struct scratch *s, u32 tgid) {
    if (!s) return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    struct fdt_krec_fds *r = (struct fdt_krec_fds *)(s->ev + REC);
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    u32 max = fdt ? BPF_CORE_READ(fdt, max_fds) : 0;
    u32 words = (max + 63) / 64;
    u16 flags = 0;
    if (words > FDT_KFDS_MAX_WORDS) {
        words = FDT_KFDS_MAX_WORDS;
        flags = FDT_KFDS_TRUNCATED;
    }
    u32 bytes = words * 8;
    u8 *open = s->ev + REC + sizeof(struct fdt_krec_fds);
    if (bytes && fdt) {
        unsigned long *o = BPF_CORE_READ(fdt, open_fds);
        unsigned long *c = BPF_CORE_READ(fdt, close_on_exec);
        if (bpf_probe_read_kernel(open, bytes, o) || bpf_probe_read_kernel(open + bytes, bytes, c)) bytes = 0;
    }
    u32 size = sizeof(struct fdt_krec_fds) + 2 * bytes;
    record_at(s, REC, FDT_KREC_FDS, size);
    r->h.flags = flags;
    r->words = bytes / 8;
    r->max_fds = max;
    emit(s, REC + size, tgid);
    return 0;
}

/* What the kernel knows of each socket a process holds at exit: its
 * family, type, protocol, TCP state and addresses, as FDT_REC_KERNEL_FD
 * records (the shim's exit view, written from inside the process). Without
 * them the collector would have to ask sock_diag for every socket of the
 * process over and over while it runs (a walk of the host's whole TCP hash
 * each time), and a socket accepted since the last such look would be
 * reported at exit without its addresses. */
#define S_IFMT_   0170000
#define S_IFSOCK_ 0140000
#define AF_UNIX_  1
#define AF_INET_  2
#define AF_INET6_ 10

struct socket_walk {
    u64 fds;      /* struct file ** of the table */
    u64 open_fds; /* its bitmap */
    u32 tgid;
    u32 _pad;
};

/* The address as the shim's getsockname gives it: sockaddr_in or
 * sockaddr_in6 (family in host order, port and address in network order). */
static __always_inline u32 put_inet_address(u8 *out, u16 family, u16 port_be, const void *addr) {
    __builtin_memset(out, 0, 28);
    *(u16 *)out = family;
    *(u16 *)(out + 2) = port_be;
    if (family == AF_INET_) {
        bpf_probe_read_kernel(out + 4, 4, addr);
        return 16;
    }
    bpf_probe_read_kernel(out + 8, 16, addr);
    return 28;
}

/* A unix socket's bound address as struct sockaddr_un bytes (its length
 * as the kernel keeps it), or nothing when it is not bound. */
static __always_inline u32 put_unix_address(u8 *out, struct unix_address *a) {
    if (!a) return 0;
    int len = BPF_CORE_READ(a, len);
    if (len <= 0 || len > (int)sizeof(struct sockaddr_un)) return 0;
    u32 n = (u32)len & 127;
    if (bpf_probe_read_kernel(out, n, &a->name)) return 0;
    return n;
}

static long describe_socket(u64 fd, void *data) {
    struct socket_walk *w = data;
    u64 word = 0, fp = 0;
    if (bpf_probe_read_kernel(&word, sizeof word, (void *)(w->open_fds + (fd / 64) * 8))) return 1;
    if (!(word & (1ull << (fd % 64)))) return 0;
    if (bpf_probe_read_kernel(&fp, sizeof fp, (void *)(w->fds + fd * 8)) || !fp) return 0;
    struct file *f = (struct file *)fp;
    struct inode *ino = BPF_CORE_READ(f, f_inode);
    u16 mode = BPF_CORE_READ(ino, i_mode);
    if ((mode & S_IFMT_) != S_IFSOCK_) return 0;
    struct socket *sock = (struct socket *)BPF_CORE_READ(f, private_data);
    struct sock *sk = BPF_CORE_READ(sock, sk);
    if (!sk) return 0;
    struct scratch *s = get_scratch(&scratch_process);
    if (!s) return 1;
    struct fdt_rec_kernel_fd *r = (struct fdt_rec_kernel_fd *)(s->ev + REC);
    u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    r->fd = (s32)fd;
    r->fd_flags = 0;
    r->_pad0 = 0;
    r->st_mode = mode;
    r->domain = family;
    r->sock_type = BPF_CORE_READ(sk, sk_type);
    r->protocol = BPF_CORE_READ(sk, sk_protocol);
    r->tcp_state = -1;
    r->inode = BPF_CORE_READ(ino, i_ino);
    r->target_len = 0;
    r->local_len = 0;
    r->peer_len = 0;
    r->_pad1 = 0;
    u8 *addrs = s->ev + REC + sizeof *r;
    u32 alen = 0, plen = 0; /* the addresses' bytes: the family's size, or none */
    if (family == AF_INET_ || family == AF_INET6_) {
        struct sock_common *c = &sk->__sk_common;
        if (r->protocol == IPPROTO_TCP) r->tcp_state = BPF_CORE_READ(c, skc_state);
        u16 lport = BPF_CORE_READ(c, skc_num), dport = BPF_CORE_READ(c, skc_dport);
        lport = (u16)(lport << 8 | lport >> 8);
        /* The peer's bytes follow the local's (the record's layout). */
        if (family == AF_INET_) {
            alen = put_inet_address(addrs, family, lport, &c->skc_rcv_saddr);
            put_inet_address(addrs + 16, family, dport, &c->skc_daddr);
        } else {
            alen = put_inet_address(addrs, family, lport, &c->skc_v6_rcv_saddr);
            put_inet_address(addrs + 28, family, dport, &c->skc_v6_daddr);
        }
        /* No peer port: not connected (getpeername would fail). */
        plen = dport ? alen : 0;
    } else if (family == AF_UNIX_) {
        /* The bound names getsockname and getpeername give (the peer's is
         * the one it bound, or for an accepted socket the listener's). */
        struct unix_sock *u = (struct unix_sock *)sk;
        alen = put_unix_address(addrs, BPF_CORE_READ(u, addr));
        struct unix_sock *peer = (struct unix_sock *)BPF_CORE_READ(u, peer);
        if (peer) plen = put_unix_address(addrs + (alen & 127), BPF_CORE_READ(peer, addr));
    }
    r->local_len = alen;
    r->peer_len = plen;
    u32 size = align8(sizeof *r + alen + plen);
    record_at(s, REC, FDT_REC_KERNEL_FD, size);
    struct fdt_kev *ev = (struct fdt_kev *)s->ev;
    ev->size = REC + size;
    ev->tgid = w->tgid;
    /* A description the ring has no room for is counted apart: the
     * report keeps what it knew of that socket, no event is lost. */
    if (bpf_ringbuf_output(&events, s->ev, REC + size, BPF_RB_NO_WAKEUP)) {
        struct fdt_kcounts *k = counters();
        if (k) count(&k->sockets_undescribed);
    }
    return 0;
}

/* One FDT_REC_KERNEL_FD per socket in the current task's table (up to
 * the FDT_KFDS_MAX_WORDS bitmap words FDT_KREC_FDS lists). */
__noinline int fdt_describe_sockets(u32 tgid) {
    struct task_struct *task = bpf_get_current_task_btf();
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    if (!fdt) return 0;
    u32 max = BPF_CORE_READ(fdt, max_fds);
    if (max > 64 * FDT_KFDS_MAX_WORDS) max = 64 * FDT_KFDS_MAX_WORDS;
    struct socket_walk w = {
        .fds = (u64)BPF_CORE_READ(fdt, fd), .open_fds = (u64)BPF_CORE_READ(fdt, open_fds), .tgid = tgid
    };
    bpf_loop(max, describe_socket, &w, 0);
    return 0;
}

/* ---- system call entry ---- */

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id) {
    (void)ctx;
    if (id != NR_close && id != NR_close_range && !recorded_at_exit(id)) return 0;
    u32 tgid = current_tgid();
    if (!bpf_map_lookup_elem(&traced, &tgid) || compat_call()) return 0;
    struct scratch *s;
    if (id == NR_close) {
        if (!(s = get_scratch(&scratch_enter))) return 0;
        struct fdt_rec_close *r = record_at(s, REC, FDT_REC_CLOSE, sizeof *r);
        r->fd = (s32)regs->di;
        r->call = FDT_CALL_CLOSE;
        r->cause = 0;
        r->tid = current_tid();
        r->stack_id = 0;
        emit(s, REC + sizeof *r, tgid);
        return 0;
    }
    if (id == NR_close_range) {
        u32 first = (u32)regs->di, last = (u32)regs->si;
        if (first > last || !(s = get_scratch(&scratch_enter))) return 0;
        struct fdt_rec_close_range *r = record_at(s, REC, FDT_REC_CLOSE_RANGE, sizeof *r);
        if (regs->dx & CLOSE_RANGE_CLOEXEC_) r->h.flags = FDT_RANGE_CLOEXEC_ONLY;
        r->first = first;
        r->last = last;
        r->call = FDT_CALL_CLOSE_RANGE;
        r->_pad = 0;
        r->tid = current_tid();
        emit(s, REC + sizeof *r, tgid);
        return 0;
    }
    u64 a0 = regs->di, a1 = regs->si, a2 = regs->dx, a4 = regs->r8;
    /* Calls that make no descriptor and change no flag: not worth a record. */
    if (id == NR_fcntl && a1 != F_DUPFD_ && a1 != F_DUPFD_CLOEXEC_ && a1 != F_SETFD_) return 0;
    if (id == NR_ioctl && a1 != FIOCLEX_ && a1 != FIONCLEX_) return 0;
    if (id == NR_mmap && (!(a2 & PROT_EXEC_) || (regs->r10 & MAP_ANONYMOUS_) || (s32)a4 < 0)) return 0;
    if (id == NR_dup2 && a0 == a1) return 0;
    if ((id == NR_signalfd || id == NR_signalfd4) && (s32)a0 != -1) return 0; /* changes a mask */
    struct pending *p = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!p) {
        struct fdt_kcounts *c = counters();
        if (c) __sync_fetch_and_add(&c->storage_failures, 1);
        return 0;
    }
    p->nr = id;
    p->args[0] = a0;
    p->args[1] = a1;
    p->args[2] = a2;
    p->args[3] = regs->r10;
    p->args[4] = a4;
    p->args[5] = regs->r9;
    p->path_read = 0;
    const char *path = NULL;
    if (id == NR_open || id == NR_creat || id == NR_memfd_create) path = (const char *)a0;
    else if (id == NR_openat || id == NR_openat2) path = (const char *)a1;
    if (path) p->path_read = bpf_probe_read_user_str(p->path, sizeof p->path, path);
    return 0;
}

/* ---- system call exit ---- */

/* FDT_REC_OPEN for each descriptor in s->w (two for a pair, naming each
 * other), with the user-stack words at w.sp and the path read at entry. */
__noinline int fdt_emit_opens(struct scratch *s, struct pending *p) {
    if (!s || !p) return 0;
    struct work *w = &s->w;
    struct fdt_rec_open *r = (struct fdt_rec_open *)(s->ev + REC);
    char *dst = (char *)(r + 1);
    u32 plen = 0;
    if (w->with_path) {
        long got = p->path_read;
        if (got <= 0) {
            /* Not readable at entry (a page never touched yet): the kernel
             * has read it since, so it is there now. */
            struct fdt_kcounts *c = counters();
            if (c) count(&c->path_retries);
            const char *path = (const char *)(w->path_arg);
            got = bpf_probe_read_user_str(dst, FDT_MAX_PATH, path);
            if (got <= 0 && c) count(&c->path_failures);
        } else {
            bpf_probe_read_kernel(dst, got & (FDT_MAX_PATH - 1), p->path);
        }
        plen = got > 1 ? (u32)(got - 1) & (FDT_MAX_PATH - 1) : 0;
    }
    u32 rec_size = align8(sizeof *r + plen);
    u32 group = ++p->group_seq;
    s32 tid = current_tid();
    u32 n = w->n;
    for (u32 k = 0; k < RECV_FDS && k < n; k++) {
        record_at(s, REC, FDT_REC_OPEN, rec_size);
        r->fd = w->fds[k & (RECV_FDS - 1)];
        r->call = w->call;
        r->fd_flags = w->cloexec ? FDT_FD_CLOEXEC : 0;
        r->stack_id = w->stack_id;
        r->tid = tid;
        r->source_fd = w->pair ? w->fds[(k + 1) & 1] : w->source;
        r->domain = w->domain;
        r->sock_type = w->type;
        r->protocol = w->protocol;
        r->group = group;
        r->path_len = plen;
        r->_pad = 0;
        emit(s, REC + rec_size, w->tgid);
    }
    return 0;
}

/* FDT_KREC_MAP for the executable mapping in s->w. */
__noinline int fdt_emit_map(struct scratch *s) {
    if (!s) return 0;
    struct work *w = &s->w;
    struct task_struct *task = bpf_get_current_task_btf();
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    if (!fdt || w->map_fd < 0 || (u32)w->map_fd >= BPF_CORE_READ(fdt, max_fds)) return 0;
    struct file **fds = BPF_CORE_READ(fdt, fd);
    struct file *f = NULL;
    bpf_probe_read_kernel(&f, sizeof f, &fds[w->map_fd]);
    if (!f) return 0;
    u32 pos = fdt_file_path(s, (u64)f);
    struct fdt_krec_map *r = (struct fdt_krec_map *)(s->ev + REC);
    u32 plen = put_path(s, REC + sizeof *r, pos);
    u32 size = align8(sizeof *r + plen);
    record_at(s, REC, FDT_KREC_MAP, size);
    r->start = w->start;
    r->end = w->start + w->len;
    r->offset = w->offset;
    r->path_len = plen;
    r->_pad[0] = r->_pad[1] = r->_pad[2] = 0;
    emit(s, REC + size, w->tgid);
    return 0;
}

/* The descriptors SCM_RIGHTS put into the user's msghdr at `msg` (the
 * kernel has written them when the call returns): appended to s->w.fds;
 * those past RECV_FDS are returned as lost. */
__noinline int fdt_read_rights(struct scratch *s, u64 msg) {
    if (!s) return 0;
    struct work *w = &s->w;
    u64 control = 0, controllen = 0; /* struct msghdr: msg_control at 32, msg_controllen at 40 */
    if (bpf_probe_read_user(&control, sizeof control, (const void *)(msg + 32)) ||
        bpf_probe_read_user(&controllen, sizeof controllen, (const void *)(msg + 40)) || !control)
        return 0;
    int lost = 0;
    u64 pos = 0;
    for (int c = 0; c < RECV_CMSGS; c++) {
        struct {
            u64 len;
            s32 level, type;
        } h;
        if (pos + sizeof h > controllen || bpf_probe_read_user(&h, sizeof h, (const void *)(control + pos))) break;
        if (h.len < sizeof h || h.len > controllen - pos) break;
        if (h.level == 1 /* SOL_SOCKET */ && h.type == 1 /* SCM_RIGHTS */) {
            u64 count = (h.len - sizeof h) / 4;
            s32 got[RECV_FDS];
            u64 take = count < RECV_FDS ? count : RECV_FDS;
            u32 bytes = (u32)take * 4;
            if (bytes > sizeof got) bytes = sizeof got;
            if (bytes && bpf_probe_read_user(got, bytes, (const void *)(control + pos + sizeof h)) == 0) {
                for (u32 i = 0; i < RECV_FDS && i < take; i++) {
                    if (w->n < RECV_FDS) w->fds[w->n++ & (RECV_FDS - 1)] = got[i];
                    else lost++;
                }
            } else {
                lost += (int)count;
            }
            if (count > take) lost += (int)(count - take);
        }
        pos += (h.len + 7) & ~7ULL;
    }
    return lost;
}

static __always_inline void emit_setfd(struct scratch *s, u32 tgid, s32 fd, int cloexec, u16 call) {
    struct fdt_rec_setfd *r = record_at(s, REC, FDT_REC_SETFD, sizeof *r);
    r->fd = fd;
    r->call = call;
    r->fd_flags = cloexec ? FDT_FD_CLOEXEC : 0;
    emit(s, REC + sizeof *r, tgid);
}

/* Whether the bytes before `ret` are a call instruction (x86-64: call
 * rel32, or call through a register or memory operand): a word on the
 * stack is taken for a return address only then. -1 when they could not
 * be read (not mapped, or a page not present: no fault is taken here). */
static __always_inline int call_before(u64 ret) {
    u8 b[8];
    if (bpf_probe_read_user(b, sizeof b, (const void *)(ret - 8))) return -1;
    if (b[3] == 0xe8) return 1;                   /* e8 rel32 */
    if (b[6] == 0xff && ((b[7] & 0xf8) == 0xd0 || /* ff d0+r */
                            ((b[7] & 0xf8) == 0x10 && (b[7] & 7) != 4 && (b[7] & 7) != 5)))
        return 1;                                                           /* ff 10+r */
    if (b[5] == 0xff && (b[6] & 0xf8) == 0x50 && (b[6] & 7) != 4) return 1; /* ff 50+r d8 */
    if (b[4] == 0xff && b[5] == 0x54) return 1;                             /* ff 54 sib d8 */
    if (b[2] == 0xff && (b[3] == 0x15 || ((b[3] & 0xf8) == 0x90 && (b[3] & 7) != 4)))
        return 1;                               /* ff 15 / ff 90+r d32 */
    if (b[1] == 0xff && b[2] == 0x94) return 1; /* ff 94 sib d32 */
    return 0;
}

/* Reading user memory costs ~90 ns a word here, ~700 ns for an address
 * that is not mapped (a fault): each CPU keeps the answers for the last
 * addresses it checked, direct-mapped, in a per-CPU array (no lock, no
 * sharing; a shared LRU hash costs ~25 ns a lookup more). */
#define SITE_CACHE 1024
struct site_entry {
    u64 addr;
    u32 tgid;
    u32 image_state; /* image << 2 | 0 no, 1 yes, SITE_FAILED_ONCE */
    u32 failed_at;   /* the stack walk (`walks`) whose read failed */
    u32 unused;
};
#define SITE_FAILED_ONCE 2u
struct site_cache {
    struct site_entry e[SITE_CACHE];
    u32 walks; /* stack walks on this CPU (fdt_user_stack) */
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct site_cache);
} call_sites SEC(".maps");

static __always_inline int is_call_site(struct site_cache *cache, struct work *w, u64 ret) {
    /* Code lies above the executable's text: smaller values (counters,
     * sizes) are not read, which would fault (a fault costs ~1 us). */
    if (ret < w->code_lo || ret >= 0x800000000000ULL) return 0;
    u32 slot = (u32)((ret * 0x9e3779b97f4a7c15ULL) >> 54) & (SITE_CACHE - 1);
    struct site_entry *e = &cache->e[slot];
    /* An address that could not be read is tried once more in a later
     * stack walk before it counts as no: the page may be there by then, and a
     * "no" kept at once would drop that caller from every later stack of
     * the process (seen once: a leak's site given as a data address). A
     * value that is no address at all fails twice and costs no more. */
    if (e->addr == ret && e->tgid == w->tgid && e->image_state >> 2 == w->image) {
        u32 state = e->image_state & 3;
        if (state != SITE_FAILED_ONCE) return (int)state;
        if (e->failed_at == cache->walks) return 0; /* the same word again in this walk */
        int again = call_before(ret);
        state = again < 0 ? 0 : (u32)again;
        e->image_state = w->image << 2 | state;
        return (int)state;
    }
    int yes = call_before(ret);
    e->addr = ret;
    e->tgid = w->tgid;
    e->image_state = w->image << 2 | (yes < 0 ? SITE_FAILED_ONCE : (u32)yes);
    e->failed_at = cache->walks;
    return yes < 0 ? 0 : yes;
}

#define STACK_SPAN (8ULL << 20) /* how far above the stack pointer frames may be */

/* A word of the user stack: from the words already read at the stack
 * pointer when it is among them. */
static __always_inline int stack_word(struct scratch *s, u64 addr, u64 *out) {
    u64 off = addr - s->w.sp;
    if (off < 8 * FDT_KEV_SCAN_WORDS && (off & 7) == 0) {
        u64 i = off / 8;
        asm volatile("" : "+r"(i)); /* keep the mask where the verifier sees it */
        *out = s->window[i & (FDT_KEV_SCAN_WORDS - 1)];
        return 0;
    }
    return bpf_probe_read_user(out, sizeof *out, (const void *)addr);
}

/* 8-byte aligned, not 16: Go keeps frame pointers but not the C ABI's
 * 16-byte stack alignment (a frame is any multiple of 8 bytes). */
static __always_inline int plausible_fp(u64 fp, u64 above, u64 sp) {
    return (fp & 7) == 0 && fp > above && fp < sp + STACK_SPAN;
}

static __always_inline void push_frame(struct scratch *s, u64 pc) {
    u32 d = s->w.depth;
    if (d >= FDT_KEV_STACK_DEPTH) return;
    s->pcs[d & (FDT_KEV_STACK_DEPTH - 1)] = pc;
    s->w.depth = d + 1;
    s->w.hash = (s->w.hash ^ pc) * 0x100000001b3ULL;
}

/* The first return address the scan found, at window index `found`:
 * pushes it, and decides where the frame-pointer walk starts (w->fp) and
 * how far the scan goes on (w->scan_end). Global: the verifier checks it
 * once, not once per index the scan may stop at. */
__noinline int fdt_first_return(struct scratch *s, u32 found, u64 ret) {
    if (!s) return 0;
    u32 zero = 0;
    struct site_cache *cache = bpf_map_lookup_elem(&call_sites, &zero);
    if (!cache) return 0;
    struct work *w = &s->w;
    u64 sp = w->sp, bp = w->bp;
    found &= FDT_KEV_SCAN_WORDS - 1;
    u64 slot = sp + 8 * (u64)found;
    if (bp + 8 == slot) {
        w->fp = bp; /* the leaf keeps a frame pointer: the walk finds its return */
        w->scan_end = 0;
        return 0;
    }
    push_frame(s, ret);
    if (plausible_fp(bp, slot, sp)) {
        w->fp = bp; /* the libc frames left the caller's %rbp alone */
    } else {
        /* The wrapper saved it among the registers it pushed right below
         * its return address. */
        for (u32 j = 1; j <= 6; j++) {
            if (j > found) break;
            u64 v = s->window[(found - j) & (FDT_KEV_SCAN_WORDS - 1)];
            u64 next_ret = 0;
            if (plausible_fp(v, slot, sp) && stack_word(s, v + 8, &next_ret) == 0 && is_call_site(cache, w, next_ret)) {
                w->fp = v;
                break;
            }
        }
    }
    /* Further return addresses up to the frame the walk starts from belong
     * to libc functions between the wrapper and that frame. */
    w->scan_end = w->fp ? (w->fp - sp) / 8 : FDT_KEV_SCAN_WORDS;
    return 0;
}

/* The second pass: return addresses from window index `from` up to
 * w->scan_end. */
__noinline int fdt_more_returns(struct scratch *s, u32 from) {
    if (!s) return 0;
    u32 zero = 0;
    struct site_cache *cache = bpf_map_lookup_elem(&call_sites, &zero);
    if (!cache) return 0;
    struct work *w = &s->w;
    u64 sp = w->sp, end = w->scan_end;
    for (u64 k = 0; k < FDT_KEV_SCAN_WORDS; k++) {
        u64 i = (u64)from + k;
        if (i >= end) break;
        /* The verifier must see the bound where the index is used. */
        asm volatile("" : "+r"(i));
        if (i >= FDT_KEV_SCAN_WORDS) break;
        u64 v = s->window[i];
        if (v - sp < STACK_SPAN) continue;
        if (is_call_site(cache, w, v)) push_frame(s, v);
    }
    return 0;
}

/* The open's user stack, interned: returns its id (sending the frames
 * first if this image has not used this stack before), or 0.
 *
 * glibc is built without frame pointers, and its system call wrappers use
 * %rbp as a general register (open64 keeps the path there): a plain
 * frame-pointer walk from the registers stops at the wrapper or wanders
 * into data. So the frames are:
 *   - the address after the system call instruction;
 *   - the return addresses among the FDT_KEV_SCAN_WORDS words at the stack
 *     pointer (a word is one when the bytes before it are a call
 *     instruction): the wrapper's caller, and the callers of libc functions
 *     between it and the first frame that keeps a frame pointer (in code
 *     built without frame pointers: every caller those words reach);
 *   - a frame-pointer walk from that frame: the %rbp the wrappers left
 *     alone, or the one a wrapper saved right below its return address.
 * Stale return addresses left in those libc frames' slots may add frames
 * that were not called (libc ones, mostly). */
__noinline int fdt_user_stack(struct scratch *s) {
    if (!s) return 0;
    u32 zero = 0;
    struct site_cache *cache = bpf_map_lookup_elem(&call_sites, &zero);
    if (!cache) return 0;
    cache->walks++;
    struct work *w = &s->w;
    struct fdt_kcounts *c = counters();
    u64 sp = w->sp;
    w->depth = 0;
    w->hash = 0xcbf29ce484222325ULL;
    w->fp = 0;
    w->scan_end = FDT_KEV_SCAN_WORDS;
    push_frame(s, w->ip);
    if (bpf_probe_read_user(s->window, sizeof s->window, (const void *)sp))
        __builtin_memset(s->window, 0, sizeof s->window);
    /* The first return address. */
    int found = -1;
    u64 ret = 0;
    for (int i = 0; i < (int)FDT_KEV_SCAN_WORDS; i++) {
        u64 v = s->window[i];
        if (v - sp < STACK_SPAN) continue; /* a stack address */
        if (is_call_site(cache, w, v)) {
            found = i;
            ret = v;
            break;
        }
    }
    if (found < 0) {
        if (c) count(&c->callers_missing);
        if (plausible_fp(w->bp, sp, sp)) w->fp = w->bp;
    } else {
        if (c) count(&c->callers_found);
        fdt_first_return(s, (u32)found, ret);
        fdt_more_returns(s, (u32)found + 1);
    }
    /* The frame-pointer walk; its state lives in the map value so that the
     * verifier checks one iteration, not every sequence of them. */
    volatile u64 *fp = &w->fp;
    for (int k = 0; k < (int)FDT_KEV_STACK_DEPTH; k++) {
        u64 at = *fp;
        if (!at || w->depth >= FDT_KEV_STACK_DEPTH) break;
        u64 frame[2];
        if (stack_word(s, at, &frame[0]) || stack_word(s, at + 8, &frame[1]) || frame[1] < 0x10000) break;
        push_frame(s, frame[1]);
        *fp = frame[0] > at && frame[0] < at + STACK_SPAN ? frame[0] : 0;
    }
    u32 depth = w->depth;
    if (depth == 0 || depth > FDT_KEV_STACK_DEPTH) return 0;
    struct stack_key key = { .tgid = w->tgid, .image = w->image, .hash = w->hash };
    u32 *known = bpf_map_lookup_elem(&stack_ids, &key);
    if (known) return *known;
    u32 id = __sync_add_and_fetch(&last_stack_id, 1);
    if (!id) id = __sync_add_and_fetch(&last_stack_id, 1);
    bpf_map_update_elem(&stack_ids, &key, &id, BPF_ANY);
    struct fdt_rec_stack *r = (struct fdt_rec_stack *)(s->ev + REC);
    u32 bytes = (depth * 8) & (FDT_KEV_STACK_DEPTH * 8 * 2 - 1);
    if (bytes > FDT_KEV_STACK_DEPTH * 8) return 0;
    bpf_probe_read_kernel(s->ev + REC + sizeof *r, bytes, s->pcs);
    u32 size = sizeof *r + bytes;
    record_at(s, REC, FDT_REC_STACK, size);
    r->stack_id = id;
    r->depth = depth;
    emit(s, REC + size, w->tgid);
    if (c) count(&c->stacks_sent);
    return id;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret) {
    (void)ctx;
    /* Every system call on the machine comes here: the cheap test first. */
    if (!recorded_at_exit((long)regs->orig_ax)) return 0;
    u32 tgid = current_tgid();
    struct fdt_ktraced *t = bpf_map_lookup_elem(&traced, &tgid);
    if (!t) return 0;
    struct pending *p = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, 0);
    if (!p || p->nr < 0 || compat_call()) return 0;
    long nr = p->nr;
    p->nr = -1;
    if ((long)regs->orig_ax != nr || ret < 0) return 0; /* another call, or it failed */
    struct scratch *s = get_scratch(&scratch_exit);
    if (!s) return 0;
    u64 a0 = p->args[0], a1 = p->args[1], a2 = p->args[2], a3 = p->args[3];
    if (nr == NR_fcntl && a1 == F_SETFD_) {
        emit_setfd(s, tgid, (s32)a0, (a2 & FD_CLOEXEC_) != 0, FDT_CALL_FCNTL);
        return 0;
    }
    if (nr == NR_ioctl) {
        emit_setfd(s, tgid, (s32)a0, a1 == FIOCLEX_, FDT_CALL_IOCTL);
        return 0;
    }
    struct work *w = &s->w;
    w->tgid = tgid;
    if (nr == NR_mmap) {
        w->start = (u64)ret;
        w->len = a1;
        w->offset = p->args[5];
        w->map_fd = (s32)p->args[4];
        fdt_emit_map(s);
        return 0;
    }
    /* Written to the map value, not the stack: the verifier does not follow
     * every call's constants through the functions below. */
    w->fds[0] = (s32)ret;
    w->fds[1] = -1;
    w->n = 1;
    w->pair = 0;
    w->source = -1;
    w->domain = -1;
    w->type = -1;
    w->protocol = -1;
    w->cloexec = 0;
    w->with_path = 0;
    switch (nr) {
    case NR_open: w->call = FDT_CALL_OPEN, w->cloexec = (a1 & O_CLOEXEC_) != 0, w->with_path = 1; break;
    case NR_openat: w->call = FDT_CALL_OPENAT, w->cloexec = (a2 & O_CLOEXEC_) != 0, w->with_path = 1; break;
    case NR_openat2: {
        u64 flags = 0; /* struct open_how begins with the flags */
        bpf_probe_read_user(&flags, sizeof flags, (const void *)a2);
        w->call = FDT_CALL_OPENAT2, w->cloexec = (flags & O_CLOEXEC_) != 0, w->with_path = 1;
        break;
    }
    case NR_creat: w->call = FDT_CALL_CREAT, w->with_path = 1; break;
    case NR_memfd_create:
        w->call = FDT_CALL_MEMFD_CREATE, w->cloexec = (a1 & MFD_CLOEXEC_) != 0, w->with_path = 1;
        break;
    case NR_socket:
    case NR_socketpair:
        w->call = nr == NR_socket ? FDT_CALL_SOCKET : FDT_CALL_SOCKETPAIR;
        w->cloexec = (a1 & O_CLOEXEC_) != 0;
        w->domain = (s32)a0;
        w->type = (s32)(a1 & ~(u64)(O_CLOEXEC_ | SOCK_NONBLOCK_));
        w->protocol = (s32)a2;
        break;
    case NR_pipe: w->call = FDT_CALL_PIPE; break;
    case NR_pipe2: w->call = FDT_CALL_PIPE2, w->cloexec = (a1 & O_CLOEXEC_) != 0; break;
    case NR_accept: w->call = FDT_CALL_ACCEPT, w->source = (s32)a0; break;
    case NR_accept4: w->call = FDT_CALL_ACCEPT4, w->source = (s32)a0, w->cloexec = (a3 & O_CLOEXEC_) != 0; break;
    case NR_dup: w->call = FDT_CALL_DUP, w->source = (s32)a0; break;
    case NR_dup2: w->call = FDT_CALL_DUP2, w->source = (s32)a0; break;
    case NR_dup3: w->call = FDT_CALL_DUP3, w->source = (s32)a0, w->cloexec = (a2 & O_CLOEXEC_) != 0; break;
    case NR_fcntl: /* F_DUPFD, F_DUPFD_CLOEXEC */
        w->call = FDT_CALL_FCNTL, w->source = (s32)a0, w->cloexec = a1 == F_DUPFD_CLOEXEC_;
        break;
    case NR_epoll_create: w->call = FDT_CALL_EPOLL_CREATE; break;
    case NR_epoll_create1: w->call = FDT_CALL_EPOLL_CREATE1, w->cloexec = (a0 & O_CLOEXEC_) != 0; break;
    case NR_eventfd: w->call = FDT_CALL_EVENTFD; break;
    case NR_eventfd2: w->call = FDT_CALL_EVENTFD, w->cloexec = (a1 & O_CLOEXEC_) != 0; break;
    case NR_signalfd: w->call = FDT_CALL_SIGNALFD; break;
    case NR_signalfd4: w->call = FDT_CALL_SIGNALFD, w->cloexec = (a3 & O_CLOEXEC_) != 0; break;
    case NR_timerfd_create: w->call = FDT_CALL_TIMERFD_CREATE, w->cloexec = (a1 & O_CLOEXEC_) != 0; break;
    case NR_inotify_init: w->call = FDT_CALL_INOTIFY_INIT; break;
    case NR_inotify_init1: w->call = FDT_CALL_INOTIFY_INIT1, w->cloexec = (a0 & O_CLOEXEC_) != 0; break;
    case NR_fanotify_init: w->call = FDT_CALL_FANOTIFY_INIT, w->cloexec = (a0 & FAN_CLOEXEC_) != 0; break;
    case NR_pidfd_open:
        w->call = FDT_CALL_PIDFD_OPEN, w->cloexec = 1; /* pidfds are always close-on-exec */
        break;
    case NR_pidfd_getfd: w->call = FDT_CALL_PIDFD_GETFD, w->cloexec = 1, w->source = (s32)a0; break;
    case NR_userfaultfd: w->call = FDT_CALL_USERFAULTFD, w->cloexec = (a0 & O_CLOEXEC_) != 0; break;
    case NR_io_uring_setup:
        w->call = FDT_CALL_IO_URING_SETUP, w->cloexec = 1; /* the kernel sets O_CLOEXEC */
        break;
    case NR_perf_event_open:
        w->call = FDT_CALL_PERF_EVENT_OPEN, w->cloexec = (p->args[4] & PERF_FLAG_FD_CLOEXEC_) != 0;
        break;
    case NR_recvmsg:
    case NR_recvmmsg: {
        /* recvmsg returns bytes, recvmmsg messages; the descriptors are in
         * the control data the kernel wrote into the user's msghdr(s). */
        w->call = nr == NR_recvmsg ? FDT_CALL_RECVMSG : FDT_CALL_RECVMMSG;
        w->source = (s32)a0;
        w->cloexec = ((nr == NR_recvmsg ? a2 : a3) & MSG_CMSG_CLOEXEC_) != 0;
        w->n = 0;
        int lost = 0;
        if (nr == NR_recvmsg) {
            lost = fdt_read_rights(s, a1);
        } else {
            for (int m = 0; m < RECV_MSGS && m < ret; m++)
                lost += fdt_read_rights(s, a1 + 64 * (u64)m); /* struct mmsghdr: 64 bytes */
            /* Messages past RECV_MSGS are not read: the process is marked
             * incomplete rather than reported as exact. */
            if (ret > RECV_MSGS) lost += (int)(ret - RECV_MSGS);
        }
        if (lost) __sync_fetch_and_add(&t->records_lost, lost);
        if (w->n == 0) return 0;
        break;
    }
    default: return 0;
    }
    if (nr == NR_pipe || nr == NR_pipe2 || nr == NR_socketpair) {
        /* The two numbers are in the caller's int[2]. */
        s32 pair[2] = { -1, -1 };
        if (bpf_probe_read_user(pair, sizeof pair, (const void *)(nr == NR_socketpair ? a3 : a0))) return 0;
        w->fds[0] = pair[0];
        w->fds[1] = pair[1];
        w->n = 2;
        w->pair = 1;
    }
    if (w->with_path) w->path_arg = nr == NR_openat || nr == NR_openat2 ? a1 : a0;
    w->ip = regs->ip;
    w->sp = regs->sp;
    w->bp = regs->bp;
    /* No code below the executable's text, unless the executable itself
     * was mapped high (a program run as "ld.so PROGRAM"). */
    w->code_lo = BPF_CORE_READ(bpf_get_current_task_btf(), mm, start_code);
    if (w->code_lo < 0x10000 || w->code_lo >= 0x700000000000ULL) w->code_lo = 0x10000;
    w->image = t->image;
    w->stack_id = capture_stacks ? fdt_user_stack(s) : 0;
    fdt_emit_opens(s, p);
    return 0;
}

/* ---- processes ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child) {
    (void)ctx;
    u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
    if (ptgid == ctgid) return 0; /* a thread */
    struct fdt_ktraced *t = bpf_map_lookup_elem(&traced, &ptgid);
    if (!t) return 0;
    struct fdt_ktraced fresh = {};
    if (bpf_map_update_elem(&traced, &ctgid, &fresh, BPF_ANY)) {
        struct fdt_kcounts *c = counters();
        if (c) count(&c->untraced_children);
    }
    struct scratch *s = get_scratch(&scratch_process);
    if (!s) return 0;
    u32 seq = __sync_add_and_fetch(&t->fork_seq, 1);
    struct fdt_rec_fork *r = record_at(s, REC, FDT_REC_CHILD, sizeof *r);
    r->fork_id = ((u64)ptgid << 32) | seq;
    r->child_pid = (s32)ctgid;
    r->tid = current_tid();
    emit(s, REC + sizeof *r, ptgid);
    return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
    (void)ctx;
    u32 tgid = BPF_CORE_READ(task, tgid);
    struct fdt_ktraced *t = bpf_map_lookup_elem(&traced, &tgid);
    if (!t) return 0;
    __sync_fetch_and_add(&t->image, 1); /* its stacks are sent again */
    struct scratch *s = get_scratch(&scratch_process);
    if (!s) return 0;
    /* What the new image starts with: the kernel closed the close-on-exec
     * descriptors already. */
    fdt_emit_fds(s, tgid);
    struct file *f = BPF_CORE_READ(bprm, file);
    u32 pos = fdt_file_path(s, (u64)f);
    struct fdt_krec_exec *r = (struct fdt_krec_exec *)(s->ev + REC);
    u32 plen = pos < PATH_END ? put_path(s, REC + sizeof *r, pos) : 0;
    u32 size = align8(sizeof *r + plen);
    record_at(s, REC, FDT_KREC_EXEC, size);
    r->tid = old_pid;
    r->path_len = plen;
    r->_pad = 0;
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    r->start_code = BPF_CORE_READ(mm, start_code);
    r->end_code = BPF_CORE_READ(mm, end_code);
    r->interp_base = 0;
    for (int k = 0; k < 28; k++) {
        u64 pair[2] = {};
        if (bpf_core_read(pair, sizeof pair, &mm->saved_auxv[2 * k])) break;
        if (pair[0] == 0) break;
        if (pair[0] == AT_BASE_) {
            r->interp_base = pair[1];
            break;
        }
    }
    emit(s, REC + size, tgid);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *task) {
    (void)ctx;
    u32 tgid = BPF_CORE_READ(task, tgid);
    struct fdt_ktraced *t = bpf_map_lookup_elem(&traced, &tgid);
    if (!t) return 0;
    /* The process ends with its last thread. Threads that exit at once
     * (exit_group) can all find none left: one of them reports. */
    if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
    if (__sync_fetch_and_add(&t->exit_claimed, 1) != 0) return 0;
    struct scratch *s = get_scratch(&scratch_process);
    if (s) {
        /* What it held: the kernel closes these after this point. */
        fdt_emit_fds(s, tgid);
        fdt_describe_sockets(tgid);
        struct fdt_krec_exit *r = record_at(s, REC, FDT_KREC_EXIT, sizeof *r);
        r->wait_status = BPF_CORE_READ(task, exit_code);
        r->_pad = 0;
        struct signal_struct *sig = BPF_CORE_READ(task, signal);
        r->rlimit_soft = BPF_CORE_READ(sig, rlim[RLIMIT_NOFILE_].rlim_cur);
        r->rlimit_hard = BPF_CORE_READ(sig, rlim[RLIMIT_NOFILE_].rlim_max);
        u64 pages = BPF_CORE_READ(sig, maxrss);
        struct mm_struct *mm = BPF_CORE_READ(task, mm);
        if (mm) {
            u64 hw = BPF_CORE_READ(mm, hiwater_rss);
            if (hw > pages) pages = hw;
        }
        r->max_rss_kb = pages * 4;
        u64 ns = BPF_CORE_READ(sig, utime) + BPF_CORE_READ(sig, stime) + BPF_CORE_READ(task, utime) +
                 BPF_CORE_READ(task, stime);
        r->cpu_us = ns / 1000;
        r->records_lost = t->records_lost;
        /* Lost too: the entry stays, with its count, for user space to
         * find (fdtk_records_lost) when it sees the process gone. */
        if (emit(s, REC + sizeof *r, tgid)) return 0;
    }
    bpf_map_delete_elem(&traced, &tgid);
    return 0;
}

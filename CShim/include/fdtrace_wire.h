/*
 * fdtrace wire format: the one definition shared by the shim (C) and the
 * collector (Swift imports this header as the CFDTraceWire module).
 *
 * A traced process holds no descriptor of fdtrace's between calls (programs
 * list and count their descriptors, and close them all):
 *   - a unix SOCK_SEQPACKET socket is used only for the handshake: HELLO
 *     (with the ring's memfd passed by SCM_RIGHTS) and the collector's ACK;
 *     then the process closes it, and the memfd. The collector watches the
 *     process through a pidfd of its own.
 *   - an event ring in memory shared through that memfd. Writers reserve
 *     space with a compare-and-swap on `head` (the reservation order is the
 *     global order of events across threads), write the record, then publish
 *     it by storing its size last. The reader consumes at `tail`, zeroes what
 *     it consumed and advances `tail`. The ring is mapped twice back to back
 *     so that a record may straddle the end without being split.
 *   - requests to the collector (a snapshot at EMFILE, the report at the
 *     owner's exit) are words in the ring header; the shim waits on a futex
 *     in the shared mapping, and may ring a doorbell (a connection that
 *     sends FDT_MSG_WAKE and closes at once) so the collector looks now.
 *
 * All integers are native (little-endian x86-64 / aarch64). Records are
 * 8-byte aligned; `size` includes the header and padding.
 */
#ifndef FDTRACE_WIRE_H
#define FDTRACE_WIRE_H

/* The kernel event source's BPF program includes this header too, after
 * the kernel's vmlinux.h, which defines the fixed-width integer types. */
#ifndef __bpf__
#include <stdint.h>
#include <stddef.h>
#endif

#define FDT_WIRE_MAGIC   0x4644545243455246ULL /* "FERCRTDF" */
#define FDT_WIRE_VERSION 5u

/* Limits the collector enforces; the shim never exceeds them. */
#define FDT_MAX_DEPTH         256u
#define FDT_DEFAULT_DEPTH     64u
#define FDT_MAX_PATH          1024u
#define FDT_MAX_RECORD        8192u
#define FDT_RING_HEADER_SIZE  4096u
#define FDT_RING_MIN_CAPACITY (1u << 16)
#define FDT_RING_MAX_CAPACITY (1u << 30)
/* 8 MiB of events (~150 000 records) reserved; resident is only what the
 * collector has not read yet (it hands consumed chunks back): room for a
 * burst instead of a wait (8 threads opening at full speed waited 10-49
 * times with 2 MiB on a loaded 2-CPU machine, never with 8). */
#define FDT_RING_DEFAULT_CAPACITY (1u << 23)

/* Environment variables: fdtrace_env.h. */
#include "fdtrace_env.h"

/* ---- the ring header (first FDT_RING_HEADER_SIZE bytes of the memfd) ---- */
struct fdt_ring_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t capacity; /* bytes of record space, a power of two */
    uint64_t _pad0[5];
    uint64_t head; /* next reservation (writers, atomic) */
    uint64_t _pad1[7];
    uint64_t tail; /* next byte to consume (reader, atomic) */
    uint64_t _pad2[7];
    uint64_t full_waits;   /* times a writer found the ring full */
    uint64_t full_wait_ns; /* total time writers waited for space */
    uint64_t records_lost; /* reserved but abandoned (collector gone) */
    uint32_t reader_alive; /* set by the collector while it consumes */
    uint32_t _pad3;
    /* Control, instead of a socket the process would have to keep open. */
    int32_t collector_pid; /* the reader (set before the ACK): alive or not */
    uint32_t detached;     /* the reader stopped reading this ring for good */
    uint32_t ctl_snapshot; /* shim: EMFILE/ENFILE, a snapshot is wanted now */
    uint32_t ctl_report;   /* owner shim at exit: write the report now */
    uint32_t ctl_done;     /* reader: bumped (and futex-woken) when it handled a request */
    uint32_t _pad4;
    /* Scope requests (FDT_REC_SCOPE, FDT_SCOPE_REPORT; fdtrace_api.h): the
     * reader stores the status, then the serial of the last one it answered,
     * then bumps ctl_done. */
    int32_t ctl_scope_status; /* 0: the answer is written; else an errno */
    uint32_t ctl_scope_done;  /* the last request answered */
};

/* ---- control messages on the socket ---- */
enum fdt_msg_type {
    FDT_MSG_HELLO = 1, /* shim -> collector, carries the ring memfd */
    FDT_MSG_ACK = 2,   /* collector -> shim */
    FDT_MSG_WAKE = 3,  /* shim -> collector: a request waits in a ring header */
};

/* The doorbell: the whole message of a FDT_MSG_WAKE connection. */
struct fdt_msg_wake {
    uint32_t type;    /* FDT_MSG_WAKE */
    uint32_t version; /* FDT_WIRE_VERSION */
};

/* Hello flags. */
#define FDT_HELLO_OWNER 0x1u /* this process started the collector (bare mode) */

struct fdt_msg_hello {
    uint32_t type;    /* FDT_MSG_HELLO */
    uint32_t version; /* FDT_WIRE_VERSION */
    int32_t pid;
    int32_t ppid;
    uint64_t ring_capacity;
    uint64_t start_time_ns; /* CLOCK_MONOTONIC */
    uint64_t rlimit_soft;
    uint64_t rlimit_hard;
    uint32_t depth;
    uint32_t flags;      /* FDT_HELLO_* */
    int32_t fork_parent; /* pid this process was forked from, or 0 */
    uint32_t exe_len;
    uint32_t argv_len; /* bytes of NUL-separated argv after exe */
    uint32_t _pad;
    uint64_t fork_id; /* the parent's FDT_REC_FORK id, or 0 */
    /* followed by exe (exe_len bytes) and argv (argv_len bytes) */
};

struct fdt_msg_ack {
    uint32_t type;   /* FDT_MSG_ACK */
    uint32_t status; /* 0 = accepted */
};

#define FDT_HELLO_MAX_BYTES 65536u

/* ---- ring records ---- */
enum fdt_rec_type {
    FDT_REC_OPEN = 1,         /* a descriptor came into existence */
    FDT_REC_CLOSE = 2,        /* a descriptor is about to be closed */
    FDT_REC_CLOSE_RANGE = 3,  /* close_range/closefrom about to run */
    FDT_REC_SETFD = 4,        /* close-on-exec flag changed */
    FDT_REC_STACK = 5,        /* an interned stack, sent once */
    FDT_REC_MODULE = 6,       /* a loaded object (for symbolization) */
    FDT_REC_INHERITED = 7,    /* open when the image started */
    FDT_REC_EXIT_BEGIN = 8,   /* the process is exiting: kernel view follows */
    FDT_REC_KERNEL_FD = 9,    /* one descriptor of the kernel's view */
    FDT_REC_EXIT_END = 10,    /* end of the kernel view */
    FDT_REC_NOTE = 11,        /* a one-line message from the shim */
    FDT_REC_FORK = 12,        /* about to fork (before the child exists) */
    FDT_REC_CHILD = 13,       /* fork returned in the parent with this child */
    FDT_REC_PYCODE = 14,      /* a Python code object, sent once */
    FDT_REC_PYCODE_MORE = 15, /* the rest of a long line table */
    FDT_REC_PY_EXIT = 16,     /* the Python program began to exit */
    FDT_REC_PY_EXIT_FD = 17,  /* one descriptor as the kernel saw it then */
    FDT_REC_CMDLINE = 18,     /* the command line the process shows at exit */
    FDT_REC_BAD_CLOSE = 19,   /* the close recorded before failed: EBADF */
    /* Numbered apart: other records may be added next to the ones above. */
    FDT_REC_SCOPE = 32, /* a scope of the program's own (fdtrace_api.h) */
};

/* Calls that create or release descriptors. Keep in sync with fdt_call_names. */
enum fdt_call {
    FDT_CALL_UNKNOWN = 0,
    FDT_CALL_OPEN,
    FDT_CALL_OPEN64,
    FDT_CALL_OPENAT,
    FDT_CALL_OPENAT64,
    FDT_CALL_CREAT,
    FDT_CALL_CREAT64,
    FDT_CALL_OPEN_2,
    FDT_CALL_OPEN64_2,
    FDT_CALL_OPENAT_2,
    FDT_CALL_OPENAT64_2,
    FDT_CALL_SOCKET,
    FDT_CALL_SOCKETPAIR,
    FDT_CALL_ACCEPT,
    FDT_CALL_ACCEPT4,
    FDT_CALL_PIPE,
    FDT_CALL_PIPE2,
    FDT_CALL_DUP,
    FDT_CALL_DUP2,
    FDT_CALL_DUP3,
    FDT_CALL_FCNTL,
    FDT_CALL_EPOLL_CREATE,
    FDT_CALL_EPOLL_CREATE1,
    FDT_CALL_EVENTFD,
    FDT_CALL_SIGNALFD,
    FDT_CALL_TIMERFD_CREATE,
    FDT_CALL_INOTIFY_INIT,
    FDT_CALL_INOTIFY_INIT1,
    FDT_CALL_FANOTIFY_INIT,
    FDT_CALL_MEMFD_CREATE,
    FDT_CALL_PIDFD_OPEN,
    FDT_CALL_PIDFD_GETFD,
    FDT_CALL_SHM_OPEN,
    FDT_CALL_MQ_OPEN,
    FDT_CALL_POSIX_OPENPT,
    FDT_CALL_OPENPTY,
    FDT_CALL_FORKPTY,
    FDT_CALL_RECVMSG,
    FDT_CALL_RECVMMSG,
    FDT_CALL_CLOSE,
    FDT_CALL_CLOSE_RANGE,
    FDT_CALL_CLOSEFROM,
    FDT_CALL_FOPEN,
    FDT_CALL_FOPEN64,
    FDT_CALL_FREOPEN,
    FDT_CALL_FREOPEN64,
    FDT_CALL_FCLOSE,
    FDT_CALL_TMPFILE,
    FDT_CALL_TMPFILE64,
    FDT_CALL_MKSTEMP,
    FDT_CALL_MKSTEMP64,
    FDT_CALL_MKOSTEMP,
    FDT_CALL_MKOSTEMP64,
    FDT_CALL_MKSTEMPS,
    FDT_CALL_MKSTEMPS64,
    FDT_CALL_MKOSTEMPS,
    FDT_CALL_MKOSTEMPS64,
    FDT_CALL_OPENDIR,
    FDT_CALL_CLOSEDIR,
    FDT_CALL_POPEN,
    FDT_CALL_PCLOSE,
    FDT_CALL_IOCTL,
    FDT_CALL_GETPT,
    FDT_CALL_FCNTL64,
    /* Reached only through syscall(): no libc wrapper. */
    FDT_CALL_OPENAT2,
    FDT_CALL_USERFAULTFD,
    FDT_CALL_IO_URING_SETUP,
    FDT_CALL_PERF_EVENT_OPEN,
    FDT_CALL_COUNT
};

#define FDT_CALL_NAMES                                                                                                 \
    "unknown", "open", "open64", "openat", "openat64", "creat", "creat64", "__open_2", "__open64_2", "__openat_2",     \
        "__openat64_2", "socket", "socketpair", "accept", "accept4", "pipe", "pipe2", "dup", "dup2", "dup3", "fcntl",  \
        "epoll_create", "epoll_create1", "eventfd", "signalfd", "timerfd_create", "inotify_init", "inotify_init1",     \
        "fanotify_init", "memfd_create", "pidfd_open", "pidfd_getfd", "shm_open", "mq_open", "posix_openpt",           \
        "openpty", "forkpty", "recvmsg", "recvmmsg", "close", "close_range", "closefrom", "fopen", "fopen64",          \
        "freopen", "freopen64", "fclose", "tmpfile", "tmpfile64", "mkstemp", "mkstemp64", "mkostemp", "mkostemp64",    \
        "mkstemps", "mkstemps64", "mkostemps", "mkostemps64", "opendir", "closedir", "popen", "pclose", "ioctl",       \
        "getpt", "fcntl64", "openat2", "userfaultfd", "io_uring_setup", "perf_event_open"

/* Every record starts with this header. `size` is stored last (release):
 * a zero size at the read position means "not yet published". */
struct fdt_rec_header {
    uint32_t size;
    uint16_t type;
    uint16_t flags;
    uint64_t time_ns; /* CLOCK_MONOTONIC */
};

/* Flags of FDT_REC_OPEN / FDT_REC_INHERITED / FDT_REC_KERNEL_FD. */
#define FDT_FD_CLOEXEC 0x1u

struct fdt_rec_open {
    struct fdt_rec_header h;
    int32_t fd;
    uint16_t call;     /* enum fdt_call */
    uint16_t fd_flags; /* FDT_FD_* */
    uint32_t stack_id; /* 0 = no stack */
    int32_t tid;
    int32_t source_fd; /* dup source / the other end of a pair, or -1 */
    int32_t domain;    /* sockets: AF_*, else -1 */
    int32_t sock_type; /* sockets: SOCK_* (without flags), else -1 */
    int32_t protocol;
    uint32_t group;    /* descriptors made by one call share (tid, group) */
    uint16_t path_len; /* bytes of path following, no NUL */
    uint16_t _pad;
    /* char path[path_len] */
};

/* Why a descriptor was closed (FDT_REC_CLOSE `cause`), for Python programs:
 * the runtime's garbage collector was running, or a finalizer of an object
 * whose last reference went away (not an explicit close). */
#define FDT_CLOSE_BY_GC        0x1u
#define FDT_CLOSE_BY_FINALIZER 0x2u

struct fdt_rec_close {
    struct fdt_rec_header h;
    int32_t fd;
    uint16_t call;
    uint16_t cause; /* FDT_CLOSE_BY_* */
    int32_t tid;
    uint32_t stack_id; /* the closing call's stack; 0 = none (the kernel source) */
};

/* FDT_REC_BAD_CLOSE, laid out as fdt_rec_close (cause 0): the close this
 * thread recorded at h.time_ns (its FDT_REC_CLOSE, same fd, call and
 * stack) failed with EBADF: the number was not open. Sent after the real
 * call, only when it failed so; a close_range never sends it. */

/* Header flag of FDT_REC_CLOSE_RANGE: close_range(CLOSE_RANGE_CLOEXEC) only
 * marks the range close-on-exec and closes nothing. */
#define FDT_RANGE_CLOEXEC_ONLY 0x1u

struct fdt_rec_close_range {
    struct fdt_rec_header h;
    uint32_t first;
    uint32_t last; /* inclusive */
    uint16_t call;
    uint16_t _pad;
    int32_t tid;
};

struct fdt_rec_setfd {
    struct fdt_rec_header h;
    int32_t fd;
    uint16_t call;
    uint16_t fd_flags; /* FDT_FD_CLOEXEC set or not */
};

struct fdt_rec_stack {
    struct fdt_rec_header h;
    uint32_t stack_id;
    uint32_t depth;
    /* uint64_t pcs[depth]: innermost first. Native frames are return
     * addresses; Python frames (bit 63 set) name an FDT_REC_PYCODE and the
     * byte offset of the instruction running in it. */
};

/* A Python frame in a stack: bit 63, the code id (bits 32-62) and the
 * instruction's byte offset in the code (bits 0-31). User-space return
 * addresses never have bit 63 set. */
#define FDT_PYFRAME_BIT              (1ull << 63)
#define FDT_PYFRAME(code_id, offset) (FDT_PYFRAME_BIT | ((uint64_t)((code_id)&0x7fffffffu) << 32) | (uint32_t)(offset))
#define FDT_PYFRAME_CODE(v)          ((uint32_t)(((v) >> 32) & 0x7fffffffu))
#define FDT_PYFRAME_OFFSET(v)        ((uint32_t)(v))
/* The same, for Swift (which imports functions, not function-like macros). */
static inline int fdt_pyframe_is(uint64_t v) { return (v & FDT_PYFRAME_BIT) != 0; }
static inline uint32_t fdt_pyframe_code(uint64_t v) { return FDT_PYFRAME_CODE(v); }
static inline uint32_t fdt_pyframe_offset(uint64_t v) { return FDT_PYFRAME_OFFSET(v); }

/* How a code object maps instruction offsets to lines. */
enum fdt_py_lines {
    FDT_PY_LINES_LNOTAB = 1,    /* 3.8-3.9 co_lnotab: (addr, line) delta pairs */
    FDT_PY_LINES_LINETABLE = 2, /* 3.10 co_linetable: (length, line) delta pairs */
    FDT_PY_LINES_LOCATIONS = 3, /* 3.11+ co_linetable: location entries */
};

/* A code object: file, (qualified) name, first line and its line table.
 * Strings are UTF-8. A table longer than fits follows in PYCODE_MORE
 * records of the same code id, in order. */
struct fdt_rec_pycode {
    struct fdt_rec_header h;
    uint32_t code_id;
    int32_t first_line;
    uint16_t lines_format; /* enum fdt_py_lines */
    uint16_t filename_len;
    uint16_t name_len;
    uint16_t table_len;   /* bytes of the table in this record */
    uint32_t table_total; /* bytes of the whole table */
    uint32_t _pad;
    /* char filename[filename_len]; char name[name_len]; uint8_t table[table_len] */
};

struct fdt_rec_pycode_more {
    struct fdt_rec_header h;
    uint32_t code_id;
    uint32_t offset; /* where these bytes go in the table */
    uint16_t table_len;
    uint16_t _pad[3];
    /* uint8_t table[table_len] */
};
#define FDT_PY_MAX_TABLE (1u << 20)

/* FDT_REC_PY_EXIT: the main thread left the main script (end of the script,
 * sys.exit, an unhandled exception) or the runtime started finalizing.
 * Descriptors open now and closed later were closed at shutdown. The
 * kernel's view of them follows (FDT_REC_PY_EXIT_FD, laid out as
 * fdt_rec_kernel_fd): what they were, and their socket states, then. */
struct fdt_rec_py_exit {
    struct fdt_rec_header h;
    int32_t tid;
    uint32_t _pad;
};

struct fdt_rec_module {
    struct fdt_rec_header h;
    uint64_t base;  /* load bias (dlpi_addr) */
    uint64_t start; /* lowest mapped address of PT_LOAD segments */
    uint64_t end;   /* one past the highest */
    uint16_t path_len;
    uint16_t build_id_len;
    uint32_t _pad;
    /* char path[path_len]; uint8_t build_id[build_id_len] */
};

/* One descriptor as the kernel sees it (inherited at start, or at exit). */
struct fdt_rec_kernel_fd {
    struct fdt_rec_header h;
    int32_t fd;
    uint16_t fd_flags; /* FDT_FD_CLOEXEC */
    uint16_t _pad0;
    uint32_t st_mode; /* fstat's st_mode, 0 if unknown */
    int32_t domain;   /* sockets, else -1 */
    int32_t sock_type;
    int32_t protocol;
    int32_t tcp_state; /* TCP_* from TCP_INFO, or -1 */
    uint64_t inode;
    uint16_t target_len; /* readlink of /proc/self/fd/N */
    uint16_t local_len;  /* raw sockaddr bytes */
    uint16_t peer_len;
    uint16_t _pad1;
    /* char target[target_len]; uint8_t local[local_len]; uint8_t peer[peer_len] */
};

struct fdt_rec_exit {
    struct fdt_rec_header h;
    int32_t status; /* exit status if known, else -1 */
    uint32_t how;   /* FDT_EXIT_* */
    uint64_t rlimit_soft;
    uint64_t rlimit_hard;
    uint64_t max_rss_kb; /* VmHWM (peak RSS of this image) at exit */
    uint64_t cpu_us;     /* user + system CPU time at exit */
    uint32_t _pad0;
    uint32_t _pad;
};

/* FDT_REC_CMDLINE, sent after FDT_REC_EXIT_BEGIN: /proc/self/cmdline as
 * the process exits. A process that renamed itself (setproctitle: nginx's
 * "nginx: worker process") shows its title there, not the argv of its
 * hello; the collector cannot read it later (an exited process has none).
 * At most FDT_MAX_CMDLINE bytes (FDT_CMDLINE_TRUNCATED in the header flags
 * when there were more). */
#define FDT_MAX_CMDLINE       4096u
#define FDT_CMDLINE_TRUNCATED 0x1u

struct fdt_rec_cmdline {
    struct fdt_rec_header h;
    uint32_t len;
    uint32_t _pad;
    /* char bytes[len]: NUL-separated, as /proc/self/cmdline gives them */
};

/* Header flag of FDT_REC_EXIT_END: /proc/self/fd could not be read. */
#define FDT_EXIT_VIEW_FAILED 0x1u

enum fdt_exit_how {
    FDT_EXIT_NORMAL = 1,     /* exit() or return from main (destructor) */
    FDT_EXIT_UNDERSCORE = 2, /* _exit / _Exit */
};

/* FDT_REC_FORK and FDT_REC_CHILD: the child's hello carries fork_id, so the
 * collector copies the parent's table exactly as of the fork. */
struct fdt_rec_fork {
    struct fdt_rec_header h;
    uint64_t fork_id;
    int32_t child_pid; /* FDT_REC_CHILD only */
    int32_t tid;
};

/* FDT_REC_SCOPE: the program (fdtrace_api.h; the pytest plugin) marks a
 * scope in the stream of its events. BEGIN: descriptors opened from here on
 * belong to scope `scope`. REPORT: the reader writes, at `path`, the
 * descriptors opened since that scope began and still open at this point of
 * the stream (every record before it, of every thread), then answers
 * `request` through the ring header (ctl_scope_status, ctl_scope_done); the
 * writer waits for it. END: the scope is forgotten. */
enum fdt_scope_op { FDT_SCOPE_BEGIN = 1, FDT_SCOPE_REPORT = 2, FDT_SCOPE_END = 3 };
#define FDT_SCOPE_MAX_ACTIVE 64u /* scopes an image may hold open at once */

struct fdt_rec_scope {
    struct fdt_rec_header h;
    uint32_t op;      /* enum fdt_scope_op */
    uint32_t scope;   /* the scope's id, never 0 */
    uint32_t request; /* REPORT: its serial, never 0 */
    int32_t tid;
    uint16_t path_len; /* REPORT: bytes of the answer's absolute path following, no NUL */
    uint16_t _pad[3];
    /* char path[path_len] */
};

struct fdt_rec_note {
    struct fdt_rec_header h;
    uint16_t text_len;
    uint16_t _pad[3];
    /* char text[text_len] */
};

/* ---- helpers shared by writer and reader ---- */

static inline const char *fdt_call_name(unsigned call) {
    static const char *const names[] = { FDT_CALL_NAMES };
    return call < sizeof names / sizeof names[0] ? names[call] : "unknown";
}
static inline unsigned fdt_call_count(void) { return FDT_CALL_COUNT; }

static inline uint32_t fdt_align8(uint32_t n) { return (n + 7u) & ~7u; }

static inline uint64_t fdt_ring_load_head(const struct fdt_ring_header *h) {
    return __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
}
static inline uint64_t fdt_ring_load_tail(const struct fdt_ring_header *h) {
    return __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
}
static inline void fdt_ring_store_tail(struct fdt_ring_header *h, uint64_t v) {
    __atomic_store_n(&h->tail, v, __ATOMIC_RELEASE);
}
static inline uint32_t fdt_rec_load_size(const void *rec) {
    return __atomic_load_n((const uint32_t *)rec, __ATOMIC_ACQUIRE);
}
static inline void fdt_rec_publish(void *rec, uint32_t size) {
    __atomic_store_n((uint32_t *)rec, size, __ATOMIC_RELEASE);
}
static inline void fdt_ring_set_reader_alive(struct fdt_ring_header *h, uint32_t v) {
    __atomic_store_n(&h->reader_alive, v, __ATOMIC_RELEASE);
}
static inline uint64_t fdt_ring_load_full_waits(const struct fdt_ring_header *h) {
    return __atomic_load_n(&h->full_waits, __ATOMIC_RELAXED);
}
static inline uint64_t fdt_ring_load_full_wait_ns(const struct fdt_ring_header *h) {
    return __atomic_load_n(&h->full_wait_ns, __ATOMIC_RELAXED);
}

#endif /* FDTRACE_WIRE_H */

/* Lifecycle of the shim in one process image: lazy initialisation (hooks can
 * run before our constructor), the warning line, fork/vfork bookkeeping and
 * the destructor that, at exit, has kernel_view.c send the kernel's view. */
#include "shim.h"
#include "python.h"
#include "report.h"
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <dlfcn.h>
#include <sched.h>
#include <sys/stat.h>
#include <fcntl.h>

/* Python threads: their Python frames come from the interpreter, and the
 * native frames past the first few are the interpreter's own machinery
 * (hidden by default). Unwinding them costs most in threads that live for
 * one request (libunwind's trace cache is per thread). */
#define FDT_DEFAULT_PY_DEPTH 24u
struct fdt_state fdt_g = {
    .depth = FDT_DEFAULT_DEPTH, .py_depth = FDT_DEFAULT_PY_DEPTH, .exit_status = -1, .follow = 1
};
FDT_TLS int fdt_tls_busy;
FDT_TLS int fdt_tls_vfork;
FDT_TLS uint64_t fdt_tls_fork_id;
static FDT_TLS int initializing_here;

uint64_t fdt_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int fdt_gettid(void) {
    static FDT_TLS int cached_tid;
    static FDT_TLS pid_t cached_for_pid;
    /* A fork child inherits the TLS of the forking thread: re-read then. */
    if (FDT_UNLIKELY(cached_tid == 0 || cached_for_pid != fdt_g.pid)) {
        cached_tid = (int)syscall(SYS_gettid);
        cached_for_pid = fdt_g.pid;
    }
    return cached_tid;
}

/* One line on stderr, written with a raw write: no stdio, no allocation. */
void fdt_warn(const char *fmt, ...) {
    char line[512];
    int n = snprintf(line, sizeof line, "fdtrace: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    syscall(SYS_write, 2, line, (size_t)n);
    errno = saved;
}

/* Whether this process is the first of its session to warn: a marker file
 * per session (FDTRACE_SOCKET and the process group) in the private session
 * directory, created exclusively. A loop of children whose collector is gone
 * prints one line, not one per process. A marker untouched for a minute is
 * stale (nobody removes it when there is no collector); each suppressed
 * warning touches it. */
static int first_warning_of_session(void) {
    const char *sock = getenv(FDT_ENV_SOCKET);
    if (!sock || !*sock) return 1; /* no session yet: this process starts it */
    const char *base = getenv(FDT_ENV_SESSION_DIR);
    char dir[512], marker[800];
    snprintf(dir, sizeof dir, "%s/fdtrace-%u", base && *base ? base : "/tmp", (unsigned)geteuid());
    syscall(SYS_mkdir, dir, 0700);
    struct stat st;
    if (syscall(SYS_lstat, dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        return 1;
    int n = snprintf(marker, sizeof marker, "%s/warned-", dir);
    for (const char *c = sock; *c && n < (int)sizeof marker - 16; c++)
        marker[n++] = (*c == '/' || *c == '.') ? '_' : *c;
    snprintf(marker + n, sizeof marker - (size_t)n, "-%ld", syscall(SYS_getpgid, 0));
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = (int)syscall(SYS_openat, AT_FDCWD, marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            syscall(SYS_close, fd);
            return 1;
        }
        if (errno != EEXIST) return 1;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (syscall(SYS_lstat, marker, &st) == 0 && now.tv_sec - st.st_mtim.tv_sec < 60) {
            syscall(SYS_utimensat, AT_FDCWD, marker, NULL, AT_SYMLINK_NOFOLLOW);
            return 0;
        }
        syscall(SYS_unlink, marker);
    }
    return 1;
}

/* Stops tracing for good in this image; the program runs on untraced. A
 * reason is printed once per session (the collector reports refusals
 * itself: those come with no reason). */
void fdt_disable(const char *why) {
    __atomic_store_n(&fdt_g.active, 0, __ATOMIC_RELEASE);
    if (why && !__atomic_exchange_n(&fdt_g.warned, 1, __ATOMIC_ACQ_REL)) {
        int saved = errno;
        if (first_warning_of_session()) fdt_warn("%s; the program continues untraced", why);
        errno = saved;
    }
}

static int parse_depth(const char *s, unsigned *out) {
    if (!s || !*s) return 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > (long)FDT_MAX_DEPTH) return -1;
    *out = (unsigned)v;
    return 0;
}

static void find_own_text(void) {
    Dl_info info;
    if (dladdr((void *)&find_own_text, &info) && info.dli_fbase) {
        fdt_g.self_start = (uintptr_t)info.dli_fbase;
        /* Refined by the module scan to the real end of our segments. */
        fdt_g.self_end = (uintptr_t)info.dli_fbase + (16u << 20);
    }
}

/* Bare mode writes FDTRACE_OUTPUT / _JSON / _HTML / _SARIF / _GEN_SUPPRESSIONS
 * at the end: a bad destination is found now, not after the program ran.
 * Returns the bad path or NULL. */
static const char *unwritable_report_destination(void) {
    static const char *vars[] = { FDT_ENV_OUTPUT, FDT_ENV_JSON, FDT_ENV_HTML, FDT_ENV_SARIF, FDT_ENV_GEN_SUPPRESSIONS };
    for (unsigned i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *p = getenv(vars[i]);
        if (!p || !*p) continue;
        char dir[512];
        snprintf(dir, sizeof dir, "%s", p);
        char *slash = strrchr(dir, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == dir) dir[1] = 0;
        else *slash = 0;
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK) != 0) return p;
    }
    return NULL;
}

/* --no-follow: programs this one execs load no shim. */
static void stop_following(void) {
    const char *pre = getenv("LD_PRELOAD");
    if (!pre) return;
    char kept[4096];
    size_t k = 0;
    const char *p = pre;
    while (*p) {
        while (*p == ' ' || *p == ':') p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != ':') p++;
        size_t len = (size_t)(p - start);
        if (!len) break;
        if (memmem(start, len, "libfdtrace", 10) != NULL) continue;
        if (k + len + 2 >= sizeof kept) break;
        if (k) kept[k++] = ' ';
        memcpy(kept + k, start, len);
        k += len;
    }
    kept[k] = 0;
    if (k) setenv("LD_PRELOAD", kept, 1);
    else unsetenv("LD_PRELOAD");
}

/* Every fork that runs atfork handlers is recorded here, before it happens:
 * fork() and the ones glibc makes internally without the PLT (forkpty,
 * daemon), so the child's table is copied as of this moment. */
static void on_fork_prepare(void) { fdt_forking(); }
static void on_fork_parent(void) { fdt_unwind_fork_end(); }

/* In a fork child: the ring is the parent's. Drop it (without touching
 * what the parent writes there); the child connects as a new process at
 * its first record (fdt_connect_deferred). A child that execs without
 * recording anything never connects: its exec'd image names the fork
 * through its parent, which told the collector the child's pid. That
 * saved a shell's child a connection, a ring and its module list before
 * every exec (~75 us of its ~95 us in the fork hook). */
void fdt_after_fork_child(void) {
    pid_t parent = fdt_g.pid;
    int from_main = fdt_gettid() == parent; /* still the parent's tid */
    fdt_unwind_after_fork_child();
    int was_active = __atomic_load_n(&fdt_g.active, __ATOMIC_ACQUIRE);
    __atomic_store_n(&fdt_g.active, 0, __ATOMIC_RELEASE);
    fdt_tls_vfork = 0;
    if (fdt_g.ring) {
        fdt_ring_unmap(fdt_g.ring, fdt_g.ring_capacity);
        fdt_g.ring = NULL;
        fdt_g.ring_data = NULL;
    }
    fdt_g.pid = (pid_t)syscall(SYS_getpid);
    fdt_g.owner = 0;
    __atomic_store_n(&fdt_g.connect_state, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&fdt_g.exit_sent, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&fdt_g.exit_status, -1, __ATOMIC_RELEASE);
    if (!was_active || !fdt_g.follow) return;
    fdt_stack_table_reset();
    fdt_modules_reset_sent();
    fdt_py_codes_reset();
    fdt_py_exit_after_fork_child(from_main);
    fdt_g.connect_parent = parent;
    fdt_g.connect_fork_id = fdt_tls_fork_id;
    __atomic_store_n(&fdt_g.connect_state, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&fdt_g.active, 1, __ATOMIC_RELEASE);
}

void fdt_connect_before_leaving(void) {
    if (fdt_should_record() && __atomic_load_n(&fdt_g.connect_state, __ATOMIC_ACQUIRE) == 1) fdt_connect_deferred();
}

/* Another thread of this child connects meanwhile: its wait ends when the
 * state leaves "connecting". */
struct fdt_ring_header *fdt_connect_deferred(void) {
    static FDT_TLS int connecting_here;
    if (connecting_here) return NULL; /* a signal handler on the connecting thread */
    int expected = 1;
    if (!__atomic_compare_exchange_n(&fdt_g.connect_state, &expected, 2, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&fdt_g.connect_state, __ATOMIC_ACQUIRE) == 2) sched_yield();
        return fdt_g.ring;
    }
    connecting_here = 1;
    int saved = errno;
    fdt_tls_busy++;
    if (fdt_connect(fdt_g.connect_parent, fdt_g.connect_fork_id) != 0)
        __atomic_store_n(&fdt_g.active, 0, __ATOMIC_RELEASE);
    fdt_tls_busy--;
    errno = saved;
    __atomic_store_n(&fdt_g.connect_state, 0, __ATOMIC_RELEASE);
    connecting_here = 0;
    return fdt_g.ring;
}

void fdt_ensure_init(void) {
    if (initializing_here) return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&fdt_g.init_phase, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        /* Another thread initialises: wait so that no event is missed. */
        while (__atomic_load_n(&fdt_g.init_phase, __ATOMIC_ACQUIRE) != 2) sched_yield();
        return;
    }
    initializing_here = 1;
    fdt_tls_busy++;
    int saved = errno;

    fdt_resolve_real();
    fdt_g.pid = (pid_t)syscall(SYS_getpid);
    const char *sock = getenv(FDT_ENV_SOCKET);
    const char *depth = getenv(FDT_ENV_DEPTH);
    const char *owner = getenv(FDT_ENV_OWNER);
    const char *follow = getenv(FDT_ENV_FOLLOW);
    fdt_g.follow = !(follow && strcmp(follow, "0") == 0);
    if (parse_depth(depth, &fdt_g.depth) < 0) {
        char why[96];
        snprintf(why, sizeof why, "%s must be a whole number from 1 to %u", FDT_ENV_DEPTH, FDT_MAX_DEPTH);
        fdt_disable(why);
    } else {
        if (depth && *depth) fdt_g.py_depth = fdt_g.depth; /* asked for: everywhere */
        find_own_text();
        fdt_modules_init();
        fdt_py_init();
        int ready = 0;
        const char *bad = (!sock || !*sock) ? unwritable_report_destination() : NULL;
        if (bad) {
            char why[600];
            snprintf(why, sizeof why, "cannot write the report to %s", bad);
            fdt_disable(why);
        } else if (!sock || !*sock) {
            ready = fdt_start_collector() == 0;
            fdt_g.owner = ready;
        } else {
            ready = 1;
            /* An exec'd image of the process that started the collector. */
            fdt_g.owner = owner && atoi(owner) == (int)fdt_g.pid;
        }
        if (!fdt_g.follow) stop_following();
        if (ready && fdt_connect(0, 0) == 0) {
            __atomic_store_n(&fdt_g.active, 1, __ATOMIC_RELEASE);
            fdt_modules_ensure_known(NULL, 0);
            fdt_send_inherited();
            fdt_py_send_note();
            pthread_atfork(on_fork_prepare, on_fork_parent, fdt_after_fork_child);
        }
    }

    errno = saved;
    fdt_tls_busy--;
    initializing_here = 0;
    __atomic_store_n(&fdt_g.init_phase, 2, __ATOMIC_RELEASE);
    fdt_unwinders_after_init();
}

/* Called by a hook on a thread that went through the vfork trampoline.
 * Returns 1 in the vfork child (record nothing: it shares our memory),
 * 0 in the parent once vfork returned there (and clears the mark). */
int fdt_vfork_child_check(void) {
    if ((pid_t)syscall(SYS_getpid) != fdt_g.pid) return 1;
    fdt_tls_vfork = 0;
    return 0;
}

/* Used by the vfork trampoline: mark this thread, hand back the real vfork. */
void *fdt_vfork_prepare(void) {
    if (__atomic_load_n(&fdt_g.init_phase, __ATOMIC_ACQUIRE) != 2) fdt_ensure_init();
    fdt_tls_vfork = 1;
    return (void *)FDT_REAL(vfork);
}

/* glibc hands constructors the program's arguments: argv[0] is where the
 * kernel keeps the command line (kernel_view.c). */
__attribute__((constructor)) static void fdt_constructor(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc > 0 && argv && argv[0]) fdt_note_arg_area(argv[0]);
    fdt_ensure_init();
}

/* Runs at exit() and return from main, after the program's atexit handlers
 * (our constructor ran first, so our destructor runs late). */
__attribute__((destructor)) static void fdt_destructor(void) {
    if (fdt_in_vfork_child()) return;
    fdt_send_exit_view(FDT_EXIT_NORMAL, -1);
}

/* The kernel event source's loader: libbpf, with the BPF object embedded by
 * `bpftool gen skeleton` (the Makefile writes .build-bpf/fdtrace.skel.h).
 * A build without that header (swift build alone, or a machine without
 * clang's BPF target, bpftool or kernel BTF) still compiles: fdtk_open
 * then says what is missing. */
#define _GNU_SOURCE
#include "fdtrace_kernel_loader.h"
#include "fdtrace_kernel.h"
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#if __has_include("fdtrace.skel.h")
#include "fdtrace.skel.h"
#define FDTK_HAVE_SKELETON 1
#else
#define FDTK_HAVE_SKELETON 0
#endif

#define DEFAULT_RING_BYTES (16u << 20)

struct fdtk {
#if FDTK_HAVE_SKELETON
    struct fdtrace_bpf *skel;
#endif
    struct ring_buffer *rb;
    fdtk_event_fn fn;
    void *ctx;
    int stop;
    int delivered;
    uint32_t ring_bytes;
    int traced_fd, counts_fd;
    /* fdtk_fd: readable when the program woke the reader (the ring a
     * quarter full), not whenever data waits (see fdtk_fd). */
    int wake_fd;
};

#if FDTK_HAVE_SKELETON
/* libbpf's last warning, kept for the error line (libbpf would print to
 * stderr otherwise: never into the traced program's or our output). */
static __thread char last_warning[256];

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
#ifdef FDTK_DEBUG_PRINT /* developers: -DFDTK_DEBUG_PRINT shows libbpf's log and the verifier's */
    va_list copy;
    va_copy(copy, ap);
    vfprintf(stderr, fmt, copy);
    va_end(copy);
#endif
    if (level != LIBBPF_WARN) return 0;
    char line[sizeof last_warning];
    vsnprintf(line, sizeof line, fmt, ap);
    const char *text = strncmp(line, "libbpf: ", 8) == 0 ? line + 8 : line;
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' ')) n--;
    if (n) {
        memcpy(last_warning, text, n);
        last_warning[n] = 0;
    }
    return 0;
}

#endif

static void set_error(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#if FDTK_HAVE_SKELETON
static int is_power_of_two(uint32_t v) { return v && (v & (v - 1)) == 0; }

/* Why loading failed, in words a user can act on. */
/* CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN, effective now. */
static int has_bpf_capabilities(void) {
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capget, &h, d) != 0) return 0;
    uint64_t eff = (uint64_t)d[1].effective << 32 | d[0].effective;
    uint64_t need = (1ull << CAP_BPF) | (1ull << CAP_PERFMON);
    return (eff & need) == need || (eff & (1ull << CAP_SYS_ADMIN)) != 0;
}

static void explain(char *err, size_t errlen, const char *step, int e) {
    if ((e == EPERM || e == EACCES) && has_bpf_capabilities()) {
        /* Refused with the privileges: the verifier (EACCES), or a policy
         * (lockdown, a security module), not missing capabilities. */
        set_error(err, errlen,
            "the kernel event source cannot start: the kernel refused %s with CAP_BPF and CAP_PERFMON (%s)%s%s", step,
            strerror(e), last_warning[0] ? "; libbpf: " : "", last_warning);
    } else if (e == EPERM || e == EACCES) {
        set_error(err, errlen, "the kernel event source needs root (CAP_BPF and CAP_PERFMON): %s was refused (%s)",
            step, strerror(e));
    } else if (last_warning[0]) {
        set_error(err, errlen, "the kernel event source cannot start: %s failed (%s); libbpf: %s", step, strerror(e),
            last_warning);
    } else {
        set_error(err, errlen, "the kernel event source cannot start: %s failed (%s)", step, strerror(e));
    }
}

/* libbpf has consumed an event before it calls this: a negative return
 * stops the round after it. */
static int on_event(void *ctx, void *data, size_t size) {
    struct fdtk *k = ctx;
    k->delivered++;
    if (k->fn && k->fn(k->ctx, data, size) != 0) {
        k->stop = 1;
        return -ECANCELED;
    }
    return 0;
}
#endif

struct fdtk *fdtk_open(const struct fdtk_options *opts, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
#if !FDTK_HAVE_SKELETON
    (void)opts;
    set_error(err, errlen,
        "this fdtrace was built without the kernel event source (make bpf needs clang with the BPF target, "
        "bpftool and the kernel's BTF at build time)");
    return NULL;
#else
    uint32_t ring = opts && opts->ring_bytes ? opts->ring_bytes : DEFAULT_RING_BYTES;
    if (!is_power_of_two(ring) || ring < 4096) {
        set_error(err, errlen,
            "the kernel event source's ring buffer must be a power of two of at least 4096 bytes, not %u", ring);
        return NULL;
    }
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
        set_error(err, errlen,
            "the kernel event source needs the kernel's BTF (/sys/kernel/btf/vmlinux: %s; a kernel built with "
            "CONFIG_DEBUG_INFO_BTF)",
            strerror(errno));
        return NULL;
    }
    struct fdtk *k = calloc(1, sizeof *k);
    if (!k) {
        set_error(err, errlen, "the kernel event source: out of memory");
        return NULL;
    }
    k->ring_bytes = ring;
    k->wake_fd = -1;
    last_warning[0] = 0;
    libbpf_print_fn_t previous = libbpf_set_print(capture_print);
    int e = 0;
    const char *step = "opening the BPF object";
    k->skel = fdtrace_bpf__open();
    if (!k->skel) {
        e = errno ? errno : EINVAL;
        goto fail;
    }
    step = "sizing its maps";
    if ((e = -bpf_map__set_max_entries(k->skel->maps.events, ring)) != 0) goto fail;
    k->skel->rodata->ring_wakeup_bytes = ring / 4;
    k->skel->rodata->capture_stacks = opts && opts->no_stacks ? 0 : 1;
    step = "loading the BPF program";
    if ((e = -fdtrace_bpf__load(k->skel)) != 0) goto fail;
    step = "attaching to the system call and process tracepoints";
    if ((e = -fdtrace_bpf__attach(k->skel)) != 0) goto fail;
    step = "setting up the ring buffer";
    k->rb = ring_buffer__new(bpf_map__fd(k->skel->maps.events), on_event, k, NULL);
    if (!k->rb) {
        e = errno ? errno : ENOMEM;
        goto fail;
    }
    /* Edge-triggered on the ring's wait queue: ready at the program's
     * wake-ups only. (libbpf's own epoll fd is level-triggered: readable
     * while any event waits, which kept a poll loop spinning an event at a
     * time beside a busy program.) */
    k->wake_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event wake = { .events = EPOLLIN | EPOLLET, .data = { .u64 = 0 } };
    if (k->wake_fd < 0 || epoll_ctl(k->wake_fd, EPOLL_CTL_ADD, bpf_map__fd(k->skel->maps.events), &wake)) {
        e = errno ? errno : EINVAL;
        goto fail;
    }
    k->traced_fd = bpf_map__fd(k->skel->maps.traced);
    k->counts_fd = bpf_map__fd(k->skel->maps.counts);
    libbpf_set_print(previous);
    return k;
fail:
    if (e < 0) e = -e;
    explain(err, errlen, step, e ? e : EINVAL);
    fdtk_close(k);
    libbpf_set_print(previous);
    return NULL;
#endif
}

int fdtk_trace(struct fdtk *k, int32_t pid) {
    if (!k || pid <= 0) return -EINVAL;
    struct fdt_ktraced v = { 0, 0, 0, 0 };
    uint32_t key = (uint32_t)pid;
    return bpf_map_update_elem(k->traced_fd, &key, &v, BPF_NOEXIST) ? -errno : 0;
}

int fdtk_untrace(struct fdtk *k, int32_t pid) {
    if (!k || pid <= 0) return -EINVAL;
    uint32_t key = (uint32_t)pid;
    return bpf_map_delete_elem(k->traced_fd, &key) ? -errno : 0;
}

int fdtk_is_traced(struct fdtk *k, int32_t pid) {
    if (!k || pid <= 0) return 0;
    uint32_t key = (uint32_t)pid;
    struct fdt_ktraced v;
    return bpf_map_lookup_elem(k->traced_fd, &key, &v) == 0;
}

int fdtk_records_lost(struct fdtk *k, int32_t pid, uint64_t *out) {
    if (!k || pid <= 0 || !out) return -EINVAL;
    uint32_t key = (uint32_t)pid;
    struct fdt_ktraced v;
    if (bpf_map_lookup_elem(k->traced_fd, &key, &v)) return -errno;
    *out = v.records_lost;
    return 0;
}

int fdtk_fd(const struct fdtk *k) { return k && k->rb ? k->wake_fd : -1; }

int fdtk_poll(struct fdtk *k, int timeout_ms, fdtk_event_fn fn, void *ctx) {
    if (!k || !k->rb) return -EINVAL;
    /* The program wakes the reader only when the ring fills up (see
     * emit() in fdtrace.bpf.c): wait a bounded time, then read whatever
     * is there, woken or not. */
    if (timeout_ms != 0) {
        int wait = timeout_ms < 0 || timeout_ms > FDTK_MAX_WAIT_MS ? FDTK_MAX_WAIT_MS : timeout_ms;
        struct pollfd p = { .fd = ring_buffer__epoll_fd(k->rb), .events = POLLIN, .revents = 0 };
        if (poll(&p, 1, wait) < 0 && errno != EINTR) return -errno;
    }
    /* Re-arms fdtk_fd before reading: a wake-up from now on makes it
     * readable again. */
    struct epoll_event ev;
    while (epoll_wait(k->wake_fd, &ev, 1, 0) > 0) {}
    k->fn = fn;
    k->ctx = ctx;
    k->stop = 0;
    k->delivered = 0;
    int n = ring_buffer__consume(k->rb);
    k->fn = NULL;
    k->ctx = NULL;
    return (k->stop || n >= 0) ? k->delivered : n;
}

void fdtk_counts(struct fdtk *k, struct fdt_kcounts *out) {
    memset(out, 0, sizeof *out);
    if (!k) return;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return;
    struct fdt_kcounts *per = calloc((size_t)ncpu, sizeof *per);
    if (!per) return;
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(k->counts_fd, &zero, per) == 0) {
        for (int i = 0; i < ncpu; i++) {
            out->events += per[i].events;
            out->ring_drops += per[i].ring_drops;
            out->stacks_sent += per[i].stacks_sent;
            out->callers_found += per[i].callers_found;
            out->callers_missing += per[i].callers_missing;
            out->path_retries += per[i].path_retries;
            out->path_failures += per[i].path_failures;
            out->storage_failures += per[i].storage_failures;
            out->untraced_children += per[i].untraced_children;
            out->sockets_undescribed += per[i].sockets_undescribed;
        }
    }
    free(per);
}

uint64_t fdtk_missed(struct fdtk *k) {
    uint64_t total = 0;
#if FDTK_HAVE_SKELETON
    if (!k || !k->skel) return 0;
    struct bpf_program *progs[] = {
        k->skel->progs.sys_enter,
        k->skel->progs.sys_exit,
        k->skel->progs.sched_process_fork,
        k->skel->progs.sched_process_exec,
        k->skel->progs.sched_process_exit,
    };
    for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
        struct bpf_prog_info info;
        uint32_t len = sizeof info;
        memset(&info, 0, sizeof info);
        if (bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len) == 0) total += info.recursion_misses;
    }
#else
    (void)k;
#endif
    return total;
}

uint32_t fdtk_ring_bytes(const struct fdtk *k) { return k ? k->ring_bytes : 0; }

void fdtk_close(struct fdtk *k) {
    if (!k) return;
    if (k->rb) ring_buffer__free(k->rb);
    if (k->wake_fd >= 0) close(k->wake_fd);
#if FDTK_HAVE_SKELETON
    if (k->skel) fdtrace_bpf__destroy(k->skel);
#endif
    free(k);
}

/* Native stack capture and interning: each distinct stack is sent once, as
 * an FDT_REC_STACK record; events refer to it by id (intern.h). */
#include "shim.h"
#include "intern.h"
#include "native_stack.h"
#include "python.h"
#include <dlfcn.h>
#include <sched.h>
#include <string.h>
#include <sys/uio.h>
#include <unwind.h>

static struct fdt_intern_table stacks;

/* libunwind's unw_backtrace, loaded RTLD_LOCAL so that none of its symbols
 * (it exports _Unwind_* and a weak backtrace) reach the program. Measured in
 * place, between syscalls, its cached trace costs a fraction of libgcc's
 * unwinder (below), which re-reads the DWARF tables for every frame.
 *
 * Loaded when a thread first needs it (its FDT_COLD_UNWINDS+1-th stack), not at
 * start: loading it (with liblzma) and warming it up cost ~0.3 ms of CPU in
 * every process image, and most images of a build or a shell script take
 * few stacks or none (a loop of /bin/true: 0.9 ms CPU a process with the
 * eager load, 0.55 ms without). A hook inside a signal handler must not
 * load anything: once the program has handlers, it is loaded by an unwind
 * seen to run outside any (fdt_unwind_slow). */
fdt_unw_backtrace_fn fdt_unw_bt; /* atomic: set once loaded */
static int unwinder_phase;       /* atomic: 0 not tried, 1 loading, 2 done */

static void load_unwinder(void) {
    int expected = 0;
    /* One thread loads; the others keep using the cold unwinder meanwhile. */
    if (!__atomic_compare_exchange_n(&unwinder_phase, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (h) {
        /* One cache for all threads: a thread-per-request server would
         * otherwise unwind every new thread's stack from the DWARF tables
         * (Flask under Werkzeug: 88-90 % of untraced requests/s with
         * per-thread caches, 92-96 % with the global one). Its mutex must
         * not be held by another thread when a fork copies it: see the
         * fork gate below. */
        int (*set_policy)(void *, int) = (int (*)(void *, int))dlsym(h, "_ULx86_64_set_caching_policy");
        void **local_as = (void **)dlsym(h, "_ULx86_64_local_addr_space");
        if (set_policy && local_as) set_policy(*local_as, 1 /* UNW_CACHE_GLOBAL */);
        __atomic_store_n(&fdt_unw_bt, (fdt_unw_backtrace_fn)dlsym(h, "unw_backtrace"), __ATOMIC_RELEASE);
    }
    __atomic_store_n(&unwinder_phase, 2, __ATOMIC_RELEASE);
}

/* libunwind 1.6 keeps a pipe open for the life of the process (opened by
 * its first unwind) to check that an address is readable: it writes one
 * byte from the address into the pipe and drains it with read(). A program
 * would see those two descriptors (and CPython's test_subprocess does). So
 * its pipe2() (made from inside the shim, fdt_tls_busy set) gets two
 * numbers no descriptor can have, its close() of them is a no-op (close
 * hook), its read() fails with EBADF (it then "reopens" the pipe: pipe2 and
 * close again, no system call), and its syscall(SYS_write, fd, addr, 1)
 * comes here (syscall hook): the address is checked with
 * process_vm_readv() on ourselves, which fails with EFAULT exactly where
 * the write would. Measured: validation is rare (the cached trace reads
 * memory without it). */
int fdt_unwinder_pipe(int fds[2]) {
    /* libunwind's one static array, from any thread: the same two values
     * every time, stored atomically. */
    __atomic_store_n(&fds[0], FDT_UNWINDER_PIPE_READ, __ATOMIC_RELAXED);
    __atomic_store_n(&fds[1], FDT_UNWINDER_PIPE_WRITE, __ATOMIC_RELAXED);
    return 0;
}

long fdt_unwinder_validate(const void *addr) {
    char byte;
    struct iovec local = { &byte, 1 }, remote = { (void *)addr, 1 };
    long r = syscall(SYS_process_vm_readv, fdt_g.pid, &local, 1, &remote, 1, 0);
    return r == 1 ? 1 : -1;
}

void fdt_stack_table_reset(void) { fdt_intern_reset(&stacks); }

static inline int in_self(uintptr_t pc) { return pc >= fdt_g.self_start && pc < fdt_g.self_end; }

static uint64_t hash_pcs(const uintptr_t *pcs, unsigned n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (unsigned i = 0; i < n; i++) h = fdt_hash_mix(h, pcs[i]);
    return h;
}

static void send_stack(uint32_t id, const uint64_t *pcs, unsigned n) {
    fdt_modules_ensure_known((const uintptr_t *)pcs, n);
    uint32_t size = fdt_align8((uint32_t)(sizeof(struct fdt_rec_stack) + 8u * n));
    struct fdt_rec_stack *r = fdt_ring_reserve(size);
    if (!r) return;
    r->stack_id = id;
    r->depth = n;
    uint64_t *out = (uint64_t *)(r + 1);
    for (unsigned i = 0; i < n; i++) out[i] = pcs[i];
    fdt_ring_commit(r, FDT_REC_STACK, 0, size);
}

/* The fork gate (native_stack.h): threads inside libunwind, counted per
 * slot, and forks under way. */
struct fdt_unwinding_slot fdt_unwinding[FDT_UNWINDING_SLOTS];
int fdt_forks_pending;
FDT_TLS int fdt_forking_here;

static int anyone_unwinding(void) {
    for (unsigned i = 0; i < FDT_UNWINDING_SLOTS; i++)
        if (__atomic_load_n(&fdt_unwinding[i].n, __ATOMIC_ACQUIRE)) return 1;
    return 0;
}

/* A thread's first unwinds, and every unwind before libunwind is loaded,
 * go through libgcc's DWARF unwinder, linked into the shim (-static-libgcc:
 * libgcc_eh.a, hidden by the version script). glibc's backtrace() is the
 * same unwinder but dlopen()s libgcc_s on its first call: 130 us here
 * (its constructor's CPUID instructions trap to the hypervisor), paid by
 * every compiler, assembler and shell of a build that took a stack or
 * installed a signal handler. This copy needs no loading: it finds a pc's
 * unwind table with _dl_find_object (lock-free) and, since nothing is ever
 * registered with it, takes no lock and allocates nothing — usable inside
 * a signal handler from the first call. The semantics are backtrace()'s:
 * return addresses, innermost first, this function's own frame left out,
 * stopped where a frame makes no progress. */
struct cold_trace {
    void **out;
    int max, n, skip;
    uintptr_t cfa;
};

static _Unwind_Reason_Code cold_frame(struct _Unwind_Context *ctx, void *arg) {
    struct cold_trace *t = arg;
    if (t->skip) {
        t->skip = 0;
        return _URC_NO_REASON;
    }
    void *pc = (void *)_Unwind_GetIP(ctx);
    uintptr_t cfa = _Unwind_GetCFA(ctx);
    if (t->n > 0 && t->out[t->n - 1] == pc && cfa == t->cfa) return _URC_END_OF_STACK;
    t->cfa = cfa;
    t->out[t->n++] = pc;
    return t->n == t->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

__attribute__((noinline)) static int cold_backtrace(void **out, int max) {
    if (max <= 0) return 0;
    struct cold_trace t = { out, max, 0, 1, 0 };
    _Unwind_Backtrace(cold_frame, &t);
    /* The outermost frame's return address may be 0 (_start's). */
    if (t.n > 1 && t.out[t.n - 1] == NULL) t.n--;
    return t.n;
}

/* A thread's first unwinds go through the cold unwinder: libunwind builds
 * its trace cache per thread, so in a new thread every frame is a DWARF
 * lookup under a lock, about 50 us per unwind (measured: a thread doing
 * two open+close pairs cost 60 us untraced, 170-200 us traced with
 * libunwind, 55-70 us with glibc's backtrace()). A thread-per-request
 * server never gets past that. Threads that keep opening switch to
 * libunwind's cached trace, faster in place (see load_unwinder). */
FDT_TLS unsigned fdt_unwinds_here;

static int ready_for_handlers; /* atomic: 0 not yet, 1 preparing, 2 done (below) */

/* glibc's __restore_rt, the return address of every signal handler:
 * `mov $15, %rax; syscall` (rt_sigreturn), the bytes libgcc's unwinder
 * itself recognises a signal frame by. Read without trusting the address
 * (a return address may end its mapping): 1 yes, 0 no, -1 unreadable for
 * another reason than a bad address (then nothing is certain). */
static int is_sigreturn(const void *pc) {
    static const unsigned char code[] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };
    unsigned char bytes[sizeof code];
    struct iovec local = { bytes, sizeof bytes }, remote = { (void *)pc, sizeof bytes };
    long r = syscall(SYS_process_vm_readv, fdt_g.pid, &local, 1, &remote, 1, 0);
    if (r != (long)sizeof bytes) return r < 0 && errno != EFAULT ? -1 : 0;
    return memcmp(bytes, code, sizeof code) == 0;
}

/* The stack into out (the cold unwinder), and whether it certainly runs outside
 * any signal handler: no sigreturn frame in it, and not cut short. */
static int backtrace_outside_handlers(void **out, int max, int *outside) {
    void *frames[256];
    int n = cold_backtrace(frames, 256);
    *outside = n < 256;
    for (int i = 0; i < n && *outside; i++)
        if (is_sigreturn(frames[i]) != 0) *outside = 0;
    if (n > max) n = max;
    memcpy(out, frames, (size_t)n * sizeof *out);
    return n;
}

/* Everything but libunwind's cached trace (native_stack.h): a thread's cold
 * unwinds, and loading libunwind. */
int fdt_unwind_slow(void **out, int max) {
    if (FDT_UNLIKELY(fdt_unwinds_here < FDT_COLD_UNWINDS)) {
        fdt_unwinds_here++;
        return cold_backtrace(out, max);
    }
    fdt_unw_backtrace_fn unw = __atomic_load_n(&fdt_unw_bt, __ATOMIC_ACQUIRE);
    if (!unw) {
        if (__atomic_load_n(&unwinder_phase, __ATOMIC_ACQUIRE) == 0) {
            /* Once the program has handlers, a hook may run inside one,
             * where loading a library could deadlock (the interrupted code
             * may hold malloc's or the loader's lock): libunwind is loaded
             * by an unwind seen to run outside any. */
            if (__atomic_load_n(&ready_for_handlers, __ATOMIC_ACQUIRE)) {
                int outside = 0;
                int n = backtrace_outside_handlers(out, max, &outside);
                if (outside) load_unwinder();
                return n;
            }
            load_unwinder();
        }
        unw = __atomic_load_n(&fdt_unw_bt, __ATOMIC_ACQUIRE);
        if (!unw) return cold_backtrace(out, max);
    }
    return fdt_gated_unwind(unw, out, max);
}

int fdt_native_backtrace(void **out, int max) { return fdt_unwind_here(out, max); }

/* Called before the program installs a signal handler (hooks_signal.c):
 * from then on a hook may run inside a handler, where nothing may be
 * loaded or initialised under a lock. The cold unwinder's one-time set-up
 * (libgcc sizes its register table under a pthread_once) runs now, in the
 * caller's normal context; libunwind waits for an unwind seen to run
 * outside any handler (fdt_unwind_slow). Both were loaded here once
 * (glibc's backtrace() with libgcc_s, and libunwind warmed up): ~0.3 ms in
 * every process that installs a handler (cc, cc1, every shell), most of
 * which take no more than FDT_COLD_UNWINDS stacks. Before the shim is
 * initialised (another library's constructor) it is left to the end of the
 * initialisation. */
int fdt_handlers_before_init; /* atomic: a handler was installed before */
static FDT_TLS int preparing_here;

static void prepare_for_handlers(void) {
    int expected = 0;
    if (preparing_here) return;                                    /* a library loaded here installs a handler */
    if (!__atomic_load_n(&fdt_g.active, __ATOMIC_ACQUIRE)) return; /* no stacks will be taken */
    if (!__atomic_compare_exchange_n(&ready_for_handlers, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&ready_for_handlers, __ATOMIC_ACQUIRE) != 2) sched_yield();
        return;
    }
    preparing_here = 1;
    fdt_tls_busy++;
    int saved = errno;
    void *warm[4];
    cold_backtrace(warm, 4);
    errno = saved;
    fdt_tls_busy--;
    preparing_here = 0;
    __atomic_store_n(&ready_for_handlers, 2, __ATOMIC_RELEASE);
}

void fdt_unwinders_before_handlers(void) {
    if (FDT_LIKELY(__atomic_load_n(&ready_for_handlers, __ATOMIC_ACQUIRE) == 2)) return;
    /* A vfork child shares its parent's memory: it loads nothing (its
     * hooks record nothing either). */
    if (fdt_in_vfork_child()) return;
    prepare_for_handlers();
}

/* The end of the shim's initialisation: handlers installed before it. */
void fdt_unwinders_after_init(void) {
    if (__atomic_load_n(&fdt_handlers_before_init, __ATOMIC_ACQUIRE)) prepare_for_handlers();
}

void fdt_unwind_fork_begin(void) {
    fdt_forking_here = 1;
    __atomic_add_fetch(&fdt_forks_pending, 1, __ATOMIC_SEQ_CST);
    /* Bounded: better a rare risk in the child than a program that hangs. */
    uint64_t deadline = fdt_now_ns() + 2000000000ull;
    while (anyone_unwinding() && fdt_now_ns() < deadline) sched_yield();
}

void fdt_unwind_fork_end(void) {
    if (!fdt_forking_here) return;
    fdt_forking_here = 0;
    __atomic_sub_fetch(&fdt_forks_pending, 1, __ATOMIC_ACQ_REL);
}

/* The child has one thread: nobody else is unwinding or forking. */
void fdt_unwind_after_fork_child(void) {
    fdt_forking_here = 0;
    __atomic_store_n(&fdt_forks_pending, 0, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < FDT_UNWINDING_SLOTS; i++) __atomic_store_n(&fdt_unwinding[i].n, 0, __ATOMIC_RELEASE);
}

/* Cuts the shim's frames from a stack fdt_capture_stack took, merges Python
 * frames in where the interpreter ran them, and returns its id. */
uint32_t fdt_intern_stack(const struct fdt_py_stack *py, void **raw, int n) {
    unsigned depth = fdt_stack_depth(py);
    /* Cut the shim's own frames: the hook on top, and the main() wrapper
     * (`__libc_start_main`) at the bottom. */
    unsigned keep = 0;
    for (int i = 0; i < n && keep < depth; i++)
        if (!in_self((uintptr_t)raw[i])) raw[keep++] = raw[i];
    _Static_assert(sizeof(void *) == sizeof(uint64_t), "64-bit pcs");
    uint64_t *pcs = (uint64_t *)raw;
    uint64_t h;
    if (py->count) keep = fdt_py_merge(py, pcs, keep, &h);
    else h = hash_pcs((const uintptr_t *)pcs, keep);
    int fresh;
    uint32_t id = fdt_intern(&stacks, h, &fresh);
    if (fresh) {
        if (py->count) fdt_py_resolve(py, pcs, keep);
        send_stack(id, pcs, keep);
    }
    return id;
}

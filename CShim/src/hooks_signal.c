/* Hooks: installing a signal handler. Watched, never changed: the call goes
 * to libc with the program's own arguments and its result comes back as
 * is. Before the first handler is in place, the unwinder the hooks use
 * first is set up (stack.c): a handler may run a hook (close() is
 * async-signal-safe) at any moment, maybe while the thread it interrupted
 * holds malloc's or the loader's lock, and loading a library or taking a
 * lock there would deadlock. libunwind is loaded later, by an unwind seen
 * to run outside any handler. */
#include "report.h"
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>

FDT_NO_TSAN static int is_handler(sighandler_t h) {
    return h != SIG_DFL && h != SIG_IGN && h != SIG_ERR && h != SIG_HOLD;
}

/* Before the shim is initialised (another library's constructor, or a
 * sanitizer's runtime starting) the load is left to the end of the
 * initialisation. */
FDT_NO_TSAN static void handler_coming(void) {
    if (__atomic_load_n(&fdt_g.init_phase, __ATOMIC_ACQUIRE) != 2) {
        __atomic_store_n(&fdt_handlers_before_init, 1, __ATOMIC_RELEASE);
        return;
    }
    fdt_unwinders_before_handlers();
}

typedef int sigaction_fn(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t signal_fn(int, sighandler_t);

/* The real functions, looked up on first use with dlsym directly: these
 * hooks may run before everything else (fdt_real, fdt_resolve_real). */
#define FDT_NEXT(type, name)                                                                                           \
    ({                                                                                                                 \
        static type *real_;                                                                                            \
        type *f_ = __atomic_load_n(&real_, __ATOMIC_ACQUIRE);                                                          \
        if (!f_) {                                                                                                     \
            f_ = (type *)dlsym(RTLD_NEXT, #name);                                                                      \
            __atomic_store_n(&real_, f_, __ATOMIC_RELEASE);                                                            \
        }                                                                                                              \
        f_;                                                                                                            \
    })

FDT_NO_TSAN static int watched_sigaction(int (*real)(int, const struct sigaction *, struct sigaction *), int sig,
    const struct sigaction *act, struct sigaction *old) {
    if (act && ((act->sa_flags & SA_SIGINFO) || is_handler(act->sa_handler))) handler_coming();
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(sig, act, old);
}

FDT_EXPORT FDT_NO_TSAN int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    return watched_sigaction(FDT_NEXT(sigaction_fn, sigaction), sig, act, old);
}

FDT_EXPORT FDT_NO_TSAN int __sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    return watched_sigaction(FDT_NEXT(sigaction_fn, __sigaction), sig, act, old);
}

FDT_NO_TSAN static sighandler_t watched_signal(sighandler_t (*real)(int, sighandler_t), int sig, sighandler_t handler) {
    if (is_handler(handler)) handler_coming();
    if (!real) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    return real(sig, handler);
}

/* signal() and its other spellings (BSD, System V, XSI): one hook each. */
#define FDT_WATCHED_SIGNAL(name)                                                                                       \
    FDT_EXPORT FDT_NO_TSAN sighandler_t name(int sig, sighandler_t h) {                                                \
        return watched_signal(FDT_NEXT(signal_fn, name), sig, h);                                                      \
    }

FDT_WATCHED_SIGNAL(signal)
FDT_WATCHED_SIGNAL(bsd_signal)
FDT_WATCHED_SIGNAL(ssignal)
FDT_WATCHED_SIGNAL(sysv_signal)
FDT_WATCHED_SIGNAL(__sysv_signal)
FDT_WATCHED_SIGNAL(sigset)

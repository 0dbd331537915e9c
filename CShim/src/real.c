/* Resolution of the real libc functions behind the hooks. */
#include "shim.h"
#include <dlfcn.h>
#include <sched.h>

struct fdt_real_table fdt_real;

static FDT_TLS int resolving_here;

void fdt_resolve_real(void) {
    static int state; /* 0 not done, 1 in progress, 2 done */
    /* dlsym may re-enter a hook on this thread (an allocator that opens
     * files): that inner call finds NULL and the hook uses a raw syscall. */
    if (resolving_here) return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != 2) sched_yield();
        return;
    }
    resolving_here = 1;
#define FDT_RESOLVE(name, ret, args)                                                                                   \
    __atomic_store_n((void **)&fdt_real.name, dlsym(RTLD_NEXT, #name), __ATOMIC_RELEASE);
    FDT_REAL_FUNCTIONS(FDT_RESOLVE)
#undef FDT_RESOLVE
    resolving_here = 0;
    __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
}

void *fdt_lookup_next(const char *name) { return dlsym(RTLD_NEXT, name); }

/* libc's syscall(), for the syscall trampoline (read there without a call). */
void *fdt_real_syscall_ptr;

void *fdt_real_syscall(void) {
    void *p = __atomic_load_n(&fdt_real_syscall_ptr, __ATOMIC_ACQUIRE);
    if (!p) {
        p = dlsym(RTLD_NEXT, "syscall");
        __atomic_store_n(&fdt_real_syscall_ptr, p, __ATOMIC_RELEASE);
    }
    return p;
}

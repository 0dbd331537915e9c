/* Why a Python program closes a descriptor: the garbage collector was
 * running (FDT_CLOSE_BY_GC), or the finalizer of an object whose last
 * reference went away (FDT_CLOSE_BY_FINALIZER); else an explicit close. */
#include "python.h"
#include "intern.h"

static int native_in_finalizer(void) {
    void *raw[24]; /* measured: finalizers sit 5-18 frames below close() */
    int n = fdt_native_backtrace(raw, 24);
    for (int i = 0; i < n; i++) {
        uintptr_t pc = (uintptr_t)raw[i];
        for (unsigned k = 0; k < 2; k++)
            if (fdt_py.fin_start[k] && pc > fdt_py.fin_start[k] && pc <= fdt_py.fin_end[k]) return 1;
    }
    return 0;
}

/* Whether a finalizer runs beneath a close is the same every time one
 * Python instruction reaches close() through one C caller: remembered per
 * (code, instruction, caller), so that explicit closes in a loop unwind
 * the native stack once. */
#define CAUSE_CACHE 4096u
static uint64_t cause_cache[CAUSE_CACHE];

static int in_finalizer(uintptr_t ts, uintptr_t caller) {
    const struct py_layout *L = &fdt_py.L;
    uintptr_t f = fdt_py_first_frame(ts);
    uint64_t key = fdt_hash_mix(0x517cc1b727220a95ull, caller);
    if (f) {
        key = fdt_hash_mix(key, PY_RD(uintptr_t, f + L->frame_code));
        key = fdt_hash_mix(key, L->model == PY_FRAMES_OBJECTS ? (uint64_t)(uint32_t)PY_RD(int, f + L->frame_instr)
                                                              : PY_RD(uintptr_t, f + L->frame_instr));
    }
    key &= ~3ull;
    uint64_t *slot = &cause_cache[(key >> 2) & (CAUSE_CACHE - 1)];
    uint64_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if ((cur & ~3ull) == key && (cur & 3)) return (cur & 3) == 2;
    int fin = native_in_finalizer();
    __atomic_store_n(slot, key | (fin ? 2u : 1u), __ATOMIC_RELAXED);
    return fin;
}

uint16_t fdt_py_close_cause(uintptr_t ts, uintptr_t caller) {
    const struct py_layout *L = &fdt_py.L;
    uintptr_t gc_base = L->gc_in_runtime ? fdt_py.runtime : PY_RD(uintptr_t, ts + L->tstate_interp);
    if (gc_base && PY_RD(int, gc_base + L->gc_collecting)) return FDT_CLOSE_BY_GC;
    if ((fdt_py.fin_start[0] || fdt_py.fin_start[1]) && in_finalizer(ts, caller)) return FDT_CLOSE_BY_FINALIZER;
    return 0;
}

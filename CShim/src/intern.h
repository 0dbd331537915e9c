/* Interning: what is sent to the collector once and named by a small id
 * afterwards (stacks, Python code objects). A table is a fixed lock-free set
 * of 64-bit keys: no allocation, no lock, safe from any thread and from a
 * signal handler. */
#ifndef FDTRACE_INTERN_H
#define FDTRACE_INTERN_H

#include <stdint.h>
#include <string.h>

#define FDT_INTERN_SLOTS  65536u /* ids 1..FDT_INTERN_SLOTS; past a full probe run, ids above */
#define FDT_INTERN_PROBES 64u

/* Zero-initialised is empty. */
struct fdt_intern_table {
    uint64_t keys[FDT_INTERN_SLOTS]; /* 0: a free slot */
    uint32_t overflow;               /* ids given past FDT_INTERN_SLOTS */
};

/* One step of the keys' hash (a 64-bit finaliser round). */
static inline uint64_t fdt_hash_mix(uint64_t h, uint64_t v) {
    h ^= v;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

/* The id of `key`. *fresh is set when this call gave it: the caller then
 * sends what the id stands for (another thread may name the id before that
 * record lands; the collector resolves ids lazily). A key that finds no
 * free slot within FDT_INTERN_PROBES gets a new id, fresh, every time. */
static inline uint32_t fdt_intern(struct fdt_intern_table *t, uint64_t key, int *fresh) {
    if (!key) key = 1;
    uint32_t idx = (uint32_t)key & (FDT_INTERN_SLOTS - 1);
    for (unsigned probe = 0; probe < FDT_INTERN_PROBES; probe++, idx = (idx + 1) & (FDT_INTERN_SLOTS - 1)) {
        uint64_t cur = __atomic_load_n(&t->keys[idx], __ATOMIC_ACQUIRE);
        if (cur == 0 && __atomic_compare_exchange_n(&t->keys[idx], &cur, key, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *fresh = 1;
            return idx + 1;
        }
        if (cur == key) {
            *fresh = 0;
            return idx + 1;
        }
    }
    *fresh = 1;
    return FDT_INTERN_SLOTS + __atomic_add_fetch(&t->overflow, 1, __ATOMIC_RELAXED);
}

/* A fork child starts over: the parent's collector had the records. */
static inline void fdt_intern_reset(struct fdt_intern_table *t) { memset(t, 0, sizeof *t); }

#endif /* FDTRACE_INTERN_H */

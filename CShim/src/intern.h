/* Interning: what is sent to the collector once and named by a small id
 * afterwards (stacks, Python code objects). A table is a fixed lock-free set
 * of 64-bit keys: no allocation, no lock, safe from any thread and from a
 * signal handler. */
#ifndef FDTRACE_INTERN_H
#define FDTRACE_INTERN_H

#include <stdint.h>
#include <string.h>

#define FDT_INTERN_SLOTS  65536u
#define FDT_INTERN_PROBES 64u
/* How long a thread waits for the id of a key another thread has just
 * placed (it stores the id right after): bounded, because that other
 * thread may be the one this signal handler interrupted. */
#define FDT_INTERN_ID_SPINS 4096u

/* Zero-initialised is empty. Ids are given in order, 1, 2, 3...: the
 * collector keeps per-id arrays, and ids that were hash slots (up to
 * 65 536) made it allocate and clear ~2 MB of them for every process
 * image. */
struct fdt_intern_table {
    uint64_t keys[FDT_INTERN_SLOTS]; /* 0: a free slot; else key ^ salt */
    uint32_t ids[FDT_INTERN_SLOTS];  /* the id of keys[i]; 0 while it is being given */
    uint32_t given;                  /* ids given so far */
    uint64_t salt;                   /* this generation's: keys of an earlier one never match */
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
 * free slot within FDT_INTERN_PROBES gets a new id, fresh, every time (so
 * does one whose id is not there in time: the same thing under two ids). */
static inline uint32_t fdt_intern(struct fdt_intern_table *t, uint64_t key, int *fresh) {
    uint64_t salted = key ^ __atomic_load_n(&t->salt, __ATOMIC_RELAXED);
    if (!salted) salted = 1;
    uint32_t idx = (uint32_t)key & (FDT_INTERN_SLOTS - 1);
    for (unsigned probe = 0; probe < FDT_INTERN_PROBES; probe++, idx = (idx + 1) & (FDT_INTERN_SLOTS - 1)) {
        uint64_t cur = __atomic_load_n(&t->keys[idx], __ATOMIC_ACQUIRE);
        if (cur == 0 &&
            __atomic_compare_exchange_n(&t->keys[idx], &cur, salted, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            uint32_t id = __atomic_add_fetch(&t->given, 1, __ATOMIC_RELAXED);
            __atomic_store_n(&t->ids[idx], id, __ATOMIC_RELEASE);
            *fresh = 1;
            return id;
        }
        if (cur == salted) {
            for (unsigned spin = 0; spin < FDT_INTERN_ID_SPINS; spin++) {
                uint32_t id = __atomic_load_n(&t->ids[idx], __ATOMIC_ACQUIRE);
                if (id) {
                    *fresh = 0;
                    return id;
                }
            }
            break;
        }
    }
    *fresh = 1;
    return __atomic_add_fetch(&t->given, 1, __ATOMIC_RELAXED);
}

/* A fork child starts over: the parent's collector had the records. A new
 * salt retires the parent's keys without writing the table (clearing it
 * cost every fork child 768 KiB of page faults); their slots stay taken. */
static inline void fdt_intern_reset(struct fdt_intern_table *t) {
    uint64_t s = t->salt;
    s = fdt_hash_mix(s + 0x9e3779b97f4a7c15ull, (uint64_t)t->given);
    __atomic_store_n(&t->salt, s ? s : 1, __ATOMIC_RELAXED);
    __atomic_store_n(&t->given, 0, __ATOMIC_RELAXED);
}

#endif /* FDTRACE_INTERN_H */

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
/* The first keys of a process go to a small table of their own, two pages
 * (and the page of the counters after it):
 * a key hashed into the big table lands on a page of its own, and a page
 * touched for the first time is a fault (~80 a compiler process for its
 * stacks, measured in a `make -j2`). A key goes to the big table only when
 * the small one has no free slot within its probes. */
#define FDT_INTERN_NEAR_SLOTS  512u
#define FDT_INTERN_NEAR_PROBES 32u
/* How long a thread waits for the id of a key another thread has just
 * placed (it stores the id right after): bounded, because that other
 * thread may be the one this signal handler interrupted. */
#define FDT_INTERN_ID_SPINS 4096u

/* A key and its id side by side: one page to touch, not two. */
struct fdt_intern_slot {
    uint64_t key; /* 0: free; else key ^ salt */
    uint32_t id;  /* the id of key; 0 while it is being given */
    uint32_t unused;
};

/* Zero-initialised is empty. Ids are given in order, 1, 2, 3...: the
 * collector keeps per-id arrays, and ids that were hash slots (up to
 * 65 536) made it allocate and clear ~2 MB of them for every process
 * image. */
struct fdt_intern_table {
    struct fdt_intern_slot near[FDT_INTERN_NEAR_SLOTS]; /* two whole pages (the table is page-aligned) */
    uint32_t given;                                     /* ids given so far */
    uint64_t salt;                                      /* this generation's: keys of an earlier one never match */
    struct fdt_intern_slot far[FDT_INTERN_SLOTS];
} __attribute__((aligned(4096)));

/* One step of the keys' hash (a 64-bit finaliser round). */
static inline uint64_t fdt_hash_mix(uint64_t h, uint64_t v) {
    h ^= v;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

/* Looks `salted` up along one table's probes, placing it in the first free
 * slot: 1 with *id set (*fresh when placed here), 0 when every probed slot
 * holds another key, -1 when its id did not come in time. A slot is never
 * freed, so a key placed in the big table always finds the small table's
 * probes full, and a free slot there means the key is nowhere. */
static inline int fdt_intern_in(struct fdt_intern_table *t, struct fdt_intern_slot *slots, uint32_t mask, uint32_t idx,
    unsigned probes, uint64_t salted, uint32_t *id, int *fresh) {
    for (unsigned probe = 0; probe < probes; probe++, idx = (idx + 1) & mask) {
        struct fdt_intern_slot *slot = &slots[idx];
        uint64_t cur = __atomic_load_n(&slot->key, __ATOMIC_ACQUIRE);
        if (cur == 0 && __atomic_compare_exchange_n(&slot->key, &cur, salted, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *id = __atomic_add_fetch(&t->given, 1, __ATOMIC_RELAXED);
            __atomic_store_n(&slot->id, *id, __ATOMIC_RELEASE);
            *fresh = 1;
            return 1;
        }
        if (cur == salted) {
            for (unsigned spin = 0; spin < FDT_INTERN_ID_SPINS; spin++) {
                *id = __atomic_load_n(&slot->id, __ATOMIC_ACQUIRE);
                if (*id) {
                    *fresh = 0;
                    return 1;
                }
            }
            return -1;
        }
    }
    return 0;
}

/* The id of `key`. *fresh is set when this call gave it: the caller then
 * sends what the id stands for (another thread may name the id before that
 * record lands; the collector resolves ids lazily). A key that finds no
 * free slot within the probes gets a new id, fresh, every time (so does one
 * whose id is not there in time: the same thing under two ids). */
static inline uint32_t fdt_intern(struct fdt_intern_table *t, uint64_t key, int *fresh) {
    uint64_t salted = key ^ __atomic_load_n(&t->salt, __ATOMIC_RELAXED);
    if (!salted) salted = 1;
    uint32_t id;
    int r = fdt_intern_in(t, t->near, FDT_INTERN_NEAR_SLOTS - 1, (uint32_t)(key >> 32) & (FDT_INTERN_NEAR_SLOTS - 1),
        FDT_INTERN_NEAR_PROBES, salted, &id, fresh);
    if (r == 0)
        r = fdt_intern_in(t, t->far, FDT_INTERN_SLOTS - 1, (uint32_t)key & (FDT_INTERN_SLOTS - 1), FDT_INTERN_PROBES,
            salted, &id, fresh);
    if (r == 1) return id;
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

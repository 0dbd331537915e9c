/* Writing records into the shared event ring: a compare-and-swap on the
 * head reserves space (that order is the global order of events), the size
 * stored last publishes the record. No lock, no allocation, no syscall
 * unless the ring is full. */
#include "shim.h"
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ThreadSanitizer (make check-shim) does not see the collector, another
 * process: it reads a record once it is published and hands the space back
 * through the tail, so a reservation always follows the publication of the
 * records whose space it reuses. Said to TSan word by word: a record's words
 * are released when it is published and acquired by whoever reserves them
 * next. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static void tsan_each_word(void *rec, uint32_t size, void (*fn)(void *)) {
    for (uint32_t i = 0; i < size; i += 8) fn((char *)rec + i);
}
#define TSAN_RESERVED(rec, size)  tsan_each_word((rec), (size), __tsan_acquire)
#define TSAN_PUBLISHED(rec, size) tsan_each_word((rec), (size), __tsan_release)
#else
#define TSAN_RESERVED(rec, size)  ((void)0)
#define TSAN_PUBLISHED(rec, size) ((void)0)
#endif

/* Set between reserve and commit: a signal handler that records an event
 * on this thread must not wait for space behind the interrupted record. */
static FDT_TLS int writing;

static void pause_briefly(unsigned round) {
    if (round < 64) {
        sched_yield();
        return;
    }
    struct timespec ts = { 0, 50000 }; /* 50 µs */
    syscall(SYS_nanosleep, &ts, NULL);
}

void *fdt_ring_reserve(uint32_t size) {
    struct fdt_ring_header *ring = fdt_g.ring;
    if (FDT_UNLIKELY(!ring)) {
        if (!__atomic_load_n(&fdt_g.connect_state, __ATOMIC_ACQUIRE) || !(ring = fdt_connect_deferred())) return NULL;
    }
    uint64_t cap = fdt_g.ring_capacity;
    uint64_t pos = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
    uint64_t t0 = 0;
    unsigned round = 0;
    /* Reserve only where there is room, so that no reservation is ever
     * abandoned (the reader would wait for it forever). */
    for (;;) {
        if (FDT_LIKELY(pos + size - fdt_ring_load_tail(ring) <= cap)) {
            if (__atomic_compare_exchange_n(&ring->head, &pos, pos + size, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                break;
            continue;
        }
        /* Full: the program waits for the collector; it never drops a
         * record while the collector is alive and able to read. */
        if (!t0) {
            t0 = fdt_now_ns();
            __atomic_fetch_add(&ring->full_waits, 1, __ATOMIC_RELAXED);
        }
        if (writing || !__atomic_load_n(&fdt_g.active, __ATOMIC_ACQUIRE) ||
            ((round & 63) == 63 && fdt_collector_gone())) {
            __atomic_fetch_add(&ring->records_lost, 1, __ATOMIC_RELAXED);
            if (!writing) fdt_disable("the collector stopped reading events");
            return NULL;
        }
        pause_briefly(round++);
        pos = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
    }
    if (FDT_UNLIKELY(t0)) __atomic_fetch_add(&ring->full_wait_ns, fdt_now_ns() - t0, __ATOMIC_RELAXED);
    writing++;
    char *rec = fdt_g.ring_data + (pos & (cap - 1));
    TSAN_RESERVED(rec, size);
    return rec;
}

void fdt_ring_commit(void *rec, uint16_t type, uint16_t flags, uint32_t size) {
    struct fdt_rec_header *h = (struct fdt_rec_header *)rec;
    h->type = type;
    h->flags = flags;
    if (!h->time_ns) h->time_ns = fdt_now_ns();
    TSAN_PUBLISHED(rec, size);
    fdt_rec_publish(rec, size);
    writing--;
}

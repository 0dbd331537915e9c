/*
 * Mapping of the event ring, shared by the shim and the collector so that
 * both lay it out identically: [header page][data][data again], where the
 * second data mapping mirrors the first so a record may straddle the end.
 */
#ifndef FDTRACE_RING_H
#define FDTRACE_RING_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef MFD_CLOEXEC
#include <linux/memfd.h> /* without _GNU_SOURCE */
#endif
#include "fdtrace_wire.h"

/* Maps the ring held by `fd` (capacity bytes of data). Returns the header,
 * or NULL (errno set). The data area starts FDT_RING_HEADER_SIZE bytes in. */
static inline struct fdt_ring_header *fdt_ring_map(int fd, uint64_t capacity) {
    size_t total = FDT_RING_HEADER_SIZE + 2 * (size_t)capacity;
    char *base = (char *)mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return NULL;
    if (mmap(base, FDT_RING_HEADER_SIZE + (size_t)capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
            MAP_FAILED ||
        mmap(base + FDT_RING_HEADER_SIZE + capacity, (size_t)capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
            fd, FDT_RING_HEADER_SIZE) == MAP_FAILED) {
        munmap(base, total);
        return NULL;
    }
    return (struct fdt_ring_header *)base;
}

static inline void fdt_ring_unmap(struct fdt_ring_header *h, uint64_t capacity) {
    munmap(h, FDT_RING_HEADER_SIZE + 2 * (size_t)capacity);
}

static inline char *fdt_ring_data(struct fdt_ring_header *h) { return (char *)h + FDT_RING_HEADER_SIZE; }

/* A new ring of `capacity` bytes (fdt_ring_capacity_valid): a close-on-exec
 * memfd of its size, mapped (*header), the header written as its creator
 * writes it before anyone else reads it. Returns the memfd, or -1 (errno
 * set). The shim creates its rings here, the collector's benchmark and
 * tests theirs. In the shim, syscall() is its own inline system call
 * (shim.h, which includes this header after defining it): no hook sees
 * these calls. */
static inline int fdt_ring_create(uint64_t capacity, struct fdt_ring_header **header) {
    int fd = (int)syscall(SYS_memfd_create, "fdtrace-ring", MFD_CLOEXEC);
    if (fd < 0) return -1;
    struct fdt_ring_header *h = NULL;
    if (syscall(SYS_ftruncate, fd, (long)(FDT_RING_HEADER_SIZE + capacity)) == 0) h = fdt_ring_map(fd, capacity);
    if (!h) {
        int e = errno;
        syscall(SYS_close, fd);
        errno = e;
        return -1;
    }
    h->magic = FDT_WIRE_MAGIC;
    h->version = FDT_WIRE_VERSION;
    h->header_size = FDT_RING_HEADER_SIZE;
    h->capacity = capacity;
    *header = h;
    return fd;
}

/* The request words of the header (shim: set; collector: clear when done). */
enum fdt_ring_request { FDT_RING_REQ_SNAPSHOT = 0, FDT_RING_REQ_REPORT = 1 };
static inline uint32_t *fdt_ring_request_word(struct fdt_ring_header *h, enum fdt_ring_request which) {
    return which == FDT_RING_REQ_SNAPSHOT ? &h->ctl_snapshot : &h->ctl_report;
}
static inline uint32_t fdt_ring_load_request(struct fdt_ring_header *h, enum fdt_ring_request which) {
    return __atomic_load_n(fdt_ring_request_word(h, which), __ATOMIC_ACQUIRE);
}
static inline void fdt_ring_set_collector(struct fdt_ring_header *h, int32_t pid) {
    __atomic_store_n(&h->collector_pid, pid, __ATOMIC_RELEASE);
}
static inline void fdt_ring_set_detached(struct fdt_ring_header *h) {
    __atomic_store_n(&h->detached, 1, __ATOMIC_RELEASE);
}

static inline int fdt_ring_capacity_valid(uint64_t capacity) {
    return capacity >= FDT_RING_MIN_CAPACITY && capacity <= FDT_RING_MAX_CAPACITY && (capacity & (capacity - 1)) == 0;
}

/* For a single writer that owns the ring (the collector benchmark and the
 * tests): appends one encoded record (its header's size field is ignored)
 * if there is room. Returns 0, or -1 when the ring is full. The shim's
 * writers use the multi-writer protocol in CShim/src/ring_writer.c. */
static inline int fdt_ring_append(struct fdt_ring_header *h, const void *rec, uint32_t size) {
    uint64_t head = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
    if (head + size - fdt_ring_load_tail(h) > h->capacity) return -1;
    char *dst = fdt_ring_data(h) + (head & (h->capacity - 1));
    memcpy(dst + 4, (const char *)rec + 4, size - 4);
    __atomic_store_n(&h->head, head + size, __ATOMIC_RELEASE);
    fdt_rec_publish(dst, size);
    return 0;
}

#endif /* FDTRACE_RING_H */

/*
 * The loader of fdtrace's kernel event source (CShim/bpf/fdtrace.bpf.c),
 * built on libbpf. The BPF object is embedded (a `bpftool gen skeleton`
 * header the Makefile generates into .build-bpf): the installed binary needs
 * no separate file. Events are laid out as in fdtrace_kernel.h.
 *
 * Not thread-safe: one thread owns a handle.
 */
#ifndef FDTRACE_KERNEL_LOADER_H
#define FDTRACE_KERNEL_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct fdtk;
struct fdt_kcounts; /* fdtrace_kernel.h (the CFDTraceWire module) */

struct fdtk_options {
    uint32_t ring_bytes; /* BPF ring buffer size, a power of two >= 4096 (0: 16 MiB) */
    uint32_t no_stacks;  /* 1: opens carry no stack (cheaper: ~0.35 us an open less) */
};

/* Opens, loads and attaches the program (five BTF tracepoints). Returns NULL
 * when that cannot be done, with one line saying why in `err` (missing
 * privileges, no BTF, a build without the BPF object, a kernel that refuses
 * the program). Never prints, never waits. */
struct fdtk *fdtk_open(const struct fdtk_options *opts, char *err, size_t errlen);

/* Traces process `pid` (a root: its fork children are traced by the
 * program itself, from their first instruction). 0 or -errno. */
int fdtk_trace(struct fdtk *k, int32_t pid);
/* Stops tracing `pid` (not its children). 0 or -errno (-ENOENT). */
int fdtk_untrace(struct fdtk *k, int32_t pid);
/* 1 if `pid` is in the traced set, 0 if not. */
int fdtk_is_traced(struct fdtk *k, int32_t pid);

/* A process whose exit event the full ring lost stays in the traced set:
 * its events lost so far into *out, 0; -ENOENT when `pid` is not traced. */
int fdtk_records_lost(struct fdtk *k, int32_t pid, uint64_t *out);

/* Readable when the program woke the reader (its ring a quarter full);
 * fdtk_poll re-arms it. A loop polls it with a timeout of at most
 * FDTK_MAX_WAIT_MS and reads what is there each time (for poll/epoll). */
int fdtk_fd(const struct fdtk *k);

/* Called for each event, in ring order, with the bytes of one event
 * (struct fdt_kev first). A non-zero return stops this round after that
 * event; the rest wait in the ring for the next fdtk_poll. */
typedef int (*fdtk_event_fn)(void *ctx, const void *event, size_t size);

/* The program wakes the reader only when a quarter of the ring is full
 * (a wake-up per event would cost the traced programs more than the event):
 * fdtk_poll waits at most this long, then reads what is there. */
#define FDTK_MAX_WAIT_MS 20

/* Waits up to timeout_ms (0: no wait; -1 or more than FDTK_MAX_WAIT_MS:
 * FDTK_MAX_WAIT_MS) for the ring to fill, then hands every event there to
 * `fn`. Returns how many, or -errno. Call it again and again: events wait
 * in the ring until then. */
int fdtk_poll(struct fdtk *k, int timeout_ms, fdtk_event_fn fn, void *ctx);

/* The program's counters, summed over CPUs. */
void fdtk_counts(struct fdtk *k, struct fdt_kcounts *out);
/* Program runs the kernel skipped (a BPF program already running on that
 * CPU): their events are lost. Summed over the five programs. */
uint64_t fdtk_missed(struct fdtk *k);
/* The ring buffer's size in bytes. */
uint32_t fdtk_ring_bytes(const struct fdtk *k);

/* Detaches and unloads everything. NULL is allowed. */
void fdtk_close(struct fdtk *k);

#endif /* FDTRACE_KERNEL_LOADER_H */

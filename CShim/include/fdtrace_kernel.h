/*
 * fdtrace's kernel event source: what its BPF program (CShim/bpf) sends to
 * user space through a BPF ring buffer. The same header is compiled into the
 * BPF object, the loader (Sources/CFDTraceKernel) and, through the
 * CFDTraceWire module, the Swift decoder.
 *
 * One event model, two sources: an event is a small envelope naming the
 * process, followed by exactly one record laid out as in fdtrace_wire.h
 * (struct fdt_rec_open, fdt_rec_close, fdt_rec_close_range, fdt_rec_setfd,
 * fdt_rec_stack, fdt_rec_fork as FDT_REC_CHILD, with the wire's call numbers),
 * or by one of the few records only the kernel can make (FDT_KREC_*: exec,
 * executable mappings, the descriptor table at exec and at exit, the end of
 * a process). User space decodes the wire records with the shim's decoder.
 *
 * x86-64 system calls only (32-bit compat calls are not traced). Pids are
 * those of the initial pid namespace.
 */
#ifndef FDTRACE_KERNEL_H
#define FDTRACE_KERNEL_H

#include "fdtrace_wire.h"

/* Every event starts with this envelope, followed by exactly one record
 * (struct fdt_rec_header first); `size` covers both. */
struct fdt_kev {
    uint32_t size; /* bytes of the whole event, a multiple of 8 */
    uint32_t tgid; /* the process */
};

/* Stacks are interned in the kernel per process image, as the shim interns
 * them: an FDT_REC_STACK event carries a stack the first time the image
 * uses it, and opens name it by fdt_rec_open.stack_id (0: no stack; ids are
 * unique in the session). Native frames only, innermost first: the address
 * after the system call instruction, then return addresses. */
#define FDT_KEV_STACK_DEPTH FDT_DEFAULT_DEPTH
/* Words read at the user stack pointer to find the return address into the
 * caller of the libc function that made the system call: glibc's wrappers
 * keep no frame pointer (some use %rbp for an argument), so a frame-pointer
 * walk from the registers alone would skip that caller or go astray. */
#define FDT_KEV_SCAN_WORDS 64u

/* Records only the kernel source sends (the shim's ring never has them). */
enum fdt_krec_type {
    FDT_KREC_EXEC = 64, /* the process replaced its image (after FDT_KREC_FDS) */
    FDT_KREC_MAP = 65,  /* a file mapped executable (mmap with PROT_EXEC) */
    FDT_KREC_FDS = 66,  /* the descriptor table (before EXEC and before EXIT) */
    FDT_KREC_EXIT = 67, /* the process ended: its last thread exited */
};

struct fdt_krec_exec {
    struct fdt_rec_header h;
    int32_t tid;       /* the thread that called execve (its tid before) */
    uint16_t path_len; /* the executable's path, no NUL */
    uint16_t _pad;
    uint64_t start_code; /* the executable's text, loaded (mm->start_code) */
    uint64_t end_code;
    uint64_t interp_base; /* AT_BASE: where the ELF interpreter is, or 0 */
    /* char path[path_len] */
};

struct fdt_krec_map {
    struct fdt_rec_header h;
    uint64_t start; /* the mapping, [start, end) */
    uint64_t end;
    uint64_t offset;   /* file offset of start */
    uint16_t path_len; /* the file's path, no NUL */
    uint16_t _pad[3];
    /* char path[path_len] */
};

/* Header flag of FDT_KREC_FDS: the table is larger than the bitmaps; its
 * descriptors beyond 64 * words are not listed. */
#define FDT_KFDS_TRUNCATED 0x1u
#define FDT_KFDS_MAX_WORDS 1024u /* 65536 descriptors */

struct fdt_krec_fds {
    struct fdt_rec_header h;
    uint32_t words;   /* 64-bit words in each bitmap */
    uint32_t max_fds; /* the size of the process's descriptor table */
    /* uint64_t open[words]; uint64_t cloexec[words]: bit n of word w is fd 64w+n */
};

struct fdt_krec_exit {
    struct fdt_rec_header h;
    int32_t wait_status; /* as waitpid() reports it */
    uint32_t _pad;
    uint64_t rlimit_soft; /* RLIMIT_NOFILE */
    uint64_t rlimit_hard;
    uint64_t max_rss_kb;
    uint64_t cpu_us;       /* user + system time of all its threads */
    uint64_t records_lost; /* its events the ring buffer had no room for */
};

/* The BPF program's counters (a per-CPU array of one; the loader sums). */
struct fdt_kcounts {
    uint64_t events;              /* events written to the ring buffer */
    uint64_t ring_drops;          /* events lost: the ring buffer was full */
    uint64_t stacks_sent;         /* distinct stacks sent (FDT_REC_STACK events) */
    uint64_t callers_found;       /* opens whose wrapper's caller the stack scan found */
    uint64_t callers_missing;     /* opens with no return address in the scanned words */
    uint64_t path_retries;        /* paths unreadable at entry (page not present), read at exit */
    uint64_t path_failures;       /* paths unreadable at exit too (sent without a path) */
    uint64_t storage_failures;    /* calls not recorded: no per-thread storage */
    uint64_t untraced_children;   /* fork children not traced: the traced set was full */
    uint64_t sockets_undescribed; /* sockets at exit not described: the ring was full */
};

/* A traced process (the BPF map `traced`, keyed by tgid). */
struct fdt_ktraced {
    uint64_t records_lost; /* events of this process the ring had no room for */
    uint32_t fork_seq;     /* numbers its forks (fork ids: tgid << 32 | seq) */
    uint32_t image;        /* numbers its execs (stacks are interned per image) */
    /* Set by the thread that reports the process's end: threads killed
     * together can each see the last one gone (one report, not two). */
    uint64_t exit_claimed;
};

#endif /* FDTRACE_KERNEL_H */

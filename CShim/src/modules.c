/* The module map (loaded objects with their address ranges and build ids),
 * sent to the collector so that it symbolises stacks after the fact. It is
 * rescanned when a new stack holds an address no known module covers. */

#include "shim.h"
#include <elf.h>
#include <link.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_MODULES  1024u
#define MAX_BUILD_ID 64u

struct module {
    uintptr_t base, start, end;
    const char *name;
    uint8_t build_id[MAX_BUILD_ID];
    uint16_t build_id_len;
    uint8_t sent;
    uint8_t present;
};

static struct module mods[MAX_MODULES];
static unsigned nmods;
static int scan_lock;
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;
static char exe_path[4096];
static ssize_t exe_len = -1; /* -1: unknown or cut short */

static void lock(void) {
    while (__atomic_exchange_n(&scan_lock, 1, __ATOMIC_ACQUIRE)) sched_yield();
}
static void unlock(void) { __atomic_store_n(&scan_lock, 0, __ATOMIC_RELEASE); }

static void read_build_id(struct dl_phdr_info *info, struct module *m) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *nh;
            const char *desc = name + ((nh->n_namesz + 3u) & ~3u);
            const char *next = desc + ((nh->n_descsz + 3u) & ~3u);
            if (next > end) break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                m->build_id_len = nh->n_descsz > MAX_BUILD_ID ? MAX_BUILD_ID : (uint16_t)nh->n_descsz;
                memcpy(m->build_id, desc, m->build_id_len);
                return;
            }
            p = next;
        }
    }
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    (void)arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (s < lo) lo = s;
        if (e > hi) hi = e;
    }
    if (hi == 0) return 0;
    for (unsigned i = 0; i < nmods; i++) {
        if (mods[i].base == info->dlpi_addr && mods[i].start == lo && mods[i].end == hi) {
            mods[i].present = 1;
            return 0;
        }
    }
    if (nmods == MAX_MODULES) return 0;
    struct module *m = &mods[nmods++];
    memset(m, 0, sizeof *m);
    m->base = info->dlpi_addr;
    m->start = lo;
    m->end = hi;
    m->name = (info->dlpi_name && info->dlpi_name[0]) ? info->dlpi_name : exe_path;
    m->present = 1;
    read_build_id(info, m);
    if ((uintptr_t)&scan_one >= lo && (uintptr_t)&scan_one < hi) {
        fdt_g.self_start = lo;
        fdt_g.self_end = hi;
    }
    return 0;
}

static int changed_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    *(int *)arg = info->dlpi_adds != seen_adds || info->dlpi_subs != seen_subs;
    seen_adds = info->dlpi_adds;
    seen_subs = info->dlpi_subs;
    return 1; /* the counters are the same in every entry: stop */
}

/* Rebuilds the list; modules no longer loaded are dropped. Caller locks. */
static void rescan(void) {
    int changed = 1;
    dl_iterate_phdr(changed_cb, &changed);
    if (!changed) return;
    for (unsigned i = 0; i < nmods; i++) mods[i].present = 0;
    dl_iterate_phdr(scan_one, NULL);
    unsigned w = 0;
    for (unsigned i = 0; i < nmods; i++)
        if (mods[i].present) mods[w++] = mods[i];
    nmods = w;
}

static void send_module(struct module *m) {
    size_t plen = strnlen(m->name, FDT_MAX_PATH);
    uint32_t size = fdt_align8((uint32_t)(sizeof(struct fdt_rec_module) + plen + m->build_id_len));
    struct fdt_rec_module *r = fdt_ring_reserve(size);
    if (!r) return;
    r->base = m->base;
    r->start = m->start;
    r->end = m->end;
    r->path_len = (uint16_t)plen;
    r->build_id_len = m->build_id_len;
    char *p = (char *)(r + 1);
    memcpy(p, m->name, plen);
    memcpy(p + plen, m->build_id, m->build_id_len);
    fdt_ring_commit(r, FDT_REC_MODULE, 0, size);
    m->sent = 1;
}

void fdt_modules_init(void) {
    ssize_t n = syscall(SYS_readlink, "/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = 0;
    exe_len = n > 0 && (size_t)n < sizeof exe_path - 1 ? n : -1;
    lock();
    rescan();
    unlock();
}

/* The executable's path as /proc/self/exe showed it at start (the hello
 * sends it: one readlink a process less), or NULL. */
const char *fdt_modules_exe_path(size_t *len) {
    if (exe_len < 0) return NULL;
    *len = (size_t)exe_len;
    return exe_path;
}

static int known(uintptr_t pc) {
    for (unsigned i = 0; i < nmods; i++)
        if (pc >= mods[i].start && pc < mods[i].end) return 1;
    return 0;
}

/* Makes sure the collector has the modules covering `pcs` (all modules when
 * pcs is NULL), rescanning the loaded objects if one is missing. */
void fdt_modules_ensure_known(const uintptr_t *pcs, unsigned n) {
    lock();
    if (pcs) {
        for (unsigned i = 0; i < n; i++) {
            if (!((uint64_t)pcs[i] & FDT_PYFRAME_BIT) && !known(pcs[i])) {
                rescan();
                break;
            }
        }
    }
    for (unsigned i = 0; i < nmods; i++)
        if (!mods[i].sent) send_module(&mods[i]);
    unlock();
}

/* In a fork child: the parent's collector had the modules, ours has not. */
void fdt_modules_reset_sent(void) {
    scan_lock = 0;
    for (unsigned i = 0; i < nmods; i++) mods[i].sent = 0;
}

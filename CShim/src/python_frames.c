/* The interpreter this image runs, found once at start, and the calling
 * thread's Python frames, merged into its native stack where the
 * interpreter ran them (see python.h). */
#include "python.h"
#include "intern.h"
#include "report.h"
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

struct fdt_py_interpreter fdt_py;
static char note[200]; /* why frames cannot be read; sent once the connection is up */

static int symbol_range(const char *name, uintptr_t *start, uintptr_t *end) {
    void *addr = dlsym(RTLD_DEFAULT, name);
    if (!addr) return -1;
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_size == 0) return -1;
    *start = (uintptr_t)addr;
    *end = (uintptr_t)addr + sym->st_size;
    return 0;
}

static int layout_from_debug_offsets(uintptr_t runtime, unsigned minor) {
    const struct py313_debug_offsets *d = (const struct py313_debug_offsets *)runtime;
    if (memcmp(d->cookie, "xdebugpy", 8) != 0 || ((d->version >> 16) & 0xffff) != 0x030du + (minor - 13)) return -1;
    if (d->free_threaded) return -1;
    fdt_py.L = (struct py_layout){
        .minor = minor,
        .model = PY_FRAMES_CURRENT,
        .lines_format = FDT_PY_LINES_LOCATIONS,
        .tstate_frame = (uint32_t)d->thread_state.current_frame,
        .tstate_interp = (uint32_t)d->thread_state.interp,
        .frame_back = (uint32_t)d->interpreter_frame.previous,
        .frame_code = (uint32_t)d->interpreter_frame.executable,
        .frame_instr = (uint32_t)d->interpreter_frame.instr_ptr,
        .frame_is_entry = -1,
        .frame_owner = (int32_t)d->interpreter_frame.owner,
        .co_filename = (uint32_t)d->code_object.filename,
        .co_name = (uint32_t)d->code_object.name,
        .co_qualname = (uint32_t)d->code_object.qualname,
        .co_firstlineno = (uint32_t)d->code_object.firstlineno,
        .co_linetable = (uint32_t)d->code_object.linetable,
        .co_code = (uint32_t)d->code_object.co_code_adaptive,
        .str_state = (uint32_t)d->unicode_object.state,
        .str_length = (uint32_t)d->unicode_object.length,
        .ascii_size = (uint32_t)d->unicode_object.asciiobject_size,
        .compact_size = (uint32_t)d->unicode_object.asciiobject_size + 16, /* utf8_length, utf8 */
        .bytes_size = (uint32_t)d->bytes_object.ob_size,
        .bytes_sval = (uint32_t)d->bytes_object.ob_sval,
        .rt_finalizing = (uint32_t)d->runtime_state.finalizing,
        .gc_collecting = (uint32_t)(d->interpreter_state.gc + d->gc.collecting),
    };
    return 0;
}

/* Whether some loaded object may export `name`: no when every one of them
 * has a GNU hash table and it has no such defined symbol (its Bloom
 * filter rules the name out, or its hash chain holds no symbol of that
 * name). Asked before dlsym() for the probe below: a dlsym() that fails
 * builds its error message with malloc(), and in most programs that first
 * malloc() was the shim's (the arena set up: a getrandom, two brk, a page
 * fault), for a symbol that is not there. */
struct export_query {
    const char *name;
    uint32_t hash;
    int maybe;
};

/* The loader rewrote a dynamic entry's pointer to an address, except in
 * objects whose dynamic section is read-only (the vDSO). */
static uintptr_t dyn_address(const struct dl_phdr_info *info, uintptr_t p) {
    return p < info->dlpi_addr ? p + info->dlpi_addr : p;
}

static int defines(const struct dl_phdr_info *info, const struct export_query *q) {
    const ElfW(Dyn) *dyn = NULL;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dyn) return 0; /* exports nothing */
    uintptr_t table = 0, symtab = 0, strtab = 0;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_GNU_HASH) table = dyn_address(info, dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_SYMTAB) symtab = dyn_address(info, dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_STRTAB) strtab = dyn_address(info, dyn->d_un.d_ptr);
    }
    if (!table || !symtab || !strtab) return 1; /* nothing to ask: maybe */
    const uint32_t *h = (const uint32_t *)table;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2], shift = h[3];
    if (!nbuckets || !bloom_size) return 0;
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)(h + 4);
    const unsigned bits = sizeof(ElfW(Addr)) * 8;
    ElfW(Addr) word = bloom[(q->hash / bits) % bloom_size];
    ElfW(Addr) mask = ((ElfW(Addr))1 << (q->hash % bits)) | ((ElfW(Addr))1 << ((q->hash >> shift) % bits));
    if ((word & mask) != mask) return 0;
    const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    const ElfW(Sym) *syms = (const ElfW(Sym) *)symtab;
    uint32_t i = buckets[q->hash % nbuckets];
    if (i < symoffset) return 0;
    for (;; i++) {
        uint32_t ch = chain[i - symoffset];
        if ((ch | 1) == (q->hash | 1) && syms[i].st_shndx != SHN_UNDEF &&
            strcmp((const char *)strtab + syms[i].st_name, q->name) == 0)
            return 1;
        if (ch & 1) return 0;
    }
}

static int export_check(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    struct export_query *q = arg;
    q->maybe = defines(info, q);
    return q->maybe;
}

static int maybe_exported(const char *name) {
    struct export_query q = { name, 5381, 0 };
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) q.hash = q.hash * 33 + *c;
    dl_iterate_phdr(export_check, &q);
    return q.maybe;
}

/* Finds the interpreter this image runs, if any, and how to read it. */
void fdt_py_init(void) {
    if (!maybe_exported("Py_GetVersion")) return; /* not a Python process */
    const char *(*get_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
    if (!get_version) return; /* not a Python process */
    const char *v = get_version();
    unsigned major = 0, minor = 0, micro = 0;
    if (!v || sscanf(v, "%u.%u.%u", &major, &minor, &micro) < 2) return;
    const char *why = NULL;
    if (strstr(v, "PyPy") || strstr(v, "GraalPy")) {
        why = "fdtrace reads CPython's frames only";
    } else if (dlsym(RTLD_DEFAULT, "_Py_ForgetReference") || dlsym(RTLD_DEFAULT, "_Py_RefTotal")) {
        /* A debug build: its objects have other layouts. */
        why = "a debug build of CPython";
    } else if (major == 3 && minor >= 8 && minor <= 13) {
        fdt_py.runtime = (uintptr_t)dlsym(RTLD_DEFAULT, "_PyRuntime");
        fdt_py.code_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyCode_Type");
        fdt_py.this_thread_state = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
        if (!fdt_py.runtime || !fdt_py.code_type || !fdt_py.this_thread_state ||
            symbol_range("_PyEval_EvalFrameDefault", &fdt_py.eval_start, &fdt_py.eval_end) < 0) {
            why = "its runtime symbols are not exported";
        } else if (minor >= 13) {
            if (layout_from_debug_offsets(fdt_py.runtime, minor) < 0)
                why = "its debug offsets are not the ones of a 3.13 build with the GIL";
        } else {
            for (unsigned i = 0; i < sizeof py_layouts / sizeof py_layouts[0]; i++)
                if (py_layouts[i].minor == minor) fdt_py.L = py_layouts[i];
        }
    } else {
        why = "fdtrace reads the frames of CPython 3.8 to 3.13";
    }
    if (why) {
        snprintf(note, sizeof note, "Python %u.%u.%u: %s; this process is reported with native frames only", major,
            minor, micro, why);
        return;
    }
    symbol_range("PyObject_CallFinalizerFromDealloc", &fdt_py.fin_start[0], &fdt_py.fin_end[0]);
    symbol_range("PyObject_CallFinalizer", &fdt_py.fin_start[1], &fdt_py.fin_end[1]);
    fdt_py.enabled = 1;
}

void fdt_py_send_note(void) {
    if (note[0]) fdt_record_note(note);
}

/* A thread other than the finalizing one reads nothing once the runtime is
 * finalizing: its state may be freed under it. */
uintptr_t fdt_py_thread_state(void) {
    if (!fdt_py.enabled) return 0;
    uintptr_t ts = (uintptr_t)fdt_py.this_thread_state();
    if (!ts) return 0;
    uintptr_t fin = PY_RD(uintptr_t, fdt_py.runtime + fdt_py.L.rt_finalizing);
    if (fin && fin != ts) return 0;
    return ts;
}

static inline int is_code(uintptr_t obj) { return obj && PY_RD(uintptr_t, obj + 8 /* ob_type */) == fdt_py.code_type; }

/* Walks the thread's Python frames, innermost first. Returns how many were
 * stored (at most cap) and the outermost code object in *outermost. */
static unsigned walk_frames(uintptr_t ts, struct fdt_py_frame *out, unsigned cap, uintptr_t *outermost) {
    const struct py_layout *L = &fdt_py.L;
    unsigned n = 0, seen = 0;
    *outermost = 0;
    for (uintptr_t f = fdt_py_first_frame(ts); f && seen < 100000; f = PY_RD(uintptr_t, f + L->frame_back), seen++) {
        if (L->frame_owner >= 0 && L->model != PY_FRAMES_OBJECTS &&
            PY_RD(int8_t, f + (uint32_t)L->frame_owner) == PY_FRAME_OWNED_BY_CSTACK) {
            if (n) out[n - 1].last_of_eval = 1;
            continue;
        }
        uintptr_t code = PY_RD(uintptr_t, f + L->frame_code);
        if (!is_code(code)) continue;
        *outermost = code;
        if (n >= cap) continue;
        uint32_t offset = UINT32_MAX;
        if (L->model == PY_FRAMES_OBJECTS) {
            int lasti = PY_RD(int, f + L->frame_instr);
            if (lasti >= 0) offset = (uint32_t)(L->lasti_in_units ? lasti * 2 : lasti);
        } else {
            uintptr_t instr = PY_RD(uintptr_t, f + L->frame_instr);
            uintptr_t start = code + L->co_code;
            if (instr >= start) offset = (uint32_t)(instr - start);
        }
        out[n].code = code;
        out[n].offset = offset;
        out[n].last_of_eval = L->model == PY_FRAMES_OBJECTS ||
                              (L->frame_is_entry >= 0 && PY_RD(uint8_t, f + (uint32_t)L->frame_is_entry));
        n++;
    }
    if (n) out[n - 1].last_of_eval = 1;
    return n;
}

void fdt_py_read_stack(struct fdt_py_stack *py) {
    py->count = 0;
    py->outermost = 0;
    py->ts = fdt_py_thread_state();
    if (py->ts) py->count = walk_frames(py->ts, py->frames, FDT_PY_MAX_FRAMES, &py->outermost);
}

uintptr_t fdt_py_outermost(uintptr_t ts) {
    uintptr_t outermost;
    walk_frames(ts, NULL, 0, &outermost);
    return outermost;
}

static inline int in_eval(uintptr_t pc) { return pc > fdt_py.eval_start && pc <= fdt_py.eval_end; }

unsigned fdt_py_merge(const struct fdt_py_stack *py, uint64_t *pcs, unsigned n, uint64_t *hash) {
    uint64_t native[FDT_MAX_DEPTH];
    if (n > FDT_MAX_DEPTH) n = FDT_MAX_DEPTH;
    memcpy(native, pcs, n * sizeof *pcs);
    unsigned out = 0, pi = 0;
    uint64_t h = 0x9e3779b97f4a7c15ull;
    /* Appends Python frames up to the end of one eval call (all of them
     * when `all`), marked by their index in py. */
#define EMIT_PYTHON(all)                                                                                               \
    while (pi < py->count && out < FDT_MAX_DEPTH) {                                                                    \
        const struct fdt_py_frame *f = &py->frames[pi];                                                                \
        pcs[out++] = FDT_PYFRAME_BIT | pi++;                                                                           \
        h = fdt_hash_mix(                                                                                              \
            fdt_hash_mix(fdt_hash_mix(h, f->code), f->offset), PY_RD(uintptr_t, f->code + fdt_py.L.co_filename));      \
        if (!(all) && f->last_of_eval) break;                                                                          \
    }
    for (unsigned i = 0; i < n && out < FDT_MAX_DEPTH; i++) {
        if (in_eval((uintptr_t)native[i])) EMIT_PYTHON(0)
        if (out < FDT_MAX_DEPTH) {
            pcs[out++] = native[i];
            h = fdt_hash_mix(h, native[i]);
        }
    }
    EMIT_PYTHON(1) /* frames whose eval call lies below the native depth */
#undef EMIT_PYTHON
    *hash = fdt_hash_mix(h, out);
    return out;
}

/* Turns the marked Python frames of a new stack into wire frames (code
 * records are sent for code objects seen for the first time). */
void fdt_py_resolve(const struct fdt_py_stack *py, uint64_t *pcs, unsigned n) {
    for (unsigned i = 0; i < n; i++) {
        if (!(pcs[i] & FDT_PYFRAME_BIT)) continue;
        const struct fdt_py_frame *f = &py->frames[pcs[i] & 0xffff];
        pcs[i] = FDT_PYFRAME(fdt_py_code_id(f->code), f->offset);
    }
}

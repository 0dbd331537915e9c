/* CPython call sites: the calling thread's Python frames, merged into the
 * native stack where the interpreter ran them; why a descriptor was closed
 * (garbage collection, a finalizer); and the moment the program began to
 * exit.
 *
 * Nothing here takes the GIL or allocates. The thread that called into the
 * shim is inside a libc call, so its own frame chain cannot change under
 * it; other threads' chains are never read. Everything CPython-specific is
 * in python_layout.h; an interpreter it does not describe gets native
 * frames and one note. */
#include "shim.h"
#include "python_layout.h"
#include "intern.h"
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PY_FRAMES FDT_PY_MAX_FRAMES

static struct {
    int enabled;               /* frames can be read */
    struct py_layout L;
    uintptr_t runtime;         /* &_PyRuntime */
    uintptr_t code_type;       /* &PyCode_Type */
    void *(*this_thread_state)(void);
    uintptr_t eval_start, eval_end;       /* _PyEval_EvalFrameDefault */
    uintptr_t fin_start[2], fin_end[2];   /* PyObject_CallFinalizer[FromDealloc] */
    char note[200];            /* sent once the connection is up */
} py;

/* The main script's outermost code object, and whether the program has
 * begun to exit (latched). Detection needs the main thread's own frames. */
static uintptr_t main_entry_code;
static uintptr_t last_rejected_entry;
static int exit_latched;
static int exit_detection_off;

static struct fdt_intern_table code_table;

#define RD(type, addr) (*(const type *)(uintptr_t)(addr))

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
    if (memcmp(d->cookie, "xdebugpy", 8) != 0 || ((d->version >> 16) & 0xffff) != 0x030du + (minor - 13))
        return -1;
    if (d->free_threaded) return -1;
    struct py_layout *L = &py.L;
    memset(L, 0, sizeof *L);
    L->minor = minor;
    L->model = PY_FRAMES_CURRENT;
    L->lines_format = FDT_PY_LINES_LOCATIONS;
    L->tstate_frame = (uint32_t)d->thread_state.current_frame;
    L->tstate_interp = (uint32_t)d->thread_state.interp;
    L->frame_back = (uint32_t)d->interpreter_frame.previous;
    L->frame_code = (uint32_t)d->interpreter_frame.executable;
    L->frame_instr = (uint32_t)d->interpreter_frame.instr_ptr;
    L->frame_is_entry = -1;
    L->frame_owner = (int32_t)d->interpreter_frame.owner;
    L->co_filename = (uint32_t)d->code_object.filename;
    L->co_name = (uint32_t)d->code_object.name;
    L->co_qualname = (uint32_t)d->code_object.qualname;
    L->co_firstlineno = (uint32_t)d->code_object.firstlineno;
    L->co_linetable = (uint32_t)d->code_object.linetable;
    L->co_code = (uint32_t)d->code_object.co_code_adaptive;
    L->str_state = (uint32_t)d->unicode_object.state;
    L->str_length = (uint32_t)d->unicode_object.length;
    L->ascii_size = (uint32_t)d->unicode_object.asciiobject_size;
    L->compact_size = L->ascii_size + 16; /* utf8_length, utf8 */
    L->bytes_size = (uint32_t)d->bytes_object.ob_size;
    L->bytes_sval = (uint32_t)d->bytes_object.ob_sval;
    L->rt_finalizing = (uint32_t)d->runtime_state.finalizing;
    L->gc_collecting = (uint32_t)(d->interpreter_state.gc + d->gc.collecting);
    return 0;
}

/* Finds the interpreter this image runs, if any, and how to read it. */
void fdt_py_init(void) {
    memset(&py, 0, sizeof py);
    main_entry_code = last_rejected_entry = 0;
    exit_latched = exit_detection_off = 0;
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
        py.runtime = (uintptr_t)dlsym(RTLD_DEFAULT, "_PyRuntime");
        py.code_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyCode_Type");
        py.this_thread_state = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
        if (!py.runtime || !py.code_type || !py.this_thread_state ||
            symbol_range("_PyEval_EvalFrameDefault", &py.eval_start, &py.eval_end) < 0) {
            why = "its runtime symbols are not exported";
        } else if (minor >= 13) {
            if (layout_from_debug_offsets(py.runtime, minor) < 0) why = "its debug offsets are not the ones of a 3.13 build with the GIL";
        } else {
            for (unsigned i = 0; i < sizeof py_layouts / sizeof py_layouts[0]; i++)
                if (py_layouts[i].minor == minor) py.L = py_layouts[i];
        }
    } else {
        why = "fdtrace reads the frames of CPython 3.8 to 3.13";
    }
    if (why) {
        snprintf(py.note, sizeof py.note, "Python %u.%u.%u: %s; this process is reported with native frames only",
                 major, minor, micro, why);
        return;
    }
    symbol_range("PyObject_CallFinalizerFromDealloc", &py.fin_start[0], &py.fin_end[0]);
    symbol_range("PyObject_CallFinalizer", &py.fin_start[1], &py.fin_end[1]);
    fdt_intern_reset(&code_table);
    py.enabled = 1;
}

/* After the connection is up: the note about an unreadable interpreter. */
void fdt_py_send_note(void) {
    if (py.note[0]) fdt_record_note(py.note);
}

/* A fork child sends its own code records; a child forked from a thread
 * other than the main one has no main script on its stack. */
void fdt_py_after_fork_child(int forked_from_main) {
    fdt_intern_reset(&code_table);
    if (!forked_from_main) exit_detection_off = 1;
}

static inline int in_eval(uintptr_t pc) { return pc > py.eval_start && pc <= py.eval_end; }

/* The calling thread's state, or 0 when it runs no Python. A thread other
 * than the finalizing one reads nothing once the runtime is finalizing:
 * its state may be freed under it. */
uintptr_t fdt_py_thread_state(void) {
    if (!py.enabled) return 0;
    uintptr_t ts = (uintptr_t)py.this_thread_state();
    if (!ts) return 0;
    uintptr_t fin = RD(uintptr_t, py.runtime + py.L.rt_finalizing);
    if (fin && fin != ts) return 0;
    return ts;
}

static inline int is_code(uintptr_t obj) {
    return obj && RD(uintptr_t, obj + 8 /* ob_type */) == py.code_type;
}

static uintptr_t first_frame(uintptr_t ts) {
    if (py.L.model == PY_FRAMES_CFRAME) {
        uintptr_t cf = RD(uintptr_t, ts + py.L.tstate_frame);
        return cf ? RD(uintptr_t, cf + py.L.cframe_current) : 0;
    }
    return RD(uintptr_t, ts + py.L.tstate_frame);
}

struct pyframe {
    uintptr_t code;
    uint32_t offset;   /* byte offset of the running instruction, or UINT32_MAX */
    uint8_t last_of_eval; /* the outermost frame of one _PyEval_EvalFrameDefault call */
};

/* Walks the thread's Python frames, innermost first. Returns how many were
 * stored (at most cap) and the outermost code object in *outermost. */
static unsigned walk_frames(uintptr_t ts, struct pyframe *out, unsigned cap, uintptr_t *outermost) {
    const struct py_layout *L = &py.L;
    unsigned n = 0, seen = 0;
    *outermost = 0;
    for (uintptr_t f = first_frame(ts); f && seen < 100000; f = RD(uintptr_t, f + L->frame_back), seen++) {
        if (L->frame_owner >= 0 && L->model != PY_FRAMES_OBJECTS &&
            RD(int8_t, f + (uint32_t)L->frame_owner) == PY_FRAME_OWNED_BY_CSTACK) {
            if (n) out[n - 1].last_of_eval = 1;
            continue;
        }
        uintptr_t code = RD(uintptr_t, f + L->frame_code);
        if (!is_code(code)) continue;
        *outermost = code;
        if (n >= cap) continue;
        uint32_t offset = UINT32_MAX;
        if (L->model == PY_FRAMES_OBJECTS) {
            int lasti = RD(int, f + L->frame_instr);
            if (lasti >= 0) offset = (uint32_t)(L->lasti_in_units ? lasti * 2 : lasti);
        } else {
            uintptr_t instr = RD(uintptr_t, f + L->frame_instr);
            uintptr_t start = code + L->co_code;
            if (instr >= start) offset = (uint32_t)(instr - start);
        }
        out[n].code = code;
        out[n].offset = offset;
        out[n].last_of_eval = L->model == PY_FRAMES_OBJECTS ||
                              (L->frame_is_entry >= 0 && RD(uint8_t, f + (uint32_t)L->frame_is_entry));
        n++;
    }
    if (n) out[n - 1].last_of_eval = 1;
    return n;
}

/* ---- strings and code records ---- */

static unsigned put_utf8(char *out, unsigned at, unsigned cap, uint32_t c) {
    if (c < 0x80) { if (at + 1 > cap) return at; out[at++] = (char)c; }
    else if (c < 0x800) { if (at + 2 > cap) return at; out[at++] = (char)(0xc0 | c >> 6); out[at++] = (char)(0x80 | (c & 0x3f)); }
    else if (c < 0x10000) {
        if (at + 3 > cap) return at;
        out[at++] = (char)(0xe0 | c >> 12); out[at++] = (char)(0x80 | ((c >> 6) & 0x3f)); out[at++] = (char)(0x80 | (c & 0x3f));
    } else {
        if (at + 4 > cap) return at;
        out[at++] = (char)(0xf0 | c >> 18); out[at++] = (char)(0x80 | ((c >> 12) & 0x3f));
        out[at++] = (char)(0x80 | ((c >> 6) & 0x3f)); out[at++] = (char)(0x80 | (c & 0x3f));
    }
    return at;
}

/* A str object as UTF-8 (compact strings only: all that code objects hold). */
static unsigned read_str(uintptr_t s, char *out, unsigned cap) {
    if (!s) return 0;
    uint32_t state = RD(uint32_t, s + py.L.str_state);
    int64_t len = RD(int64_t, s + py.L.str_length);
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (!compact || len < 0 || (kind != 1 && kind != 2 && kind != 4)) return 0;
    const uint8_t *data = (const uint8_t *)(s + (ascii ? py.L.ascii_size : py.L.compact_size));
    unsigned at = 0;
    for (int64_t i = 0; i < len && at < cap; i++) {
        uint32_t c = kind == 1 ? data[i] : kind == 2 ? ((const uint16_t *)data)[i] : ((const uint32_t *)data)[i];
        unsigned next = put_utf8(out, at, cap, c);
        if (next == at) break;
        at = next;
    }
    return at;
}

static int str_equals(uintptr_t s, const char *lit) {
    char buf[64];
    unsigned n = read_str(s, buf, sizeof buf);
    return n == strlen(lit) && memcmp(buf, lit, n) == 0;
}

static uintptr_t code_name_obj(uintptr_t code) {
    return RD(uintptr_t, code + (py.L.co_qualname ? py.L.co_qualname : py.L.co_name));
}

static void send_code(uint32_t id, uintptr_t code) {
    char filename[FDT_MAX_PATH], name[256];
    unsigned flen = read_str(RD(uintptr_t, code + py.L.co_filename), filename, sizeof filename);
    unsigned nlen = read_str(code_name_obj(code), name, sizeof name);
    uintptr_t table = RD(uintptr_t, code + py.L.co_linetable);
    int64_t tlen = table ? RD(int64_t, table + py.L.bytes_size) : 0;
    if (tlen < 0 || tlen > (int64_t)FDT_PY_MAX_TABLE) tlen = 0;
    const uint8_t *tbytes = (const uint8_t *)(table + py.L.bytes_sval);
    uint32_t head = (uint32_t)sizeof(struct fdt_rec_pycode) + flen + nlen;
    uint32_t room = FDT_MAX_RECORD - 8 - head;
    uint32_t first = (uint32_t)tlen < room ? (uint32_t)tlen : room;
    uint32_t size = fdt_align8(head + first);
    struct fdt_rec_pycode *r = fdt_ring_reserve(size);
    if (!r) return;
    r->code_id = id;
    r->first_line = RD(int, code + py.L.co_firstlineno);
    r->lines_format = py.L.lines_format;
    r->filename_len = (uint16_t)flen;
    r->name_len = (uint16_t)nlen;
    r->table_len = (uint16_t)first;
    r->table_total = (uint32_t)tlen;
    char *p = (char *)(r + 1);
    memcpy(p, filename, flen);
    memcpy(p + flen, name, nlen);
    memcpy(p + flen + nlen, tbytes, first);
    fdt_ring_commit(r, FDT_REC_PYCODE, 0, size);
    for (uint32_t off = first; off < (uint32_t)tlen;) {
        uint32_t chunk = (uint32_t)tlen - off;
        uint32_t max = FDT_MAX_RECORD - 8 - (uint32_t)sizeof(struct fdt_rec_pycode_more);
        if (chunk > max) chunk = max;
        uint32_t msize = fdt_align8((uint32_t)sizeof(struct fdt_rec_pycode_more) + chunk);
        struct fdt_rec_pycode_more *m = fdt_ring_reserve(msize);
        if (!m) return;
        m->code_id = id;
        m->offset = off;
        m->table_len = (uint16_t)chunk;
        memcpy(m + 1, tbytes + off, chunk);
        fdt_ring_commit(m, FDT_REC_PYCODE_MORE, 0, msize);
        off += chunk;
    }
}

/* What identifies a code object: its address alone could be reused by
 * another code object once the first is freed. */
static uint64_t code_key(uintptr_t code) {
    uint64_t k = 0x243f6a8885a308d3ull;
    uint64_t parts[4] = { code, RD(uintptr_t, code + py.L.co_filename), RD(uintptr_t, code + py.L.co_linetable),
                          (uint64_t)(uint32_t)RD(int, code + py.L.co_firstlineno) };
    for (unsigned i = 0; i < 4; i++) k = fdt_hash_mix(k, parts[i]);
    return k;
}

/* Code ids fit in 31 bits of a Python frame (FDT_PYFRAME). */
static uint32_t intern_code(uintptr_t code) {
    int fresh;
    uint32_t id = fdt_intern(&code_table, code_key(code), &fresh) & 0x7fffffffu;
    if (fresh) send_code(id, code);
    return id;
}

/* ---- exit ---- */

static int is_main_entry(uintptr_t code) {
    uintptr_t name = RD(uintptr_t, code + py.L.co_name);
    if (str_equals(name, "_run_module_as_main")) return 1;
    if (!str_equals(name, "<module>")) return 0;
    char file[16];
    unsigned n = read_str(RD(uintptr_t, code + py.L.co_filename), file, sizeof file);
    return !(n >= 7 && memcmp(file, "<frozen", 7) == 0);
}

/* Called on the main thread with its outermost frame's code (0: none):
 * once the main script has run, leaving it means the program is exiting. */
static void check_exit(uintptr_t ts, uintptr_t outermost) {
    if (exit_latched || exit_detection_off) return;
    int exiting = RD(uintptr_t, py.runtime + py.L.rt_finalizing) != 0;
    if (!exiting) {
        if (!main_entry_code) {
            if (outermost && outermost != last_rejected_entry) {
                if (is_main_entry(outermost)) main_entry_code = outermost;
                else last_rejected_entry = outermost;
            }
            return;
        }
        exiting = outermost != main_entry_code;
    }
    (void)ts;
    if (!exiting) return;
    exit_latched = 1;
    struct fdt_rec_py_exit *r = fdt_ring_reserve(sizeof *r);
    if (r) {
        r->h.time_ns = fdt_now_ns();
        r->tid = fdt_gettid();
        fdt_ring_commit(r, FDT_REC_PY_EXIT, 0, sizeof *r);
    }
    fdt_send_view_at_py_exit();
}

static inline int on_main_thread(void) { return fdt_gettid() == fdt_g.pid; }

/* ---- stacks ---- */

/* Merges the thread's Python frames into the native stack `pcs` (n frames,
 * innermost first, room for FDT_MAX_DEPTH): each native frame of
 * _PyEval_EvalFrameDefault is preceded by the Python frames it ran. Python
 * frames are marked with their code object's address until `fdt_py_resolve`
 * turns them into wire frames. Returns the new count and a hash of the
 * merged stack in *hash, or n unchanged when the thread runs no Python. */
unsigned fdt_py_merge(uintptr_t ts, uint64_t *pcs, unsigned n, uint64_t *hash, struct fdt_py_scratch *scratch) {
    scratch->count = 0;
    if (!ts) return n;
    struct pyframe frames[MAX_PY_FRAMES];
    uintptr_t outermost;
    unsigned np = walk_frames(ts, frames, MAX_PY_FRAMES, &outermost);
    if (on_main_thread()) check_exit(ts, outermost);
    if (!np) return n;
    uint64_t native[FDT_MAX_DEPTH];
    if (n > FDT_MAX_DEPTH) n = FDT_MAX_DEPTH;
    memcpy(native, pcs, n * sizeof *pcs);
    unsigned out = 0, pi = 0;
    uint64_t h = 0x9e3779b97f4a7c15ull;
    /* Appends Python frames up to the end of one eval call (all of them
     * when `all`), marked by their index in the scratch. */
#define EMIT_PYTHON(all) \
    while (pi < np && out < FDT_MAX_DEPTH) { \
        const struct pyframe *f = &frames[pi++]; \
        scratch->code[scratch->count] = f->code; \
        scratch->offset[scratch->count] = f->offset; \
        pcs[out++] = FDT_PYFRAME_BIT | scratch->count++; \
        h = fdt_hash_mix(fdt_hash_mix(fdt_hash_mix(h, f->code), f->offset), RD(uintptr_t, f->code + py.L.co_filename)); \
        if (!(all) && f->last_of_eval) break; \
    }
    for (unsigned i = 0; i < n && out < FDT_MAX_DEPTH; i++) {
        if (in_eval((uintptr_t)native[i])) EMIT_PYTHON(0)
        if (out < FDT_MAX_DEPTH) { pcs[out++] = native[i]; h = fdt_hash_mix(h, native[i]); }
    }
    EMIT_PYTHON(1) /* frames whose eval call lies below the native depth */
#undef EMIT_PYTHON
    *hash = fdt_hash_mix(h, out);
    return out;
}

/* Turns the marked Python frames of a new stack into wire frames (code
 * records are sent for code objects seen for the first time). */
void fdt_py_resolve(uint64_t *pcs, unsigned n, const struct fdt_py_scratch *scratch) {
    for (unsigned i = 0; i < n; i++) {
        if (!(pcs[i] & FDT_PYFRAME_BIT)) continue;
        unsigned k = (unsigned)(pcs[i] & 0xffff);
        uint32_t id = intern_code(scratch->code[k]);
        pcs[i] = FDT_PYFRAME(id, scratch->offset[k]);
    }
}

/* ---- closes ---- */

static int native_in_finalizer(void) {
    void *raw[24]; /* measured: finalizers sit 5-18 frames below close() */
    int n = fdt_native_backtrace(raw, 24);
    for (int i = 0; i < n; i++) {
        uintptr_t pc = (uintptr_t)raw[i];
        for (unsigned k = 0; k < 2; k++)
            if (py.fin_start[k] && pc > py.fin_start[k] && pc <= py.fin_end[k]) return 1;
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
    uintptr_t f = first_frame(ts);
    uint64_t key = 0x517cc1b727220a95ull;
    key = fdt_hash_mix(key, caller);
    if (f) {
        key = fdt_hash_mix(key, RD(uintptr_t, f + py.L.frame_code));
        key = fdt_hash_mix(key, py.L.model == PY_FRAMES_OBJECTS ? (uint64_t)(uint32_t)RD(int, f + py.L.frame_instr)
                                                       : RD(uintptr_t, f + py.L.frame_instr));
    }
    key &= ~3ull;
    uint64_t *slot = &cause_cache[(key >> 2) & (CAUSE_CACHE - 1)];
    uint64_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if ((cur & ~3ull) == key && (cur & 3)) return (cur & 3) == 2;
    int fin = native_in_finalizer();
    __atomic_store_n(slot, key | (fin ? 2u : 1u), __ATOMIC_RELAXED);
    return fin;
}

/* Why the calling thread closes a descriptor: FDT_CLOSE_* bits, 0 for an
 * explicit close (or no Python). Also notices the program's exit. */
uint16_t fdt_py_close_cause(uintptr_t caller) {
    uintptr_t ts = fdt_py_thread_state();
    if (!ts) return 0;
    if (on_main_thread() && !exit_latched && !exit_detection_off) {
        struct pyframe none[1];
        uintptr_t outermost;
        walk_frames(ts, none, 0, &outermost);
        check_exit(ts, outermost);
    }
    uintptr_t gc_base = py.L.gc_in_runtime ? py.runtime : RD(uintptr_t, ts + py.L.tstate_interp);
    if (gc_base && RD(int, gc_base + py.L.gc_collecting)) return FDT_CLOSE_BY_GC;
    if ((py.fin_start[0] || py.fin_start[1]) && in_finalizer(ts, caller)) return FDT_CLOSE_BY_FINALIZER;
    return 0;
}

/* CPython call sites, in four parts:
 *   python_frames.c       the interpreter this image runs (found once) and the
 *                         calling thread's Python frames, merged into its
 *                         native stack
 *   python_code.c         code objects: interned, each sent once with its
 *                         file, name and line table
 *   python_close_cause.c  why a descriptor is closed (the garbage collector,
 *                         a finalizer)
 *   python_exit.c         the moment the program began to exit
 *
 * Nothing here takes the GIL or allocates. The thread that called into the
 * shim is inside a libc call, so its own frame chain cannot change under
 * it; other threads' chains are never read. Everything CPython-specific is
 * in python_layout.h; an interpreter it does not describe gets native
 * frames and one note. */
#ifndef FDTRACE_PYTHON_H
#define FDTRACE_PYTHON_H

#include "shim.h"
#include "python_layout.h"

/* ---- for the rest of the shim ---- */

void fdt_py_init(void);
/* After the connection is up: the note about an unreadable interpreter. */
void fdt_py_send_note(void);

/* The calling thread's Python frames, innermost first, read once per event. */
#define FDT_PY_MAX_FRAMES 128u
struct fdt_py_frame {
    uintptr_t code;
    uint32_t offset;      /* byte offset of the running instruction, or UINT32_MAX */
    uint8_t last_of_eval; /* the outermost frame of one _PyEval_EvalFrameDefault call */
};
struct fdt_py_stack {
    uintptr_t ts;        /* the thread's state; 0: it runs no Python (nothing else is set) */
    uintptr_t outermost; /* the outermost code object, even past FDT_PY_MAX_FRAMES; 0: none */
    unsigned count;
    struct fdt_py_frame frames[FDT_PY_MAX_FRAMES];
};
/* The calling thread's state, or 0 (no Python here, or not readable now). */
uintptr_t fdt_py_thread_state(void);
void fdt_py_read_stack(struct fdt_py_stack *py);
/* The outermost code object of the thread's frames, without keeping them. */
uintptr_t fdt_py_outermost(uintptr_t ts);
/* Merges py's frames into the native stack `pcs` (n frames, innermost
 * first, room for FDT_MAX_DEPTH): each native frame of
 * _PyEval_EvalFrameDefault is preceded by the Python frames it ran, marked
 * by their index in py until fdt_py_resolve turns them into wire frames.
 * Returns the new count and the merged stack's hash in *hash. */
unsigned fdt_py_merge(const struct fdt_py_stack *py, uint64_t *pcs, unsigned n, uint64_t *hash);
void fdt_py_resolve(const struct fdt_py_stack *py, uint64_t *pcs, unsigned n);

/* Why the calling thread (state ts) closes a descriptor: FDT_CLOSE_* bits,
 * 0 for an explicit close. caller: the C caller of the close. */
uint16_t fdt_py_close_cause(uintptr_t ts, uintptr_t caller);

/* Exit: the main thread leaving the main script, or the runtime
 * finalizing. Before each event of a thread running Python, while
 * fdt_py_exit_pending(): fdt_py_check_exit with the thread's outermost code
 * object sends FDT_REC_PY_EXIT and the kernel's view once it has begun. */
int fdt_py_exit_pending(void);
void fdt_py_check_exit(uintptr_t outermost);
/* A fork child: its own code records; from a thread other than the main
 * one, no main script on its stack to watch. */
void fdt_py_codes_reset(void);
void fdt_py_exit_after_fork_child(int forked_from_main);

/* ---- between the python_*.c files ---- */

/* Where the interpreter keeps what the shim reads (python_frames.c). */
struct fdt_py_interpreter {
    int enabled; /* frames can be read */
    struct py_layout L;
    uintptr_t runtime;   /* &_PyRuntime */
    uintptr_t code_type; /* &PyCode_Type */
    void *(*this_thread_state)(void);
    uintptr_t eval_start, eval_end;     /* _PyEval_EvalFrameDefault */
    uintptr_t fin_start[2], fin_end[2]; /* PyObject_CallFinalizer[FromDealloc] */
};
extern struct fdt_py_interpreter fdt_py;

#define PY_RD(type, addr) (*(const type *)(uintptr_t)(addr))

/* The thread's innermost frame (ts: its state), or 0. */
static inline uintptr_t fdt_py_first_frame(uintptr_t ts) {
    if (fdt_py.L.model == PY_FRAMES_CFRAME) {
        uintptr_t cf = PY_RD(uintptr_t, ts + fdt_py.L.tstate_frame);
        return cf ? PY_RD(uintptr_t, cf + fdt_py.L.cframe_current) : 0;
    }
    return PY_RD(uintptr_t, ts + fdt_py.L.tstate_frame);
}

/* A str object as UTF-8, at most cap bytes (python_code.c). */
unsigned fdt_py_read_str(uintptr_t s, char *out, unsigned cap);
/* The id of a code object; its record is sent the first time. */
uint32_t fdt_py_code_id(uintptr_t code);

#endif /* FDTRACE_PYTHON_H */

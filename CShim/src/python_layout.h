/* Where CPython keeps what the shim reads, per minor version (x86-64,
 * release builds). 3.8-3.12 come from the installed headers (offsetof; the
 * test suite compiles Tests/Fixtures/py_layout_check.c against every
 * interpreter pyenv has and checks each value); 3.13 publishes them itself
 * in _Py_DebugOffsets. */
#ifndef FDTRACE_PYTHON_LAYOUT_H
#define FDTRACE_PYTHON_LAYOUT_H

#include <stdint.h>

enum py_frame_model {
    PY_FRAMES_OBJECTS = 1, /* 3.8-3.10: tstate->frame, PyFrameObject.f_back */
    PY_FRAMES_CFRAME = 2,  /* 3.11-3.12: tstate->cframe->current_frame */
    PY_FRAMES_CURRENT = 3, /* 3.13: tstate->current_frame */
};

struct py_layout {
    unsigned minor;
    enum py_frame_model model;
    uint16_t lines_format;   /* enum fdt_py_lines */
    uint8_t lasti_in_units;  /* 3.10: f_lasti counts 2-byte code units */
    uint8_t gc_in_runtime;   /* 3.8: gc state lives in _PyRuntime, later in the interpreter */
    uint32_t tstate_frame;   /* frame / cframe / current_frame */
    uint32_t cframe_current; /* _PyCFrame.current_frame (3.11-3.12) */
    uint32_t tstate_interp;
    uint32_t frame_back;    /* f_back / previous */
    uint32_t frame_code;    /* f_code / f_executable */
    uint32_t frame_instr;   /* f_lasti (int) / prev_instr / instr_ptr */
    int32_t frame_is_entry; /* 3.11 only, else -1 */
    int32_t frame_owner;    /* 3.11+, else -1 */
    uint32_t co_filename, co_name, co_qualname /* 0: none */, co_firstlineno, co_linetable, co_code;
    uint32_t str_state, str_length, ascii_size, compact_size;
    uint32_t bytes_size, bytes_sval;
    uint32_t rt_finalizing; /* offset in _PyRuntime of the finalizing thread state */
    uint32_t gc_collecting; /* offset of gc.collecting in _PyRuntime (3.8) or the interpreter */
};

/* Frames owned by the C stack (3.12+) mark where an eval call began. */
#define PY_FRAME_OWNED_BY_CSTACK 3

/* clang-format off: one row per version */
static const struct py_layout py_layouts[] = {
    { .minor = 8,
        .model = PY_FRAMES_OBJECTS,
        .lines_format = 1,
        .lasti_in_units = 0,
        .gc_in_runtime = 1,
        .tstate_frame = 24,
        .tstate_interp = 16,
        .frame_back = 24,
        .frame_code = 32,
        .frame_instr = 104,
        .frame_is_entry = -1,
        .frame_owner = -1,
        .co_filename = 104,
        .co_name = 112,
        .co_qualname = 0,
        .co_firstlineno = 40,
        .co_linetable = 120,
        .co_code = 0,
        .str_state = 32,
        .str_length = 16,
        .ascii_size = 48,
        .compact_size = 72,
        .bytes_size = 16,
        .bytes_sval = 32,
        .rt_finalizing = 16,
        .gc_collecting = 544 },
    { .minor = 9,
        .model = PY_FRAMES_OBJECTS,
        .lines_format = 1,
        .lasti_in_units = 0,
        .gc_in_runtime = 0,
        .tstate_frame = 24,
        .tstate_interp = 16,
        .frame_back = 24,
        .frame_code = 32,
        .frame_instr = 104,
        .frame_is_entry = -1,
        .frame_owner = -1,
        .co_filename = 104,
        .co_name = 112,
        .co_qualname = 0,
        .co_firstlineno = 40,
        .co_linetable = 120,
        .co_code = 0,
        .str_state = 32,
        .str_length = 16,
        .ascii_size = 48,
        .compact_size = 72,
        .bytes_size = 16,
        .bytes_sval = 32,
        .rt_finalizing = 16,
        .gc_collecting = 816 },
    { .minor = 10,
        .model = PY_FRAMES_OBJECTS,
        .lines_format = 2,
        .lasti_in_units = 1,
        .gc_in_runtime = 0,
        .tstate_frame = 24,
        .tstate_interp = 16,
        .frame_back = 24,
        .frame_code = 32,
        .frame_instr = 96,
        .frame_is_entry = -1,
        .frame_owner = -1,
        .co_filename = 104,
        .co_name = 112,
        .co_qualname = 0,
        .co_firstlineno = 40,
        .co_linetable = 120,
        .co_code = 0,
        .str_state = 32,
        .str_length = 16,
        .ascii_size = 48,
        .compact_size = 72,
        .bytes_size = 16,
        .bytes_sval = 32,
        .rt_finalizing = 16,
        .gc_collecting = 816 },
    { .minor = 11,
        .model = PY_FRAMES_CFRAME,
        .lines_format = 3,
        .lasti_in_units = 0,
        .gc_in_runtime = 0,
        .tstate_frame = 56,
        .cframe_current = 8,
        .tstate_interp = 16,
        .frame_back = 48,
        .frame_code = 32,
        .frame_instr = 56,
        .frame_is_entry = 68,
        .frame_owner = 69,
        .co_filename = 112,
        .co_name = 120,
        .co_qualname = 128,
        .co_firstlineno = 72,
        .co_linetable = 136,
        .co_code = 184,
        .str_state = 32,
        .str_length = 16,
        .ascii_size = 48,
        .compact_size = 72,
        .bytes_size = 16,
        .bytes_sval = 32,
        .rt_finalizing = 24,
        .gc_collecting = 848 },
    { .minor = 12,
        .model = PY_FRAMES_CFRAME,
        .lines_format = 3,
        .lasti_in_units = 0,
        .gc_in_runtime = 0,
        .tstate_frame = 56,
        .cframe_current = 0,
        .tstate_interp = 16,
        .frame_back = 8,
        .frame_code = 0,
        .frame_instr = 56,
        .frame_is_entry = -1,
        .frame_owner = 70,
        .co_filename = 112,
        .co_name = 120,
        .co_qualname = 128,
        .co_firstlineno = 68,
        .co_linetable = 136,
        .co_code = 192,
        .str_state = 32,
        .str_length = 16,
        .ascii_size = 40,
        .compact_size = 56,
        .bytes_size = 16,
        .bytes_sval = 32,
        .rt_finalizing = 24,
        .gc_collecting = 312 },
};
/* clang-format on */

/* The head of 3.13's _Py_DebugOffsets (Include/internal/pycore_runtime.h),
 * the first member of _PyRuntime. Only the fields the shim reads are named;
 * the layout is fixed within one minor version. */
struct py313_debug_offsets {
    char cookie[8];   /* "xdebugpy" */
    uint64_t version; /* PY_VERSION_HEX */
    uint64_t free_threaded;
    struct {
        uint64_t size, finalizing, interpreters_head;
    } runtime_state;
    struct {
        uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins, ceval_gil, gil_runtime_state,
            gil_runtime_state_enabled, gil_runtime_state_locked, gil_runtime_state_holder;
    } interpreter_state;
    struct {
        uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id, datastack_chunk, status;
    } thread_state;
    struct {
        uint64_t size, previous, executable, instr_ptr, localsplus, owner;
    } interpreter_frame;
    struct {
        uint64_t size, filename, name, qualname, linetable, firstlineno, argcount, localsplusnames, localspluskinds,
            co_code_adaptive;
    } code_object;
    struct {
        uint64_t size, ob_type;
    } pyobject;
    struct {
        uint64_t size, tp_name, tp_repr, tp_flags;
    } type_object;
    struct {
        uint64_t size, ob_item, ob_size;
    } tuple_object;
    struct {
        uint64_t size, ob_item, ob_size;
    } list_object;
    struct {
        uint64_t size, ma_keys, ma_values;
    } dict_object;
    struct {
        uint64_t size, ob_fval;
    } float_object;
    struct {
        uint64_t size, lv_tag, ob_digit;
    } long_object;
    struct {
        uint64_t size, ob_size, ob_sval;
    } bytes_object;
    struct {
        uint64_t size, state, length, asciiobject_size;
    } unicode_object;
    struct {
        uint64_t size, collecting;
    } gc;
};

#endif /* FDTRACE_PYTHON_LAYOUT_H */

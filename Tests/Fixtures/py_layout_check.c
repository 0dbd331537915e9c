/* Checks the shim's table of CPython layouts (CShim/src/python_layout.h)
 * against the headers of the interpreter it is compiled with:
 *   cc -I<include/python3.X> -I<include/python3.X/internal> -ICShim/src -ICShim/include
 * Prints every mismatch and exits 1 if there is one. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>
#endif
#include "internal/pycore_pystate.h"
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#endif
#if PY_VERSION_HEX >= 0x03090000 && PY_VERSION_HEX < 0x030B0000
#include "internal/pycore_interp.h"
#endif
#include "fdtrace_wire.h"
#include "python_layout.h"

static int bad;
#define CHECK(ours, theirs) do { if ((long)(ours) != (long)(theirs)) { \
    printf("%d.%d %s = %ld, headers say %ld\n", PY_MAJOR_VERSION, PY_MINOR_VERSION, #ours, (long)(ours), (long)(theirs)); bad = 1; } } while (0)

int main(void) {
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13: the shim reads _Py_DebugOffsets; check our copy of its head. */
    CHECK(offsetof(struct py313_debug_offsets, version), offsetof(_Py_DebugOffsets, version));
    CHECK(offsetof(struct py313_debug_offsets, runtime_state), offsetof(_Py_DebugOffsets, runtime_state));
    CHECK(offsetof(struct py313_debug_offsets, thread_state), offsetof(_Py_DebugOffsets, thread_state));
    CHECK(offsetof(struct py313_debug_offsets, interpreter_frame), offsetof(_Py_DebugOffsets, interpreter_frame));
    CHECK(offsetof(struct py313_debug_offsets, code_object), offsetof(_Py_DebugOffsets, code_object));
    CHECK(offsetof(struct py313_debug_offsets, bytes_object), offsetof(_Py_DebugOffsets, bytes_object));
    CHECK(offsetof(struct py313_debug_offsets, unicode_object), offsetof(_Py_DebugOffsets, unicode_object));
    CHECK(offsetof(struct py313_debug_offsets, gc), offsetof(_Py_DebugOffsets, gc));
    CHECK(sizeof(struct py313_debug_offsets), sizeof(_Py_DebugOffsets));
    CHECK(offsetof(_PyRuntimeState, debug_offsets), 0);
    CHECK(sizeof(PyASCIIObject) + 16, sizeof(PyCompactUnicodeObject));
#else
    const struct py_layout *L = NULL;
    for (unsigned i = 0; i < sizeof py_layouts / sizeof py_layouts[0]; i++)
        if (py_layouts[i].minor == PY_MINOR_VERSION) L = &py_layouts[i];
    if (!L) { printf("no layout for 3.%d\n", PY_MINOR_VERSION); return 1; }
#if PY_VERSION_HEX < 0x030B0000
    CHECK(L->model, PY_FRAMES_OBJECTS);
    CHECK(L->tstate_frame, offsetof(PyThreadState, frame));
    CHECK(L->frame_back, offsetof(PyFrameObject, f_back));
    CHECK(L->frame_code, offsetof(PyFrameObject, f_code));
    CHECK(L->frame_instr, offsetof(PyFrameObject, f_lasti));
    CHECK(sizeof(((PyFrameObject *)0)->f_lasti), sizeof(int));
#else
    CHECK(L->model, PY_FRAMES_CFRAME);
    CHECK(L->tstate_frame, offsetof(PyThreadState, cframe));
    CHECK(L->cframe_current, offsetof(_PyCFrame, current_frame));
    CHECK(L->frame_back, offsetof(_PyInterpreterFrame, previous));
    CHECK(L->frame_code, offsetof(_PyInterpreterFrame, f_code));
    CHECK(L->frame_instr, offsetof(_PyInterpreterFrame, prev_instr));
    CHECK(L->frame_owner, offsetof(_PyInterpreterFrame, owner));
#if PY_VERSION_HEX < 0x030C0000
    CHECK(L->frame_is_entry, offsetof(_PyInterpreterFrame, is_entry));
#else
    CHECK(PY_FRAME_OWNED_BY_CSTACK, FRAME_OWNED_BY_CSTACK);
#endif
    CHECK(L->co_qualname, offsetof(PyCodeObject, co_qualname));
    CHECK(L->co_code, offsetof(PyCodeObject, co_code_adaptive));
#endif
    CHECK(L->tstate_interp, offsetof(PyThreadState, interp));
    CHECK(L->co_filename, offsetof(PyCodeObject, co_filename));
    CHECK(L->co_name, offsetof(PyCodeObject, co_name));
    CHECK(L->co_firstlineno, offsetof(PyCodeObject, co_firstlineno));
#if PY_VERSION_HEX < 0x030A0000
    CHECK(L->co_linetable, offsetof(PyCodeObject, co_lnotab));
    CHECK(L->lines_format, FDT_PY_LINES_LNOTAB);
#else
    CHECK(L->co_linetable, offsetof(PyCodeObject, co_linetable));
    CHECK(L->lines_format, PY_VERSION_HEX < 0x030B0000 ? FDT_PY_LINES_LINETABLE : FDT_PY_LINES_LOCATIONS);
#endif
    CHECK(L->str_state, offsetof(PyASCIIObject, state));
    CHECK(L->str_length, offsetof(PyASCIIObject, length));
    CHECK(L->ascii_size, sizeof(PyASCIIObject));
    CHECK(L->compact_size, sizeof(PyCompactUnicodeObject));
    CHECK(L->bytes_size, offsetof(PyVarObject, ob_size));
    CHECK(L->bytes_sval, offsetof(PyBytesObject, ob_sval));
#if PY_VERSION_HEX < 0x03090000
    CHECK(L->rt_finalizing, offsetof(_PyRuntimeState, finalizing));
    CHECK(L->gc_in_runtime, 1);
    CHECK(L->gc_collecting, offsetof(_PyRuntimeState, gc) + offsetof(struct _gc_runtime_state, collecting));
#else
    CHECK(L->rt_finalizing, offsetof(_PyRuntimeState, _finalizing));
    CHECK(L->gc_in_runtime, 0);
    CHECK(L->gc_collecting, offsetof(PyInterpreterState, gc) + offsetof(struct _gc_runtime_state, collecting));
#endif
#endif
    if (!bad) printf("3.%d: layout matches the headers\n", PY_MINOR_VERSION);
    return bad;
}

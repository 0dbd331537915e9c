/* When a Python program began to exit: the main thread left the main
 * script (its end, sys.exit, an unhandled exception) or the runtime started
 * finalizing. Descriptors open then and closed later were closed at
 * shutdown; the kernel's view of them is sent at that moment. Watched on
 * the main thread only (its own frames), before each of its events. */
#include "python.h"
#include <string.h>

static uintptr_t main_entry_code;     /* the main script's outermost code object */
static uintptr_t last_rejected_entry; /* an outermost code object that was not it */
static int latched;                   /* the program has begun to exit */
static int off;                       /* no main script to watch (a fork child of another thread) */

static int str_equals(uintptr_t s, const char *lit) {
    char buf[64];
    unsigned n = fdt_py_read_str(s, buf, sizeof buf);
    return n == strlen(lit) && memcmp(buf, lit, n) == 0;
}

static int is_main_entry(uintptr_t code) {
    uintptr_t name = PY_RD(uintptr_t, code + fdt_py.L.co_name);
    if (str_equals(name, "_run_module_as_main")) return 1;
    if (!str_equals(name, "<module>")) return 0;
    char file[16];
    unsigned n = fdt_py_read_str(PY_RD(uintptr_t, code + fdt_py.L.co_filename), file, sizeof file);
    return !(n >= 7 && memcmp(file, "<frozen", 7) == 0);
}

int fdt_py_exit_pending(void) { return !latched && !off && fdt_gettid() == fdt_g.pid; }

/* Once the main script has run, leaving it means the program is exiting. */
void fdt_py_check_exit(uintptr_t outermost) {
    if (latched || off) return;
    int exiting = PY_RD(uintptr_t, fdt_py.runtime + fdt_py.L.rt_finalizing) != 0;
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
    if (!exiting) return;
    latched = 1;
    struct fdt_rec_py_exit *r = fdt_ring_reserve(sizeof *r);
    if (r) {
        r->h.time_ns = fdt_now_ns();
        r->tid = fdt_gettid();
        fdt_ring_commit(r, FDT_REC_PY_EXIT, 0, sizeof *r);
    }
    fdt_send_view_at_py_exit();
}

void fdt_py_exit_after_fork_child(int forked_from_main) {
    if (!forked_from_main) off = 1;
}

/* In-process symbolization with elfutils' libdwfl (the collector's, never
 * the shim's): function names (demangled), file:line and inlined frames
 * from DWARF, found in the file itself or as separate debug information
 * (/usr/lib/debug/.build-id, .gnu_debuglink), and symbol-table names where
 * there is no DWARF. One handle per ELF file; not thread-safe. */
#ifndef FDTRACE_DWARF_H
#define FDTRACE_DWARF_H

#include <stddef.h>
#include <stdint.h>

struct fdtd_module;

/* Opens the ELF file at `path` (its addresses are the file's own: load bias
 * 0). Returns NULL with one line saying why in `err`. */
struct fdtd_module *fdtd_open(const char *path, char *err, size_t errlen);
void fdtd_close(struct fdtd_module *m);

/* The file's GNU build id: its length (copied up to `cap` bytes), 0 if it
 * has none. */
size_t fdtd_build_id(struct fdtd_module *m, uint8_t *out, size_t cap);

/* One source frame; strings live until the callback returns. `function`
 * and `file` may be NULL, `line` 0 when unknown. */
typedef void (*fdtd_frame_fn)(void *ctx, const char *function, const char *file, int line);

/* Calls `fn` for the source frames at file address `address` (a return
 * address minus one), innermost first: the inlined calls, then the function
 * they were inlined into. Returns how many frames were given
 * (0: nothing is known of the address). */
int fdtd_symbolize(struct fdtd_module *m, uint64_t address, fdtd_frame_fn fn, void *ctx);

/* The symbol table's name of the function around `address` only: neither
 * DWARF nor the line table is read (for libraries whose sources are not
 * the user's: their debug sections, compressed, cost tens of ms to read). */
int fdtd_symbolize_by_symbol(struct fdtd_module *m, uint64_t address, fdtd_frame_fn fn, void *ctx);
#endif

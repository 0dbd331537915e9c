/* libdwfl behind fdtrace_dwarf.h: the lookups eu-addr2line -i -f -C makes. */
#define _GNU_SOURCE
#include "fdtrace_dwarf.h"

#include <dwarf.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The system libstdc++'s demangler (libdw does not demangle). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* A function symbol; the module's are sorted by start, then by binding,
 * then by their order in the table. */
struct symbol {
    GElf_Addr start, end;
    const char *name; /* in libelf's string table: lives as long as the Dwfl */
    int rank;         /* 0 global, 1 weak, 2 local: the name preferred at one address */
    int order;        /* position in the table: the tie-break */
};

/* Lookups answered by a scan before the symbols are sorted: a report names
 * a handful of frames per library, and sorting libc's 6 800 symbols (with
 * libc6-dbg) took 1.5 ms of every report; a scan takes ~10 us. */
enum { SCANS_BEFORE_SORT = 64 };

struct fdtd_module {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    struct symbol *symbols; /* read on first use: dwfl_module_addrinfo scans */
    size_t nsymbols;        /* every symbol per call (~100 us in libc) */
    int symbols_read;
    int lookups; /* past SCANS_BEFORE_SORT: the symbols are sorted */
};

/* NULL: libdw's default path (":.debug:/usr/lib/debug", build ids first). */
static char *debuginfo_path = NULL;

/* Whether a local file could hold `file_name`'s debug information by its
 * .gnu_debuglink name, in the places libdw's default path searches: its
 * directory, .debug/ there, /usr/lib/debug/ plus the directory (that of
 * the file and of its real path, for a symbolic link). */
static int debuglink_candidate(const char *file_name, const char *debuglink) {
    if (!file_name || !debuglink || !*debuglink) return 0;
    char *real = realpath(file_name, NULL);
    const char *names[2] = { file_name, real };
    int found = 0;
    for (int n = 0; n < 2 && !found; n++) {
        if (!names[n]) continue;
        const char *slash = strrchr(names[n], '/');
        int dirlen = slash ? (int)(slash - names[n]) : 0;
        char path[PATH_MAX];
        const char *forms[3] = { "%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s" };
        for (int f = 0; f < 3 && !found; f++) {
            int len = snprintf(path, sizeof path, forms[f], dirlen, names[n], debuglink);
            found = len > 0 && (size_t)len < sizeof path && strcmp(path, names[n]) != 0 && access(path, R_OK) == 0;
        }
    }
    free(real);
    return found;
}

/* libdw's standard search, except that it asks debuginfod only when a
 * server is configured: when a file has no local debug information,
 * dwfl_standard_find_debuginfo (elfutils 0.188) loads libdebuginfod and
 * the ~28 libraries it needs (curl, gnutls, krb5, ...) — ~6 ms a report
 * here — to learn that DEBUGINFOD_URLS names no server. Without one, the
 * build-id path and the debuglink places are all it would search. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base, const char *file_name,
    const char *debuglink_file, GElf_Word debuglink_crc, char **debuginfo_file_name) {
    const char *urls = getenv("DEBUGINFOD_URLS");
    if ((urls && *urls) || debuglink_candidate(file_name, debuglink_file))
        return dwfl_standard_find_debuginfo(
            mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc, debuginfo_file_name);
    errno = 0;
    int fd = dwfl_build_id_find_debuginfo(
        mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc, debuginfo_file_name);
    if (fd < 0) errno = 0; /* not found: no error */
    return fd;
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

struct fdtd_module *fdtd_open(const char *path, char *err, size_t errlen) {
    struct fdtd_module *m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->dwfl = dwfl_begin(&callbacks);
    if (m->dwfl != NULL) {
        dwfl_report_begin(m->dwfl);
        /* Base 0 added to the segments' own addresses: a bias of 0, so the
         * file's addresses are the ones the collector holds. */
        m->mod = dwfl_report_elf(m->dwfl, path, path, -1, 0, true);
        dwfl_report_end(m->dwfl, NULL, NULL);
    }
    if (m->mod == NULL) {
        snprintf(err, errlen, "%s", dwfl_errmsg(-1));
        fdtd_close(m);
        return NULL;
    }
    return m;
}

void fdtd_close(struct fdtd_module *m) {
    if (m == NULL) return;
    if (m->dwfl != NULL) dwfl_end(m->dwfl);
    free(m->symbols);
    free(m);
}

size_t fdtd_build_id(struct fdtd_module *m, uint8_t *out, size_t cap) {
    const unsigned char *bits = NULL;
    GElf_Addr vaddr = 0;
    int n = dwfl_module_build_id(m->mod, &bits, &vaddr);
    if (n <= 0) return 0;
    memcpy(out, bits, (size_t)n < cap ? (size_t)n : cap);
    return (size_t)n;
}

/* A function's name as llvm-symbolizer --functions=linkage --demangle gives
 * it: the demangled linkage name, else DW_AT_name (through abstract origins
 * and specifications). The result is malloc'd or NULL. */
static char *demangled(const char *name) {
    if (name == NULL) return NULL;
    if (strncmp(name, "_Z", 2) == 0) {
        int status = -1;
        char *d = __cxa_demangle(name, NULL, NULL, &status);
        if (status == 0 && d != NULL) return d;
        free(d);
    }
    return strdup(name);
}

static int by_start(const void *a, const void *b) {
    const struct symbol *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->rank != y->rank) return x->rank - y->rank;
    return x->order - y->order;
}

/* The module's code symbols (.symtab, else .dynsym, as libdwfl chooses), in
 * table order (sorted later, see SCANS_BEFORE_SORT). */
static void read_symbols(struct fdtd_module *m) {
    m->symbols_read = 1;
    int n = dwfl_module_getsymtab(m->mod);
    if (n <= 1 || (m->symbols = calloc((size_t)n, sizeof *m->symbols)) == NULL) return;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr = 0;
        GElf_Word shndx = 0;
        const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &addr, &shndx, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
        if (name == NULL || name[0] == '\0' || sym.st_shndx == SHN_UNDEF) continue;
        if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE) continue;
        int rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
        m->symbols[m->nsymbols] = (struct symbol){ addr, addr + sym.st_size, name, rank, (int)m->nsymbols };
        m->nsymbols++;
    }
}

/* The first in by_start's order of the symbols with the highest start at or
 * below the address, or NULL: a scan of the table, or a binary search once
 * it is sorted. */
static const struct symbol *nearest_below(struct fdtd_module *m, GElf_Addr address) {
    if (m->lookups < SCANS_BEFORE_SORT && ++m->lookups < SCANS_BEFORE_SORT) {
        const struct symbol *best = NULL;
        for (size_t i = 0; i < m->nsymbols; i++) {
            const struct symbol *s = &m->symbols[i];
            if (s->start > address) continue;
            if (best == NULL || s->start > best->start || (s->start == best->start && by_start(s, best) < 0)) best = s;
        }
        return best;
    }
    if (m->lookups == SCANS_BEFORE_SORT) {
        qsort(m->symbols, m->nsymbols, sizeof *m->symbols, by_start);
        m->lookups++;
    }
    size_t lo = 0, hi = m->nsymbols;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->symbols[mid].start <= address) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return NULL;
    /* The first (best ranked) of the symbols starting there. */
    size_t i = lo - 1;
    while (i > 0 && m->symbols[i - 1].start == m->symbols[lo - 1].start) i--;
    return &m->symbols[i];
}

/* The symbol covering the address: the nearest start at or below it with a
 * size that reaches it (or no size, unless `sized_only`). */
static const struct symbol *symbol_at(struct fdtd_module *m, GElf_Addr address, int sized_only) {
    if (!m->symbols_read) read_symbols(m);
    const struct symbol *s = nearest_below(m, address);
    if (s == NULL) return NULL;
    if (s->end > s->start) return address < s->end ? s : NULL;
    return sized_only ? NULL : s;
}

/* The symbol-table name of the function around the address, without a
 * version ("@@GLIBC_2.34"); malloc'd, or NULL when no sized symbol covers
 * it. Preferred for the outermost frame, as llvm-symbolizer does: GCC gives
 * static C++ functions no DW_AT_linkage_name (the signature is only in the
 * symbol), and libc's exported names are its symbols (__libc_start_main,
 * not the __libc_start_main_impl of its DWARF). */
static char *symbol_name(struct fdtd_module *m, Dwarf_Addr address, int sized_only) {
    const struct symbol *s = symbol_at(m, address, sized_only);
    if (s == NULL) return NULL;
    char *plain = strndup(s->name, strcspn(s->name, "@"));
    char *d = demangled(plain);
    free(plain);
    return d;
}

static char *die_function_name(struct fdtd_module *m, Dwarf_Die *die, Dwarf_Addr address) {
    if (dwarf_tag(die) != DW_TAG_inlined_subroutine) {
        char *symbol = symbol_name(m, address, 1);
        if (symbol != NULL) return symbol;
    }
    Dwarf_Attribute attr;
    const char *linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (linkage == NULL) linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    return demangled(linkage != NULL ? linkage : dwarf_diename(die));
}

/* Where an inlined subroutine was called from (its DW_AT_call_file and
 * DW_AT_call_line, in its compilation unit's file table). */
static const char *call_site(Dwarf_Die *cu, Dwarf_Die *inlined, int *line) {
    Dwarf_Attribute attr;
    Dwarf_Word file_index = 0, call_line = 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    *line = 0;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &call_line) == 0) *line = (int)call_line;
    if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &file_index) != 0) return NULL;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || file_index >= nfiles) return NULL;
    return dwarf_filesrc(files, file_index, NULL, NULL);
}

static void emit(fdtd_frame_fn fn, void *ctx, char *function, const char *file, int line) {
    fn(ctx, function, file, line > 0 ? line : 0);
    free(function);
}

static int is_function(Dwarf_Die *die) {
    int tag = dwarf_tag(die);
    return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

/* The DIE at the address and its parents, innermost first, as they nest in
 * the compilation unit (inlined subroutines inside their callers), as
 * eu-addr2line -i walks them. NULL when DWARF has nothing there. */
static int nesting(struct fdtd_module *m, Dwarf_Addr address, Dwarf_Die **cu, Dwarf_Die **chain) {
    Dwarf_Addr bias = 0;
    *cu = dwfl_module_addrdie(m->mod, address, &bias);
    if (*cu == NULL) return 0;
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(*cu, address - bias, &scopes);
    if (n <= 0) {
        free(scopes);
        return 0;
    }
    /* dwarf_getscopes follows an inline instance into its abstract origin;
     * the physical nesting comes from the innermost DIE's parents. */
    Dwarf_Die innermost;
    Dwarf_Die *found = dwarf_offdie(dwfl_module_getdwarf(m->mod, &bias), dwarf_dieoffset(&scopes[0]), &innermost);
    free(scopes);
    return found == NULL ? 0 : dwarf_getscopes_die(&innermost, chain);
}

/* The frames DWARF knows: each inlined subroutine's call site is the
 * position of the frame above it. */
static int dwarf_frames(struct fdtd_module *m, Dwarf_Addr address, fdtd_frame_fn fn, void *ctx) {
    Dwarf_Die *cu = NULL, *chain = NULL;
    int n = nesting(m, address, &cu, &chain);
    int line = 0, given = 0;
    const char *file = NULL;
    Dwfl_Line *entry = dwfl_module_getsrc(m->mod, address);
    if (entry != NULL) file = dwfl_lineinfo(entry, NULL, &line, NULL, NULL, NULL);
    for (int i = 0; i < n; i++) {
        if (!is_function(&chain[i])) continue;
        emit(fn, ctx, die_function_name(m, &chain[i], address), file, line);
        given++;
        if (dwarf_tag(&chain[i]) != DW_TAG_inlined_subroutine) break;
        file = call_site(cu, &chain[i], &line);
    }
    free(chain);
    return given;
}

int fdtd_symbolize(struct fdtd_module *m, uint64_t address, fdtd_frame_fn fn, void *ctx) {
    int given = dwarf_frames(m, address, fn, ctx);
    if (given > 0) return given;
    /* No DWARF function: the symbol table's name, with a line if the line
     * table has one. */
    char *name = symbol_name(m, address, 0);
    int line = 0;
    const char *file = NULL;
    Dwfl_Line *entry = dwfl_module_getsrc(m->mod, address);
    if (entry != NULL) file = dwfl_lineinfo(entry, NULL, &line, NULL, NULL, NULL);
    if (name == NULL && file == NULL) return 0;
    emit(fn, ctx, name, file, line);
    return 1;
}

int fdtd_symbolize_by_symbol(struct fdtd_module *m, uint64_t address, fdtd_frame_fn fn, void *ctx) {
    char *name = symbol_name(m, address, 0);
    if (name == NULL) return 0;
    emit(fn, ctx, name, NULL, 0);
    return 1;
}

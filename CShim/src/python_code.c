/* Python code objects: each one the shim meets in a stack is sent once
 * (FDT_REC_PYCODE, with FDT_REC_PYCODE_MORE for a long line table) with its
 * file, qualified name, first line and line table; frames name it by id. */
#include "python.h"
#include "intern.h"
#include <string.h>

static struct fdt_intern_table codes;

static unsigned put_utf8(char *out, unsigned at, unsigned cap, uint32_t c) {
    if (c < 0x80) {
        if (at + 1 > cap) return at;
        out[at++] = (char)c;
    } else if (c < 0x800) {
        if (at + 2 > cap) return at;
        out[at++] = (char)(0xc0 | c >> 6);
        out[at++] = (char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        if (at + 3 > cap) return at;
        out[at++] = (char)(0xe0 | c >> 12);
        out[at++] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[at++] = (char)(0x80 | (c & 0x3f));
    } else {
        if (at + 4 > cap) return at;
        out[at++] = (char)(0xf0 | c >> 18);
        out[at++] = (char)(0x80 | ((c >> 12) & 0x3f));
        out[at++] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[at++] = (char)(0x80 | (c & 0x3f));
    }
    return at;
}

/* A str object as UTF-8 (compact strings only: all that code objects hold). */
unsigned fdt_py_read_str(uintptr_t s, char *out, unsigned cap) {
    if (!s) return 0;
    uint32_t state = PY_RD(uint32_t, s + fdt_py.L.str_state);
    int64_t len = PY_RD(int64_t, s + fdt_py.L.str_length);
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (!compact || len < 0 || (kind != 1 && kind != 2 && kind != 4)) return 0;
    const uint8_t *data = (const uint8_t *)(s + (ascii ? fdt_py.L.ascii_size : fdt_py.L.compact_size));
    unsigned at = 0;
    for (int64_t i = 0; i < len && at < cap; i++) {
        uint32_t c = kind == 1 ? data[i] : kind == 2 ? ((const uint16_t *)data)[i] : ((const uint32_t *)data)[i];
        unsigned next = put_utf8(out, at, cap, c);
        if (next == at) break;
        at = next;
    }
    return at;
}

static uintptr_t code_name_obj(uintptr_t code) {
    return PY_RD(uintptr_t, code + (fdt_py.L.co_qualname ? fdt_py.L.co_qualname : fdt_py.L.co_name));
}

static void send_code(uint32_t id, uintptr_t code) {
    char filename[FDT_MAX_PATH], name[256];
    unsigned flen = fdt_py_read_str(PY_RD(uintptr_t, code + fdt_py.L.co_filename), filename, sizeof filename);
    unsigned nlen = fdt_py_read_str(code_name_obj(code), name, sizeof name);
    uintptr_t table = PY_RD(uintptr_t, code + fdt_py.L.co_linetable);
    int64_t tlen = table ? PY_RD(int64_t, table + fdt_py.L.bytes_size) : 0;
    if (tlen < 0 || tlen > (int64_t)FDT_PY_MAX_TABLE) tlen = 0;
    const uint8_t *tbytes = (const uint8_t *)(table + fdt_py.L.bytes_sval);
    uint32_t head = (uint32_t)sizeof(struct fdt_rec_pycode) + flen + nlen;
    uint32_t room = FDT_MAX_RECORD - 8 - head;
    uint32_t first = (uint32_t)tlen < room ? (uint32_t)tlen : room;
    uint32_t size = fdt_align8(head + first);
    struct fdt_rec_pycode *r = fdt_ring_reserve(size);
    if (!r) return;
    r->code_id = id;
    r->first_line = PY_RD(int, code + fdt_py.L.co_firstlineno);
    r->lines_format = fdt_py.L.lines_format;
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
    uint64_t parts[4] = { code, PY_RD(uintptr_t, code + fdt_py.L.co_filename),
        PY_RD(uintptr_t, code + fdt_py.L.co_linetable),
        (uint64_t)(uint32_t)PY_RD(int, code + fdt_py.L.co_firstlineno) };
    for (unsigned i = 0; i < 4; i++) k = fdt_hash_mix(k, parts[i]);
    return k;
}

/* Code ids fit in 31 bits of a Python frame (FDT_PYFRAME). */
uint32_t fdt_py_code_id(uintptr_t code) {
    int fresh;
    uint32_t id = fdt_intern(&codes, code_key(code), &fresh) & 0x7fffffffu;
    if (fresh) send_code(id, code);
    return id;
}

void fdt_py_codes_reset(void) { fdt_intern_reset(&codes); }

/* Scopes the program asks about (fdtrace_api.h): records in the ring, in the
 * order of every other event, and a wait for the collector's answer. The
 * only exported functions that interpose nothing. They allocate nothing and
 * hold no descriptor (the doorbell lives for one call). */
#include "shim.h"
#include "fdtrace_api.h"
#include <pthread.h>

static uint32_t last_scope, last_request;
/* One question at a time: the header answers one request serial. */
static pthread_mutex_t asking = PTHREAD_MUTEX_INITIALIZER;

/* Never 0 (it means "none" on the wire). */
static uint32_t next_id(uint32_t *counter) {
    uint32_t id;
    do id = __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
    while (id == 0);
    return id;
}

/* Whether this thread may talk to the collector now. */
static int traced_now(void) {
    if (fdt_should_record() && fdt_g.ring && !fdt_collector_gone()) return 1;
    errno = ENOTCONN;
    return 0;
}

static int put_scope(uint32_t op, uint32_t scope, uint32_t request, const char *path, uint16_t path_len) {
    struct fdt_rec_scope rec;
    memset(&rec, 0, sizeof rec);
    rec.op = op;
    rec.scope = scope;
    rec.request = request;
    rec.tid = fdt_gettid();
    rec.path_len = path_len;
    fdt_tls_busy++;
    int rc = fdt_ring_put(&rec, sizeof rec, path, path_len, FDT_REC_SCOPE, 0);
    fdt_tls_busy--;
    if (rc < 0) errno = ENOTCONN;
    return rc;
}

FDT_EXPORT unsigned fdtrace_scope_begin(void) {
    if (!traced_now()) return 0;
    uint32_t scope = next_id(&last_scope);
    return put_scope(FDT_SCOPE_BEGIN, scope, 0, NULL, 0) == 0 ? scope : 0;
}

FDT_EXPORT int fdtrace_scope_report(unsigned scope, const char *path, unsigned timeout_ms) {
    size_t len = path ? strlen(path) : 0;
    if (scope == 0 || len == 0 || path[0] != '/' || len > FDT_MAX_PATH) {
        errno = EINVAL;
        return -1;
    }
    if (!traced_now()) return -1;
    pthread_mutex_lock(&asking);
    uint32_t request = next_id(&last_request);
    int status = 0;
    int rc = put_scope(FDT_SCOPE_REPORT, scope, request, path, (uint16_t)len);
    if (rc == 0) {
        fdt_tls_busy++;
        rc = fdt_wait_scope_answer(request, (uint64_t)timeout_ms * 1000000ull, &status);
        fdt_tls_busy--;
    }
    int saved = errno;
    pthread_mutex_unlock(&asking);
    if (rc == 0 && status != 0) {
        errno = status;
        return -1;
    }
    errno = saved;
    return rc;
}

FDT_EXPORT int fdtrace_scope_end(unsigned scope) {
    if (scope == 0) {
        errno = EINVAL;
        return -1;
    }
    if (!traced_now()) return -1;
    return put_scope(FDT_SCOPE_END, scope, 0, NULL, 0);
}

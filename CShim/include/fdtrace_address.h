/* The collector's address, as FDTRACE_SOCKET names it: a path, or "@name"
 * for the abstract namespace. One reading for the shim (which connects)
 * and the collector (which listens). */
#ifndef FDTRACE_ADDRESS_H
#define FDTRACE_ADDRESS_H

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Fills *addr and *len for `name`: "@name" becomes "\0name" with its exact
 * length, a path keeps the whole structure. Returns 0, EINVAL (empty) or
 * ENAMETOOLONG. */
static inline int fdt_collector_address(const char *name, struct sockaddr_un *addr, socklen_t *len) {
    size_t n = strlen(name);
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (n == 0) return EINVAL;
    if (n >= sizeof addr->sun_path) return ENAMETOOLONG;
    if (name[0] == '@') {
        memcpy(addr->sun_path + 1, name + 1, n - 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(addr->sun_path, name, n);
        *len = (socklen_t)sizeof *addr;
    }
    return 0;
}

#endif /* FDTRACE_ADDRESS_H */

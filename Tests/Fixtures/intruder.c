/* Fixture: connects to the session socket named by argv[1] and sends a
 * well-formed hello for itself. Run as another uid, outside the traced
 * tree: it must be refused. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "fdtrace_wire.h"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *name = argv[1];
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t n = strlen(name);
    memcpy(a.sun_path + 1, name + 1, n - 1);
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
        printf("cannot connect\n");
        return 0;
    }
    struct fdt_msg_hello h;
    memset(&h, 0, sizeof h);
    h.type = FDT_MSG_HELLO;
    h.version = FDT_WIRE_VERSION;
    h.pid = getpid();
    h.ring_capacity = 1 << 16;
    ssize_t w = send(s, &h, sizeof h, MSG_NOSIGNAL);
    (void)w;
    struct fdt_msg_ack ack;
    ssize_t r = recv(s, &ack, sizeof ack, 0);
    printf("%s\n", r == (ssize_t)sizeof ack ? "accepted" : "refused");
    return 0;
}

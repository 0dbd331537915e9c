/* Fixture: a hostile client of the session socket (named by
 * FDTRACE_SOCKET). It (1) sends garbage as its hello, (2) hands over a
 * ring and fills it with malformed records, (3) claims another pid,
 * (4) connects and says nothing. The collector must end each of these
 * connections and go on serving the others. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <spawn.h>
#include <sys/time.h>
#include <unistd.h>
#include "fdtrace_wire.h"
#include "fdtrace_ring.h"
#include "fdtrace_address.h"

extern char **environ;

static int dial(void) {
    struct sockaddr_un a;
    socklen_t len;
    if (fdt_collector_address(getenv(FDT_ENV_SOCKET), &a, &len) != 0) return -1;
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (connect(s, (struct sockaddr *)&a, len) < 0) return -1;
    return s;
}

static int send_hello(int s, int memfd, uint64_t cap, int pid) {
    struct fdt_msg_hello h;
    memset(&h, 0, sizeof h);
    h.type = FDT_MSG_HELLO;
    h.version = FDT_WIRE_VERSION;
    h.pid = pid;
    h.ring_capacity = cap;
    char c[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &h, sizeof h };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
    return sendmsg(s, &m, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Waits for the collector's answer: 1 = accepted, 0 = refused (closed). */
static int answer(int s) {
    struct fdt_msg_ack ack;
    ssize_t n = recv(s, &ack, sizeof ack, 0);
    return n == (ssize_t)sizeof ack && ack.type == FDT_MSG_ACK;
}

/* 2. a real ring, then malformed records in it. Run in a child without
 * the shim (a traced process already has its connection). */
static int ring_attack(void) {
    uint64_t cap = 1 << 16;
    struct fdt_ring_header *h;
    int memfd = fdt_ring_create(cap, &h);
    if (memfd < 0) return 1;
    int s2 = dial();
    send_hello(s2, memfd, cap, getpid());
    int ok2 = answer(s2);
    unsigned char bad[64];
    memset(bad, 0xAB, sizeof bad);
    struct fdt_rec_header *r = (struct fdt_rec_header *)bad;
    r->type = 999;
    fdt_ring_append(h, bad, sizeof bad);
    close(s2); /* a traced process keeps no socket after the handshake */
    /* The collector marks a ring it gave up on as detached. */
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = __atomic_load_n(&h->detached, __ATOMIC_ACQUIRE) != 0;
        if (!gone) usleep(10000);
    }
    printf("malformed records: %s, then %s\n", ok2 ? "accepted" : "refused", gone ? "disconnected" : "still connected");
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--ring")) return ring_attack();
    /* 1. garbage instead of a hello */
    int s1 = dial();
    ssize_t w = send(s1, "xyz", 3, MSG_NOSIGNAL);
    (void)w;
    printf("garbage hello: %s\n", answer(s1) ? "accepted" : "refused");

    fflush(stdout);
    /* 2. in a child without the shim */
    char *child_env[256];
    int k = 0;
    for (char **e = environ; *e && k < 255; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0) child_env[k++] = *e;
    child_env[k] = NULL;
    char *child_argv[] = { argv[0], "--ring", NULL };
    pid_t pid;
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, child_env) == 0) waitpid(pid, NULL, 0);

    /* 3. a hello that claims another pid */
    int s3 = dial();
    int memfd = memfd_create("hostile", MFD_CLOEXEC);
    if (ftruncate(memfd, FDT_RING_HEADER_SIZE + (1 << 16)) != 0) return 1;
    send_hello(s3, memfd, 1 << 16, 1);
    printf("forged pid: %s\n", answer(s3) ? "accepted" : "refused");

    /* 4. silence */
    int s4 = dial();
    struct timeval tv = { 5, 0 };
    setsockopt(s4, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    printf("silence: %s\n", recv(s4, &c, 1, 0) == 0 ? "disconnected" : "kept");
    return 0;
}

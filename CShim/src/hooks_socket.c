/* Hooks: sockets, and descriptors received by SCM_RIGHTS. */
#include "shim.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static inline struct fdt_open_info sock_info(enum fdt_call call, int domain, int type, int protocol) {
    struct fdt_open_info i = { call, NULL, (type & SOCK_CLOEXEC) != 0, -1, domain,
                               type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK), protocol };
    return i;
}

FDT_EXPORT int socket(int domain, int type, int protocol) {
    int fd = FDT_REAL(socket)(domain, type, protocol);
    fdt_check_exhausted(fd < 0);
    if (fd >= 0 && fdt_should_record()) {
        struct fdt_open_info i = sock_info(FDT_CALL_SOCKET, domain, type, protocol);
        fdt_record_open(fd, &i);
    }
    return fd;
}

FDT_EXPORT int socketpair(int domain, int type, int protocol, int sv[2]) {
    int r = FDT_REAL(socketpair)(domain, type, protocol, sv);
    fdt_check_exhausted(r != 0);
    if (r == 0 && fdt_should_record()) {
        struct fdt_open_info i = sock_info(FDT_CALL_SOCKETPAIR, domain, type, protocol);
        fdt_record_open_pair(sv, &i);
    }
    return r;
}

static void record_accepted(int fd, int listener, enum fdt_call call, int flags) {
    fdt_check_exhausted(fd < 0);
    if (fd >= 0 && fdt_should_record()) {
        struct fdt_open_info i = { call, NULL, (flags & SOCK_CLOEXEC) != 0, listener, -1, -1, -1 };
        fdt_record_open(fd, &i);
    }
}

FDT_EXPORT int accept(int sockfd, struct sockaddr *addr, socklen_t *len) {
    int fd = FDT_REAL(accept)(sockfd, addr, len);
    record_accepted(fd, sockfd, FDT_CALL_ACCEPT, 0);
    return fd;
}

FDT_EXPORT int accept4(int sockfd, struct sockaddr *addr, socklen_t *len, int flags) {
    int fd = FDT_REAL(accept4)(sockfd, addr, len, flags);
    record_accepted(fd, sockfd, FDT_CALL_ACCEPT4, flags);
    return fd;
}

/* Records every descriptor carried by SCM_RIGHTS in one received message. */
static void record_rights(struct msghdr *msg, int sockfd, int flags, enum fdt_call call) {
    if (!msg || !msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr)) return;
    if (!fdt_should_record()) return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[256];
        if (n > 256) n = 256;
        memcpy(fds, CMSG_DATA(c), n * sizeof(int));
        struct fdt_open_info i = { call, NULL, (flags & MSG_CMSG_CLOEXEC) != 0, sockfd, -1, -1, -1 };
        fdt_record_open_many(fds, (int)n, &i);
    }
}

FDT_EXPORT ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags) {
    ssize_t r = FDT_REAL(recvmsg)(sockfd, msg, flags);
    if (r >= 0) record_rights(msg, sockfd, flags, FDT_CALL_RECVMSG);
    return r;
}

FDT_EXPORT int recvmmsg(int sockfd, struct mmsghdr *msgs, unsigned int vlen, int flags,
                        struct timespec *timeout) {
    int r = FDT_REAL(recvmmsg)(sockfd, msgs, vlen, flags, timeout);
    for (int k = 0; k < r; k++) record_rights(&msgs[k].msg_hdr, sockfd, flags, FDT_CALL_RECVMMSG);
    return r;
}

/* Hooks: sockets, and descriptors received by SCM_RIGHTS. */
#include "report.h"
#include <string.h>
#include <sys/socket.h>

FDT_EXPORT int socket(int domain, int type, int protocol) {
    int fd = FDT_REAL(socket)(domain, type, protocol);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_SOCKET,
                       .cloexec = (type & SOCK_CLOEXEC) != 0,
                       .socket = &(struct fdt_socket_args){ .domain = domain, .type = type, .protocol = protocol } });
    return fd;
}

FDT_EXPORT int socketpair(int domain, int type, int protocol, int sv[2]) {
    int r = FDT_REAL(socketpair)(domain, type, protocol, sv);
    fdt_opened_pair(r, &sv[0], &sv[1],
        &(struct fdt_open_info){ .call = FDT_CALL_SOCKETPAIR,
            .cloexec = (type & SOCK_CLOEXEC) != 0,
            .socket = &(struct fdt_socket_args){ .domain = domain, .type = type, .protocol = protocol } });
    return r;
}

FDT_EXPORT int accept(int sockfd, struct sockaddr *addr, socklen_t *len) {
    int fd = FDT_REAL(accept)(sockfd, addr, len);
    fdt_opened(fd, &(struct fdt_open_info){ .call = FDT_CALL_ACCEPT, .source = &sockfd });
    return fd;
}

FDT_EXPORT int accept4(int sockfd, struct sockaddr *addr, socklen_t *len, int flags) {
    int fd = FDT_REAL(accept4)(sockfd, addr, len, flags);
    fdt_opened(fd,
        &(struct fdt_open_info){ .call = FDT_CALL_ACCEPT4, .cloexec = (flags & SOCK_CLOEXEC) != 0, .source = &sockfd });
    return fd;
}

/* Every descriptor carried by SCM_RIGHTS in one received message. */
static void received_rights(struct msghdr *msg, int sockfd, int flags, enum fdt_call call) {
    if (!msg || !msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr)) return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[256];
        if (n > 256) n = 256;
        memcpy(fds, CMSG_DATA(c), n * sizeof(int));
        fdt_received(fds, (int)n,
            &(struct fdt_open_info){ .call = call, .cloexec = (flags & MSG_CMSG_CLOEXEC) != 0, .source = &sockfd });
    }
}

FDT_EXPORT ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags) {
    ssize_t r = FDT_REAL(recvmsg)(sockfd, msg, flags);
    if (r >= 0) received_rights(msg, sockfd, flags, FDT_CALL_RECVMSG);
    return r;
}

FDT_EXPORT int recvmmsg(int sockfd, struct mmsghdr *msgs, unsigned int vlen, int flags, struct timespec *timeout) {
    int r = FDT_REAL(recvmmsg)(sockfd, msgs, vlen, flags, timeout);
    for (int k = 0; k < r; k++) received_rights(&msgs[k].msg_hdr, sockfd, flags, FDT_CALL_RECVMMSG);
    return r;
}

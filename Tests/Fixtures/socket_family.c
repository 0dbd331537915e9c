/* Fixture: sockets, accepted connections, and descriptors received by
 * SCM_RIGHTS. Each LEAK line runs K times. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define K 3

static void send_fd(int sock, int fd) {
    char c = 'x';
    struct iovec iov = { &c, 1 };
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    sendmsg(sock, &m, 0);
}

static void recv_one(int sock, int use_mmsg) {
    char c;
    struct iovec iov = { &c, 1 };
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    if (use_mmsg) {
        struct mmsghdr mm = { .msg_hdr = m };
        recvmmsg(sock, &mm, 1, 0, NULL); /* LEAK(recvmmsg) */
    } else {
        recvmsg(sock, &m, 0); /* LEAK(recvmsg) */
    }
}

int main(void) {
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/fdtrace-fx-%d.sock", getpid());
    unlink(addr.sun_path);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(ls, (struct sockaddr *)&addr, sizeof addr);
    listen(ls, 16);
    int pair[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, pair);
    for (int i = 0; i < K; i++) {
        socket(AF_INET, SOCK_STREAM, 0); /* LEAK(socket) */
        socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* LEAK(socket) */
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, sv); /* LEAK(socketpair) */
        int c1 = socket(AF_UNIX, SOCK_STREAM, 0);
        connect(c1, (struct sockaddr *)&addr, sizeof addr);
        accept(ls, NULL, NULL); /* LEAK(accept) */
        int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
        connect(c2, (struct sockaddr *)&addr, sizeof addr);
        accept4(ls, NULL, NULL, SOCK_CLOEXEC); /* LEAK(accept4) */
        close(c1);
        close(c2);
        int f = open("/etc/hostname", O_RDONLY);
        send_fd(pair[0], f);
        send_fd(pair[0], f);
        close(f);
        recv_one(pair[1], 0);
        recv_one(pair[1], 1);
        close(socket(AF_INET, SOCK_STREAM, 0));
        int s2[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, s2);
        close(s2[0]);
        close(s2[1]);
    }
    close(pair[0]);
    close(pair[1]);
    close(ls);
    unlink(addr.sun_path);
    return 0;
}

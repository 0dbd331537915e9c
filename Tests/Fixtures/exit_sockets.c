/* Sockets made just before the program exits, after it ran a while (the
 * kernel source's /proc reads at its exec and every 200 ms see none of
 * them): a TCP listener, the socket it accepted
 * (its peer hung up: CLOSE_WAIT), an IPv6 connection (ESTABLISHED both
 * ways), a bound UDP socket, a unix stream pair, and a bound unix listener with a
 * client and the accepted end. Prints the ports and the unix path. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int listener(int family, void *addr, socklen_t len) {
    int l = socket(family, SOCK_STREAM, 0);
    if (l < 0 || bind(l, addr, len) || listen(l, 8) || getsockname(l, addr, &len)) return -1;
    return l;
}

int main(void) {
    usleep(100000);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int l4 = listener(AF_INET, &a, sizeof a);
    int c4 = socket(AF_INET, SOCK_STREAM, 0);
    if (l4 < 0 || connect(c4, (void *)&a, sizeof a)) return 1;
    int s4 = accept(l4, 0, 0);
    close(c4); /* the peer hangs up */

    struct sockaddr_in6 b = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int l6 = listener(AF_INET6, &b, sizeof b);
    int c6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (l6 < 0 || connect(c6, (void *)&b, sizeof b)) return 1;
    int s6 = accept(l6, 0, 0);

    struct sockaddr_in u = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t ul = sizeof u;
    if (bind(d, (void *)&u, sizeof u) || getsockname(d, (void *)&u, &ul)) return 1;

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair)) return 1;

    /* A bound unix listener, a client connected to it, the accepted end. */
    struct sockaddr_un n = {.sun_family = AF_UNIX};
    snprintf(n.sun_path, sizeof n.sun_path, "/tmp/fdtrace-exit-sockets-%d.sock", (int)getpid());
    int lu = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lu < 0 || bind(lu, (void *)&n, sizeof n) || listen(lu, 4)) return 1;
    int uc = socket(AF_UNIX, SOCK_STREAM, 0);
    if (uc < 0 || connect(uc, (void *)&n, sizeof n)) return 1;
    int us = accept(lu, 0, 0);
    unlink(n.sun_path);
    usleep(20000); /* the FIN arrives */
    printf("%d %d %d %s %d\n", ntohs(a.sin_port), ntohs(b.sin6_port), ntohs(u.sin_port), n.sun_path, s4 + s6 + us >= 0);
    return 0;
}

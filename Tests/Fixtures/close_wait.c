/* Fixture: an untraced server whose 5 accepted connections sit in
 * CLOSE_WAIT (the clients hung up, the server never closes). Writes
 * "ready" to argv[1], then waits (at most 20 s) until argv[2] exists. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(ls, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &len);
    listen(ls, 16);
    for (int i = 0; i < 5; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)&a, sizeof a);
        accept(ls, NULL, NULL); /* never closed */
        close(c);               /* the peer hangs up */
    }
    usleep(100000);
    FILE *f = fopen(argv[1], "w");
    fprintf(f, "ready %d\n", ntohs(a.sin_port));
    fclose(f);
    for (int i = 0; i < 2000 && access(argv[2], F_OK) != 0; i++) usleep(10000);
    return 0;
}

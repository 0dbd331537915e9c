/* Fixture: a traced server holding 5 accepted connections whose clients
 * hung up (CLOSE_WAIT), and a socketpair. Says "ready PID" on stdout, runs
 * until argv[1] exists (at most 20 s). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(ls, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &len);
    listen(ls, 16);
    for (int i = 0; i < 5; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)&a, sizeof a);
        accept(ls, NULL, NULL); /* LEAK(accept) */
        close(c);
    }
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv); /* LEAK(socketpair) */
    usleep(100000);
    printf("ready %d\n", getpid());
    fflush(stdout);
    for (int i = 0; i < 2000 && access(argv[1], F_OK) != 0; i++) usleep(10000);
    return 0;
}

/* Fixture: a traced server. 8 clients connect; the server closes 2 of the
 * accepted sockets, leaks 6; 5 of those clients hang up (CLOSE_WAIT), one
 * stays connected (ESTABLISHED, its client socket leaked too). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int ls = socket(AF_INET, SOCK_STREAM, 0); /* LEAK(socket-listener) */
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(ls, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &len);
    listen(ls, 16);
    for (int i = 0; i < 8; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0); /* LEAK(socket-client) */
        connect(c, (struct sockaddr *)&a, sizeof a);
        int s = accept(ls, NULL, NULL); /* LEAK(accept) */
        if (i < 2) close(s);
        if (i < 7) close(c);
    }
    usleep(100000);
    return 0;
}

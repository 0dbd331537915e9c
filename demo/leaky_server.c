/* The demo: a tiny server that leaks in three ways. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static FILE *reload_config(void) {
    return fopen("/etc/hostname", "r"); /* never closed */
}

static void handle(int conn, int i) {
    FILE *cfg = reload_config();
    (void)cfg;
    char buf[16];
    ssize_t n = read(conn, buf, sizeof buf);
    (void)n;
    if (i % 2 == 0) close(conn); /* every other connection is never closed */
}

static int port;

static void *client(void *arg) {
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
            ssize_t w = write(s, "hi", 2);
            (void)w;
        }
        close(s);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(ls, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    listen(ls, 128);
    pthread_t t;
    pthread_create(&t, NULL, client, &n);
    for (int i = 0; i < n; i++) {
        int c = accept4(ls, NULL, NULL, 0);
        if (c >= 0) handle(c, i);
    }
    pthread_join(t, NULL);
    int p[2];
    if (pipe(p) == 0) close(p[0]); /* the write end stays open */
    close(ls);
    printf("served %d connections\n", n);
    return 0;
}

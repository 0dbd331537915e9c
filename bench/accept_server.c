/* Workload (3): an accept4 server on loopback with a client thread making
 * COUNT connections; both sides close. Prints the loop's elapsed time. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long count;
static struct sockaddr_in addr;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *client(void *arg) {
    (void)arg;
    for (long i = 0; i < count; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); exit(1); }
        char c;
        ssize_t r = read(s, &c, 1); /* the server's close */
        (void)r;
        close(s);
    }
    return NULL;
}

int main(int argc, char **argv) {
    count = argc > 1 ? atol(argv[1]) : 100000;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(ls, (struct sockaddr *)&addr, sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(ls, (struct sockaddr *)&addr, &len);
    listen(ls, 1024);
    double t0 = now();
    pthread_t t;
    pthread_create(&t, NULL, client, NULL);
    for (long i = 0; i < count; i++) {
        int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) { perror("accept4"); return 1; }
        close(c);
    }
    pthread_join(t, NULL);
    printf("elapsed=%.6f\n", now() - t0);
    close(ls);
    return 0;
}

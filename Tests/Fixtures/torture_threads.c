/* Torture: 16 threads opening and closing with heavy reuse of numbers
 * (files, pipes, sockets, dups). Output is deterministic. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define THREADS 16
#define ROUNDS 4000

static long ok[THREADS];

static void *work(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int a = open("/dev/null", O_RDONLY);
        int p[2], s[2];
        int pr = pipe(p), sr = socketpair(AF_UNIX, SOCK_STREAM, 0, s);
        int d = dup(a);
        if (a >= 0 && pr == 0 && sr == 0 && d >= 0) ok[id]++;
        close(d); close(s[0]); close(s[1]); close(p[0]); close(p[1]); close(a);
    }
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, work, (void *)i);
    long total = 0;
    for (int i = 0; i < THREADS; i++) { pthread_join(t[i], NULL); total += ok[i]; }
    printf("rounds ok: %ld of %d\n", total, THREADS * ROUNDS);
    return 0;
}

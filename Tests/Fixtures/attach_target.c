/* Fixture for `fdtrace attach`: a program already running when the tracer
 * comes. argv: DIR K. Before any round it holds a file, a pipe, a listening
 * TCP socket and a unix socketpair (open before attach). Then, for each
 * round N = 1, 2, ...: it waits (stat, no descriptor) until DIR/goN exists,
 * makes K iterations that each open a file it keeps (leak_one) and a file
 * that a different function closes (open_scratch, then close_scratch), and
 * in round 1 closes the pipe's write end it held from before; it prints
 * "round N done". When DIR/exit exists it prints "bye" and exits 3. Its
 * output never depends on being traced. With a third argument "tree", each
 * round also leaks one file from a thread it starts and joins, and one from
 * a child it forks and waits for (the child exits 0). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int exists(const char *dir, const char *name) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

__attribute__((noinline)) static int leak_one(void) {
    return open("/dev/null", O_RDONLY); /* LEAK(open) */
}

__attribute__((noinline)) static int open_scratch(void) { return open("/etc/hostname", O_RDONLY); }

__attribute__((noinline)) static void close_scratch(int fd) { close(fd); }

static void *thread_main(void *arg) {
    (void)arg;
    leak_one();
    return NULL;
}

/* One leak from another thread of this process, one from a child. */
static int tree_round(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, NULL) != 0) return -1;
    pid_t child = fork();
    if (child < 0) return -1;
    if (child == 0) _exit(leak_one() < 0 ? 2 : 0);
    int status;
    return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) return 2;
    const char *dir = argv[1];
    int k = atoi(argv[2]);
    int held_file = open("/etc/hostname", O_RDONLY);
    int held_pipe[2];
    if (held_file < 0 || pipe(held_pipe) != 0) return 2;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 4) != 0) return 2;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return 2;
    printf("ready\n");
    fflush(stdout);
    for (int round = 1;; round++) {
        char go[32];
        snprintf(go, sizeof go, "go%d", round);
        while (!exists(dir, go)) {
            if (exists(dir, "exit")) {
                printf("bye\n");
                return 3;
            }
            usleep(5000);
        }
        for (int i = 0; i < k; i++) {
            if (leak_one() < 0) return 2;
            int fd = open_scratch();
            if (fd < 0) return 2;
            close_scratch(fd);
        }
        if (argc == 4 && tree_round() != 0) return 2;
        if (round == 1) close(held_pipe[1]);
        printf("round %d done\n", round);
        fflush(stdout);
    }
}

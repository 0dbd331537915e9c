/* Fixture: lowers its own descriptor limit to 64, leaks sockets at one site
 * until socket() fails with EMFILE (retrying a few times, as servers do),
 * then closes them all and exits 0. With --snapshot-dir, the EMFILE
 * snapshot must name the LEAK line with >= 55 sockets; the exit report must
 * show no leak. argv[1] = "slow": sleep 50 ms per socket (for periodic
 * snapshots). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int slow = argc > 1 && strcmp(argv[1], "slow") == 0;
    struct rlimit rl = { 64, 64 };
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) { perror("setrlimit"); return 2; }
    int fds[64], n = 0, failures = 0;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0); /* LEAK(socket) */
        if (fd < 0) {
            if (errno != EMFILE) { perror("socket"); return 3; }
            if (++failures == 5) break;
            continue;
        }
        fds[n++] = fd;
        if (slow) usleep(50000);
    }
    for (int i = 0; i < n; i++) close(fds[i]);
    printf("opened %d sockets before EMFILE, closed them all\n", n);
    return 0;
}

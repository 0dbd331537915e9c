/* Fixture: opens 7 files at one line, a pipe and a socket, says "ready" on
 * stdout, then runs until argv[1] exists (at most 20 s) and exits 0 (the
 * descriptors leak). For live queries of a running session. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    for (int i = 0; i < 7; i++) open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    int p[2];
    pipe(p); /* LEAK(pipe) */
    socket(AF_INET, SOCK_DGRAM, 0); /* LEAK(socket) */
    printf("ready %d\n", getpid());
    fflush(stdout);
    for (int i = 0; i < 2000 && access(argv[1], F_OK) != 0; i++) usleep(10000);
    return 0;
}

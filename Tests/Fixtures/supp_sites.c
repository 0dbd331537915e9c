/* Fixture for suppressions: three leak sites, one function each (a file, a
 * pipe, a unix socket), argv[1] rounds (default 3). argv[2]: a marker file
 * created first, so a test can tell that the program ran. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((noinline)) static void load_config(void) {
    open("/etc/hostname", O_RDONLY); /* LEAK(open) */
}

__attribute__((noinline)) static void make_pipe(void) {
    int p[2];
    pipe(p); /* LEAK(pipe) */
}

__attribute__((noinline)) static void open_socket(void) {
    socket(AF_UNIX, SOCK_STREAM, 0); /* LEAK(socket) */
}

int main(int argc, char **argv) {
    if (argc > 2) close(open(argv[2], O_WRONLY | O_CREAT, 0644));
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    for (int i = 0; i < rounds; i++) {
        load_config();
        make_pipe();
        open_socket();
    }
    return 0;
}

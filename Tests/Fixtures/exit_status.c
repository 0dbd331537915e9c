/* Fixture: ends in the way argv[1] says. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "exit0";
    open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    if (!strcmp(how, "exit3")) exit(3);
    if (!strcmp(how, "_exit5")) _exit(5);
    if (!strcmp(how, "sigterm")) raise(SIGTERM);
    if (!strcmp(how, "sigkill")) raise(SIGKILL);
    if (!strcmp(how, "sigpipe")) {
        int p[2];
        pipe(p);
        close(p[0]);
        ssize_t w = write(p[1], "x", 1); /* default SIGPIPE kills us */
        (void)w;
        return 9;
    }
    if (!strcmp(how, "clean")) {
        for (int fd = 3; fd < 64; fd++) close(fd);
        return 0;
    }
    return 0;
}

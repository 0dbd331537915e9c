/* Fixture: the shim must not load a library inside a signal handler. A
 * handler is installed, then a signal handler opens and closes /dev/null
 * 40 times (more stacks than the shim takes with its cold unwinder
 * before it wants libunwind), then the program does the same outside it.
 * Prints whether libunwind is mapped after each phase (read through a
 * descriptor opened first, with pread: no traced call of its own). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int maps;

static const char *libunwind_state(void) {
    static char buf[1 << 16];
    ssize_t n = pread(maps, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    return strstr(buf, "libunwind") ? "loaded" : "not loaded";
}

static void pairs(void) {
    for (int i = 0; i < 40; i++) close(open("/dev/null", O_RDONLY));
}

static void handler(int sig) {
    (void)sig;
    pairs();
}

int main(void) {
    maps = open("/proc/self/maps", O_RDONLY);
    if (maps < 0) return 1;
    signal(SIGUSR1, handler);
    raise(SIGUSR1);
    printf("after the handler: libunwind %s\n", libunwind_state());
    pairs();
    printf("after the program's own calls: libunwind %s\n", libunwind_state());
    close(maps);
    return 0;
}

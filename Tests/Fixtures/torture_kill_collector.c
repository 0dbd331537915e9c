/* Torture: kills the bare-mode collector that traces it (found in /proc by
 * its --root argument), then goes on opening and closing, and leaks one. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int kill_collector(void) {
    char me[32];
    snprintf(me, sizeof me, "%d", getpid());
    DIR *d = opendir("/proc");
    struct dirent *e;
    int killed = 0;
    while ((e = readdir(d))) {
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = 0;
        /* argv: fdtrace collect --socket S --root PID (the serving
         * collector is a fork of it; the one that forked it has exited) */
        int collect = 0, root = 0;
        for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
            if (!strcmp(p, "collect")) collect = 1;
            if (root == 1) root = !strcmp(p, me) ? 2 : 0;
            if (!strcmp(p, "--root")) root = 1;
        }
        if (collect && root == 2) killed += kill(atoi(e->d_name), SIGKILL) == 0;
    }
    closedir(d);
    return killed;
}

int main(void) {
    int killed = kill_collector();
    usleep(100000);
    long ok = 0;
    for (int i = 0; i < 100000; i++) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) { ok++; close(fd); }
    }
    open("/etc/hostname", O_RDONLY);
    printf("killed %d collector(s), opened %ld files\n", killed > 0 ? 1 : 0, ok);
    return 0;
}

/* Torture: a daemon. Double fork, setsid, close every descriptor in three
 * ways (a close loop, closefrom, close_range(3, ~0U)), dup2 onto the
 * tracer's own descriptors, then work and write the result to argv[1]. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *out = argv[1];
    open("/etc/hostname", O_RDONLY);
    pid_t p = fork();
    if (p > 0) {
        waitpid(p, NULL, 0);
        printf("parent done\n");
        return 0;
    }
    setsid();
    if (fork() > 0) _exit(0);
    /* The daemon. */
    for (int fd = 3; fd < 1024; fd++) close(fd);
    closefrom(3);
    close_range(3, ~0U, 0);
    /* Every number from 3 up is ours now: dup2 onto the high ones too. */
    int null = open("/dev/null", O_RDWR);
    for (int fd = 1000; fd < 1024; fd++) dup2(null, fd);
    for (int fd = 1000; fd < 1024; fd++) close(fd);
    int n = 0;
    for (int i = 0; i < 1000; i++) {
        int fd = open("/etc/hostname", O_RDONLY);
        if (fd >= 0) { n++; close(fd); }
    }
    open("/etc/passwd", O_RDONLY); /* LEAK(daemon) */
    FILE *f = fopen(out, "w");
    fprintf(f, "daemon opened %d files\n", n);
    fclose(f);
    close(null);
    return 0;
}

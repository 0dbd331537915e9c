/* Fixture: what a program sees of its own descriptor table. Traced, it must
 * see exactly what it sees untraced: the tracer holds nothing between calls,
 * whatever the limit (argv[1]: a limit to lower to first, or 0). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void list(const char *who) {
    DIR *d = opendir("/proc/self/fd");
    int self = dirfd(d);
    printf("%s:", who);
    struct dirent *e;
    int fds[4096], n = 0;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.' && atoi(e->d_name) != self) fds[n++] = atoi(e->d_name);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) { int t = fds[j]; fds[j] = fds[j - 1]; fds[j - 1] = t; }
    for (int i = 0; i < n; i++) printf(" %d", fds[i]);
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    long lower = argc > 1 ? atol(argv[1]) : 0;
    /* Enough opens that every unwinder is warm (libunwind's pipe included). */
    for (int i = 0; i < 100; i++) close(open("/dev/null", O_RDONLY));
    closefrom(3); /* whatever a test runner leaked into us */
    list("start");
    int a = open("/etc/hostname", O_RDONLY);
    int p[2];
    if (pipe(p) != 0) return 1;
    printf("new: %d %d %d\n", a, p[0], p[1]);
    list("after opens");
    pid_t child = fork();
    if (child == 0) {
        list("fork child");
        _exit(0);
    }
    waitpid(child, NULL, 0);
    if (lower > 0) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = (rlim_t)lower;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int count = 0, last = -1, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0) { count++; last = fd; }
    printf("opened until %s: %d more, the last at %d\n", errno == EMFILE ? "EMFILE" : strerror(errno), count, last);
    close(last); /* room for opendir */
    list("full but one");
    return 0;
}

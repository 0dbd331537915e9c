/* Fixture: a parent that opens a file, forks two workers that each open
 * files at two lines, and holds until argv[1] exists. Prints "pid P". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void hold(const char *flag) {
    while (access(flag, F_OK) != 0) usleep(20000);
}

int main(int argc, char **argv) {
    const char *flag = argc > 1 ? argv[1] : "/nonexistent";
    open("/etc/hostname", O_RDONLY); /* LEAK(parent) */
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            open("/etc/passwd", O_RDONLY); /* LEAK(worker-a) */
            open("/etc/group", O_RDONLY);  /* LEAK(worker-b) */
            hold(flag);
            _exit(0);
        }
    }
    usleep(300000);
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    hold(flag);
    for (int i = 0; i < 2; i++) waitpid(kids[i], NULL, 0);
    return 0;
}

/* Torture: exhausts descriptors. With an argument, lowers its own soft
 * limit to that many first. Prints how many opens succeeded before EMFILE. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv) {
    closefrom(3); /* whatever the caller leaked in is not counted */
    if (argc > 1) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = (rlim_t)atoi(argv[1]);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int n = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            printf("opened %d before %s\n", n, errno == EMFILE ? "EMFILE" : "another error");
            break;
        }
        n++;
    }
    return 0;
}

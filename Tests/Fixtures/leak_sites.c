/* Fixture for the renderers (report, --html, --sarif, --diff): each round
 * leaks a file and a pipe (three calls deep) and opens and closes a file,
 * 2 ms apart, so that the timeline has a shape. Built with -DFIXED the pipes
 * are closed (the lines do not move: a diff sees that site gone). argv[1]:
 * rounds (default 10); argv[2]: a path to create and leave open (a hostile
 * file name). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline)) static void make_pipe(void) {
    int p[2];
    pipe(p); /* LEAK(pipe) */
#ifdef FIXED
    close(p[0]), close(p[1]);
#endif
}

__attribute__((noinline)) static void one_round(void) {
    open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    make_pipe();
    close(open("/dev/null", O_RDONLY));
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 10;
    for (int i = 0; i < rounds; i++) {
        one_round();
        usleep(2000);
    }
    if (argc > 2) open(argv[2], O_RDONLY | O_CREAT, 0644); /* LEAK(named) */
    return 0;
}

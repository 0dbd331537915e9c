/* Fixture for the kernel source's ring and its filter: COUNT open+close
 * pairs of /dev/null as fast as it can, then LEAKS files /etc/hostname left
 * open, then exit 0. argv: COUNT LEAKS. As the unrelated busy process of a
 * test, it runs with a large COUNT and no leaks. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 100000;
    int leaks = argc > 2 ? atoi(argv[2]) : 0;
    for (long i = 0; i < count; i++) close(open("/dev/null", O_RDONLY));
    for (int i = 0; i < leaks; i++) open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    return 0;
}

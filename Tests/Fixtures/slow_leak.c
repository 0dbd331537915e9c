/* Fixture: leaks one /dev/null descriptor every 100 ms for 3 s (30), while
 * opening and closing another one each time; exits 0. The exit report
 * must say the leaking site grew, about 10 per second. */
#include <fcntl.h>
#include <unistd.h>

int main(void) {
    for (int i = 0; i < 30; i++) {
        open("/dev/null", O_RDONLY); /* LEAK(open) */
        close(open("/dev/null", O_RDONLY));
        usleep(100000);
    }
    return 0;
}

/* Fixture: a stack 100 calls deep. One descriptor leaks from the thread's
 * first stack (the cold unwinder's), 40 are opened and closed, and one
 * more leaks (libunwind's): each report stack keeps exactly the depth. */
#include <fcntl.h>
#include <unistd.h>

__attribute__((noinline)) static int down(int d) {
    volatile int keep = d;
    if (d > 0) return down(d - 1) + keep;
    open("/etc/hostname", O_RDONLY); /* LEAK(cold) */
    for (int i = 0; i < 40; i++) close(open("/etc/hostname", O_RDONLY));
    open("/etc/hostname", O_RDONLY); /* LEAK(warm) */
    return keep;
}

int main(void) { return down(100) < 0; }

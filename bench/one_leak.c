/* The fixed-cost workload (make bench): a trivial program with one leak. */
#include <fcntl.h>

int main(void) { return open("/etc/hostname", O_RDONLY) < 0; }

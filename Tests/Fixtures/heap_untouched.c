/* Fixture: the tracer leaves a program's heap alone. The program opens and
 * closes a file (a traced call, its stack taken) and never calls malloc
 * itself; then it asks malloc how much heap it holds, before stdio
 * allocates its buffer. Untraced it holds none: printed "heap 0". */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) return 1;
    close(fd);
    struct mallinfo2 m = mallinfo2();
    size_t heap = m.arena, mapped = m.hblks;
    printf("heap %zu, mapped blocks %zu\n", heap, mapped);
    return 0;
}

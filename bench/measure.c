/* Runs a command and prints its peak RSS (ru_maxrss of it and its waited-for
 * children) on stderr as "maxrss_kb=N". A small process of its own, so the
 * figure is not inflated by the forking parent's memory (a child's maxrss
 * starts from its parent's RSS at fork). */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) return 2;
    fprintf(stderr, "maxrss_kb=%ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

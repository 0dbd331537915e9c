/* Torture: posix_spawn (glibc's internal CLONE_VM|CLONE_VFORK child) with
 * file actions, and vfork children that close everything before exec. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(void) {
    int keep = open("/etc/hostname", O_RDONLY); /* LEAK(open) */
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addclose(&fa, keep);
        posix_spawn_file_actions_addopen(&fa, 5, "/etc/passwd", O_RDONLY, 0);
        char *argv[] = { "true", NULL };
        pid_t pid;
        if (posix_spawnp(&pid, "true", &fa, NULL, argv, environ) == 0) {
            int st;
            waitpid(pid, &st, 0);
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
        }
        posix_spawn_file_actions_destroy(&fa);
        pid_t v = vfork();
        if (v == 0) {
            for (int fd = 3; fd < 256; fd++) close(fd);
            execlp("true", "true", (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(v, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    }
    printf("children ok: %d of 20, parent still has its file: %s\n", ok, fcntl(keep, F_GETFD) >= 0 ? "yes" : "no");
    return 0;
}

/* Bare mode (`LD_PRELOAD=libfdtrace.so CMD`, no `fdtrace run`): the first
 * traced process starts a collector itself. The collector is not our child
 * (an intermediate `fdtrace collect` starts it in a new session and exits,
 * reaped here at once), so the program's wait() never sees it; it runs
 * without LD_PRELOAD and holds none of our descriptors but stderr, where it
 * writes the report. Children find it through FDTRACE_SOCKET. */
#include "shim.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int executable(const char *p) { return access(p, X_OK) == 0; }

/* fdtrace next to this library, in ../bin beside it, in ../../bin (a
 * multiarch library directory: /usr/lib/x86_64-linux-gnu → /usr/bin, as the
 * Debian package installs them), or on PATH. */
static int find_fdtrace(char *out, size_t cap) {
    const char *env = getenv(FDT_ENV_COLLECTOR);
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return executable(out) ? 0 : -1;
    }
    Dl_info info;
    if (dladdr((void *)&find_fdtrace, &info) && info.dli_fname) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", info.dli_fname);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, cap, "%s/fdtrace", dir);
            if (executable(out)) return 0;
            snprintf(out, cap, "%s/../bin/fdtrace", dir);
            if (executable(out)) return 0;
            snprintf(out, cap, "%s/../../bin/fdtrace", dir);
            if (executable(out)) return 0;
        }
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        snprintf(out, cap, "%.*s/fdtrace", (int)len, path);
        if (len && executable(out)) return 0;
        path = end ? end + 1 : NULL;
    }
    return -1;
}

/* Our environment minus LD_PRELOAD: the collector must not trace itself. */
static char **environment_without_preload(void) {
    size_t n = 0;
    while (environ && environ[n]) n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
    env[k] = NULL;
    return env;
}

int fdt_start_collector(void) {
    char exe[PATH_MAX], sock[108], root[32];
    if (find_fdtrace(exe, sizeof exe) < 0) {
        fdt_disable("cannot find the fdtrace command (next to libfdtrace.so or on PATH) to collect events");
        return -1;
    }
    /* An abstract socket with a name nobody guesses; the collector checks
     * every peer's credentials and ancestry anyway. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(sock, sizeof sock, "@fdtrace-bare-%u-%d-%lx%lx", (unsigned)geteuid(), (int)fdt_g.pid,
        (unsigned long)ts.tv_nsec, (unsigned long)ts.tv_sec);
    snprintf(root, sizeof root, "%d", (int)fdt_g.pid);
    char *argv[] = { exe, "collect", "--socket", sock, "--root", root, NULL };
    char **env = environment_without_preload();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, exe, &fa, &attr, argv, env ? env : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(env);
    if (rc != 0) {
        fdt_disable("cannot start the fdtrace collector");
        return -1;
    }
    /* The intermediate exits once the collector listens: reap it here,
     * before the program runs a line. */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == FDT_COLLECT_REFUSED) {
        /* It said why. The programs this one starts are not traced either:
         * each would start a collector and be refused again. */
        fdt_g.follow = 0;
        fdt_disable(NULL);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fdt_disable("the fdtrace collector did not start");
        return -1;
    }
    char owner[32];
    snprintf(owner, sizeof owner, "%d", (int)fdt_g.pid);
    setenv(FDT_ENV_SOCKET, sock, 1);
    setenv(FDT_ENV_OWNER, owner, 1);
    return 0;
}

/* The scope API (CShim/include/fdtrace_api.h), found as the pytest plugin
 * finds it (dlsym in the process): a worker thread opens K descriptors and
 * keeps them, then churns (open/close) while the main thread asks; a second
 * thread asks about its own scope at the same time. Every descriptor opened
 * since the scope began and still open must be in the answer, and nothing
 * opened before it. Exits 0 when the answers are right (check-shim runs it
 * under ASan/UBSan and TSan), 1 with a line saying what is wrong, 2 when the
 * API is absent (not traced). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define K 5
static unsigned (*begin)(void);
static int (*report)(unsigned, const char *, unsigned);
static int (*end)(unsigned);
static int kept[K];
static volatile int stop;
static pthread_barrier_t opened;
static char dir[64];

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < K; i++) kept[i] = open("/dev/null", O_RDONLY);
    pthread_barrier_wait(&opened);
    while (!stop) close(open("/dev/null", O_RDONLY));
    return NULL;
}

/* The answer for `scope` as text (malloc'd), or NULL. */
static char *ask(unsigned scope, const char *name) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    if (report(scope, path, 60000) != 0) {
        fprintf(stderr, "scope_api: fdtrace_scope_report: %s\n", strerror(errno));
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *text = calloc(1, 1 << 20);
    fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    unlink(path);
    return text;
}

static int has_fd(const char *answer, int fd) {
    char key[32];
    snprintf(key, sizeof key, "\"fd\" : %d,", fd);
    return strstr(answer, key) != NULL;
}

/* Asks about its own scope while main asks about its: its descriptor is in
 * its answer, main's (opened before this scope began) is not; the worker's
 * churn may add the one it holds at that moment. */
static void *other_asker(void *arg) {
    int before = *(int *)arg;
    unsigned s = begin();
    int fd = open("/dev/null", O_RDONLY);
    char *a = s ? ask(s, "other") : NULL;
    int ok = a && has_fd(a, fd) && !has_fd(a, before);
    if (!ok) fprintf(stderr, "scope_api: the second thread's answer lacks fd %d or has fd %d: %s\n", fd, before, a ? a : "(none)");
    free(a);
    end(s);
    return (void *)(long)!ok;
}

int main(void) {
    begin = (unsigned (*)(void))dlsym(RTLD_DEFAULT, "fdtrace_scope_begin");
    report = (int (*)(unsigned, const char *, unsigned))dlsym(RTLD_DEFAULT, "fdtrace_scope_report");
    end = (int (*)(unsigned))dlsym(RTLD_DEFAULT, "fdtrace_scope_end");
    if (!begin || !report || !end) return 2;
    snprintf(dir, sizeof dir, "/tmp/fdtrace-scope-api-%d", (int)getpid());
    mkdir(dir, 0700);
    int before = open("/dev/null", O_RDONLY);
    unsigned scope = begin();
    if (!scope) {
        fprintf(stderr, "scope_api: fdtrace_scope_begin: %s\n", strerror(errno));
        return 1;
    }
    int mine = open("/dev/null", O_RDONLY);
    pthread_barrier_init(&opened, NULL, 2);
    pthread_t w, o;
    pthread_create(&w, NULL, worker, NULL);
    pthread_barrier_wait(&opened);
    pthread_create(&o, NULL, other_asker, &mine);
    char *a = ask(scope, "main");
    stop = 1;
    void *other_failed;
    pthread_join(w, NULL);
    pthread_join(o, &other_failed);
    int bad = !a || other_failed;
    for (int i = 0; a && i < K; i++)
        if (!has_fd(a, kept[i])) bad = fprintf(stderr, "scope_api: the worker's fd %d is not in the answer\n", kept[i]);
    if (a && !has_fd(a, mine)) bad = fprintf(stderr, "scope_api: fd %d is not in the answer\n", mine);
    if (a && has_fd(a, before)) bad = fprintf(stderr, "scope_api: fd %d, opened before the scope, is in it\n", before);
    errno = 0;
    if (report(scope + 1000, "/tmp/x", 1000) == 0 || errno != ENOENT) bad = fprintf(stderr, "scope_api: an unknown scope was answered\n");
    if (bad && a) fputs(a, stderr);
    free(a);
    end(scope);
    rmdir(dir);
    return bad ? 1 : 0;
}

/* Fixture: stdio, temporary files, directories and popen, whose opens glibc
 * makes internally. Each LEAK line runs K times. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define K 2
#define F "/etc/hostname"

static char *tmpl(const char *suffix) {
    static char buf[64];
    snprintf(buf, sizeof buf, "/tmp/fdtrace-fx-XXXXXX%s", suffix);
    return buf;
}

int main(void) {
    for (int i = 0; i < K; i++) {
        fopen(F, "r"); /* LEAK(fopen) */
        fopen64(F, "re"); /* LEAK(fopen64) */
        FILE *r = fopen(F, "r");
        freopen("/etc/passwd", "r", r); /* LEAK(freopen) */
        tmpfile(); /* LEAK(tmpfile) */
        tmpfile64(); /* LEAK(tmpfile64) */
        char *t;
        t = tmpl(""); mkstemp(t); unlink(t); /* LEAK(mkstemp) */
        t = tmpl(""); mkostemp(t, O_CLOEXEC); unlink(t); /* LEAK(mkostemp) */
        t = tmpl(".x"); mkstemps(t, 2); unlink(t); /* LEAK(mkstemps) */
        t = tmpl(".x"); mkostemps(t, 2, 0); unlink(t); /* LEAK(mkostemps) */
        opendir("/tmp"); /* LEAK(opendir) */
        popen("exit 0", "r"); /* LEAK(popen) */
        int fd = open(F, O_RDONLY); /* LEAK(open) */
        fdopen(fd, "r"); /* an fdopen'ed stream keeps its open()'s origin */

        fclose(fopen(F, "r"));
        fclose(fopen64(F, "r"));
        fclose(freopen("/etc/passwd", "r", fopen(F, "r")));
        fclose(tmpfile());
        t = tmpl(""); close(mkstemp(t)); unlink(t);
        closedir(opendir("/tmp"));
        pclose(popen("exit 0", "r"));
        fclose(fdopen(open(F, O_RDONLY), "r"));
        DIR *d = fdopendir(open("/tmp", O_RDONLY | O_DIRECTORY));
        closedir(d);
    }
    return 0;
}

/* Torture: close() (and open()) from a signal handler that fires every
 * 50 µs while the main code is inside interposed calls. First the handler
 * alone takes this thread's first 40 stacks (raise() runs it at once), so
 * the tracer's stack-taking reaches every stage of its life inside a
 * handler (the shim switches unwinders at a thread's 33rd stack). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_alarm(int sig) {
    (void)sig;
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) close(fd);
    handled++;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alrm, NULL); /* whoever started us may block it */
    for (int i = 0; i < 20; i++) raise(SIGALRM);
    struct itimerval it = { { 0, 50 }, { 0, 50 } };
    setitimer(ITIMER_REAL, &it, NULL);
    long ok = 0;
    for (int i = 0; i < 100000; i++) {
        int a = open("/etc/hostname", O_RDONLY);
        int p[2];
        if (a >= 0 && pipe(p) == 0) { ok++; close(p[0]); close(p[1]); }
        close(a);
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    printf("rounds ok: %ld, handler ran: %s\n", ok, handled > 0 ? "yes" : "no");
    return 0;
}

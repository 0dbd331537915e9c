/* Installing signal handlers every way libc offers, as a traced program
 * would: each call must return what it returns untraced (the previous
 * handler, the old action), and handlers that open and close files must
 * run as before. The shim watches these calls (hooks_signal.c). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Exported by glibc, declared by no header of its own any more. */
extern __sighandler_t bsd_signal(int, __sighandler_t);

static volatile sig_atomic_t ran[4];

static void handler(int sig) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) close(fd);
    ran[sig == SIGUSR1 ? 0 : sig == SIGUSR2 ? 1 : sig == SIGHUP ? 2 : 3]++;
}

static void other(int sig) { (void)sig; }

static void info_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) close(fd);
    if (si->si_signo == sig) ran[3]++;
}

static const char *name(void (*h)(int)) {
    return h == SIG_DFL ? "default" : h == SIG_IGN ? "ignore" : h == handler ? "handler" : h == other ? "other" : "?";
}

int main(void) {
    sigset_t all;
    sigemptyset(&all);
    sigaddset(&all, SIGUSR1);
    sigaddset(&all, SIGUSR2);
    sigaddset(&all, SIGHUP);
    sigaddset(&all, SIGWINCH);
    sigprocmask(SIG_UNBLOCK, &all, NULL); /* whoever started us may block them */

    printf("signal: was %s\n", name(signal(SIGUSR1, handler)));
    printf("signal: was %s\n", name(signal(SIGUSR1, handler)));
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = other;
    sigaction(SIGUSR1, &sa, &old);
    printf("sigaction: was %s\n", name(old.sa_handler));
    sigaction(SIGUSR1, NULL, &old);
    printf("sigaction query: %s\n", name(old.sa_handler));
    signal(SIGUSR1, handler);
    printf("sysv_signal: was %s\n", name(sysv_signal(SIGUSR2, handler)));
    printf("bsd_signal: was %s\n", name(bsd_signal(SIGHUP, handler)));
    printf("sigset: was %s\n", name(sigset(SIGHUP, handler)));
    printf("signal(SIG_IGN): was %s\n", name(signal(SIGWINCH, SIG_IGN)));
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGWINCH, &sa, NULL);
    printf("sigaction(-1): %d\n", sigaction(-1, &sa, NULL));

    for (int i = 0; i < 50; i++) {
        raise(SIGUSR1);
        raise(SIGUSR2);
        signal(SIGUSR2, handler); /* sysv_signal reset it to the default */
        raise(SIGHUP);
        raise(SIGWINCH);
    }
    printf("ran: %d %d %d %d\n", (int)ran[0], (int)ran[1], (int)ran[2], (int)ran[3]);
    return 0;
}

/* Fixture: the other descriptor factories. Each LEAK line runs K times. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <mqueue.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define K 2

int main(void) {
    char name[64];
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    for (int i = 0; i < K; i++) {
        epoll_create(1); /* LEAK(epoll_create) */
        epoll_create1(EPOLL_CLOEXEC); /* LEAK(epoll_create1) */
        eventfd(0, 0); /* LEAK(eventfd) */
        int s = signalfd(-1, &mask, 0); /* LEAK(signalfd) */
        signalfd(s, &mask, 0); /* changes the mask of s only */
        timerfd_create(CLOCK_MONOTONIC, 0); /* LEAK(timerfd_create) */
        inotify_init(); /* LEAK(inotify_init) */
        inotify_init1(IN_CLOEXEC); /* LEAK(inotify_init1) */
        memfd_create("fixture-memfd", 0); /* LEAK(memfd_create) */
        int pfd = pidfd_open(getpid(), 0); /* LEAK(pidfd_open) */
        pidfd_getfd(pfd, 0, 0); /* LEAK(pidfd_getfd) */
        snprintf(name, sizeof name, "/fdtrace-fx-%d-%d", getpid(), i);
        shm_open(name, O_CREAT | O_RDWR, 0600); /* LEAK(shm_open) */
        shm_unlink(name);
        posix_openpt(O_RDWR | O_NOCTTY); /* LEAK(posix_openpt) */
        int m, sl;
        openpty(&m, &sl, NULL, NULL, NULL); /* LEAK(openpty) */

        close(epoll_create1(0));
        close(eventfd(1, EFD_CLOEXEC));
        close(timerfd_create(CLOCK_REALTIME, 0));
        close(memfd_create("closed-memfd", MFD_CLOEXEC));
        close(inotify_init1(0));
        int m2, s2;
        openpty(&m2, &s2, NULL, NULL, NULL);
        close(m2);
        close(s2);
    }
    return 0;
}

/* Fixture: children made without fork(): glibc clone() without CLONE_VM,
 * syscall(SYS_clone), _Fork(); and children that share our memory (vfork,
 * clone(CLONE_VM|CLONE_VFORK)) and close every descriptor before exiting. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern pid_t _Fork(void);

static int clone_child(void *arg) {
    (void)arg;
    open("/etc/hostname", O_RDONLY); /* LEAK(clone) */
    _exit(0);
}

static int vm_child(void *arg) {
    (void)arg;
    for (int fd = 3; fd < 1024; fd++) close(fd);
    _exit(0);
}

static char stack1[65536], stack2[65536];

int main(void) {
    open("/etc/hostname", O_RDONLY); /* LEAK(parent) */
    pid_t a = clone(clone_child, stack1 + sizeof stack1, SIGCHLD, NULL);
    waitpid(a, NULL, 0);
    long b = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (b == 0) {
        open("/etc/hostname", O_RDONLY); /* LEAK(raw-clone) */
        _exit(0);
    }
    waitpid((pid_t)b, NULL, 0);
    pid_t c = _Fork();
    if (c == 0) {
        open("/etc/hostname", O_RDONLY); /* LEAK(_Fork) */
        _exit(0);
    }
    waitpid(c, NULL, 0);
    pid_t d = vfork();
    if (d == 0) {
        close_range(3, ~0U, 0);
        _exit(0);
    }
    waitpid(d, NULL, 0);
    pid_t e = clone(vm_child, stack2 + sizeof stack2, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
    waitpid(e, NULL, 0);
    printf("parent still has fd 3: %s\n", fcntl(3, F_GETFD) >= 0 ? "yes" : "no");
    return 0;
}

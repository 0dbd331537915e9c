/* System calls the collector needs that Swift cannot express directly
 * (posix_spawn attributes, SCM_RIGHTS, signalfd). Not part of the shim. */
#ifndef FDTRACE_SYS_H
#define FDTRACE_SYS_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

/* Starts `path` as a shell would: no close actions, default signal
 * dispositions, empty signal mask. Returns 0 or an errno value. */
int fdtc_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[]);
/* fdtc_spawn held before its exec until a byte is written to *gate (sys.c). */
int fdtc_spawn_gated(pid_t *pid, const char *path, char *const argv[], char *const envp[], int *gate);

/* A listening unix SOCK_SEQPACKET socket at `path` (0600). fd or -errno. */
int fdtc_listen_unix(const char *path);
int fdtc_listen_stream(const char *path);
int fdtc_connect_stream(const char *path);
int fdtc_unix_peers(unsigned long long *inodes, unsigned long long *peers, int cap);

/* One inet socket as sock_diag reports it: ports and addresses in network
 * byte order (an IPv4 address in the first 4 bytes), state as the kernel's
 * TCP states (UDP: 1 connected, 7 not). */
struct fdtc_inet_socket {
    unsigned long long inode;
    unsigned char local[16], peer[16];
    unsigned char local_port[2], peer_port[2];
    unsigned char state;
};
/* Sockets of this network namespace of one family (AF_INET, AF_INET6) and
 * protocol (IPPROTO_TCP, IPPROTO_UDP) whose state is in the bit mask
 * `states` (1 << state), from the kernel's sock_diag netlink interface.
 * Sockets without an inode (request sockets) are left out, and when
 * `want` is given (nwant inodes, sorted ascending) all but those. Fills up
 * to cap and returns how many matched (more than cap: call again with
 * room), or -errno. */
int fdtc_inet_sockets(int family, int protocol, unsigned int states, const unsigned long long *want, int nwant,
    struct fdtc_inet_socket *out, int cap);

/* A listening TCP socket on a numeric address (IPv4 or IPv6, no name
 * lookup), SO_REUSEADDR, close-on-exec, non-blocking. fd, or -errno (a bad
 * address is -EINVAL). */
int fdtc_listen_tcp(const char *host, int port);

/* Accepts one connection (close-on-exec, non-blocking). fd or -errno. */
int fdtc_accept(int listen_fd);

/* Receives one message and at most one passed descriptor (*fd_out, or -1).
 * Returns the byte count or -errno. */
ssize_t fdtc_recv_with_fd(int sock, void *buf, size_t cap, int *fd_out, int timeout_ms);

/* Credentials of the peer of a unix socket. 0 or -errno. */
int fdtc_peer_cred(int sock, pid_t *pid, uid_t *uid, gid_t *gid);

int fdtc_send(int sock, const void *buf, size_t len);

/* Blocks SIGTERM/SIGHUP/SIGINT/SIGQUIT and returns a signalfd for them. */
int fdtc_signalfd(void);
/* Reads one signal from the signalfd: its number, or 0. *from_user is set
 * when kill() sent it (not the terminal or the kernel). */
int fdtc_read_signal(int sfd, int *from_user);

int fdtc_pidfd_open(pid_t pid);

/* The commit this binary was built from (build_info.c), or "unknown". */
const char *fdtc_build_commit(void);

/* Waits for `pid` without blocking. 1 and *status when it ended, 0 if not, -errno. */
int fdtc_reap(pid_t pid, int *status);

int fdtc_open_report(const char *path);
int fdtc_pipe_cloexec(int fds[2]);

/* A new event ring in a memfd (header initialised), as the shim makes one;
 * for the collector benchmark and tests. fd or -errno. */
int fdtc_ring_create(unsigned long long capacity);

struct fdt_ring_header;
/* Clears a handled request (enum fdt_ring_request) in a ring header and
 * wakes the process waiting for it. */
void fdtc_ring_complete(struct fdt_ring_header *h, int which);
/* Answers scope request `request` (FDT_REC_SCOPE) with `status` (0 or an errno). */
void fdtc_ring_answer_scope(struct fdt_ring_header *h, uint32_t request, int32_t status);
/* Creates a scope's answer file: never through a symlink, never over an
 * existing file, mode 0600. fd or -errno. */
int fdtc_create_answer(const char *path);
int fdtc_peer_pidfd(int sock, pid_t pid);
void fdtc_raise_nofile(void);

/* Forks the bare-mode collector from this process (call it before any
 * thread exists): the child, in a new session with stdin/stdout on
 * /dev/null, stderr kept, a readiness pipe as descriptor 3 and nothing
 * else, returns 0 and serves (it writes a byte on 3 once it listens). The
 * parent returns 1 once the child listens, or -errno. */
int fdtc_fork_daemon(void);

int fdtc_wifexited(int status);
int fdtc_wexitstatus(int status);
int fdtc_wifsignaled(int status);
int fdtc_wtermsig(int status);

/* memmem(3) (a GNU extension the Swift Glibc module does not export). */
const void *fdtc_memmem(const void *haystack, size_t len, const void *needle, size_t nlen);

#endif

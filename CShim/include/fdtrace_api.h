/*
 * The API libfdtrace.so exports to the traced program itself (besides the
 * interposed libc calls): scopes. A program — the pytest plugin, through
 * ctypes.CDLL(None) — begins a scope, later asks which descriptors opened
 * since then are still open, and ends it. The answer comes from the tracer's
 * own records, in the order the program's threads made them: every event
 * before the question, of every thread, is in it.
 *
 * Calls return -1 (or 0 for fdtrace_scope_begin) with errno set:
 *   ENOTCONN   this process is not traced now (no collector, or it is gone)
 *   EINVAL     scope 0, a path that is not absolute or longer than 1024 bytes
 *   ETIMEDOUT  the collector did not answer within timeout_ms
 *   or the collector's reason for not writing the answer (an errno: EEXIST,
 *   EACCES, ENOENT for a scope it does not know, ...).
 * They are not async-signal-safe, and allocate nothing. The pytest plugin
 * (pytest-fdtrace/) mirrors nothing of this header but the names.
 */
#ifndef FDTRACE_API_H
#define FDTRACE_API_H

#ifdef __cplusplus
extern "C" {
#endif

/* A new scope: descriptors opened from now on (by any thread) belong to it.
 * Its id (never 0), or 0 with errno set. */
unsigned fdtrace_scope_begin(void);

/* Has the collector write, at `path` (absolute; created, never replaced:
 * mode 0600), a JSON document of the descriptors opened since `scope` began
 * that are still open now, grouped and described as the report describes
 * leaks (README, "pytest"). Waits until it is written, at most timeout_ms.
 * 0, or -1 with errno set. */
int fdtrace_scope_report(unsigned scope, const char *path, unsigned timeout_ms);

/* Forgets `scope`. 0, or -1 with errno set. */
int fdtrace_scope_end(unsigned scope);

#ifdef __cplusplus
}
#endif

#endif /* FDTRACE_API_H */

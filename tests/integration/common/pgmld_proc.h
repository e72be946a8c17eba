/* pgmld_proc.h - integration-test helper: a real pgmld as a child process
 * (temporary directory, start, wait for its socket, stop, reap) and raw
 * Unix-socket framing to talk to it.
 *
 * Error convention: this is cmocka test code.  Every function either
 * succeeds or fails the running test (fail_msg) naming what went wrong;
 * the few that return a status say so. */
#ifndef PGML_TEST_PGMLD_PROC_H
#define PGML_TEST_PGMLD_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pgml/v1/frame.pb-c.h"

typedef struct pgml_test_proc_s {
  pid_t pid;            /* 0: not running */
  char dir[256];        /* the temporary directory, "" before one is made */
  char sock[300];       /* where clients connect */
  char log[300];        /* the daemon's stdout and stderr */
} pgml_test_proc_t;

/* Runs in the child between fork() and exec() (environment, fds); must
 * only call async-signal-safe functions and _exit() on failure. */
typedef void (*pgml_test_child_fn)(void *arg);

/* Makes a fresh directory "$TMPDIR/<prefix>-XXXXXX" in p->dir and sets
 * p->log in it, and p->sock too unless the caller already chose one. */
void pgml_test_proc_dir(pgml_test_proc_t *p, const char *prefix);

/* Forks and execs argv[0] with argv (NULL-terminated), output to p->log;
 * setup(arg), when given, runs in the child just before exec.  Does not
 * wait for anything: see pgml_test_proc_wait_listening(). */
void pgml_test_proc_spawn(pgml_test_proc_t *p, const char *const *argv,
                          pgml_test_child_fn setup, void *arg);

/* Returns once p->sock accepts a connection; fails the test when the
 * daemon exits first or wait_ms pass. */
void pgml_test_proc_wait_listening(pgml_test_proc_t *p, int wait_ms);

/* Reaps the daemon; returns its exit status, or 128+signal.  Fails the
 * test when it is still running after wait_ms. */
int pgml_test_proc_wait_exit(pgml_test_proc_t *p, int wait_ms);

/* SIGTERM, then pgml_test_proc_wait_exit(). */
int pgml_test_proc_stop(pgml_test_proc_t *p, int wait_ms);

/* Kills (SIGKILL) and reaps a daemon still running, prints the last
 * tail_lines of its log to stderr and removes p->dir (kept when
 * PGMLD_TEST_KEEP is set).  Safe to call twice and on a proc never
 * started. */
void pgml_test_proc_cleanup(pgml_test_proc_t *p, int tail_lines);

/* A connected SOCK_STREAM Unix socket to path, or -errno when connect()
 * fails (the test goes on: refusals are things tests check). */
int pgml_test_connect(const char *path);

/* Writes all of buf (no SIGPIPE); fails the test on an error. */
void pgml_test_send_all(int fd, const void *buf, size_t len);

/* Reads exactly len bytes.  Returns 1, 0 on EOF (or reset) before any
 * byte, -1 on EOF or reset part way.  Fails the test when nothing comes
 * within wait_ms or on any other error. */
int pgml_test_read_exact(int fd, uint8_t *buf, size_t len, int wait_ms);

/* The next length-prefixed frame, decoded (free with
 * pgml__v1__frame__free_unpacked); NULL when the connection closed before
 * it.  A frame longer than max_len (0: no limit), a truncated or
 * undecodable one fails the test. */
Pgml__V1__Frame *pgml_test_read_frame(int fd, size_t max_len, int wait_ms);

/* Sends one REQUEST frame, length prefix included; msg NULL sends an empty
 * payload. */
void pgml_test_send_request(int fd, uint64_t id, const char *method,
                            const ProtobufCMessage *msg);

/* The whole of a (small) file such as the daemon's log, NUL-terminated;
 * the caller frees it.  A file that cannot be opened fails the test. */
char *pgml_test_read_file(const char *path);

/* Fails the test unless haystack (NULL allowed) contains needle. */
void pgml_test_assert_contains(const char *haystack, const char *needle);

#endif

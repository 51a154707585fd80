/* subproc: runs a program from an argv array (never a shell) with a clean environment,
 * in its own process group, with a deadline: past it the whole group gets SIGTERM, then
 * SIGKILL after a grace period, and the call returns. stdout and stderr are captured up
 * to a cap each (the rest is read and dropped, counted). Used by the kubectl and exec
 * actuators. */
#ifndef HOMEOSTAT_CONTROLLER_SUBPROC_H
#define HOMEOSTAT_CONTROLLER_SUBPROC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SUBPROC_DEFAULT_OUTPUT_CAP (16u << 10)
#define SUBPROC_KILL_GRACE_USEC (2u * 1000000) /* SIGTERM, then SIGKILL after this */

struct subproc_opts {
    const char *const *argv; /* argv[0]: an absolute path, or a name looked up in PATH of
                              * the clean environment; NULL-terminated */
    /* Variables kept from the daemon's environment when set there (NULL-terminated list
     * of names, may be NULL); PATH is always set (kept, or /usr/local/bin:/usr/bin:/bin)
     * and LANG=C.UTF-8. */
    const char *const *keep_env;
    const char *const *set_env; /* extra "NAME=value" entries (NULL-terminated, may be NULL) */
    uint64_t timeout_usec;      /* deadline for the whole run; 0 means 10 s */
    size_t output_cap;          /* bytes kept of stdout and of stderr; 0: the default */
    const char *stdin_data;     /* written to stdin (may be NULL: /dev/null) */
    size_t stdin_len;
};

struct subproc_result {
    int exit_status; /* exit code, or -1 when killed by a signal */
    int term_signal; /* the signal that ended it, 0 if it exited */
    bool timed_out;  /* the deadline passed; the group was killed */
    uint64_t duration_usec;
    struct buf out, err;             /* captured (NUL-terminated), at most output_cap each */
    size_t out_dropped, err_dropped; /* bytes read past the cap */
};

/* Runs opts->argv and waits for it (and its process group's end at the deadline).
 * 0 with *res filled (also when the program failed or timed out: look at res), or
 * -errno when it could not be started (-ENOENT: program not found); res is always
 * initialised and must be freed with subproc_result_free. */
int subproc_run(const struct subproc_opts *opts, struct subproc_result *res);
void subproc_result_free(struct subproc_result *res);

/* One line describing how it ended: "exit 0", "exit 1", "killed by SIGKILL", "timed out
 * after 5.0s (process group killed)". */
const char *subproc_describe(const struct subproc_result *res, char *buf, size_t size);

/* Output as JSON: a string of text[0..len) with each byte that is not part of a valid
 * UTF-8 character (a capped output may end inside one) or is NUL replaced by U+FFFD.
 * New reference. */
json_t *subproc_text_json(const char *text, size_t len);
/* The first non-empty line of text (may be NULL), cut to fit out, control characters as
 * spaces: for one-line error messages. Returns out. */
const char *subproc_first_line(const char *text, char *out, size_t size);

#endif

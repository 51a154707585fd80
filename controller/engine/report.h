/* report: the health report of `homeostat-controller report` and GET /api/v1/report
 * (docs/REPORT.md). From the rules' report section and one round of instant queries it
 * builds a report: a health score 0..100 with its formula, a status, the issues (one per
 * series past a check's condition, texts from the check's annotations), the
 * optimizations, the checks that could not be evaluated (query failed, no data) and
 * those --quick skipped, and a summary; as JSON (the reference) or as readable text.
 *
 * Score: 100 - 30 per critical issue - 10 per warning - 2 per info, at least 0.
 * Status: healthy 80..100, degraded 50..79, critical 0..49; unknown when the rules have
 * checks and none of them could be evaluated. A check that could not be evaluated adds
 * no penalty, never counts as passed, and is listed with its reason. */
#ifndef HOMEOSTAT_CONTROLLER_REPORT_H
#define HOMEOSTAT_CONTROLLER_REPORT_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "rules.h"

#define REPORT_PENALTY_CRITICAL 30
#define REPORT_PENALTY_WARNING 10
#define REPORT_PENALTY_INFO 2
#define REPORT_HEALTHY_MIN 80  /* score from which the status is healthy */
#define REPORT_DEGRADED_MIN 50 /* ... degraded; below it, critical */
#define REPORT_MAX_LISTED 100  /* issues (or optimizations) listed per check; more are counted */

/* The controller's state, when the report is built inside the daemon (strings borrowed). */
struct report_state {
    const char *name;           /* a state of the rules, or "unknown" */
    const char *severity;       /* the state's (NULL) */
    const char *description;    /* (NULL) */
    const char *recommendation; /* (NULL) */
    bool is_default;            /* the rules' last state: nothing to report */
    double since;               /* epoch seconds */
};

struct report_options {
    bool quick;                       /* leave out the slow checks and optimizations */
    double time;                      /* evaluation time, epoch seconds */
    const char *prometheus_url;       /* shown in the report (NULL) */
    const char *rules_file;           /* (NULL) */
    const struct report_state *state; /* NULL outside the daemon */
    /* A rules file with targets: its targets.by (borrowed); an issue whose series has any
     * of these labels names its target ("target": {service="a"}). NULL: none. */
    const char *const *target_by;
    size_t n_target_by;
};

/* What one check or optimization's query gave. */
struct report_answer {
    bool skipped;       /* not queried: slow, with quick */
    json_t *series;     /* the instant vector ("result" of the reply), or NULL */
    const char *error;  /* when series is NULL: why, as a name ("timeout", "bad_response", ...) */
    char detail[256];   /* ... and readable ("HTTP 503: overloaded"), "" when there is no more */
    bool unreachable;   /* ... the query did not reach Prometheus (connect, timeout, HTTP) */
    char warnings[256]; /* the reply's warnings (partial data), "" when none */
};

/* Where report_build gets its instant vectors: the caller's Prometheus client (the engine
 * does no I/O; cli/report_source.c has the one source over clients/promql, which the API uses
 * too). query runs queries[0..n) at time (epoch seconds) and fills answers[0..n): series a
 * new reference that report_build releases, or the failure. */
struct report_source {
    void (*query)(void *ctx, const char *const *queries, size_t n, double time,
                  struct report_answer *answers);
    void *ctx;
};

/* The report from answers already there: checks[0..d->n_checks) and
 * optimizations[0..d->n_optimizations). New reference, NULL on OOM. */
json_t *report_assemble(const struct report_def *d, const struct report_options *o,
                        const struct report_answer *checks,
                        const struct report_answer *optimizations);

/* Runs every query of d (but the slow ones with o->quick) once, at o->time, from src, and
 * assembles the report. 0 and *ret (new reference); -EHOSTUNREACH when no query reached
 * Prometheus (every one failed to connect, timed out or got an HTTP error), with why in
 * err; -ENOMEM. */
int report_build(const struct report_def *d, const struct report_source *src,
                 const struct report_options *o, json_t **ret, char *err, size_t err_size);

/* Why no query reached Prometheus, from the first answer a, into err: "cannot query
 * Prometheus: connection refused (URL)", naming url (NULL: none) when a does not. */
void report_unreachable(const struct report_answer *a, const char *url, char *err, size_t err_size);

/* The report as readable text (appended to out). 0 or -ENOMEM. */
int report_text(const json_t *report, struct buf *out);

#endif

/* targets: a rules file's signals as vectors, matched to targets (docs/RULES.md,
 * "Targets"). Pure: given each signal's instant vector this evaluation, it finds the
 * targets (the distinct values of the targets.by labels among the series) and each
 * target's value of every signal, as PromQL's on(by...) vector matching would:
 * - a series with none of the by labels is shared: a signal whose series all are is one
 *   number for every target (more than one series: unknown for all, as without targets);
 * - otherwise each target gets the series with its label values; none: unknown ("no series
 *   for {...}"), two or more: unknown ("2 series for {...}"); a missing label counts as
 *   the empty value, as in PromQL; shared series beside per-target ones are ignored;
 * - a signal whose query failed is unknown for every target with the same reason.
 * Each target then goes through the engine (step_evaluate) on its own. */
#ifndef HOMEOSTAT_CONTROLLER_TARGETS_H
#define HOMEOSTAT_CONTROLLER_TARGETS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "evaluate.h"
#include "hmap.h"
#include "ivec.h"
#include "rules.h"

#define TARGETS_MAX_KEY 2048 /* bytes of a target's key; longer label sets are refused */

/* What one signal gave: its instant vector (borrowed; only the by labels matter), or,
 * when series is NULL, one value for every target (known, or unknown with its reason: a
 * failed query, an alert:NAME signal). */
struct target_input {
    const struct ivec *series;
    struct signal_value value;
};

struct target_row {
    struct hnode node;
    char *key; /* {namespace="a",deployment="b"}: by's labels, in order */
    size_t key_len;
    const struct ivec *vec; /* a series naming it: series idx of vec (borrowed), */
    size_t idx;
    const json_t *metric;        /* or, when vec is NULL, a known label set (borrowed) */
    struct signal_value *values; /* per signal of the rules */
    bool borrowed;               /* values are a known target's own (known_values) */
    unsigned seen;               /* scratch of targets_match */
    bool present;                /* a series named it (false: a known target, absent now) */
};

/* The targets of one evaluation, sorted by key. */
struct target_set {
    struct target_row **rows;
    size_t n;
    size_t refused_key; /* label sets refused: a key longer than TARGETS_MAX_KEY */
};

/* Matches in[0..r->n_signals) (borrowed: the rows point into it, and into known, until
 * target_set_free) to targets. known[0..n_known): the label sets of targets
 * already known, which get a row even when no series names them now (present false: the
 * shared signals' values, "no series for {...}" for the others); known_values (NULL, or
 * NULL entries: the rows get their own): where each known target keeps its values, which
 * its row then fills in place (borrowed) instead of a copy of its own. seed: the hash
 * seed (hash_random_seed()). 0 and *out (free with target_set_free), or -ENOMEM. Rules
 * without targets: -EINVAL. */
int targets_match(const struct rules *r, const struct target_input *in, const json_t *const *known,
                  struct signal_value *const *known_values, size_t n_known, uint64_t seed,
                  struct target_set *out);
void target_set_free(struct target_set *s); /* accepts a zeroed set */
/* A row's labels: {"namespace": "a", "deployment": "b"}, by's only (new reference, NULL on
 * OOM); made when asked, since only a new target needs them. */
json_t *targets_row_labels(const struct rules *r, const struct target_row *row);

/* An instant vector's JSON ("result": [{"metric": {...}, "value": [ts, "v"]}, ...]) as
 * an ivec, keeping the labels keep[0..n_keep) (keep NULL: all). 0, -ENOMEM or -E2BIG. */
int targets_ivec_from_json(const json_t *result, const char *const *keep, size_t n_keep,
                           struct ivec *out);

/* The key of a label set (object of by's labels; missing ones empty) into out: its
 * length, or -E2BIG when it does not fit. */
int targets_key(const struct rules *r, const json_t *metric, char *out, size_t size);
/* The same for the label names by[0..n_by). */
int targets_key_by(const char *const *by, size_t n_by, const json_t *metric, char *out,
                   size_t size);

/* One label matcher of a selector, as in PromQL: name OP "value" (OP: =, !=, =~, !~). */
struct label_matcher {
    char name[RULES_MAX_NAME + 1];
    char op[3];
    char *value; /* owned, unescaped */
};

/* Parses a selector: {name="v", name!="v", name=~"re", name!~"re"} (the braces optional;
 * values with \", \\ and \n escapes) into m[0..max). 0 with *ret_n and *ret_end (where it
 * stopped; may be NULL), -EINVAL with msg, or -ENOMEM; nothing to free after an error. */
int targets_parse_selector(const char *s, struct label_matcher *m, size_t max, size_t *ret_n,
                           const char **ret_end, char *msg, size_t msg_size);
void targets_matchers_free(struct label_matcher *m, size_t n);

/* A label set as written in a test or an API query: {name="value", ...} (values with \",
 * \\ and \n escapes). 0 and *ret (a new JSON object), -EINVAL with msg, or -ENOMEM. */
int targets_parse_labels(const char *s, json_t **ret, char *msg, size_t msg_size);

#endif

/* rules_loader: what the files of the rules loader share (rules_load.c and the
 * rules_*.c of each section): its context, the defaults and the helpers. Private to
 * them: the rest of the controller includes rules.h. */
#ifndef HOMEOSTAT_CONTROLLER_RULES_LOADER_H
#define HOMEOSTAT_CONTROLLER_RULES_LOADER_H

#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"
#include "placeholders.h"
#include "template.h"
#include "yamltree.h"

#define USEC_PER_SEC 1000000ULL
#define DEFAULT_INTERVAL_USEC (5 * USEC_PER_SEC)
#define MIN_INTERVAL_USEC (USEC_PER_SEC / 10)
#define DEFAULT_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define DEFAULT_COOLDOWN_USEC (300 * USEC_PER_SEC)
#define DEFAULT_REVERT_DELAY_USEC (60 * USEC_PER_SEC)
#define DEFAULT_RESEND_USEC (60 * USEC_PER_SEC)
#define DEFAULT_ACTIONS_PER_HOUR 30
#define DEFAULT_REGULATOR_CHANGES_PER_HOUR 360
#define DEFAULT_REPORT_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define NONE ((size_t)-1)

#define N_KINDS (rules_action_kinds.count)

/* How a state's conditions were written. */
enum cond_form {
    FORM_NONE, /* absent, null or []: the default state */
    FORM_SOME, /* one or more, all parsed and resolved */
    FORM_BAD,  /* not a sequence, or a condition with an error */
};

struct state_pos {
    const struct ytree_node *node;       /* the state's map (NULL: not a map) */
    const struct ytree_node *name;       /* its name value */
    const struct ytree_node *conditions; /* its conditions value */
    enum cond_form form;
};

struct loader {
    struct rules *r;
    struct buf *errors;   /* unsorted; the caller gets them sorted by position */
    struct buf *warnings; /* the same, for what is allowed but unwise */
    const char *dir;      /* directory relative file paths are resolved against, or NULL */
    int err;              /* -EINVAL once an error was reported */
    bool oom;
    bool signals_ok; /* signals was a map: an unknown name in a condition is an error */
    bool states_ok;  /* states was a sequence: an unknown name in decisions is an error */
    const struct ytree_node *no_signals; /* signals missing (root) or empty (its node) */
    const char *const *declared;         /* parameters of the manual action being loaded */
    /* "$labels.NAME" for each label of targets.by, NULL-terminated: what decisions' actions
     * may use (NULL without targets; freed by the loader) */
    char **label_placeholders;
    const struct ytree_node *root;
    struct state_pos *states;
};

/* The helpers of rules_load.c and the functions the section files share. */
/* For the action kinds' load (rules_action_kinds): whether the body v is a map, reported
 * ("systemd: expected a map, got a sequence") when it is not; the body as the action's
 * params, with " key=value" appended to the summary sum for each key but primary's
 * (NULL-terminated, or NULL), the keys the kind already put there; one argument
 * appended as the summary shows it (quoted when it has spaces or quotes); the same
 * " key=value" list of any map. */
bool loader_action_map(struct loader *l, const struct action_def *a, const struct ytree_node *v);
bool loader_action_params(struct loader *l, struct action_def *a, const struct ytree_node *v,
                          struct buf *sum, const char *const *primary);
void loader_summary_arg(struct buf *b, const char *arg);
void loader_summary_rest(struct buf *b, const struct ytree_node *v, json_t *params,
                         const char *const *skip);
void loader_load_baseline_learn_in(struct loader *l, const struct ytree_node *root);
bool loader_get_bool(struct loader *l, const struct ytree_node *n, bool *ret);
bool loader_get_duration(struct loader *l, const struct ytree_node *n, uint64_t *ret);
bool loader_get_enum(struct loader *l, const struct ytree_node *n, const char *what,
                     const char *const *names, int *ret);
bool loader_get_map(struct loader *l, const struct ytree_node *n);
bool loader_get_name(struct loader *l, const struct ytree_node *n, const char *what,
                     const char **ret);
bool loader_get_path(struct loader *l, const struct ytree_node *n, const char *what, char **ret);
bool loader_get_seq(struct loader *l, const struct ytree_node *n);
bool loader_get_string(struct loader *l, const struct ytree_node *n, const char **ret);
bool loader_get_text(struct loader *l, const struct ytree_node *n, const char *what, size_t max,
                     const char **ret);
bool loader_get_url(struct loader *l, const struct ytree_node *n, const char **ret);
bool loader_header_name_valid(const char *s);
bool loader_key_is_secret(const char *key);
bool loader_op_char(char c);
bool loader_parse_condition(struct loader *l, const struct ytree_node *n, struct condition *c);
char *loader_dup_str(struct loader *l, const char *s);
const struct ytree_node *loader_key_node(const struct ytree_node *map, const char *key);
json_t *loader_redacted(json_t *v);
json_t *loader_to_json(struct loader *l, const struct ytree_node *n);
void *loader_alloc_array(struct loader *l, size_t n, size_t size);
void loader_check_keys(struct loader *l, const struct ytree_node *map, const char *const *keys);
void loader_load_actions(struct loader *l, const struct ytree_node *v, struct action_def **ret,
                         size_t *ret_n);
void loader_load_decisions(struct loader *l, const struct ytree_node *root);
void loader_load_manual_actions(struct loader *l, const struct ytree_node *root);
void loader_load_regulators(struct loader *l, const struct ytree_node *root);
void loader_free_actions(struct action_def *a, size_t n); /* accepts NULL */
void rules_regulators_free(struct rules *r);
void loader_load_prometheus(struct loader *l, const struct ytree_node *v, bool interval_ok);
void loader_load_report(struct loader *l, const struct ytree_node *v);
void loader_load_states(struct loader *l, const struct ytree_node *root);
void loader_load_targets(struct loader *l, const struct ytree_node *v);
void loader_report(struct loader *l, const struct ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

bool loader_threshold(struct loader *l, const struct ytree_node *n, const char *s, const char *p,
                      enum cond_op op, bool state, double *ret);

#endif

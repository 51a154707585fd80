/* yamltree: loads a YAML document (libyaml's event parser) into a small immutable tree
 * whose every node keeps its line and column, with limits on size, depth, node count and
 * alias expansion (no billion laughs), so configuration loaders can report every error as
 * "FILE:LINE:COL: message". Exports ytree_load_string/ytree_load_file/ytree_free, node
 * accessors, and typed getters that append such errors to a struct buf. */
#ifndef HOMEOSTAT_YAMLTREE_H
#define HOMEOSTAT_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum ytree_kind {
    YTREE_SCALAR,
    YTREE_MAP,
    YTREE_SEQ,
};

/* How a scalar was written. Only a plain scalar can be null, a number or a boolean: a
 * quoted "1" is the string 1. */
enum ytree_style {
    YTREE_PLAIN,
    YTREE_SINGLE_QUOTED,
    YTREE_DOUBLE_QUOTED,
    YTREE_LITERAL, /* | */
    YTREE_FOLDED,  /* > */
};

/* Limits of one load. A field left 0 takes the default below. */
struct ytree_limits {
    size_t max_bytes;   /* input size */
    unsigned max_depth; /* nesting of maps and sequences, aliases expanded */
    size_t max_nodes;   /* nodes (keys included) with every alias counted as its whole subtree */
    size_t max_aliases; /* alias references (*name) */
};

#define YTREE_DEFAULT_MAX_BYTES (1u << 20)
#define YTREE_DEFAULT_MAX_DEPTH 64u
#define YTREE_DEFAULT_MAX_NODES 100000u
#define YTREE_DEFAULT_MAX_ALIASES 1000u

struct ytree;
struct ytree_node;

/* Parses exactly one YAML document from data[len] (need not be NUL-terminated; not kept).
 * name is what error messages start with (copied). limits may be NULL for the defaults.
 * On success returns 0 and *ret, a new tree the caller frees with ytree_free(). On
 * failure *ret is untouched, one line "NAME:LINE:COL: message\n" (or "NAME: message\n"
 * without a position) per error is appended to errors (may be NULL), and the return is
 * -EINVAL (syntax error, duplicate key, non-scalar key, unknown alias, a second
 * document), -E2BIG (a limit exceeded) or -ENOMEM. An empty stream or document loads as
 * a tree whose root is a plain null scalar. Duplicate keys are all reported, the other
 * errors stop the load. */
int ytree_load_string(const char *data, size_t len, const char *name,
                      const struct ytree_limits *limits, struct ytree **ret, struct buf *errors);
/* Reads path (at most limits->max_bytes, -EFBIG past it) and loads it with path as the
 * name. I/O errors are -errno with "PATH: message" appended. */
int ytree_load_file(const char *path, const struct ytree_limits *limits, struct ytree **ret,
                    struct buf *errors);
void ytree_free(struct ytree *t); /* accepts NULL; every node and string of t goes with it */

/* Borrowed from the tree, valid until ytree_free(). Never NULL. */
const struct ytree_node *ytree_root(const struct ytree *t);
const char *ytree_name(const struct ytree *t);

/* Node accessors. Nodes and strings are borrowed from their tree. An alias is the node it
 * refers to (shared, with the anchor's position). */
enum ytree_kind ytree_kind(const struct ytree_node *n);
unsigned ytree_line(const struct ytree_node *n);    /* 1-based */
unsigned ytree_column(const struct ytree_node *n);  /* 1-based, in characters */
const char *ytree_file(const struct ytree_node *n); /* the tree's name */
/* Scalar text (NUL-terminated; ret_len, when not NULL, gets the length, which can
 * exceed strlen() when the scalar holds "\0"). NULL for maps and sequences. */
const char *ytree_text(const struct ytree_node *n, size_t *ret_len);
enum ytree_style ytree_style(const struct ytree_node *n); /* YTREE_PLAIN for collections */
const char *ytree_tag(const struct ytree_node *n);        /* explicit tag as resolved, or NULL */
/* A plain scalar "", "~", "null", "Null" or "NULL" without a tag, or tagged !!null. */
bool ytree_is_null(const struct ytree_node *n);
/* Entries of a map, items of a sequence, 0 for a scalar. */
size_t ytree_len(const struct ytree_node *n);
/* The i-th item of a sequence, the i-th key or value of a map (in document order); NULL
 * when i is out of range or n is of another kind. */
const struct ytree_node *ytree_item(const struct ytree_node *seq, size_t i);
const struct ytree_node *ytree_key(const struct ytree_node *map, size_t i);
const struct ytree_node *ytree_value(const struct ytree_node *map, size_t i);
/* The value under key (compared as scalar text), NULL when absent or map is no map. */
const struct ytree_node *ytree_get(const struct ytree_node *map, const char *key);
/* "a map", "a sequence", "null", "a string" (quoted or block) or "'TEXT'" (plain, cut
 * short), for messages like "expected a number, got a sequence". Static or thread-local
 * storage, valid until the next call in the thread. */
const char *ytree_describe(const struct ytree_node *n);

/* Appends "FILE:LINE:COL: message\n" for node n to errors (may be NULL) and returns
 * -EINVAL, so a loader can report and fail in one line. */
int ytree_error(struct buf *errors, const struct ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Typed getters. Each returns 0 and sets *ret, or appends "FILE:LINE:COL: expected ...,
 * got ..." to errors and returns -EINVAL with *ret untouched. */
/* A map or sequence of the given kind. */
int ytree_expect(const struct ytree_node *n, enum ytree_kind kind, struct buf *errors);
/* Any non-null scalar without NUL bytes (plain 1 gives "1"); borrowed. */
int ytree_get_string(const struct ytree_node *n, const char **ret, struct buf *errors);
/* A plain true/false (also yes/no/on/off, any case). */
int ytree_get_bool(const struct ytree_node *n, bool *ret, struct buf *errors);
/* A plain decimal number; .inf, -.inf and .nan (YAML) and +Inf/NaN are accepted, the
 * caller rejects them where they make no sense. */
int ytree_get_double(const struct ytree_node *n, double *ret, struct buf *errors);
/* A plain non-negative decimal integer. */
int ytree_get_uint(const struct ytree_node *n, uint64_t *ret, struct buf *errors);
/* A duration ("250ms", "1m30s", a bare number is seconds), plain or quoted. */
int ytree_get_duration(const struct ytree_node *n, uint64_t *ret_usec, struct buf *errors);

/* Reports every key of map that is not in allowed (NULL-terminated) as "FILE:LINE:COL:
 * unknown key 'tresholds'; did you mean 'thresholds'?" at the key (the hint when an
 * allowed key is a few edits away). Returns 0 when all keys are known, -EINVAL otherwise
 * (also when map is not a map, without a message: use ytree_expect first). */
int ytree_check_keys(const struct ytree_node *map, const char *const *allowed, struct buf *errors);

/* Edit distance (Damerau: insertions, deletions, substitutions, transpositions) between
 * two short strings, capped at 255. For "did you mean" hints. */
unsigned ytree_edit_distance(const char *a, const char *b);
/* The project's one "did you mean" rule: the closest of names[0..n) (NULL entries are
 * skipped) to s, when it is close enough to be a typo: at most 2 edits, and at most a
 * third of the suggestion's length (a short word is close to everything). NULL when none
 * is; the result is borrowed from names. */
const char *ytree_suggest(const char *s, const char *const *names, size_t n);

/* Appends the lines of in to out ordered by their "NAME:LINE:COL:" position (stable;
 * lines about other files keep their order, first), so a loader's errors read top to
 * bottom whatever order its checks ran in. On ENOMEM the lines are appended as they
 * are. out may be NULL (nothing happens). */
void ytree_errors_sorted(struct buf *out, const struct buf *in, const char *name);

#endif

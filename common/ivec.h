/* ivec: an instant vector kept compactly. For each series: its value (or why it has
 * none), its timestamp and the labels that were kept, as name/value pairs in one arena.
 * What a rules file with targets needs of a Prometheus reply of 10,000 series, at about
 * 40 bytes per series plus its kept labels, instead of a JSON tree of a kilobyte each.
 * No JSON here: the Prometheus client fills one from a reply (clients/promql), the
 * engine from a JSON vector (targets_ivec_from_json). */
#ifndef HOMEOSTAT_IVEC_H
#define HOMEOSTAT_IVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IVEC_MAX_BYTES (256u << 20) /* arena and series together: a hard bound */

enum ivec_sample {
    IVEC_VALUE,        /* value is a number (+Inf and -Inf included) */
    IVEC_NAN,          /* "NaN" */
    IVEC_NOT_A_NUMBER, /* a value string that is no number: bad is its text */
    IVEC_NO_VALUE,     /* no "value" (a native histogram sample, or none at all) */
};

struct ivec_series {
    double value, ts; /* ts: the sample's timestamp, epoch seconds */
    uint32_t labels;  /* arena offset of the first pair: name NUL value NUL ... */
    uint32_t n_labels;
    uint32_t bad;   /* IVEC_NOT_A_NUMBER: arena offset of the value's text */
    uint8_t sample; /* enum ivec_sample */
};

struct ivec {
    struct ivec_series *s;
    size_t n, cap;
    char *arena;
    size_t used, size;
    size_t labels_end; /* where the last series' labels end in the arena */
};

void ivec_init(struct ivec *v);
void ivec_free(struct ivec *v);  /* accepts a zeroed vector; leaves it empty and usable */
void ivec_reset(struct ivec *v); /* no series, storage kept */

/* dst becomes a copy of src (dst's storage reused): 0 or -ENOMEM. */
int ivec_copy(struct ivec *dst, const struct ivec *src);

/* Starts a new series (its labels follow with ivec_add_label): 0, -ENOMEM or -E2BIG. */
int ivec_add_series(struct ivec *v);
/* A label of the last series; name and value need not be NUL-terminated. The labels of
 * one series are added one after the other (nothing else added between them), or
 * started over with ivec_clear_labels. */
int ivec_add_label(struct ivec *v, const char *name, size_t name_len, const char *value,
                   size_t value_len);
void ivec_clear_labels(struct ivec *v);
/* The last series' sample: ts and the value's text ("1.5", "NaN", "+Inf"...). */
int ivec_set_sample(struct ivec *v, double ts, const char *text, size_t len);
/* The last series has no sample (a native histogram). */
void ivec_set_no_value(struct ivec *v);

/* The value of label name of series i, or NULL. */
const char *ivec_label(const struct ivec *v, size_t i, const char *name);
/* Label k of series i (k < n_labels): its name, and its value in *ret_value. */
const char *ivec_label_at(const struct ivec *v, size_t i, size_t k, const char **ret_value);
/* The text of a value that is no number (IVEC_NOT_A_NUMBER), else "". */
const char *ivec_bad_text(const struct ivec *v, size_t i);

#endif

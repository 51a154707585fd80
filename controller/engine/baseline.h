/* baseline: what a signal's values were while its target was healthy, in bounded memory
 * (docs/RULES.md, "Baselines"). Pure: no clock, no I/O; the caller gives the time.
 *
 * A baseline is a quantile sketch per seasonal slot: one slot (seasonality none), one per
 * hour of the day (daily, UTC), or one per hour of the week (weekly, UTC, Monday 00h
 * first). A slot's sketch is log-bucketed, as DDSketch's: a value v > 0 goes to bucket
 * ceil(log(v) / log(gamma)), gamma = (1 + a) / (1 - a) with a = BASELINE_ALPHA, and a
 * quantile is answered with 2 gamma^k / (gamma + 1) of its bucket k: within a relative
 * error a of a value of the data at that rank. Values at or below BASELINE_MIN_VALUE
 * (zero, and the rare negative value of a signal that should not have one) count in a zero
 * bucket, answered as 0. At most BASELINE_BUCKETS buckets are kept per sketch: past
 * them the lowest two merge (DDSketch's collapsing of the lowest buckets), so that the
 * upper quantiles, which the conditions use, keep their error bound, and a low quantile
 * may be answered higher than the data.
 *
 * The window: a slot keeps two epochs, the current one and the one before; a quantile
 * counts each while its newest value is less than window old. A value that comes when the
 * current epoch started window / 2 ago or more starts a new one (the previous one is
 * dropped): an epoch spans at most window / 2, so what is counted is the last window of
 * learning and at most window / 2 more. A seasonal slot learns only in its hour: with
 * daily seasonality and a window of 7d, the last 7 to 10 visits of the hour count. A
 * slot is allocated at its first value: memory is at most slots x 2 x
 * sizeof(struct baseline_sketch) (BASELINE_SKETCH_BYTES: 792 bytes), plus the slot
 * pointers: about 1.6 KiB for none, 37 KiB for daily, 261 KiB for weekly, per signal and
 * target. */
#ifndef HOMEOSTAT_CONTROLLER_BASELINE_H
#define HOMEOSTAT_CONTROLLER_BASELINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BASELINE_ALPHA 0.02      /* the stated relative error of a quantile */
#define BASELINE_BUCKETS 128     /* buckets per sketch */
#define BASELINE_MIN_VALUE 1e-12 /* at or below: the zero bucket */

enum baseline_season { SEASON_NONE, SEASON_DAILY, SEASON_WEEKLY };

/* One epoch of one slot: sorted buckets (key ascending) with their counts. */
struct baseline_sketch {
    double start;  /* epoch seconds when it started; 0: unused */
    double last;   /* epoch seconds of its newest value */
    uint32_t zero; /* values at or below BASELINE_MIN_VALUE */
    uint16_t n;    /* buckets in use */
    int16_t key[BASELINE_BUCKETS];
    uint32_t count[BASELINE_BUCKETS];
};
#define BASELINE_SKETCH_BYTES sizeof(struct baseline_sketch)

struct baseline_slot {
    struct baseline_sketch cur, prev;
};

/* A signal's baseline for one target. */
struct baseline {
    enum baseline_season season;
    double window;                /* seconds */
    struct baseline_slot **slots; /* baseline_slots(season) of them, NULL until used */
    double last_learned;          /* epoch seconds of the last value (0: none) */
    uint64_t learned;             /* values learned in all (for the API) */
};

size_t baseline_slots(enum baseline_season s);            /* 1, 24 or 168 */
const char *baseline_season_name(enum baseline_season s); /* "none", "daily", "weekly" */
int baseline_season_parse(const char *name);              /* the season, or -EINVAL */

/* The slot of time now (epoch seconds, UTC). */
size_t baseline_slot_of(enum baseline_season s, double now);
/* The slot's name into buf: "all", "14h" (daily) or "Tue 14h" (weekly). */
void baseline_slot_name(enum baseline_season s, size_t slot, char *buf, size_t size);

/* A new baseline (no slot allocated yet); NULL when out of memory. */
struct baseline *baseline_new(enum baseline_season season, double window);
void baseline_free(struct baseline *b);

/* Learns value at time now in now's slot. -ENOMEM (the value is not counted), -EINVAL (not
 * finite: not counted), 0. */
int baseline_add(struct baseline *b, double now, double value);

/* The q-quantile (0 <= q <= 1) of now's slot, over its live epochs, and how many values it
 * counts (*count, may be NULL). Returns false when the slot has no value (*ret untouched). */
bool baseline_quantile(const struct baseline *b, double now, double q, double *ret,
                       uint64_t *count);

/* The values now's slot counts. */
uint64_t baseline_count(const struct baseline *b, double now);

/* Bytes allocated by b. */
size_t baseline_memory(const struct baseline *b);

/* The state file's form: {"season", "window", "learned", "last_learned", "slots": {"SLOT":
 * {"cur": [start, zero, [[key, count], ...]], "prev": [...]}}}; NULL when out of memory. */
json_t *baseline_to_json(const struct baseline *b);
/* Restores what baseline_to_json wrote into b (same season; another window keeps the
 * epochs, read with the new one). Malformed parts are skipped: 0, or -ENOMEM. */
int baseline_from_json(struct baseline *b, const json_t *j);

#endif

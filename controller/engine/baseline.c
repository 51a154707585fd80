/* baseline: the bounded quantile sketches of baseline.h.
 *
 * Sources (facts read, no code copied): DDSketch (Masson, Rim, Lee, "DDSketch: a fast and
 * fully-mergeable quantile sketch with relative-error guarantees", VLDB 2019): buckets of
 * ratio gamma = (1 + a) / (1 - a), a value's bucket ceil(log_gamma(v)), the estimate
 * 2 gamma^k / (gamma + 1), and the collapsing of the lowest buckets to bound their number.
 *
 * Where baseline.h leaves room, this file decides:
 * - A quantile's rank is q * (count - 1), rounded down, counted from the lowest value (the
 *   zero bucket first), as DDSketch's lower quantile.
 * - A bucket key outside int16 (values past about 1e-287 or 1e287 at a = 0.02) is clamped
 *   to the range: such values are counted, at the bound.
 * - A count that would pass UINT32_MAX stays at it (after 4 billion values in one bucket
 *   of one epoch). */
#include "baseline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const season_names[] = {
    [SEASON_NONE] = "none",
    [SEASON_DAILY] = "daily",
    [SEASON_WEEKLY] = "weekly",
};

size_t baseline_slots(enum baseline_season s)
{
    return s == SEASON_WEEKLY ? 168 : s == SEASON_DAILY ? 24 : 1;
}

const char *baseline_season_name(enum baseline_season s)
{
    return (size_t)s < sizeof(season_names) / sizeof(season_names[0]) ? season_names[s] : "unknown";
}

int baseline_season_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof(season_names) / sizeof(season_names[0]); i++)
        if (strcmp(name, season_names[i]) == 0)
            return (int)i;
    return -EINVAL;
}

size_t baseline_slot_of(enum baseline_season s, double now)
{
    if (s == SEASON_NONE || !isfinite(now) || now < 0)
        return 0;
    double hours = floor(now / 3600.0);
    if (s == SEASON_DAILY)
        return (size_t)fmod(hours, 24.0);
    /* 1970-01-01 was a Thursday: Monday 00h is 3 days (72 hours) later */
    return (size_t)fmod(hours + 72.0, 168.0);
}

void baseline_slot_name(enum baseline_season s, size_t slot, char *buf, size_t size)
{
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    if (s == SEASON_DAILY)
        snprintf(buf, size, "%zuh", slot % 24);
    else if (s == SEASON_WEEKLY)
        snprintf(buf, size, "%s %zuh", days[(slot / 24) % 7], slot % 24);
    else
        snprintf(buf, size, "all");
}

/* ---- the sketch ---- */

static double log_gamma(void)
{
    return log((1 + BASELINE_ALPHA) / (1 - BASELINE_ALPHA));
}

static int16_t key_of(double v)
{
    double k = ceil(log(v) / log_gamma());
    return (int16_t)(k < INT16_MIN ? INT16_MIN : k > INT16_MAX ? INT16_MAX : k);
}

static double value_of(int16_t key)
{
    double g = exp(log_gamma());
    return 2 * pow(g, key) / (g + 1);
}

static void bump(uint32_t *c, uint32_t by)
{
    *c = *c > UINT32_MAX - by ? UINT32_MAX : *c + by;
}

static void sketch_add(struct baseline_sketch *s, double v)
{
    if (v <= BASELINE_MIN_VALUE) {
        bump(&s->zero, 1);
        return;
    }
    int16_t k = key_of(v);
    size_t lo = 0, hi = s->n;
    while (lo < hi) { /* the first bucket with key >= k */
        size_t mid = (lo + hi) / 2;
        if (s->key[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n && s->key[lo] == k) {
        bump(&s->count[lo], 1);
        return;
    }
    if (s->n == BASELINE_BUCKETS) {
        /* full: the lowest two merge into the second (a value below the lowest joins it) */
        if (lo == 0) {
            bump(&s->count[0], 1);
            return;
        }
        bump(&s->count[1], s->count[0]);
        memmove(&s->key[0], &s->key[1], (size_t)(s->n - 1) * sizeof(s->key[0]));
        memmove(&s->count[0], &s->count[1], (size_t)(s->n - 1) * sizeof(s->count[0]));
        s->n--;
        lo--;
    }
    memmove(&s->key[lo + 1], &s->key[lo], (size_t)(s->n - lo) * sizeof(s->key[0]));
    memmove(&s->count[lo + 1], &s->count[lo], (size_t)(s->n - lo) * sizeof(s->count[0]));
    s->key[lo] = k;
    s->count[lo] = 1;
    s->n++;
}

static uint64_t sketch_count(const struct baseline_sketch *s)
{
    uint64_t n = s->zero;
    for (size_t i = 0; i < s->n; i++)
        n += s->count[i];
    return n;
}

/* ---- the baseline ---- */

struct baseline *baseline_new(enum baseline_season season, double window)
{
    struct baseline *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->season = season;
    b->window = window > 0 ? window : 7 * 86400.0;
    b->slots = calloc(baseline_slots(season), sizeof(*b->slots));
    if (!b->slots) {
        free(b);
        return NULL;
    }
    return b;
}

void baseline_free(struct baseline *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < baseline_slots(b->season); i++)
        free(b->slots[i]);
    free(b->slots);
    free(b);
}

/* Whether an epoch still counts at now: its newest value within the last window. (Its
 * start would drop a seasonal slot's previous visits too early: the epoch of yesterday's
 * hour of a daily slot started a day ago but ended 23 hours ago.) */
static bool live(const struct baseline *b, const struct baseline_sketch *s, double now)
{
    return s->start > 0 && now - s->last < b->window && s->start <= now + 1;
}

int baseline_add(struct baseline *b, double now, double value)
{
    if (!isfinite(value) || !isfinite(now))
        return -EINVAL;
    size_t k = baseline_slot_of(b->season, now);
    struct baseline_slot *sl = b->slots[k];
    if (!sl) {
        sl = b->slots[k] = calloc(1, sizeof(*sl));
        if (!sl)
            return -ENOMEM;
    }
    if (sl->cur.start <= 0 || now < sl->cur.start - 1) {
        /* the first value, or the clock went back: start over */
        memset(sl, 0, sizeof(*sl));
        sl->cur.start = now;
    } else if (now - sl->cur.start >= b->window / 2) {
        sl->prev = sl->cur;
        memset(&sl->cur, 0, sizeof(sl->cur));
        sl->cur.start = now;
    }
    sketch_add(&sl->cur, value);
    sl->cur.last = now;
    b->last_learned = now;
    b->learned++;
    return 0;
}

uint64_t baseline_count(const struct baseline *b, double now)
{
    const struct baseline_slot *sl = b->slots[baseline_slot_of(b->season, now)];
    if (!sl)
        return 0;
    return (live(b, &sl->cur, now) ? sketch_count(&sl->cur) : 0) +
           (live(b, &sl->prev, now) ? sketch_count(&sl->prev) : 0);
}

bool baseline_quantile(const struct baseline *b, double now, double q, double *ret, uint64_t *count)
{
    const struct baseline_slot *sl = b->slots[baseline_slot_of(b->season, now)];
    const struct baseline_sketch *e[2] = {NULL, NULL};
    if (sl && live(b, &sl->cur, now))
        e[0] = &sl->cur;
    if (sl && live(b, &sl->prev, now))
        e[1] = &sl->prev;
    uint64_t n = (e[0] ? sketch_count(e[0]) : 0) + (e[1] ? sketch_count(e[1]) : 0);
    if (count)
        *count = n;
    if (n == 0)
        return false;
    q = !(q >= 0) ? 0 : q > 1 ? 1 : q; /* a NaN counts as 0 */
    uint64_t rank = (uint64_t)floor(q * (double)(n - 1));
    uint64_t seen = (e[0] ? e[0]->zero : 0) + (e[1] ? e[1]->zero : 0);
    if (rank < seen) {
        *ret = 0;
        return true;
    }
    /* merge the two sorted bucket lists on the fly */
    size_t i = 0, j = 0, ni = e[0] ? e[0]->n : 0, nj = e[1] ? e[1]->n : 0;
    while (i < ni || j < nj) {
        int16_t k;
        uint64_t c = 0;
        if (j >= nj || (i < ni && e[0]->key[i] < e[1]->key[j])) {
            k = e[0]->key[i];
            c = e[0]->count[i++];
        } else if (i >= ni || e[1]->key[j] < e[0]->key[i]) {
            k = e[1]->key[j];
            c = e[1]->count[j++];
        } else {
            k = e[0]->key[i];
            c = (uint64_t)e[0]->count[i++] + e[1]->count[j++];
        }
        seen += c;
        if (rank < seen) {
            *ret = value_of(k);
            return true;
        }
    }
    return false; /* cannot happen: the counts add up to n */
}

size_t baseline_memory(const struct baseline *b)
{
    size_t m = sizeof(*b) + baseline_slots(b->season) * sizeof(*b->slots);
    for (size_t i = 0; i < baseline_slots(b->season); i++)
        if (b->slots[i])
            m += sizeof(*b->slots[i]);
    return m;
}

/* ---- the state file ---- */

static json_t *sketch_json(const struct baseline_sketch *s)
{
    json_t *buckets = json_array();
    for (size_t i = 0; buckets && i < s->n; i++)
        json_array_append_new(buckets, json_pack("[i,I]", s->key[i], (json_int_t)s->count[i]));
    return json_pack("[f,I,o,f]", s->start, (json_int_t)s->zero, buckets, s->last);
}

json_t *baseline_to_json(const struct baseline *b)
{
    json_t *slots = json_object();
    if (!slots)
        return NULL;
    for (size_t i = 0; i < baseline_slots(b->season); i++) {
        const struct baseline_slot *sl = b->slots[i];
        if (!sl)
            continue;
        char key[24]; /* 16 warned with -Wformat-truncation (-Werror builds failed) */
        snprintf(key, sizeof(key), "%zu", i);
        json_object_set_new(
            slots, key,
            json_pack("{s:o,s:o}", "cur", sketch_json(&sl->cur), "prev", sketch_json(&sl->prev)));
    }
    return json_pack("{s:s,s:f,s:I,s:f,s:o}", "season", baseline_season_name(b->season), "window",
                     b->window, "learned", (json_int_t)b->learned, "last_learned", b->last_learned,
                     "slots", slots);
}

/* A sketch from its JSON; false when malformed (s is then left empty). */
static bool sketch_from_json(struct baseline_sketch *s, const json_t *j)
{
    memset(s, 0, sizeof(*s));
    const json_t *buckets = json_array_get(j, 2);
    double start = json_number_value(json_array_get(j, 0));
    json_int_t zero = json_integer_value(json_array_get(j, 1));
    /* The types are checked, not only the values: json_*_value reads a wrong type as 0, and
     * a sketch whose start, zero or count was a string or a real was loaded with a 0 there
     * (its zeros or a bucket's values lost) instead of being skipped (test-baseline). */
    /* [start, zero, buckets, last]; without last (written before it was kept): the start */
    const json_t *lastv = json_array_get(j, 3);
    if (json_array_size(j) == 4 && (!json_is_number(lastv) || !isfinite(json_number_value(lastv)) ||
                                    json_number_value(lastv) < start))
        return false;
    if ((json_array_size(j) != 3 && json_array_size(j) != 4) || !json_is_array(buckets) ||
        !json_is_number(json_array_get(j, 0)) || !(start >= 0) || !isfinite(start) ||
        !json_is_integer(json_array_get(j, 1)) || zero < 0 || zero > UINT32_MAX ||
        json_array_size(buckets) > BASELINE_BUCKETS)
        return false;
    s->start = start;
    s->last = json_array_size(j) == 4 ? json_number_value(lastv) : start;
    s->zero = (uint32_t)zero;
    int last = INT16_MIN - 1;
    for (size_t i = 0; i < json_array_size(buckets); i++) {
        const json_t *x = json_array_get(buckets, i);
        json_int_t k = json_integer_value(json_array_get(x, 0));
        json_int_t c = json_integer_value(json_array_get(x, 1));
        if (json_array_size(x) != 2 || !json_is_integer(json_array_get(x, 0)) ||
            !json_is_integer(json_array_get(x, 1)) || k <= last || k > INT16_MAX || c < 0 ||
            c > UINT32_MAX) {
            memset(s, 0, sizeof(*s));
            return false;
        }
        s->key[s->n] = (int16_t)k;
        s->count[s->n++] = (uint32_t)c;
        last = (int)k;
    }
    return true;
}

int baseline_from_json(struct baseline *b, const json_t *j)
{
    if (!json_is_object(j) ||
        baseline_season_parse(json_string_value(json_object_get(j, "season"))) != (int)b->season)
        return 0;
    const json_t *slots = json_object_get(j, "slots");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)slots, key, v)
    {
        char *end;
        unsigned long k = strtoul(key, &end, 10);
        if (*end || end == key || k >= baseline_slots(b->season))
            continue;
        struct baseline_slot tmp;
        if (!sketch_from_json(&tmp.cur, json_object_get(v, "cur")) ||
            !sketch_from_json(&tmp.prev, json_object_get(v, "prev")))
            continue;
        if (!b->slots[k] && !(b->slots[k] = malloc(sizeof(*b->slots[k]))))
            return -ENOMEM;
        *b->slots[k] = tmp;
    }
    json_int_t learned = json_integer_value(json_object_get(j, "learned"));
    double last = json_number_value(json_object_get(j, "last_learned"));
    b->learned = learned > 0 ? (uint64_t)learned : 0;
    b->last_learned = isfinite(last) && last > 0 ? last : 0;
    return 0;
}

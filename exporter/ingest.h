/* ingest: types shared by the application-metrics ingest path: StatsD/DogStatsD
 * events as parsed (statsd.c), the metric they map to (mapping.c), and the reasons
 * an input is dropped, which label homeostat_ingest_lines_total{protocol,result}
 * and homeostat_ingest_dropped_total{reason}. */
#ifndef HOMEOSTAT_EXPORTER_INGEST_H
#define HOMEOSTAT_EXPORTER_INGEST_H

#include <stddef.h>
#include <stdint.h>

enum statsd_type {
    STATSD_COUNTER,      /* c */
    STATSD_GAUGE,        /* g, absolute */
    STATSD_GAUGE_DELTA,  /* g with a leading + or - */
    STATSD_TIMER,        /* ms: milliseconds, observed in seconds */
    STATSD_HISTOGRAM,    /* h */
    STATSD_DISTRIBUTION, /* d */
    STATSD_SET,          /* s: rejected */
};

/* One value of one line; strings point into the input buffer (borrowed). */
struct statsd_event {
    const char *name;
    size_t name_len;
    double value; /* as sent; timers are converted by the store */
    enum statsd_type type;
    double sample_rate; /* 0 < rate <= 1, 1 when absent */
    const char *tags;   /* DogStatsD tags without the '#', "k:v,k2:v2"; NULL when none */
    size_t tags_len;
    char tag_sep; /* separator between tags: ',' for StatsD, '\x1f' for JSON pushes
                   * (whose label values may contain commas); 0 means ',' */
};

/* Why an input was dropped. The strings (ingest_reason_name) are the result label
 * values; INGEST_OK is "accepted". */
enum ingest_reason {
    INGEST_OK,
    INGEST_EMPTY,           /* "empty": blank line (not counted as a line) */
    INGEST_MALFORMED,       /* "malformed": no ':' or '|', empty name */
    INGEST_BAD_NAME,        /* "bad_name": characters no mapping can turn into a metric name */
    INGEST_BAD_VALUE,       /* "bad_value" */
    INGEST_BAD_TYPE,        /* "bad_type" */
    INGEST_BAD_RATE,        /* "bad_sample_rate" */
    INGEST_BAD_TAGS,        /* "bad_tags" */
    INGEST_SET_UNSUPPORTED, /* "set_unsupported" */
    INGEST_TOO_LONG,        /* "too_long": a line over the limit, cut */
    INGEST_MAPPED_DROP,     /* "mapping_drop": action: drop */
    INGEST_SERIES_LIMIT,    /* "series_limit": --ingest.max-series reached */
    INGEST_CONFLICT,        /* "conflict": name, type or label-set collision */
    INGEST_TOO_MANY_LABELS, /* "too_many_labels" */
    INGEST_EVENT,           /* "event": a DogStatsD event (_e{...}), valid, not a metric */
    INGEST_SERVICE_CHECK,   /* "service_check": a DogStatsD service check (_sc|...) */
    INGEST_REASON_MAX,
};

const char *ingest_reason_name(enum ingest_reason r);

/* DogStatsD fields after the type that are read and not used, or not known: the field
 * label of homeostat_ingest_fields_ignored_total (statsd_field_name). */
enum statsd_field {
    STATSD_FIELD_CONTAINER_ID,  /* "container_id": |c:<id> (protocol 1.2) */
    STATSD_FIELD_TIMESTAMP,     /* "timestamp": |T<unix seconds> (1.3) */
    STATSD_FIELD_EXTERNAL_DATA, /* "external_data": |e:<data> (1.5) */
    STATSD_FIELD_CARDINALITY,   /* "cardinality": |card:<none|low|orchestrator|high> (1.6) */
    STATSD_FIELD_UNKNOWN,       /* "unknown": any other field, skipped */
    STATSD_FIELD_MAX,
};

const char *statsd_field_name(enum statsd_field f);

/* Where input came from: the protocol label of homeostat_ingest_lines_total. */
enum ingest_protocol {
    INGEST_PROTO_UDP,
    INGEST_PROTO_UNIXGRAM,
    INGEST_PROTO_HTTP_TEXT,
    INGEST_PROTO_HTTP_JSON,
    INGEST_PROTO_MAX,
};

/* Limits of one series' identity. */
#define INGEST_MAX_LABELS 16
#define INGEST_MAX_NAME 200
#define INGEST_MAX_LABEL_VALUE 256
#define INGEST_MAX_LINE 4096

/* What a statsd name maps to (mapping_apply fills it). */
enum ingest_kind {
    INGEST_KIND_COUNTER,
    INGEST_KIND_GAUGE,
    INGEST_KIND_HISTOGRAM,
    INGEST_KIND_STATE, /* one-hot gauge: value i sets label state=states[i] to 1, others 0 */
};

struct mapping_result {
    int drop;    /* action: drop */
    int matched; /* 0: no mapping matched, defaults applied */
    char name[INGEST_MAX_NAME + 1];
    enum ingest_kind kind;
    size_t n_labels;
    char label_names[INGEST_MAX_LABELS][64];
    char label_values[INGEST_MAX_LABELS][INGEST_MAX_LABEL_VALUE + 1];
    const double *buckets; /* histograms: borrowed from the mapping, ascending */
    size_t n_buckets;
    uint64_t ttl_usec;         /* 0: never expires */
    const char *help;          /* borrowed from the mapping; NULL for the default */
    const char *const *states; /* INGEST_KIND_STATE: borrowed state names */
    size_t n_states;
    const char *state_label; /* INGEST_KIND_STATE: the label carrying the state */
};

#endif

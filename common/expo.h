/* expo: renders metric sets in the Prometheus text format 0.0.4 or OpenMetrics
 * 1.0.0, picks the format from an Accept header, and gzips when asked. */
#ifndef HOMEOSTAT_EXPO_H
#define HOMEOSTAT_EXPO_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "mset.h"

enum expo_format {
    EXPO_TEXT,        /* text/plain; version=0.0.4 */
    EXPO_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
};

#define EXPO_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define EXPO_CONTENT_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Picks the format for an Accept header (NULL: text). OpenMetrics is chosen when it
 * is acceptable (version 1.0.0 or unversioned) with a quality at least that of the
 * text format, as Prometheus asks. */
enum expo_format expo_negotiate(const char *accept);
const char *expo_content_type(enum expo_format f);
/* True when an Accept-Encoding header accepts gzip (q > 0). */
bool expo_accepts_gzip(const char *accept_encoding);

/* Renders the families of sets[0..n) into out, sorted by name; families of the same
 * name and type in several sets are merged under one HELP/TYPE (the first help
 * wins); a family of the same name but another type is skipped and counted in
 * *ret_conflicts (may be NULL). Empty families are omitted. OpenMetrics output ends
 * with "# EOF". Returns 0, or -E2BIG/-ENOMEM from out. */
int expo_render(struct buf *out, enum expo_format f, struct mset *const *sets, size_t n,
                size_t *ret_conflicts);

/* Gzips in[0..len) into out (replacing its content). 0 or -ENOMEM/-E2BIG/-EIO. */
int expo_gzip(struct buf *out, const void *in, size_t len, int level);

#endif

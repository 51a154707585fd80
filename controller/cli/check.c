/* check: validates rules files and prints the result per file in promtool's format
 * (see check.h). */
#include "check.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "rules.h"

#define CHECK_MAX_ERROR_BYTES (1u << 20)

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static int check_one(const char *path, FILE *out)
{
    struct buf errors;
    buf_init(&errors, CHECK_MAX_ERROR_BYTES);
    struct rules *r = NULL;
    fprintf(out, "Checking %s\n", path);
    int ret = rules_load_file(path, &r, &errors);
    if (ret < 0) {
        fputs("  FAILED:\n", out);
        if (errors.len)
            fputs(errors.data, out);
        else
            fprintf(out, "%s: %s\n", path, strerror(-ret));
        fputc('\n', out);
        buf_free(&errors);
        return 1;
    }
    fprintf(out, "  SUCCESS: %zu %s, %zu %s, %zu %s", r->n_signals,
            plural(r->n_signals, "signal", "signals"), r->n_states,
            plural(r->n_states, "state", "states"), r->n_decisions,
            plural(r->n_decisions, "decision", "decisions"));
    const struct report_def *d = r->report;
    if (d && (d->n_checks || d->n_optimizations))
        fprintf(out, ", %zu report %s, %zu %s", d->n_checks, plural(d->n_checks, "check", "checks"),
                d->n_optimizations, plural(d->n_optimizations, "optimization", "optimizations"));
    if (r->n_regulators)
        fprintf(out, ", %zu %s", r->n_regulators,
                plural(r->n_regulators, "regulator", "regulators"));
    fputs(" found", out);
    for (size_t i = 0; i < r->targets.n_by; i++)
        fprintf(out, "%s%s%s", i ? ", " : " (targets by ", r->targets.by[i],
                i + 1 == r->targets.n_by ? ")" : "");
    fputc('\n', out);
    /* Allowed but unwise (a secret written inline): said, not failed. */
    for (const char *w = r->warnings; w && *w;) {
        const char *nl = strchr(w, '\n');
        size_t n = nl ? (size_t)(nl - w) : strlen(w);
        fprintf(out, "  WARNING: %.*s\n", (int)n, w);
        w += n + (nl ? 1 : 0);
    }
    fputc('\n', out);
    rules_free(r);
    buf_free(&errors);
    return 0;
}

int check_files(const char *const *paths, size_t n, FILE *out)
{
    int failed = n == 0;
    for (size_t i = 0; i < n; i++)
        failed |= check_one(paths[i], out);
    fflush(out);
    return failed ? 1 : 0;
}

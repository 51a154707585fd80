/* test: runner, fixtures and golden-file comparison for the unit tests. */
#include "test.h"

#include <stdarg.h>
#include <unistd.h>

#include "buf.h"
#include "expo.h"
#include "fileio.h"
#include "parse.h"

int test_failed_flag;

int test_main(int argc, char **argv, const struct test_case *tests, size_t n)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++)
                want |= strcmp(argv[a], tests[i].name) == 0;
            if (!want)
                continue;
        }
        test_failed_flag = 0;
        tests[i].fn();
        if (test_failed_flag) {
            fprintf(stderr, "FAIL %s\n", tests[i].name);
            failed++;
        } else {
            fprintf(stderr, "ok   %s\n", tests[i].name);
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}

const char *test_fixture(const char *rel)
{
    static char path[4096];
    const char *root = getenv("HOMEOSTAT_FIXTURES");
    snprintf(path, sizeof(path), "%s/%s", root ? root : "tests/fixtures", rel);
    return path;
}

int test_golden(const char *name, struct mset *set)
{
    struct buf out;
    buf_init(&out, 0);
    struct mset *sets[1] = {set};
    if (expo_render(&out, EXPO_TEXT, sets, 1, NULL) < 0) {
        fprintf(stderr, "  golden %s: render failed\n", name);
        return -1;
    }
    const char *root = getenv("HOMEOSTAT_GOLDEN");
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.prom", root ? root : "tests/golden", name);
    const char *update = getenv("HOMEOSTAT_UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        int r = file_write_atomic(path, out.data ? out.data : "", out.len, 0644);
        buf_free(&out);
        return r < 0 ? -1 : 0;
    }
    char *want = NULL;
    size_t wl = 0;
    int r = file_read_alloc(path, 1 << 22, &want, &wl);
    if (r < 0) {
        fprintf(stderr, "  golden %s: cannot read %s (set HOMEOSTAT_UPDATE_GOLDEN=1)\n", name,
                path);
        buf_free(&out);
        return -1;
    }
    int same = wl == out.len && memcmp(want, out.data ? out.data : "", wl) == 0;
    if (!same) {
        char got[4096 + 8];
        snprintf(got, sizeof(got), "%s.got", path);
        file_write_atomic(got, out.data ? out.data : "", out.len, 0644);
        fprintf(stderr, "  golden %s differs: diff -u %s %s\n", name, path, got);
    }
    free(want);
    buf_free(&out);
    return same ? 0 : -1;
}

char *test_tmpdir(void)
{
    static char tmpl[64];
    snprintf(tmpl, sizeof(tmpl), "/tmp/homeostat-test-XXXXXX");
    return mkdtemp(tmpl);
}

double test_mset_value(struct mset *s, const char *family, ...)
{
    const char *want[32];
    size_t nw = 0;
    va_list ap;
    va_start(ap, family);
    for (const char *k; nw < 30 && (k = va_arg(ap, const char *));) {
        want[nw++] = k;
        want[nw++] = va_arg(ap, const char *);
    }
    va_end(ap);
    for (size_t f = 0; f < s->n_families; f++) {
        if (strcmp(s->families[f].name, family) != 0)
            continue;
        for (size_t i = 0; i < s->families[f].n_samples; i++) {
            const struct mset_sample *sm = &s->families[f].samples[i];
            size_t matched = 0;
            for (size_t w = 0; w < nw; w += 2)
                for (unsigned l = 0; l < sm->n_labels; l++)
                    if (strcmp(sm->labels[2 * l], want[w]) == 0 &&
                        strcmp(sm->labels[2 * l + 1], want[w + 1]) == 0)
                        matched++;
            if (matched == nw / 2)
                return sm->value;
        }
    }
    return NAN;
}

int test_text_value(const char *text, const char *series, double *ret)
{
    size_t sl = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, sl) != 0 || p[sl] != ' ')
            continue;
        char value[64];
        const char *v = p + sl + 1;
        size_t vl = strcspn(v, "\n");
        if (vl >= sizeof(value))
            return 0;
        memcpy(value, v, vl);
        value[vl] = '\0';
        return parse_double(value, ret) == 0;
    }
    return 0;
}
